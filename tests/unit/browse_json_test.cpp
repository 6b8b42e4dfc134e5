// browse_json: the summaries' exact JSON, the opaque cursor, and the stored-
// body transformations (pretty, one line, data rows) that must keep the upstream's numbers.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "admin/browse_json.hpp"
#include "util/utf8.hpp"

using namespace runmirror;
using namespace std::chrono_literals;

namespace {

// 2025-01-15T08:00:00.123Z
const time_point base = from_unix_ms(1736928000123);

stored_run summary_run() {
    stored_run r;
    r.fields.id = "run-1";
    r.fields.extraction_agent_id = "agent-1";
    r.fields.project_id = "proj-1";
    r.fields.status = "SUCCESS";
    r.fields.file_name = "Zürich \"Q1\".pdf";
    r.fields.created_at = "2025-01-15T08:00:00.123456Z";
    r.fields.updated_at = "2025-01-15T08:00:45.123456Z";
    r.fetched_at = base;
    r.body = "not part of a summary";
    return r;
}

const std::string body =
    R"({"id":"r","data":{"city":"Z\u00fcrich","big":123456789012345678901234567890,)"
    R"("amount":1.0e+2,"neg":-0.0,"ok":true,"none":null,"items":[{"sku":"A","qty":2}],)"
    R"("empty":{}},"file":{"name":"a.pdf"}})";

}  // namespace

TEST_CASE("run_summary_to_json: fields in order, empty ones null, no body") {
    CHECK(
        run_summary_to_json(summary_run()) ==
        R"({"id":"run-1","kind":"run","representation":"plain",)"
        R"("extraction_agent_id":"agent-1","project_id":"proj-1",)"
        R"("job_id":null,)"
        R"("status":"SUCCESS","file_name":"Zürich \"Q1\".pdf",)"
        R"("created_at":"2025-01-15T08:00:00.123456Z","updated_at":"2025-01-15T08:00:45.123456Z",)"
        R"("fetched_at":"2025-01-15T08:00:00.123Z"})");
    stored_run odd = summary_run();
    odd.fields.file_name = "bad \xff byte";
    CHECK(run_summary_to_json(odd).find(R"("file_name":"bad )"
                                        "\xEF\xBF\xBD"
                                        R"( byte")") != std::string::npos);
}

TEST_CASE("run_summary_to_json: a v2 job stored only as a variant says which") {
    stored_run job = summary_run();
    job.fields.kind = &kinds::v2_job;
    job.fields.variant = "configuration,usage";
    const std::string json = run_summary_to_json(job);
    CHECK(json.find(R"("kind":"v2_job","representation":"expand=configuration,usage",)") !=
          std::string::npos);
}

TEST_CASE("run_page_to_json: items and the cursor, null on the last page") {
    run_browse_page page;
    CHECK(run_page_to_json(page) == R"({"items":[],"next_cursor":null})");
    page.items = {summary_run(), summary_run()};
    page.next = run_browse_cursor{"2025-01-15T08:00:00.123456Z", "run-1"};
    const std::string json = run_page_to_json(page);
    CHECK(json.starts_with(R"({"items":[{"id":"run-1",)"));
    CHECK(json.find(R"(},{"id":"run-1",)") != std::string::npos);
    CHECK(json.ends_with(R"("next_cursor":")" + encode_cursor(*page.next) + R"("})"));
}

