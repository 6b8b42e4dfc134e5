// /_runmirror/health and /_runmirror/ready: what they say about the store's writes.
#include <doctest/doctest.h>

#include "admin/admin_routes.hpp"
#include "json/run_fields.hpp"
#include "store/forwarding_store.hpp"
#include "util/tenant.hpp"

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

struct fixture {
    write_health_store db{open_sqlite_store(":memory:")};
    admin_context ctx{serve_mode::offline,    "",      browse_scope::all,
                      "http://upstream.test", nullptr, &db};

    response get(std::string_view path, header_list headers = {}) {
        request req;
        req.method = "GET";
        req.target = std::string(path);
        req.headers = std::move(headers);
        return handle_admin(match_route(req.method, req.path()), req, ctx, t0);
    }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "ready while the store writes; 503 with the reason once it cannot") {
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

}  // namespace

TEST_CASE_FIXTURE(fixture,
                  "browse scope tenant: a key sees its grants' runs only, no key nothing") {
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

TEST_CASE_FIXTURE(fixture, "browse scope all: no key sees all, a key still only its own") {
    store_two_tenants(db);
    response all = get("/_runmirror/api/runs?kind=all");
    REQUIRE(all.status == 200);
    CHECK(all.body.find("run-a") != std::string::npos);
    CHECK(all.body.find("run-b") != std::string::npos);
    response b = get("/_runmirror/api/runs?kind=all", bearer("key-b"));
    CHECK(b.body.find("run-a") == std::string::npos);
    CHECK(b.body.find("run-b") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "the admin token sees every tenant; a wrong one is refused") {
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
