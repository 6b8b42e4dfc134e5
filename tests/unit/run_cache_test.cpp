// The run cache against a scripted upstream and an in-memory store: no sockets, injected time.
#include <doctest/doctest.h>

#include <deque>

#include "cache/run_cache.hpp"
#include "store/forwarding_store.hpp"
#include "store/memory_cache.hpp"
#include "support/scripted_upstream.hpp"
#include "support/store_fixtures.hpp"
#include "util/tenant.hpp"

using namespace runmirror;
using runmirror::testing::scripted_upstream;

namespace {

upstream_reply answer(int status, std::string body) {
    upstream_reply r;
    r.answer.status = status;
    r.answer.headers = {{"Content-Type", "application/json"}, {"Connection", "keep-alive"}};
    r.answer.body = std::move(body);
    return r;
}

upstream_reply failure(errc code) {
    upstream_reply r;
    r.failure = {code, "test failure"};
    return r;
}

std::string run_json(std::string_view id, std::string_view status, std::string_view project = "p1",
                     std::string_view created = "2026-01-01T00:00:00Z") {
    return std::string("{\"id\":\"") + std::string(id) + "\",\"project_id\":\"" +
           std::string(project) + "\",\"extraction_agent_id\":\"agent-1\",\"status\":\"" +
           std::string(status) + "\",\"created_at\":\"" + std::string(created) +
           "\",\"job_id\":\"job-" + std::string(id) + "\",\"big\":123456789012345678901234567890}";
}

struct fixture {
    std::unique_ptr<store> db = runmirror::testing::open_test_store();
    scripted_upstream up;
    time_point now = from_unix_ms(1'700'000'000'000);
    cache_options options;
    std::unique_ptr<run_cache> cache;

    // The cases below that do not name it test the rules without stale-while-revalidate.
    fixture() {
        options.stale_while_revalidate = millis(0);
        make_cache();
    }
    void make_cache() {
        cache =
            std::make_unique<run_cache>(*db, options.mode == serve_mode::offline ? nullptr : &up,
                                        options, [this] { return now; });
    }

    // Starts a request; the answer lands in |out| whenever the cache gives it.
    void start(std::optional<response>& out, std::string target, std::string key = "key-a",
               header_list extra = {}, std::string method = "GET") {
        request req;
        req.method = method;
        req.target = target;
        req.headers = {{"Host", "x"}};
        if (!key.empty()) req.headers.push_back({"Authorization", "Bearer " + key});
        for (auto& h : extra)
            req.headers.push_back(h);
        route_match route = match_route(req.method, req.path());
        cache->handle(route, std::move(req), [&out](response r) { out = std::move(r); });
    }

