// The sync worker against a scripted upstream, an in-memory store, injected time and a manual
// scheduler: what it polls, when, and what it does with the answers.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>

#include "json/run_fields.hpp"
#include "runmirror/event_hub.hpp"
#include "store/forwarding_store.hpp"
#include "support/scripted_upstream.hpp"
#include "support/store_fixtures.hpp"
#include "sync/sync_worker.hpp"
#include "util/tenant.hpp"

using namespace runmirror;
using runmirror::testing::scripted_upstream;

namespace {

std::string run_json(std::string_view id, std::string_view status) {
    return std::string("{\"id\":\"") + std::string(id) +
           "\",\"project_id\":\"p1\",\"extraction_agent_id\":\"agent-1\",\"status\":\"" +
           std::string(status) + "\",\"created_at\":\"2026-01-01T00:00:00Z\"}";
}

upstream_reply answer(int status, std::string body, header_list headers = {}) {
    upstream_reply r;
    r.answer.status = status;
    r.answer.body = std::move(body);
    r.answer.headers = std::move(headers);
    return r;
}

// Counts the worker's scans of the store: one per tick that gets past its first checks.
class scan_counting_store final : public forwarding_store {
  public:
    using forwarding_store::forwarding_store;
    std::vector<watch> due_watches(time_point now, std::size_t limit,
                                   const tenant_filter& tenants) override {
        ++scans;
        return inner().due_watches(now, limit, tenants);
    }
    std::size_t scans = 0;
};

struct fixture {
    std::unique_ptr<scan_counting_store> db =
        std::make_unique<scan_counting_store>(runmirror::testing::open_test_store());
    scripted_upstream up;
    key_ring keys;
    event_hub events;
    std::shared_ptr<event_hub::subscription> feed = events.subscribe(nullptr);
    time_point now = from_unix_ms(1'700'000'000'000);
    std::vector<std::pair<time_point, std::function<void()>>> timers;
    sync_options options = [] {
        sync_options o;
        o.poll_interval = millis(1'000);
        o.poll_cap = millis(4'000);
        o.rate = 100;
        return o;
    }();
    sync_worker worker{*db,
                       up,
                       keys,
                       events,
                       options,
                       [this] { return now; },
                       [this](millis delay, std::function<void()> task) {
                           timers.emplace_back(now + delay, std::move(task));
                       }};
    std::string tenant = keys.remember("key-a");

    fixture() { worker.start(); }
    ~fixture() { worker.stop(); }

    // Advances the clock to |to| and runs the timers due by then, in order.
    void advance(millis by) {
        now += by;
        for (bool ran = true; ran;) {
            ran = false;
            for (std::size_t i = 0; i < timers.size(); ++i) {
                if (timers[i].first <= now) {
                    auto task = std::move(timers[i].second);
                    timers.erase(timers.begin() + static_cast<long>(i));
                    task();
                    ran = true;
                    break;
                }
            }
        }
    }

    void seen_pending(std::string_view id) { seen_pending(id, worker); }
    void seen_pending(std::string_view id, sync_worker& by) {
        run_fields fields;
        fields.id = std::string(id);
        fields.project_id = "p1";
        fields.extraction_agent_id = "agent-1";
        fields.status = "PENDING";
        db->put_run(fields, run_json(id, "PENDING"), now);
        by.on_run_stored(fields, "", tenant, seen_in::read);
    }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "a pending run is polled with its client's key until final" *
                               doctest::test_suite("store")) {
    seen_pending("r1");
    CHECK(up.seen.empty());  // the first poll waits for the interval (+-20%)
    up.script.push_back(answer(200, run_json("r1", "PENDING")));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    CHECK(up.seen[0].target == "/api/v1/extraction/runs/r1");
    CHECK(find_header(up.seen[0].headers, "Authorization") == "Bearer key-a");

    up.script.push_back(answer(200, run_json("r1", "SUCCESS")));
    advance(millis(4'800));  // unchanged once: 1.5 s (+-20%) later
    REQUIRE(up.seen.size() == 2);
    CHECK(db->find_run("r1")->fields.status == "SUCCESS");
    CHECK(db->list_watches(watch_listing::active, 10).empty());
    auto frames = feed->take();
    REQUIRE(frames.size() == 2);  // "" -> PENDING when first seen, PENDING -> SUCCESS
    CHECK(frames[1].find("\"old_status\":\"PENDING\",\"new_status\":\"SUCCESS\"") !=
          std::string::npos);

    advance(millis(60'000));
    CHECK(up.seen.size() == 2);  // finished: never polled again
}

TEST_CASE_FIXTURE(fixture, "due runs of one agent are refreshed by one list request" *
                               doctest::test_suite("store")) {
    seen_pending("r1");
    seen_pending("r2");
    up.script.push_back(answer(200, "{\"items\":[" + run_json("r2", "ERROR") + "," +
                                        run_json("r1", "SUCCESS") +
                                        "],\"total\":2,\"skip\":0,\"limit\":100}"));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    CHECK(up.seen[0].target ==
          "/api/v1/extraction/runs?extraction_agent_id=agent-1&skip=0&limit=100");
    CHECK(db->find_run("r1")->fields.status == "SUCCESS");
    CHECK(db->find_run("r2")->fields.status == "ERROR");
    CHECK(db->list_watches(watch_listing::active, 10).empty());
}

TEST_CASE_FIXTURE(fixture, "a run missing from its agent's page is then polled on its own" *
                               doctest::test_suite("store")) {
    seen_pending("r1");
    seen_pending("old");
    up.script.push_back(answer(200, "{\"items\":[" + run_json("r1", "SUCCESS") +
                                        "],\"total\":1,\"skip\":0,\"limit\":100}"));
    up.script.push_back(answer(200, run_json("old", "SUCCESS")));
    advance(millis(1'200));
    advance(millis(50));  // the next rate token
    REQUIRE(up.seen.size() == 2);
    CHECK(up.seen[1].target == "/api/v1/extraction/runs/old");
    CHECK(db->list_watches(watch_listing::active, 10).empty());
}

TEST_CASE_FIXTURE(fixture,
                  "a 429 pauses every poll for its Retry-After" * doctest::test_suite("store")) {
    seen_pending("r1");
    up.script.push_back(answer(429, R"({"detail":"slow down"})", {{"retry-after-ms", "5000"}}));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    seen_pending("r9");  // would be due in about a second, but the worker is paused
    up.script.push_back(answer(200, "{\"items\":[" + run_json("r1", "SUCCESS") + "," +
                                        run_json("r9", "SUCCESS") +
                                        "],\"total\":2,\"skip\":0,\"limit\":100}"));
    advance(millis(4'700));
    CHECK(up.seen.size() == 1);
    advance(millis(3'000));
    CHECK(up.seen.size() == 2);
}

TEST_CASE_FIXTURE(fixture, "404 tombstones the run; 401 parks the watch until the key returns" *
                               doctest::test_suite("store")) {
    SUBCASE("404") {
        seen_pending("r1");
        up.script.push_back(answer(404, R"({"detail":"Run not found"})"));
        advance(millis(1'200));
        CHECK(db->find_run("r1")->deleted_at);
        CHECK(db->list_watches(watch_listing::active, 10).empty());
    }
    SUBCASE("401") {
        seen_pending("r1");
        up.script.push_back(answer(401, R"({"detail":"Invalid API key"})"));
        advance(millis(1'200));
        CHECK_FALSE(keys.key_for(tenant));
        advance(millis(60'000));
        CHECK(up.seen.size() == 1);  // no key: the watch waits
        up.script.push_back(answer(200, run_json("r1", "SUCCESS")));
        worker.on_api_key("key-a", tenant);  // its client is back
        advance(millis(1));
        CHECK(up.seen.size() == 2);
        CHECK(db->list_watches(watch_listing::active, 10).empty());
    }
}

TEST_CASE_FIXTURE(fixture,
                  "a watch older than the maximum age is given up" * doctest::test_suite("store")) {
    options.max_age = millis(10'000);
    sync_worker short_lived{*db,
                            up,
                            keys,
                            events,
                            options,
                            [this] { return now; },
                            [this](millis delay, std::function<void()> task) {
                                timers.emplace_back(now + delay, std::move(task));
                            }};
    worker.stop();
    short_lived.start();
    seen_pending("r1", short_lived);
    for (int i = 0; i < 4; ++i)
        up.script.push_back(answer(200, run_json("r1", "PENDING")));
    advance(millis(20'000));
    auto all = db->list_watches(watch_listing::all, 10);
    REQUIRE(all.size() == 1);
    CHECK(all[0].given_up_at);
    CHECK(all[0].give_up_reason.find("maximum") != std::string::npos);
    short_lived.stop();
}

namespace {

std::string job_json(std::string_view id, std::string_view status) {
    return std::string("{\"id\":\"") + std::string(id) +
           R"(","extraction_agent":{"id":"agent-1","project_id":"p1"},"status":")" +
           std::string(status) + "\"}";
}

// A v1 job stored PENDING and reported to |f|'s worker, as the cache does for a created job.
void seen_pending_job(fixture& f, std::string_view id) {
    auto [job, err] = parse_run(job_json(id, "PENDING"), kinds::v1_job);
    REQUIRE_FALSE(err);
    f.db->put_run(job, job_json(id, "PENDING"), f.now);
    f.worker.on_run_stored(job, "", f.tenant, seen_in::write);
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "a v1 job is polled until final, then its result once, then its run" *
                               doctest::test_suite("store")) {
    seen_pending_job(*this, "j1");

    up.script.push_back(answer(200, job_json("j1", "SUCCESS")));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    CHECK(up.seen[0].target == "/api/v1/extraction/jobs/j1");
    CHECK(db->find_run(store_key(kinds::v1_job, "j1"))->fields.status == "SUCCESS");

    // Final: one more poll of the same watch, for the result; and the run, by job id.
    const std::string result = R"({"run_id":"r9","extraction_agent_id":"agent-1","data":{"a":1}})";
    up.by_target["/api/v1/extraction/jobs/j1/result"].push_back(answer(200, result));
    up.by_target["/api/v1/extraction/runs/by-job/j1"].push_back(
        answer(200, run_json("r9", "SUCCESS")));
    advance(millis(1'200));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 3);
    std::vector<std::string> targets{up.seen[1].target, up.seen[2].target};
    std::sort(targets.begin(), targets.end());
    CHECK(targets[0] == "/api/v1/extraction/jobs/j1/result");
    CHECK(targets[1] == "/api/v1/extraction/runs/by-job/j1");
    auto stored = db->find_run(store_key(kinds::v1_job, "j1", result_variant));
    REQUIRE(stored);
    CHECK(stored->body == result);
    CHECK(stored->fields.status == "SUCCESS");  // the job's: final, so never asked again
    CHECK(stored->fields.project_id == "p1");
    CHECK(db->find_run("r9"));
    CHECK(db->list_watches(watch_listing::active, 10).empty());
    advance(millis(60'000));
    CHECK(up.seen.size() == 3);
}

TEST_CASE_FIXTURE(fixture, "a cancelled v1 job without a result ends its watch on the answer 400" *
                               doctest::test_suite("store")) {
    seen_pending_job(*this, "j2");
    up.script.push_back(answer(200, job_json("j2", "CANCELLED")));
    advance(millis(1'200));
    up.by_target["/api/v1/extraction/jobs/j2/result"].push_back(
        answer(400, R"({"detail":"no result"})"));
    up.by_target["/api/v1/extraction/runs/by-job/j2"].push_back(
        answer(404, R"({"detail":"no run"})"));
    advance(millis(1'200));
    advance(millis(1'200));
    CHECK_FALSE(db->find_run(store_key(kinds::v1_job, "j2", result_variant)));
    // The result watch ended; only the run's by-job watch goes on, and gives up after five
    // 404s since its job is final.
    auto active = db->list_watches(watch_listing::active, 10);
    REQUIRE(active.size() == 1);
    CHECK(active[0].run_id.empty());
    CHECK(active[0].job_id == "j2");
    for (int i = 0; i < 4; ++i) {
        CHECK_FALSE(db->list_watches(watch_listing::active, 10).empty());
        up.script.push_back(answer(404, R"({"detail":"no run"})"));
        advance(millis(10'000));
    }
    CHECK(db->list_watches(watch_listing::active, 10).empty());
    CHECK(up.seen.size() == 7);
}

TEST_CASE_FIXTURE(fixture, "a v1 job created already final has its result and run collected" *
                               doctest::test_suite("store")) {
    auto [job, err] = parse_run(job_json("j3", "SUCCESS"), kinds::v1_job);
    REQUIRE_FALSE(err);
    db->put_run(job, job_json("j3", "SUCCESS"), now);
    worker.on_run_stored(job, "", tenant, seen_in::write);

    const std::string result = R"({"run_id":"r3","extraction_agent_id":"agent-1","data":{}})";
    up.by_target["/api/v1/extraction/jobs/j3/result"].push_back(answer(200, result));
    up.by_target["/api/v1/extraction/runs/by-job/j3"].push_back(
        answer(200, run_json("r3", "SUCCESS")));
    advance(millis(1'200));
    advance(millis(1'200));
    // No poll of the job itself: its create answer already said it is final.
    REQUIRE(up.seen.size() == 2);
    CHECK(db->find_run(store_key(kinds::v1_job, "j3", result_variant)));
    CHECK(db->find_run("r3"));
    CHECK(db->list_watches(watch_listing::active, 10).empty());
}

TEST_CASE_FIXTURE(fixture, "a final v1 job only read, or listed, is not collected" *
                               doctest::test_suite("store")) {
    for (const seen_in how : {seen_in::read, seen_in::list}) {
        auto [job, err] = parse_run(job_json("j4", "SUCCESS"), kinds::v1_job);
        REQUIRE_FALSE(err);
        db->put_run(job, job_json("j4", "SUCCESS"), now);
        worker.on_run_stored(job, "", tenant, how);
    }
    advance(millis(60'000));
    CHECK(up.seen.empty());
}

TEST_CASE_FIXTURE(fixture, "a poll answered with another run stores nothing and backs off" *
                               doctest::test_suite("store")) {
    seen_pending("r1");
    up.script.push_back(answer(200, run_json("r2", "SUCCESS")));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    CHECK_FALSE(db->find_run("r2"));
    CHECK(db->find_run("r1")->fields.status == "PENDING");
    auto active = db->list_watches(watch_listing::active, 10);
    REQUIRE(active.size() == 1);
    CHECK(active[0].attempts == 1);
    CHECK(active[0].last_error.find("another resource") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture,
                  "a run whose answer is too large to store is given up, not polled forever" *
                      doctest::test_suite("store")) {
    seen_pending("r1");
    upstream_reply spilled = answer(200, "");
    spilled.answer.file_body = body_file::copy_of(run_json("r1", "PENDING"));
    REQUIRE(spilled.answer.file_body);
    up.script.push_back(std::move(spilled));
    advance(millis(1'200));
    REQUIRE(up.seen.size() == 1);
    CHECK(db->list_watches(watch_listing::active, 10).empty());
    auto all = db->list_watches(watch_listing::all, 10);
    REQUIRE(all.size() == 1);
    CHECK(all[0].give_up_reason.find("store limit") != std::string::npos);
    advance(millis(60'000));
    CHECK(up.seen.size() == 1);
}

TEST_CASE("on a shared store the worker finds watches others wrote, without being told of them" *
          doctest::test_suite("store")) {
    for (const millis rescan : {millis(0), millis(1'000)}) {
        CAPTURE(rescan.count());
        std::unique_ptr<store> db = runmirror::testing::open_test_store();
        scripted_upstream up;
        key_ring keys;
        event_hub events;
        time_point now = from_unix_ms(1'700'000'000'000);
        std::vector<std::pair<time_point, std::function<void()>>> timers;
        sync_options options;
        options.rate = 100;
        options.shared_store_rescan = rescan;
        sync_worker worker{*db,
                           up,
                           keys,
                           events,
                           options,
                           [&] { return now; },
                           [&](millis delay, std::function<void()> task) {
                               timers.emplace_back(now + delay, std::move(task));
                           }};
        const std::string tenant = keys.remember("key-a");
        worker.start();
        auto advance = [&](millis by) {
            now += by;
            for (bool ran = true; ran;) {
                ran = false;
                for (std::size_t i = 0; i < timers.size(); ++i) {
                    if (timers[i].first <= now) {
                        auto task = std::move(timers[i].second);
                        timers.erase(timers.begin() + static_cast<long>(i));
                        task();
                        ran = true;
                        break;
                    }
                }
            }
        };
        advance(millis(10));  // the worker has looked at the empty store and gone to sleep

        // Another daemon sees the run and watches it: this worker hears nothing of it.
        run_fields fields;
        fields.id = "r1";
        fields.project_id = "p1";
        fields.extraction_agent_id = "agent-1";
        fields.status = "PENDING";
        db->put_run(fields, run_json("r1", "PENDING"), now);
        db->watch_run(fields, tenant, now, now);
        up.script.push_back(answer(200, run_json("r1", "SUCCESS")));
        advance(millis(5'000));
        if (rescan == millis(0)) {
            CHECK(up.seen.empty());  // SQLite: every watch comes through this daemon
        } else {
            REQUIRE(up.seen.size() == 1);
            CHECK(up.seen[0].target == "/api/v1/extraction/runs/r1");
            CHECK(db->find_run("r1")->fields.status == "SUCCESS");
        }
        worker.stop();
    }
}

TEST_CASE_FIXTURE(fixture, "ticks between armed times leave no extra chains of ticks behind" *
                               doctest::test_suite("sync")) {
    seen_pending("r1");  // due in about a second

    // Ticks from elsewhere (here new keys; answers and reads too) while the watch is not due.
    for (int i = 0; i < 20; ++i)
        worker.on_api_key("key-" + std::to_string(i), "tenant-" + std::to_string(i));
    db->scans = 0;
    up.script.push_back(answer(200, run_json("r1", "SUCCESS")));  // the one poll it then makes
    // Every timer armed so far fires; only the one armed last may tick.
    advance(millis(60'000));
    CHECK(db->scans <= 2);  // that tick's, and the one its poll's answer makes
}
