// /_runmirror/health and /_runmirror/ready: what they say about the store's writes.
#include <doctest/doctest.h>

#include "admin/admin_routes.hpp"
#include "store/forwarding_store.hpp"

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
    admin_context ctx{serve_mode::offline, "", "http://upstream.test", nullptr, &db};

    response get(std::string_view path) {
        request req;
        req.method = "GET";
        req.target = std::string(path);
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
