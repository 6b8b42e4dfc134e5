// /_runmirror/health and /_runmirror/ready: what they say about the store's writes; the browse
// API's date filters and what it emits for stored bytes that are not UTF-8.
#include <doctest/doctest.h>

#include <string>

#include "admin/admin_routes.hpp"
#include "json/run_fields.hpp"
#include "store/forwarding_store.hpp"
#include "support/store_fixtures.hpp"
#include "support/store_fixtures.hpp"
#include "util/tenant.hpp"
#include "util/utf8.hpp"

using namespace runmirror;

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);

// A store whose write health the test sets.
class write_health_store final : public forwarding_store {
  public:
    using forwarding_store::forwarding_store;
    store_write_health health;
    store_write_health write_health() override { return health; }
};

admin_context offline_context(store* db) {
    admin_context ctx;
    ctx.mode = serve_mode::offline;
    ctx.upstream_url = "http://upstream.test";
    ctx.db = db;
    return ctx;
}

struct fixture {
    write_health_store db{runmirror::testing::open_test_store()};
    admin_context ctx = offline_context(&db);

    response get(std::string_view path, header_list headers = {}) {
        request req;
        req.method = "GET";
        req.target = std::string(path);
        req.headers = std::move(headers);
        return handle_admin(match_route(req.method, req.path()), req, ctx, t0);
    }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "ready while the store writes; 503 with the reason once it cannot" *
                               doctest::test_suite("store")) {
    response ready = get("/_runmirror/ready");
    CHECK(ready.status == 200);
    CHECK(ready.body.find("\"writable\":true") != std::string::npos);

    db.health = {false, "database or disk is full", t0, 3};
    response degraded = get("/_runmirror/ready");
    CHECK(degraded.status == 503);
    CHECK(degraded.body.starts_with("{\"detail\":"));
    CHECK(degraded.body.find("\"writable\":false") != std::string::npos);
    CHECK(degraded.body.find("database or disk is full") != std::string::npos);
    CHECK(degraded.body.find("\"failed_writes\":3") != std::string::npos);
    CHECK(degraded.header("Retry-After"));

    // Liveness stays 200: the daemon still answers, and says why it keeps nothing new.
    response health = get("/_runmirror/health");
    CHECK(health.status == 200);
    CHECK(health.body.find("\"store\":{\"writable\":false") != std::string::npos);

    db.health = {};
    CHECK(get("/_runmirror/ready").status == 200);
}

namespace {

header_list bearer(std::string_view key) {
    return {{"Authorization", "Bearer " + std::string(key)}};
}

// Two tenants' runs: key-a was shown project p-a, key-b project p-b.
void store_two_tenants(store& db) {
    for (auto [id, project] : {std::pair{"run-a", "p-a"}, std::pair{"run-b", "p-b"}}) {
        const std::string body = std::string("{\"id\":\"") + id + "\",\"project_id\":\"" + project +
                                 "\",\"extraction_agent_id\":\"agent-1\",\"status\":"
                                 "\"SUCCESS\",\"created_at\":\"2026-01-01T00:00:00Z\"}";
        auto [fields, err] = parse_run(body, kinds::v1_run);
        REQUIRE_FALSE(err);
        db.put_run(fields, body, t0);
    }
    db.grant(tenant_of_key("key-a"), {"p-a"});
    db.grant(tenant_of_key("key-b"), {"p-b"});
}

// A v1 run as the upstream writes it, created at |created_at|, its file name |file_name| as raw
// bytes (which need not be UTF-8).
void put(store& db, const std::string& id, const std::string& created_at,
         const std::string& file_name = "a.pdf") {
    const std::string body = R"({"id":")" + id + R"(","extraction_agent_id":"agent-1",)" +
                             R"("project_id":"proj-1","status":"SUCCESS","created_at":")" +
                             created_at + R"(","updated_at":")" + created_at +
                             R"(","file":{"name":")" + file_name + R"("},"data":{"n":1}})";
    auto [fields, err] = parse_run(body);
    REQUIRE(!err);
    db.put_run(fields, body, t0);
}