TEST_CASE("agent_summary_to_json: the four statuses always, others after them") {
    agent_summary a;
    a.extraction_agent_id = "agent-1";
    a.project_id = "proj-1";
    a.runs = 7;
    a.by_status = {{"SUCCESS", 4}, {"ERROR", 1}, {"CANCELLED", 2}};
    a.latest_created_at = "2025-01-15T08:00:00Z";
    CHECK(agent_summary_to_json(a) ==
          R"({"extraction_agent_id":"agent-1","name":null,"project_id":"proj-1","runs":7,)"
          R"("by_status":{"CREATED":0,"PENDING":0,"SUCCESS":4,"ERROR":1,"CANCELLED":2},)"
          R"("latest_created_at":"2025-01-15T08:00:00Z"})");
    a.name = "Invoices \"été\"";
    CHECK(agent_summary_to_json(a).starts_with(
        R"({"extraction_agent_id":"agent-1","name":"Invoices \"été\"","project_id")"));
    CHECK(agents_to_json({}) == R"({"items":[]})");
    CHECK(agents_to_json({a, a}).starts_with(R"({"items":[{"extraction_agent_id":"agent-1",)"));
}

TEST_CASE("cursor: round trip, URL-safe, and anything else refused") {
    for (const run_browse_cursor& c :
         {run_browse_cursor{"2025-01-15T08:00:00.123456Z", "run-1"}, run_browse_cursor{"", "x"},
          run_browse_cursor{"a\"b\\c", "ü/+?&=#"},
          run_browse_cursor{"2025", std::string(300, 'z')}}) {
        const std::string token = encode_cursor(c);
        CAPTURE(token);
        CHECK(token.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              std::string::npos);
        const auto back = decode_cursor(token);
        REQUIRE(back);
        CHECK(back->created_at == c.created_at);
        CHECK(back->id == c.id);
    }
    const std::string good = encode_cursor({"2025", "run"});
    CHECK_FALSE(decode_cursor(""));
    CHECK_FALSE(decode_cursor(good + "A"));       // a lone trailing character
    CHECK_FALSE(decode_cursor(good + "="));       // padding is not produced
    CHECK_FALSE(decode_cursor("not a cursor!"));  // outside the alphabet
    CHECK_FALSE(decode_cursor(good.substr(0, good.size() - 2)));
    CHECK_FALSE(decode_cursor("e30"));          // {}
    CHECK_FALSE(decode_cursor("WyJhIl0"));      // ["a"]
    CHECK_FALSE(decode_cursor("WyJhIiwiIl0"));  // ["a",""]: no run has an empty id
    CHECK_FALSE(decode_cursor("WzEsMl0"));      // [1,2]
}

TEST_CASE("pretty_json: indented, numbers and order as the upstream wrote them") {
    const auto pretty = pretty_json(body, false);
    REQUIRE(pretty);
    CHECK(pretty->starts_with("{\n  \"id\": \"r\",\n  \"data\": {\n    \"city\": \"Zürich\",\n"));
    CHECK(pretty->find("\"big\": 123456789012345678901234567890,") != std::string::npos);
    CHECK(pretty->find("\"amount\": 1.0e+2,") != std::string::npos);
    CHECK(pretty->find("\"neg\": -0.0,") != std::string::npos);
    CHECK(pretty->find("\"empty\": {}") != std::string::npos);
    CHECK(pretty->ends_with("}"));

    CHECK(pretty_json(body, true)->starts_with("{\n  \"city\": \"Zürich\",\n  \"big\": 1234"));
    CHECK(pretty_json(R"({"id":"r"})", true) == "null");
    CHECK(pretty_json(R"({"data":[1, 2.50]})", true) == "[\n  1,\n  2.50\n]");
    // Of duplicate keys, the last one, as JSON.parse reads it.
    CHECK(pretty_json(R"({"data":1,"data":2})", true) == "2");

    CHECK_FALSE(pretty_json("{oops", false));
    CHECK_FALSE(pretty_json("", false));
    CHECK_FALSE(pretty_json(R"({"a":1} trailing)", false));
    CHECK_FALSE(pretty_json(std::string(100000, '[') + std::string(100000, ']'), false));
    CHECK(pretty_json(std::string(500, '[') + std::string(500, ']'), false));
}

TEST_CASE("json_line: the stored bytes unless they hold a line break") {
    const std::string spaced = R"({"a" : 1.0e+2,  "b":[ 1 ]})";
    CHECK(json_line(spaced) == spaced);
    CHECK(json_line("{oops") == "{oops");  // not parsed when there is nothing to fix
    CHECK(json_line("{\n  \"a\": 123456789012345678901234567890,\r\n  \"s\": \"x\\ny\"\n}") ==
          R"({"a":123456789012345678901234567890,"s":"x\ny"})");
    CHECK_FALSE(json_line("{\n oops"));
}

TEST_CASE("stored bodies with ill-formed UTF-8: every text written is valid, U+FFFD there") {
    // A lone continuation byte in a key, a surrogate and a cut-short sequence in values.
    const std::string bad =
        "{\"id\":\"r\",\"data\":{\"k\x80\":\"Z\xC3rich\","
        "\"s\":\"\xED\xA0\x80\",\"t\":[\"\xE6\x9D\"]}}";
    const std::string fffd = "\xEF\xBF\xBD";
    REQUIRE_FALSE(is_valid_utf8(bad));

    const auto pretty = pretty_json(bad, false);
    REQUIRE(pretty);
    CHECK(is_valid_utf8(*pretty));
    CHECK(pretty->find("\"k" + fffd + "\": \"Z" + fffd + "rich\"") != std::string::npos);
    CHECK(pretty->find("\"s\": \"" + fffd + fffd + fffd + "\"") != std::string::npos);
    CHECK(pretty->find("\"" + fffd + "\"\n") != std::string::npos);
    CHECK(is_valid_utf8(*pretty_json(bad, true)));

    // One line already: the bytes but for the bad ones; pretty-printed: compacted, the same.
    const std::string fixed = "{\"id\":\"r\",\"data\":{\"k" + fffd + "\":\"Z" + fffd +
                              "rich\",\"s\":\"" + fffd + fffd + fffd + "\",\"t\":[\"" + fffd +
                              "\"]}}";
    CHECK(json_line(bad) == fixed);
    CHECK(json_line(*pretty) == fixed);

    const auto rows = run_data_rows(bad);
    REQUIRE(rows);
    REQUIRE(rows->size() == 1);
    for (const auto& [column, text] : rows->front()) {
        CHECK(is_valid_utf8(column));
        CHECK(is_valid_utf8(text));
    }
    CHECK(rows->front().front().first == "k" + fffd);
}

TEST_CASE("run_data_rows: one row per object, per array item, or one empty row") {
    const auto rows = run_data_rows(body);
    REQUIRE(rows);
    REQUIRE(rows->size() == 1);
    CHECK(rows->front() == data_cells{{"city", "Zürich"},
                                      {"big", "123456789012345678901234567890"},
                                      {"amount", "1.0e+2"},
                                      {"neg", "-0.0"},
                                      {"ok", "true"},
                                      {"none", ""},
                                      {"items", R"([{"sku":"A","qty":2}])"},
                                      {"empty", "{}"}});

    const auto pages = run_data_rows(
        R"({"data":[{"page":1,"text":"a, \"b\"\nc"},{"page":2,"extra":[1]},"loose",null]})");
    REQUIRE(pages);
    CHECK(*pages == std::vector<data_cells>{{{"page", "1"}, {"text", "a, \"b\"\nc"}},
                                            {{"page", "2"}, {"extra", "[1]"}},
                                            {{"value", "loose"}},
                                            {{"value", ""}}});

    const std::vector<data_cells> one_empty_row(1);
    CHECK(run_data_rows(R"({"data":null})") == one_empty_row);
    CHECK(run_data_rows(R"({"data":[]})") == one_empty_row);
    CHECK(run_data_rows(R"({"status":"PENDING"})") == one_empty_row);
    CHECK(run_data_rows(R"({"data":"text"})") == std::vector<data_cells>{{{"value", "text"}}});
    CHECK_FALSE(run_data_rows("[oops"));
}
