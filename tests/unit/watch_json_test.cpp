// watch_to_json: the fields and their order, nulls for what is not known, ISO 8601 UTC times,
// and escaping that keeps every line parseable whatever an upstream error message holds.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "admin/watch_json.hpp"

using namespace runmirror;
using namespace std::string_literals;

namespace {

// 2025-01-15T08:00:00.123Z
const time_point base = from_unix_ms(1736928000123);

watch active_job_watch() {
    watch w;
    w.id = 7;
    w.kind = watch_kind::job;
    w.job_id = "job-1";
    w.tenant = "secret-tenant-hash";
    w.created_at = base;
    w.next_poll_at = base + std::chrono::milliseconds(2500);
    w.updated_at = base;
    return w;
}

}  // namespace

TEST_CASE("watch_to_json: a fresh job watch, unknown fields as null, fields in order") {
    CHECK(watch_to_json(active_job_watch()) ==
          R"({"id":7,"kind":"job","run_id":null,"job_id":"job-1","extraction_agent_id":null,)"
          R"("project_id":null,"next_poll_at":"2025-01-15T08:00:02.623Z","attempts":0,)"
          R"("last_status":null,"last_error":null,"created_at":"2025-01-15T08:00:00.123Z",)"
          R"("finished_at":null,"given_up_at":null,"give_up_reason":null})");
}

TEST_CASE("watch_to_json: an ended run watch carries its times and reason") {
    watch w = active_job_watch();
    w.kind = watch_kind::run;
    w.run_id = "run-1";
    w.project_id = "p-1";
    w.extraction_agent_id = "agent-1";
    w.attempts = 12;
    w.last_status = "PENDING";
    w.given_up_at = from_unix_ms(0);
    w.give_up_reason = "max age reached";
    const std::string json = watch_to_json(w);
    CHECK(json.find(R"("kind":"run","run_id":"run-1")") != std::string::npos);
    CHECK(json.find(R"("extraction_agent_id":"agent-1","project_id":"p-1")") != std::string::npos);
    CHECK(json.find(R"("attempts":12,"last_status":"PENDING")") != std::string::npos);
    CHECK(json.find(R"("given_up_at":"1970-01-01T00:00:00.000Z")") != std::string::npos);
    CHECK(json.find(R"("give_up_reason":"max age reached")") != std::string::npos);
    CHECK(json.find(R"("finished_at":null)") != std::string::npos);
}

TEST_CASE("watch_to_json: the tenant never appears") {
    CHECK(watch_to_json(active_job_watch()).find("tenant") == std::string::npos);
}

TEST_CASE("watch_to_json: ISO times across dates, leap days and before the epoch") {
    watch w = active_job_watch();
    w.finished_at = from_unix_ms(951782400999);  // 2000-02-29T00:00:00.999Z
    w.given_up_at = from_unix_ms(-1);            // one millisecond before the epoch
    const std::string json = watch_to_json(w);
    CHECK(json.find(R"("finished_at":"2000-02-29T00:00:00.999Z")") != std::string::npos);
    CHECK(json.find(R"("given_up_at":"1969-12-31T23:59:59.999Z")") != std::string::npos);
}

TEST_CASE("watch_to_json: escaping of quotes, backslashes and control characters") {
    watch w = active_job_watch();
    w.last_error = "upstream said \"no\"\\\n\t\x01 end\0!"s;  // with the NUL
    const std::string json = watch_to_json(w);
    CHECK(json.find(R"("last_error":"upstream said \"no\"\\\n\t\u0001 end\u0000!")") !=
          std::string::npos);
    CHECK(json.find('\n') == std::string::npos);  // one line per watch, always
}

TEST_CASE("watch_to_json: UTF-8 is kept, ill-formed bytes become U+FFFD") {
    watch w = active_job_watch();
    w.last_error = "Zürich – 東京";
    CHECK(watch_to_json(w).find(R"("last_error":"Zürich – 東京")") != std::string::npos);

    // A lone continuation byte, an overlong '/' (two bytes that start nothing: two U+FFFD), and
    // a sequence cut short at the end (one maximal subpart: one U+FFFD, as TextDecoder gives).
    w.last_error =
        "a\x80"
        "b\xC0\xAF"
        "c\xE6\x9D";
    const std::string json = watch_to_json(w);
    CHECK(json.find("\"last_error\":\"a\xEF\xBF\xBD"
                    "b\xEF\xBF\xBD\xEF\xBF\xBD"
                    "c\xEF\xBF\xBD\"") != std::string::npos);
}