    response get(std::string target, std::string key = "key-a", header_list extra = {},
                 std::string method = "GET") {
        std::optional<response> out;
        start(out, std::move(target), std::move(key), std::move(extra), std::move(method));
        REQUIRE(out);
        return *out;
    }
};

std::string cache_status(const response& r) {
    auto v = r.header("Cache-Status");
    return v ? std::string(*v) : std::string();
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "a final run is fetched once, then served from the store byte for byte" *
                               doctest::test_suite("store")) {
    const std::string body = run_json("r1", "SUCCESS");
    up.script.push_back(answer(200, body));
    response first = get("/api/v1/extraction/runs/r1");
    CHECK(first.status == 200);
    CHECK(first.body_bytes() == body);
    CHECK(cache_status(first) == "runmirror; fwd=miss; fwd-status=200; stored");
    CHECK_FALSE(first.header("Connection"));  // hop-by-hop fields are not relayed

    now += std::chrono::hours(48);
    response second = get("/api/v1/extraction/runs/r1");
    CHECK(second.status == 200);
    CHECK(second.body_bytes() == body);
    CHECK(cache_status(second) == "runmirror; hit");
    CHECK(up.seen.size() == 1);

    SUBCASE("by job, too") {
        response by_job = get("/api/v1/extraction/runs/by-job/job-r1");
        CHECK(cache_status(by_job) == "runmirror; hit");
        CHECK(by_job.body_bytes() == body);
        CHECK(up.seen.size() == 1);
    }
}

TEST_CASE_FIXTURE(fixture, "a tenant without a grant is forwarded and never gets the stored copy" *
                               doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r1", "SUCCESS")));
    get("/api/v1/extraction/runs/r1", "key-a");
    up.script.push_back(answer(404, R"({"detail":"Run not found"})"));
    response other = get("/api/v1/extraction/runs/r1", "key-b");
    CHECK(other.status == 404);
    CHECK(other.body_bytes() == R"({"detail":"Run not found"})");
    REQUIRE(up.seen.size() == 2);
    CHECK(find_header(up.seen[1].headers, "Authorization") == "Bearer key-b");

    SUBCASE("not even when the upstream then fails") {
        up.script.push_back(failure(errc::refused));
        response r = get("/api/v1/extraction/runs/r1", "key-b");
        CHECK(r.status == 502);
        CHECK(r.body_bytes().find("\"detail\"") != std::string::npos);
    }
    SUBCASE("nor without a key") {
        up.script.push_back(answer(401, R"({"detail":"unauthorised"})"));
        CHECK(get("/api/v1/extraction/runs/r1", "").status == 401);
    }
}

TEST_CASE_FIXTURE(fixture, "a pending run is refreshed once its max age has passed" *
                               doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r2", "PENDING")));
    get("/api/v1/extraction/runs/r2");
    now += millis(500);
    CHECK(cache_status(get("/api/v1/extraction/runs/r2")) == "runmirror; hit");
    now += options.pending_max_age;
    up.script.push_back(answer(200, run_json("r2", "SUCCESS")));
    response r = get("/api/v1/extraction/runs/r2");
    CHECK(cache_status(r) == "runmirror; fwd=stale; fwd-status=200; stored");
    CHECK(r.body_bytes().find("SUCCESS") != std::string::npos);
    CHECK(up.seen.size() == 2);
}

TEST_CASE_FIXTURE(fixture, "stale-if-error serves the granted copy when upstream fails" *
                               doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r3", "PENDING")));
    get("/api/v1/extraction/runs/r3");
    now += std::chrono::minutes(1);
    up.script.push_back(answer(503, R"({"detail":"busy"})"));
    response r = get("/api/v1/extraction/runs/r3");
    CHECK(r.status == 200);
    CHECK(cache_status(r) == "runmirror; hit; detail=stale-if-error; fwd-status=503");
    up.script.push_back(failure(errc::timeout));
    r = get("/api/v1/extraction/runs/r3");
    CHECK(cache_status(r) == "runmirror; hit; detail=stale-if-error");
}

TEST_CASE_FIXTURE(fixture, "no copy and a failing upstream: a JSON 502 or 504" *
                               doctest::test_suite("store")) {
    up.script.push_back(failure(errc::timeout));
    response r = get("/api/v1/extraction/runs/none");
    CHECK(r.status == 504);
    CHECK(r.body_bytes().starts_with("{\"detail\":"));
}

TEST_CASE_FIXTURE(fixture, "a deleted run is never served again" * doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r4", "SUCCESS")));
    get("/api/v1/extraction/runs/r4");
    up.script.push_back(answer(200, "{}"));
    response del = get("/api/v1/extraction/runs/r4", "key-a", {}, "DELETE");
    CHECK(del.status == 200);
    response after = get("/api/v1/extraction/runs/r4");
    CHECK(after.status == 404);
    CHECK(up.seen.size() == 2);

    options.mode = serve_mode::offline;
    make_cache();
    CHECK(get("/api/v1/extraction/runs/r4").status == 404);
    CHECK(get("/api/v1/extraction/runs/by-job/job-r4").status != 200);
}

TEST_CASE_FIXTURE(fixture, "a failed delete leaves the run served" * doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r5", "SUCCESS")));
    get("/api/v1/extraction/runs/r5");
    up.script.push_back(answer(403, R"({"detail":"forbidden"})"));
    CHECK(get("/api/v1/extraction/runs/r5", "key-a", {}, "DELETE").status == 403);
    CHECK(get("/api/v1/extraction/runs/r5").status == 200);
}

TEST_CASE_FIXTURE(fixture, "a list page the memory cache holds in a file is answered from it" *
                               doctest::test_suite("store")) {
    cache.reset();  // it holds the store being replaced
    db = with_memory_cache(runmirror::testing::open_test_store(), {.file_threshold_bytes = 64});
    make_cache();
    const std::string page = "{\"items\":[" + run_json("ra", "SUCCESS") + "],\"total\":1}";
    up.script.push_back(answer(200, page));
    CHECK(get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50").body_text() == page);

    response hit = get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50");
    CHECK(cache_status(hit) == "runmirror; hit");
    REQUIRE(hit.file_body);
    CHECK(hit.body_bytes().empty());
    CHECK(hit.body_size() == page.size());
    CHECK(hit.body_text() == page);
    CHECK(up.seen.size() == 1);
}

TEST_CASE_FIXTURE(fixture, "a list page stores its runs, which then answer gets by id" *
                               doctest::test_suite("store")) {
    const std::string a = run_json("ra", "SUCCESS", "p1", "2026-01-02T00:00:00Z");
    const std::string b = run_json("rb", "ERROR", "p1", "2026-01-01T00:00:00Z");
    const std::string page =
        "{\"items\":[" + a + "," + b + "],\"total\":2,\"skip\":0,\"limit\":50}";
    up.script.push_back(answer(200, page));
    response list = get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50");
    CHECK(list.body_bytes() == page);
    response again = get("/api/v1/extraction/runs?limit=50&extraction_agent_id=agent-1");
    CHECK(cache_status(again) == "runmirror; hit");
    response rb = get("/api/v1/extraction/runs/rb");
    CHECK(rb.body_bytes() == b);
    CHECK(cache_status(rb) == "runmirror; hit");
    CHECK(up.seen.size() == 1);

    SUBCASE("offline, an unseen page is assembled from stored runs, newest first") {
        options.mode = serve_mode::offline;
        make_cache();
        response assembled =
            get("/api/v1/extraction/runs?extraction_agent_id=agent-1&skip=1&limit=1");
        CHECK(assembled.status == 200);
        CHECK(cache_status(assembled) == "runmirror; hit; detail=assembled");
        CHECK(assembled.body_bytes() ==
              "{\"items\":[" + b + "],\"total\":2,\"skip\":1,\"limit\":1}");
        // A key upstream never showed anything gets no (misleadingly empty) page.
        CHECK(get("/api/v1/extraction/runs?extraction_agent_id=agent-1", "key-z").status == 403);
    }
    SUBCASE("a 401 revokes the tenant's grants") {
        now += std::chrono::minutes(1);
        up.script.push_back(answer(401, R"({"detail":"Invalid API key"})"));
        CHECK(get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50").status == 401);
        up.script.push_back(answer(401, R"({"detail":"Invalid API key"})"));
        CHECK(get("/api/v1/extraction/runs/ra").status == 401);
    }
}

TEST_CASE_FIXTURE(fixture,
                  "offline: hits served, misses 503 with x-should-retry false, no upstream" *
                      doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r6", "SUCCESS")));
    get("/api/v1/extraction/runs/r6");
    options.mode = serve_mode::offline;
    make_cache();
    CHECK(get("/api/v1/extraction/runs/r6").status == 200);
    response miss = get("/api/v1/extraction/runs/never");
    CHECK(miss.status == 503);
    CHECK(miss.header("x-should-retry") == "false");
    CHECK(get("/api/v1/extraction/runs/r6", "key-b").status == 403);
    CHECK(get("/api/v1/extraction/runs/r6", "key-a", {}, "DELETE").status == 503);
    CHECK(up.seen.size() == 1);
}

TEST_CASE_FIXTURE(fixture, "only-if-cached never contacts upstream; no-cache always does" *
                               doctest::test_suite("store")) {
    CHECK(
        get("/api/v1/extraction/runs/r7", "key-a", {{"Cache-Control", "only-if-cached"}}).status ==
        504);
    up.script.push_back(answer(200, run_json("r7", "SUCCESS")));
    get("/api/v1/extraction/runs/r7");
    up.script.push_back(answer(200, run_json("r7", "SUCCESS")));
    response r = get("/api/v1/extraction/runs/r7", "key-a", {{"Cache-Control", "no-cache"}});
    CHECK(cache_status(r) == "runmirror; fwd=request; fwd-status=200; stored");
    CHECK(up.seen.size() == 2);
}

TEST_CASE_FIXTURE(fixture, "a no-cache read refreshes the stored run only when it changed" *
                               doctest::test_suite("store")) {
    const time_point first = now;
    up.script.push_back(answer(200, run_json("r7", "SUCCESS")));
    get("/api/v1/extraction/runs/r7");
    now += std::chrono::seconds(10);

    // The same bytes for a final run: nothing was rewritten (its fetch time is the first one).
    up.script.push_back(answer(200, run_json("r7", "SUCCESS")));
    response same = get("/api/v1/extraction/runs/r7", "key-a", {{"Cache-Control", "no-cache"}});
    CHECK(same.body_bytes() == run_json("r7", "SUCCESS"));
    CHECK(db->find_run("r7")->fetched_at == first);

    // Different bytes: stored, and served from then on.
    up.script.push_back(answer(200, run_json("r7", "ERROR")));
    response changed = get("/api/v1/extraction/runs/r7", "key-a", {{"Cache-Control", "no-cache"}});
    CHECK(cache_status(changed) == "runmirror; fwd=request; fwd-status=200; stored");
    CHECK(db->find_run("r7")->fetched_at == now);
    CHECK(get("/api/v1/extraction/runs/r7").body_bytes() == run_json("r7", "ERROR"));
    CHECK(up.seen.size() == 3);
}

TEST_CASE_FIXTURE(
    fixture, "a no-cache read of a final run hands its stored bytes to the upstream to compare" *
                 doctest::test_suite("store")) {
    up.share_known = true;
    up.script.push_back(answer(200, run_json("r8", "SUCCESS")));
    get("/api/v1/extraction/runs/r8");
    REQUIRE(up.known.size() == 0);  // nothing stored yet: a plain send
    const time_point first = now;
    now += std::chrono::seconds(10);

    // Unchanged: the answer shares the stored bytes; relayed as they are, nothing rewritten.
    up.script.push_back(answer(200, run_json("r8", "SUCCESS")));
    response same = get("/api/v1/extraction/runs/r8", "key-a", {{"Cache-Control", "no-cache"}});
    REQUIRE(up.known.size() == 1);
    REQUIRE(up.known[0]);
    CHECK(*up.known[0] == run_json("r8", "SUCCESS"));
    CHECK(same.status == 200);
    CHECK(same.body.empty());
    CHECK(same.body_bytes() == run_json("r8", "SUCCESS"));
    CHECK(cache_status(same) == "runmirror; fwd=request; fwd-status=200; stored");
    CHECK(db->find_run("r8")->fetched_at == first);

    // Changed: a copy, stored and served from then on.
    up.script.push_back(answer(200, run_json("r8", "ERROR")));
    response changed = get("/api/v1/extraction/runs/r8", "key-a", {{"Cache-Control", "no-cache"}});
    CHECK(changed.body_bytes() == run_json("r8", "ERROR"));
    CHECK(db->find_run("r8")->fetched_at == now);
    CHECK(get("/api/v1/extraction/runs/r8").body_bytes() == run_json("r8", "ERROR"));

    // A tenant without a grant is not revalidating anything of its own: a plain send.
    up.script.push_back(answer(200, run_json("r8", "ERROR")));
    get("/api/v1/extraction/runs/r8", "key-b");
    CHECK(up.known.size() == 2);
}

TEST_CASE_FIXTURE(fixture,
                  "a broken 200 body is never stored nor relayed" * doctest::test_suite("store")) {
    up.script.push_back(answer(200, "{\"id\":\"r8\",\"status\":"));
    response r = get("/api/v1/extraction/runs/r8");
    CHECK(r.status == 502);
    CHECK(r.body_bytes().starts_with("{\"detail\":"));
    CHECK(cache_status(r) == "runmirror; fwd=miss; fwd-status=200");
    CHECK_FALSE(db->find_run("r8"));

    SUBCASE("and with a stored copy, the copy is served") {
        up.script.push_back(answer(200, run_json("r8", "PENDING")));
        get("/api/v1/extraction/runs/r8");
        now += std::chrono::minutes(1);
        up.script.push_back(answer(200, "<html>oops</html>"));
        response stale = get("/api/v1/extraction/runs/r8");
        CHECK(stale.status == 200);
        CHECK(stale.body_bytes() == run_json("r8", "PENDING"));
        CHECK(cache_status(stale) == "runmirror; hit; detail=stale-if-error; fwd-status=200");
    }
}

TEST_CASE_FIXTURE(fixture,
                  "5xx and 429 without a copy: JSON errors relayed, anything else a JSON 502" *
                      doctest::test_suite("store")) {
    upstream_reply busy = answer(429, R"({"detail":"slow down"})");
    busy.answer.headers.push_back({"Retry-After", "3"});
    up.script.push_back(busy);
    response r = get("/api/v1/extraction/runs/x");
    CHECK(r.status == 429);
    CHECK(r.header("Retry-After") == "3");
    up.script.push_back(answer(502, "<html>Bad Gateway</html>"));
    r = get("/api/v1/extraction/runs/x");
    CHECK(r.status == 502);
    CHECK(r.body_bytes() == R"({"detail":"upstream answered 502 without a JSON body"})");
}

TEST_CASE_FIXTURE(fixture,
                  "a circuit-open failure carries Retry-After" * doctest::test_suite("store")) {
    upstream_reply down = failure(errc::unavailable);
    down.retry_in = millis(1'500);
    up.script.push_back(down);
    response r = get("/api/v1/extraction/runs/x");
    CHECK(r.status == 503);
    CHECK(r.header("Retry-After") == "2");
}

TEST_CASE_FIXTURE(fixture, "concurrent identical misses share one upstream request, per tenant" *
                               doctest::test_suite("store")) {
    up.hold = true;
    std::vector<std::optional<response>> a(5), b(3);
    for (auto& out : a)
        start(out, "/api/v1/extraction/runs/rc", "key-a");
    for (auto& out : b)
        start(out, "/api/v1/extraction/runs/rc", "key-b");
    CHECK(up.seen.size() == 2);
    CHECK(cache->waiting_clients() == 8);
    up.script.push_back(answer(200, run_json("rc", "SUCCESS")));
    up.script.push_back(answer(404, R"({"detail":"Run not found"})"));
    up.release();
    CHECK(cache->waiting_clients() == 0);
    for (auto& out : a) {
        REQUIRE(out);
        CHECK(out->status == 200);
        CHECK(out->body == run_json("rc", "SUCCESS"));
    }
    for (auto& out : b) {
        REQUIRE(out);
        CHECK(out->status == 404);
    }
}

TEST_CASE_FIXTURE(fixture, "a run upstream no longer has is tombstoned (reconciliation)" *
                               doctest::test_suite("store")) {
    const std::string a = run_json("rg", "SUCCESS", "p1", "2026-01-02T00:00:00Z");
    up.script.push_back(answer(200, "{\"items\":[" + a + "],\"total\":1,\"skip\":0,\"limit\":50}"));
    get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50");

    SUBCASE("a 404 to a tenant that was shown the run") {
        up.script.push_back(answer(404, R"({"detail":"Run not found"})"));
        CHECK(get("/api/v1/extraction/runs/rg", "key-a", {{"Cache-Control", "no-cache"}}).status ==
              404);
        CHECK(get("/api/v1/extraction/runs/rg").status == 404);
        CHECK(db->find_run("rg")->deleted_at);
        CHECK_FALSE(
            db->find_list_page(tenant_of_key("key-a"), "extraction_agent_id=agent-1&limit=50"));
        CHECK(up.seen.size() == 2);
    }
    SUBCASE("a 404 to a tenant that was never shown it changes nothing") {
        up.script.push_back(answer(404, R"({"detail":"Run not found"})"));
        CHECK(get("/api/v1/extraction/runs/rg", "key-b").status == 404);
        CHECK_FALSE(db->find_run("rg")->deleted_at);
        CHECK(get("/api/v1/extraction/runs/rg").status == 200);
    }
}

TEST_CASE_FIXTURE(fixture, "a list never fetched is assembled when the upstream fails" *
                               doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("rl", "SUCCESS")));
    get("/api/v1/extraction/runs/rl");
    up.script.push_back(failure(errc::refused));
    CHECK(get("/api/v1/extraction/runs?extraction_agent_id=agent-1", "key-z").status == 502);
    up.script.push_back(failure(errc::refused));
    response r = get("/api/v1/extraction/runs?extraction_agent_id=agent-1");
    CHECK(r.status == 200);
    CHECK(cache_status(r) == "runmirror; hit; detail=assembled");
    CHECK(r.body_bytes() ==
          "{\"items\":[" + run_json("rl", "SUCCESS") + "],\"total\":1,\"skip\":0,\"limit\":100}");
}

TEST_CASE_FIXTURE(fixture,
                  "forwarded requests ask for identity encoding" * doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("r9", "SUCCESS")));
    get("/api/v1/extraction/runs/r9", "key-a", {{"Accept-Encoding", "gzip"}});
    CHECK_FALSE(find_header(up.seen[0].headers, "Accept-Encoding"));
}