std::size_t occurrences(const std::string& json, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = json.find(what); at != std::string::npos; at = json.find(what, at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "browse scope tenant: a key sees its grants' runs only, no key nothing" *
                               doctest::test_suite("store")) {
    store_two_tenants(db);
    ctx.scope = browse_scope::tenant;

    response none = get("/_runmirror/api/runs?kind=all");
    CHECK(none.status == 401);
    CHECK(none.body.find("--browse-scope tenant") != std::string::npos);

    response a = get("/_runmirror/api/runs?kind=all", bearer("key-a"));
    REQUIRE(a.status == 200);
    CHECK(a.body.find("run-a") != std::string::npos);
    CHECK(a.body.find("run-b") == std::string::npos);
    CHECK(get("/_runmirror/api/runs/run-a", bearer("key-a")).status == 200);
    CHECK(get("/_runmirror/api/runs/run-b", bearer("key-a")).status == 404);
    response agents = get("/_runmirror/api/agents", bearer("key-a"));
    CHECK(agents.body.find("p-a") != std::string::npos);
    CHECK(agents.body.find("p-b") == std::string::npos);

    // A key nothing was ever stored for is refused, not shown an empty mirror.
    CHECK(get("/_runmirror/api/runs", bearer("key-typo")).status == 401);
}

TEST_CASE_FIXTURE(fixture, "browse scope all: no key sees all, a key still only its own" *
                               doctest::test_suite("store")) {
    store_two_tenants(db);
    response all = get("/_runmirror/api/runs?kind=all");
    REQUIRE(all.status == 200);
    CHECK(all.body.find("run-a") != std::string::npos);
    CHECK(all.body.find("run-b") != std::string::npos);
    response b = get("/_runmirror/api/runs?kind=all", bearer("key-b"));
    CHECK(b.body.find("run-a") == std::string::npos);
    CHECK(b.body.find("run-b") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "the admin token sees every tenant; a wrong one is refused" *
                               doctest::test_suite("store")) {
    store_two_tenants(db);
    ctx.admin_token = "admin-secret";
    ctx.scope = browse_scope::tenant;
    CHECK(get("/_runmirror/api/runs?kind=all").status == 401);
    response admin = get("/_runmirror/api/runs?kind=all", bearer("admin-secret"));
    REQUIRE(admin.status == 200);
    CHECK(admin.body.find("run-a") != std::string::npos);
    CHECK(admin.body.find("run-b") != std::string::npos);
    CHECK(get("/_runmirror/api/runs", {{"x-runmirror-token", "admin-secret"}}).status == 200);
    CHECK(get("/_runmirror/api/runs", {{"x-runmirror-token", "nope"}}).status == 401);
    // With an admin token, a key still gets its own view.
    response a = get("/_runmirror/api/runs?kind=all", bearer("key-a"));
    REQUIRE(a.status == 200);
    CHECK(a.body.find("run-b") == std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "browse from/to: the whole calendar, 0001 to 9999; outside it, 400" *
                               doctest::test_suite("store")) {
    put(db, "r-2025", "2025-01-15T08:00:00Z");
    put(db, "r-2300", "2300-06-01T00:00:00Z");  // past system_clock's nanoseconds (2262)
    put(db, "r-9999", "9999-12-31T23:59:59.5Z");
    const auto listed = [&](const std::string& query) {
        const response r = get("/_runmirror/api/runs?" + query);
        REQUIRE(r.status == 200);
        return occurrences(r.body, "\"id\":");
    };
    CHECK(listed("") == 3);
    CHECK(listed("to=9999-12-31") == 2);  // exclusive: 9999-12-31T00:00 is after the other two
    CHECK(listed("to=9999-12-31T23:59:59.999999999Z") == 3);
    CHECK(listed("from=9999-12-31") == 1);
    CHECK(listed("from=2262-04-12") == 2);
    CHECK(listed("from=0001-01-01&to=2262-04-12") == 1);
    CHECK(listed("from=0001-01-01T00:00:00-23:59") == 3);
    CHECK(listed("to=0001-01-02") == 0);

    for (const std::string& bad :
         {std::string("to=0000-12-31"), std::string("from=9999-12-31T23:59:59-01:00"),
          std::string("to=10000-01-01"), std::string("from=0001-01-01T00:00:00%2B00:01")}) {
        CAPTURE(bad);
        const response r = get("/_runmirror/api/runs?" + bad);
        CHECK(r.status == 400);
        CHECK(r.body.starts_with("{\"detail\":"));
    }
    CHECK(get("/_runmirror/api/runs?to=0000-12-31").body ==
          R"({"detail":"to: out of range: years 0001 to 9999 (UTC) only, got '0000-12-31'"})");
    CHECK(get("/_runmirror/api/runs?from=2025-02-30").body ==
          R"({"detail":"from: no such date, got '2025-02-30'"})");
}

TEST_CASE_FIXTURE(fixture, "browse views are valid UTF-8 whatever the stored bytes" *
                               doctest::test_suite("store")) {
    const std::string fffd = "\xEF\xBF\xBD";
    put(db, "r-bad", "2025-01-15T08:00:00Z", "Z\xFCrich \xE6\x9D.pdf");  // Latin-1, cut short

    const response one = get("/_runmirror/api/runs/r-bad");
    REQUIRE(one.status == 200);
    const std::string_view served = one.body_bytes();
    CHECK(is_valid_utf8(served));
    CHECK(served.find("\"name\":\"Z" + fffd + "rich " + fffd + ".pdf\"") != std::string::npos);
    // The store still holds the upstream's bytes.
    CHECK(db.find_run("r-bad")->body.find("Z\xFCrich \xE6\x9D.pdf") != std::string::npos);

    const response list = get("/_runmirror/api/runs");
    REQUIRE(list.status == 200);
    CHECK(is_valid_utf8(list.body));
    CHECK(list.body.find("\"file_name\":\"Z" + fffd + "rich " + fffd + ".pdf\"") !=
          std::string::npos);

    // What a client sent comes back in a 400's detail: valid too.
    const response bad = get("/_runmirror/api/runs?from=%FF2025");
    CHECK(bad.status == 400);
    CHECK(bad.body ==
          "{\"detail\":\"from: expected an ISO 8601 date or date-time (2025-01-15, "
          "2025-01-15T08:00:00Z), got '" +
              fffd + "2025'\"}");

    // A valid body is served as stored, without a copy.
    put(db, "r-good", "2025-01-15T08:00:00Z", "Zürich.pdf");
    const response good = get("/_runmirror/api/runs/r-good");
    CHECK(good.shared_body);
    CHECK(good.body_bytes() == db.find_run("r-good")->body);
}

TEST_CASE_FIXTURE(fixture, "ready reports the schema, the upstream and the sync worker's backlog" *
                               doctest::test_suite("store")) {
    response ready = get("/_runmirror/ready");
    REQUIRE(ready.status == 200);
    const std::string expected = std::to_string(db.known_schema_version());
    CHECK(ready.body.find("\"schema\":{\"version\":" + expected + ",\"expected\":" + expected) !=
          std::string::npos);
    CHECK(
        ready.body.find("\"upstream\":{\"url\":\"http://upstream.test\",\"state\":\"offline\"}") !=
        std::string::npos);
    CHECK(ready.body.find("\"watches\":{\"overdue\":false,\"lag_ms\":0}") != std::string::npos);

    // A watch due a minute ago that nothing polled: ready still, and behind by a minute.
    run_fields run;
    run.id = "r1";
    run.project_id = "p1";
    run.status = "PENDING";
    REQUIRE(
        db.watch_run(run, "tenant", t0 - std::chrono::minutes(2), t0 - std::chrono::minutes(1)));
    ready = get("/_runmirror/ready");
    CHECK(ready.status == 200);
    CHECK(ready.body.find("\"watches\":{\"overdue\":true,\"lag_ms\":60000}") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture,
                  "the daemon's prefix sends a person to the page" * doctest::test_suite("store")) {
    for (const char* path : {"/_runmirror/", "/_runmirror"}) {
        const response r = get(path);
        CHECK(r.status == 302);
        CHECK(r.header("Location") == "/_runmirror/ui/");
    }
    ctx.admin_token = "tok";  // the page holds no data: no token needed to be sent there
    CHECK(get("/_runmirror/").status == 302);
}

TEST_CASE_FIXTURE(fixture, "watches API: why each watch waits, from the worker and the upstream" *
                               doctest::test_suite("store")) {
    const std::string body = R"({"id":"run-w","project_id":"p-a","extraction_agent_id":"agent-1",)"
                             R"("status":"PENDING","created_at":"2026-01-01T00:00:00Z"})";
    auto [fields, err] = parse_run(body, kinds::v1_run);
    REQUIRE_FALSE(err);
    db.put_run(fields, body, t0);
    REQUIRE(db.watch_run(fields, tenant_of_key("key-a"), t0, t0 - millis(1)));

    // No worker (offline): nothing is polled, and the answer says so.
    CHECK(get("/_runmirror/api/watches").body.find(R"("wait":"offline")") != std::string::npos);

    ctx.mode = serve_mode::online;
    sync_snapshot worker;
    worker.concurrency = 4;
    ctx.sync_state = [&](time_point) { return worker; };
    const response no_key = get("/_runmirror/api/watches");
    REQUIRE(no_key.status == 200);
    CHECK(no_key.body.find(R"("wait":"no_key","wait_text":"no key for its tenant yet)") !=
          std::string::npos);

    worker.tenants_with_key = {tenant_of_key("key-a")};
    CHECK(get("/_runmirror/api/watches").body.find(R"("wait":"due")") != std::string::npos);

    upstream_health health(1, millis(5'000), millis(5'000));
    health.record_failure(t0 - millis(100));
    ctx.health = &health;
    const response down = get("/_runmirror/api/watches");
    CHECK(down.body.find(R"("wait":"upstream_down")") != std::string::npos);
    CHECK(down.body.find(R"("wait_until":"2023-11-14T22:13:24.900Z")") != std::string::npos);
    // The page says since when the upstream is down.
    CHECK(get("/_runmirror/health").body.find(R"("down_since":"2023-11-14T22:13:19.900Z")") !=
          std::string::npos);
}