namespace {

// A store whose writes (or reads) fail on demand, as a full disk or an I/O error makes them.
class failing_store final : public forwarding_store {
  public:
    using forwarding_store::forwarding_store;
    bool fail_writes = false;
    bool fail_reads = false;

    put_outcome put_run(const run_fields& fields, std::string_view body, time_point at) override {
        if (fail_writes) throw store_error("disk I/O error");
        return forwarding_store::put_run(fields, body, at);
    }
    std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs, time_point at) override {
        if (fail_writes) throw store_error("database or disk is full");
        return forwarding_store::put_runs(runs, at);
    }
    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        if (fail_reads) throw store_error("disk I/O error");
        return forwarding_store::find_run(id);
    }
};

struct failing_fixture : fixture {
    failing_store* failing;
    failing_fixture() {
        auto wrapped = std::make_unique<failing_store>(std::move(db));
        failing = wrapped.get();
        db = std::move(wrapped);
        make_cache();
    }
};

const std::string list_target = "/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=50";

std::string page_of(const std::string& run) {
    return "{\"items\":[" + run + "],\"total\":1,\"skip\":0,\"limit\":50}";
}

}  // namespace

TEST_CASE_FIXTURE(fixture,
                  "stale-while-revalidate: a pending run past max age is served at "
                  "once while one background request refreshes it" *
                      doctest::test_suite("store")) {
    options.stale_while_revalidate = millis(10'000);
    make_cache();
    up.script.push_back(answer(200, run_json("rs", "PENDING")));
    get("/api/v1/extraction/runs/rs");
    now += millis(3'000);  // past the 2 s max age, within the window

    up.hold = true;
    response first = get("/api/v1/extraction/runs/rs");
    CHECK(first.body_bytes() == run_json("rs", "PENDING"));
    CHECK(cache_status(first) == "runmirror; hit; detail=stale-while-revalidate");
    response second = get("/api/v1/extraction/runs/rs");
    CHECK(cache_status(second) == "runmirror; hit; detail=stale-while-revalidate");
    CHECK(up.seen.size() == 2);  // one refresh for both
    CHECK(up.held.size() == 1);

    up.script.push_back(answer(200, run_json("rs", "SUCCESS")));
    up.release();
    CHECK(cache->waiting_clients() == 0);
    response fresh = get("/api/v1/extraction/runs/rs");
    CHECK(cache_status(fresh) == "runmirror; hit");
    CHECK(fresh.body_bytes() == run_json("rs", "SUCCESS"));
    CHECK(up.seen.size() == 2);
}

TEST_CASE_FIXTURE(fixture,
                  "stale-while-revalidate: no-cache, max-age=0 and an entry past the "
                  "window wait for the fresh answer" *
                      doctest::test_suite("store")) {
    options.stale_while_revalidate = millis(10'000);
    make_cache();
    up.script.push_back(answer(200, run_json("rw", "PENDING")));
    get("/api/v1/extraction/runs/rw");
    now += millis(3'000);
    for (const char* directive : {"no-cache", "max-age=0"}) {
        up.script.push_back(answer(200, run_json("rw", "PENDING")));
        response r = get("/api/v1/extraction/runs/rw", "key-a", {{"Cache-Control", directive}});
        CHECK(cache_status(r) == "runmirror; fwd=request; fwd-status=200; stored");
    }
    now += millis(2'000 + 10'000);  // past max age and window
    up.script.push_back(answer(200, run_json("rw", "SUCCESS")));
    response r = get("/api/v1/extraction/runs/rw");
    CHECK(cache_status(r) == "runmirror; fwd=stale; fwd-status=200; stored");
    CHECK(r.body_bytes() == run_json("rw", "SUCCESS"));
}

TEST_CASE_FIXTURE(fixture,
                  "stale-while-revalidate: a list page is served at once and "
                  "refreshed once in the background" *
                      doctest::test_suite("store")) {
    options.stale_while_revalidate = millis(10'000);
    make_cache();
    up.script.push_back(answer(200, page_of(run_json("ra", "PENDING"))));
    get(list_target);
    now += options.list_max_age + millis(1);
    up.hold = true;
    for (int i = 0; i < 3; ++i) {
        response r = get(list_target);
        CHECK(r.body_bytes() == page_of(run_json("ra", "PENDING")));
        CHECK(cache_status(r) == "runmirror; hit; detail=stale-while-revalidate");
    }
    CHECK(up.held.size() == 1);
    up.script.push_back(answer(200, page_of(run_json("ra", "SUCCESS"))));
    up.release();
    response r = get(list_target);
    CHECK(cache_status(r) == "runmirror; hit");
    CHECK(r.body_bytes() == page_of(run_json("ra", "SUCCESS")));
    CHECK(up.seen.size() == 2);
}

TEST_CASE_FIXTURE(fixture,
                  "upstream believed down: a copy is served at once, anything else "
                  "is still sent" *
                      doctest::test_suite("store")) {
    up.script.push_back(answer(200, run_json("rd", "PENDING")));
    get("/api/v1/extraction/runs/rd");
    up.script.push_back(answer(200, page_of(run_json("rd", "PENDING"))));
    get(list_target);
    now += std::chrono::minutes(5);
    up.down = true;

    response copy = get("/api/v1/extraction/runs/rd");
    CHECK(copy.body_bytes() == run_json("rd", "PENDING"));
    CHECK(cache_status(copy) == "runmirror; hit; detail=stale-if-error");
    response page = get(list_target);
    CHECK(cache_status(page) == "runmirror; hit; detail=stale-if-error");
    response assembled = get("/api/v1/extraction/runs?extraction_agent_id=agent-1&limit=7");
    CHECK(cache_status(assembled) == "runmirror; hit; detail=assembled");
    CHECK(up.seen.size() == 2);

    // Nothing stored to give: the request goes out, and its answer is the client's.
    up.script.push_back(answer(200, run_json("rn", "SUCCESS")));
    response miss = get("/api/v1/extraction/runs/rn");
    CHECK(miss.status == 200);
    CHECK(cache_status(miss) == "runmirror; fwd=miss; fwd-status=200; stored");
    up.script.push_back(answer(200, "{}"));
    CHECK(get("/api/v1/extraction/runs/rn", "key-a", {}, "DELETE").status == 200);
    CHECK(up.seen.size() == 4);
}

TEST_CASE_FIXTURE(failing_fixture, "a store that cannot write never costs the client its answer" *
                                       doctest::test_suite("store")) {
    failing->fail_writes = true;
    up.script.push_back(answer(200, run_json("rf", "SUCCESS")));
    response r = get("/api/v1/extraction/runs/rf");
    CHECK(r.status == 200);
    CHECK(r.body_bytes() == run_json("rf", "SUCCESS"));
    CHECK(cache_status(r) == "runmirror; fwd=miss; fwd-status=200; detail=not-stored");

    up.script.push_back(answer(200, page_of(run_json("rf", "SUCCESS"))));
    response list = get(list_target);
    CHECK(list.status == 200);
    CHECK(list.body_bytes() == page_of(run_json("rf", "SUCCESS")));
    CHECK(cache_status(list) == "runmirror; fwd=miss; fwd-status=200; detail=not-stored");

    // Space again: the next miss is stored, and then served from the store.
    failing->fail_writes = false;
    up.script.push_back(answer(200, run_json("rf", "SUCCESS")));
    CHECK(cache_status(get("/api/v1/extraction/runs/rf")) ==
          "runmirror; fwd=miss; fwd-status=200; stored");
    CHECK(cache_status(get("/api/v1/extraction/runs/rf")) == "runmirror; hit");
    CHECK(up.seen.size() == 3);
}

TEST_CASE_FIXTURE(failing_fixture, "a store that cannot be read: the request is forwarded" *
                                       doctest::test_suite("store")) {
    failing->fail_reads = true;
    up.script.push_back(answer(200, run_json("rr", "SUCCESS")));
    response r = get("/api/v1/extraction/runs/rr");
    CHECK(r.status == 200);
    CHECK(r.body_bytes() == run_json("rr", "SUCCESS"));
    CHECK(cache_status(r) == "runmirror; fwd=miss; fwd-status=200; detail=not-stored");
    CHECK(up.seen.size() == 1);
}
