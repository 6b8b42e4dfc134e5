// The store's watches (what the sync worker polls): every behavioural case runs on ":memory:"
// and on a file (WAL, pooled readers); file-only cases cover reopening, upgrading a version-1
// database and concurrent writers. Time is passed in; nothing sleeps.

#include <doctest/doctest.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;
using runmirror::testing::temp_dir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace doctest {
template <>
struct StringMaker<time_point> {
    static String convert(time_point t) {
        return ("unix_ms " + std::to_string(to_unix_ms(t))).c_str();
    }
};
template <>
struct StringMaker<std::optional<time_point>> {
    static String convert(const std::optional<time_point>& t) {
        return t ? StringMaker<time_point>::convert(*t) : String("nullopt");
    }
};
template <>
struct StringMaker<watch_kind> {
    static String convert(watch_kind k) { return String(to_string(k).data()); }
};
}  // namespace doctest

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);

// A run as upstream shows it while it is not final.
run_fields pending(std::string id, std::string job_id = "", std::string project = "proj-1",
                   std::string agent = "agent-1") {
    run_fields f;
    f.id = std::move(id);
    f.job_id = std::move(job_id);
    f.project_id = std::move(project);
    f.extraction_agent_id = std::move(agent);
    f.status = "PENDING";
    return f;
}

std::vector<watch_id> ids(const std::vector<watch>& watches) {
    std::vector<watch_id> out;
    for (const watch& w : watches) {
        out.push_back(w.id);
    }
    return out;
}

// watch_run for a run that is certainly not tombstoned.
watch_id must_watch(store& s, const run_fields& run, std::string_view tenant, time_point now,
                    time_point first_poll_at) {
    std::optional<watch_id> id = s.watch_run(run, tenant, now, first_poll_at);
    REQUIRE(id);
    return *id;
}

watch must_find(store& s, watch_id id) {
    std::optional<watch> w = s.find_watch(id);
    REQUIRE(w);
    return *w;
}

const tenant_filter any = tenant_filter::any();

}  // namespace

TEST_CASE("watches: watch_run creates an active run watch, due at its first poll" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        CHECK(s.list_watches(watch_listing::all, 10).empty());
        CHECK_FALSE(s.next_due_time(any));

        watch_id id = must_watch(s, pending("run-1", "job-1"), "tenant-a", t0, t0 + 1s);
        watch w = must_find(s, id);
        CHECK(w.id == id);
        CHECK(w.kind == watch_kind::run);
        CHECK(w.run_id == "run-1");
        CHECK(w.job_id == "job-1");
        CHECK(w.tenant == "tenant-a");
        CHECK(w.project_id == "proj-1");
        CHECK(w.extraction_agent_id == "agent-1");
        CHECK(w.created_at == t0);
        CHECK(w.next_poll_at == t0 + 1s);
        CHECK(w.updated_at == t0);
        CHECK(w.attempts == 0);
        CHECK(w.last_status == "");
        CHECK(w.last_error == "");
        CHECK(w.active());
        CHECK_FALSE(w.finished_at);
        CHECK_FALSE(w.given_up_at);

        CHECK(s.due_watches(t0 + 999ms, 10, any).empty());
        CHECK(ids(s.due_watches(t0 + 1s, 10, any)) == std::vector<watch_id>{id});
        CHECK(s.next_due_time(any) == t0 + 1s);
        CHECK(ids(s.list_watches(watch_listing::active, 10)) == std::vector<watch_id>{id});
        CHECK_FALSE(s.find_watch(id + 1000));
    });
}

TEST_CASE("watches: watching a watched run keeps its schedule, takes the new tenant" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = must_watch(s, pending("run-1", "", "", ""), "tenant-a", t0, t0 + 1s);
        CHECK(s.reschedule_watch(id, {t0 + 9s, 3, "PENDING", "timeout"}, t0 + 2s));

        // Later answers know more: project, agent, job. Empty fields never erase known ones.
        CHECK(s.watch_run(pending("run-1", "job-1"), "tenant-b", t0 + 3s, t0 + 4s) == id);
        CHECK(s.watch_run(pending("run-1", "", "", ""), "", t0 + 5s, t0 + 6s) == id);

        watch w = must_find(s, id);
        CHECK(w.next_poll_at == t0 + 9s);
        CHECK(w.attempts == 3);
        CHECK(w.last_status == "PENDING");
        CHECK(w.last_error == "timeout");
        CHECK(w.created_at == t0);
        CHECK(w.tenant == "tenant-b");
        CHECK(w.project_id == "proj-1");
        CHECK(w.extraction_agent_id == "agent-1");
        CHECK(w.job_id == "job-1");
        CHECK(w.updated_at == t0 + 5s);
        CHECK(s.list_watches(watch_listing::all, 10).size() == 1);
    });
}

TEST_CASE("watches: due_watches is active, due, soonest first, then by id, up to a limit" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id a = must_watch(s, pending("a"), "t", t0, t0 + 3s);
        watch_id b = must_watch(s, pending("b"), "t", t0, t0 + 1s);
        watch_id c = must_watch(s, pending("c"), "t", t0, t0 + 2s);
        watch_id d = must_watch(s, pending("d"), "t", t0, t0 + 1s);  // ties with b
        watch_id done = must_watch(s, pending("done"), "t", t0, t0);
        watch_id dropped = must_watch(s, pending("dropped"), "t", t0, t0);
        REQUIRE(s.finish_watch(done, "SUCCESS", t0));
        REQUIRE(s.give_up_watch(dropped, "too old", t0));

        CHECK(s.due_watches(t0 + 999ms, 10, any).empty());
        CHECK(ids(s.due_watches(t0 + 2s, 10, any)) == std::vector<watch_id>{b, d, c});
        CHECK(ids(s.due_watches(t0 + 2s, 2, any)) == std::vector<watch_id>{b, d});
        CHECK(s.due_watches(t0 + 2s, 0, any).empty());
        CHECK(ids(s.due_watches(t0 + 1h, 10, any)) == std::vector<watch_id>{b, d, c, a});

        // Polling b pushes it behind the others.
        REQUIRE(s.reschedule_watch(b, {t0 + 5s, 1, "PENDING", ""}, t0 + 1s));
        CHECK(ids(s.due_watches(t0 + 1h, 10, any)) == std::vector<watch_id>{d, c, a, b});
    });
}

TEST_CASE("watches: the tenant filter limits due_watches and next_due_time" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id a = must_watch(s, pending("ra"), "tenant-a", t0, t0 + 1s);
        watch_id b = must_watch(s, pending("rb"), "tenant-b", t0, t0 + 2s);
        watch_id c = must_watch(s, pending("rc"), "tenant-c", t0, t0 + 3s);
        time_point later = t0 + 1h;

        CHECK(ids(s.due_watches(later, 10, any)) == std::vector<watch_id>{a, b, c});
        CHECK(ids(s.due_watches(later, 10, tenant_filter::only({"tenant-a", "tenant-c"}))) ==
              std::vector<watch_id>{a, c});
        CHECK(ids(s.due_watches(later, 10, tenant_filter::only({"tenant-b"}))) ==
              std::vector<watch_id>{b});
        CHECK(s.due_watches(later, 10, tenant_filter::only({"nobody"})).empty());
        CHECK(s.due_watches(later, 10, tenant_filter::only({})).empty());
        // Different list lengths are different statements; both must work back to back.
        CHECK(s.due_watches(later, 10, tenant_filter::only({"tenant-c"})).size() == 1);

        CHECK(s.next_due_time(any) == t0 + 1s);
        CHECK(s.next_due_time(tenant_filter::only({"tenant-c", "tenant-b"})) == t0 + 2s);
        CHECK(s.next_due_time(tenant_filter::only({"tenant-c"})) == t0 + 3s);
        CHECK_FALSE(s.next_due_time(tenant_filter::only({"nobody"})));
        CHECK_FALSE(s.next_due_time(tenant_filter::only({})));
    });
}

TEST_CASE("watches: next_due_time is the earliest active poll, even one in the past" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id first = must_watch(s, pending("r1"), "t", t0, t0 - 5s);
        must_watch(s, pending("r2"), "t", t0, t0 + 7s);
        CHECK(s.next_due_time(any) == t0 - 5s);
        REQUIRE(s.finish_watch(first, "ERROR", t0));
        CHECK(s.next_due_time(any) == t0 + 7s);
    });
}

TEST_CASE("watches: reschedule, finish and give up change only active watches" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = must_watch(s, pending("r1"), "t", t0, t0 + 1s);
        CHECK(s.reschedule_watch(id, {t0 + 3s, 2, "PENDING", "upstream 503"}, t0 + 1s));
        watch w = must_find(s, id);
        CHECK(w.next_poll_at == t0 + 3s);
        CHECK(w.attempts == 2);
        CHECK(w.last_status == "PENDING");
        CHECK(w.last_error == "upstream 503");
        CHECK(w.updated_at == t0 + 1s);

        SUBCASE("finish") {
            CHECK(s.finish_watch(id, "SUCCESS", t0 + 4s));
            w = must_find(s, id);
            CHECK_FALSE(w.active());
            CHECK(w.finished_at == t0 + 4s);
            CHECK(w.last_status == "SUCCESS");
            CHECK(w.last_error == "");
            CHECK(w.updated_at == t0 + 4s);

            CHECK_FALSE(s.finish_watch(id, "ERROR", t0 + 5s));
            CHECK_FALSE(s.give_up_watch(id, "late", t0 + 5s));
            CHECK_FALSE(s.reschedule_watch(id, {t0 + 9s, 9, "PENDING", "x"}, t0 + 5s));
            w = must_find(s, id);
            CHECK(w.finished_at == t0 + 4s);
            CHECK(w.last_status == "SUCCESS");
            CHECK(w.attempts == 2);
            CHECK_FALSE(w.given_up_at);
        }
        SUBCASE("give up") {
            CHECK(s.give_up_watch(id, "older than 24h", t0 + 4s));
            w = must_find(s, id);
            CHECK_FALSE(w.active());
            CHECK(w.given_up_at == t0 + 4s);
            CHECK(w.give_up_reason == "older than 24h");
            CHECK(w.last_error == "upstream 503");  // kept: it may explain the giving up
            CHECK_FALSE(w.finished_at);

            CHECK_FALSE(s.give_up_watch(id, "again", t0 + 5s));
            CHECK_FALSE(s.finish_watch(id, "SUCCESS", t0 + 5s));
            CHECK_FALSE(s.reschedule_watch(id, {t0 + 9s, 9, "PENDING", "x"}, t0 + 5s));
            CHECK(must_find(s, id).give_up_reason == "older than 24h");
        }
        SUBCASE("an unknown id") {
            watch_id unknown = id + 1000;
            CHECK_FALSE(s.reschedule_watch(unknown, {t0, 0, "", ""}, t0));
            CHECK_FALSE(s.finish_watch(unknown, "SUCCESS", t0));
            CHECK_FALSE(s.give_up_watch(unknown, "x", t0));
            CHECK_FALSE(s.find_watch(unknown));
        }
        CHECK(s.due_watches(t0 + 1h, 10, any).size() == (must_find(s, id).active() ? 1 : 0));
    });
}

TEST_CASE("watches: watching an ended run again starts it over" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = must_watch(s, pending("r1"), "tenant-a", t0, t0 + 1s);
        REQUIRE(s.reschedule_watch(id, {t0 + 5s, 4, "PENDING", "timeout"}, t0 + 1s));
        SUBCASE("finished") {
            REQUIRE(s.finish_watch(id, "SUCCESS", t0 + 6s));
        }
        SUBCASE("given up") {
            REQUIRE(s.give_up_watch(id, "too old", t0 + 6s));
        }
        time_point t1 = t0 + 1h;
        CHECK(s.watch_run(pending("r1"), "tenant-b", t1, t1 + 1s) == id);
        watch w = must_find(s, id);
        CHECK(w.active());
        CHECK(w.created_at == t1);
        CHECK(w.next_poll_at == t1 + 1s);
        CHECK(w.attempts == 0);
        CHECK(w.last_error == "");
        CHECK(w.give_up_reason == "");
        CHECK(w.tenant == "tenant-b");
        CHECK(ids(s.due_watches(t1 + 1s, 10, any)) == std::vector<watch_id>{id});
    });
}

TEST_CASE("watches: a job watch polls by job until it finds its run" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = s.watch_job("job-1", "agent-1", "tenant-a", t0, t0 + 1s);
        watch w = must_find(s, id);
        CHECK(w.kind == watch_kind::job);
        CHECK(w.job_id == "job-1");
        CHECK(w.run_id == "");
        CHECK(w.extraction_agent_id == "agent-1");
        CHECK(w.project_id == "");
        CHECK(w.tenant == "tenant-a");
        CHECK(w.next_poll_at == t0 + 1s);

        // Idempotent, like watch_run.
        REQUIRE(s.reschedule_watch(id, {t0 + 4s, 2, "", "404: no run yet"}, t0 + 2s));
        CHECK(s.watch_job("job-1", "", "tenant-b", t0 + 3s, t0 + 3s) == id);
        w = must_find(s, id);
        CHECK(w.next_poll_at == t0 + 4s);
        CHECK(w.attempts == 2);
        CHECK(w.tenant == "tenant-b");
        CHECK(w.extraction_agent_id == "agent-1");

        CHECK(s.job_watch_found_run(id, "run-1", "proj-1", t0 + 5s));
        w = must_find(s, id);
        CHECK(w.kind == watch_kind::run);
        CHECK(w.run_id == "run-1");
        CHECK(w.job_id == "job-1");
        CHECK(w.project_id == "proj-1");
        CHECK(w.next_poll_at == t0 + 4s);  // the caller reschedules after its poll
        CHECK(w.attempts == 2);
        CHECK(w.updated_at == t0 + 5s);

        // Again with the same run: nothing changes; an empty project keeps the known one.
        CHECK(s.job_watch_found_run(id, "run-1", "", t0 + 6s));
        CHECK(must_find(s, id).project_id == "proj-1");
        // A job has one run.
        CHECK_THROWS_AS(s.job_watch_found_run(id, "run-2", "proj-1", t0 + 6s),
                        std::invalid_argument);
        CHECK(must_find(s, id).run_id == "run-1");

        // The run and the job now name the same watch.
        CHECK(s.watch_run(pending("run-1", "job-1"), "tenant-a", t0 + 7s, t0 + 8s) == id);
        CHECK(s.watch_job("job-1", "agent-1", "tenant-a", t0 + 7s, t0 + 8s) == id);
        CHECK(s.list_watches(watch_listing::all, 10).size() == 1);
        // A watch that is gone answers false.
        CHECK_FALSE(s.job_watch_found_run(id + 1000, "run-9", "", t0 + 9s));
    });
}

TEST_CASE("watches: one watch per run when a job watch and a run watch meet" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        SUBCASE("a run seen with its job id takes over that job's watch") {
            watch_id job = s.watch_job("job-1", "agent-1", "tenant-a", t0, t0 + 1s);
            REQUIRE(s.reschedule_watch(job, {t0 + 4s, 2, "", ""}, t0 + 1s));
            CHECK(s.watch_run(pending("run-1", "job-1"), "tenant-a", t0 + 2s, t0 + 3s) == job);
            watch w = must_find(s, job);
            CHECK(w.kind == watch_kind::run);
            CHECK(w.run_id == "run-1");
            CHECK(w.next_poll_at == t0 + 4s);
            CHECK(w.project_id == "proj-1");
        }
        SUBCASE("a job watch finding an already watched run absorbs that run's watch") {
            watch_id run = must_watch(s, pending("run-1"), "tenant-a", t0, t0 + 1s);
            watch_id job = s.watch_job("job-1", "agent-1", "tenant-a", t0, t0 + 2s);
            CHECK(s.job_watch_found_run(job, "run-1", "proj-1", t0 + 3s));
            CHECK_FALSE(s.find_watch(run));
            CHECK(must_find(s, job).run_id == "run-1");
            // The worker may still hold the absorbed id.
            CHECK_FALSE(s.reschedule_watch(run, {t0 + 9s, 1, "PENDING", ""}, t0 + 3s));
            CHECK(s.watch_run(pending("run-1"), "tenant-a", t0 + 4s, t0 + 5s) == job);
        }
        SUBCASE("a run's watch learning its job id absorbs that job's watch") {
            watch_id run = must_watch(s, pending("run-1"), "tenant-a", t0, t0 + 1s);
            watch_id job = s.watch_job("job-1", "agent-1", "tenant-a", t0, t0 + 2s);
            CHECK(s.watch_run(pending("run-1", "job-1"), "tenant-a", t0 + 3s, t0 + 4s) == run);
            CHECK_FALSE(s.find_watch(job));
            watch w = must_find(s, run);
            CHECK(w.job_id == "job-1");
            CHECK(w.next_poll_at == t0 + 1s);
            CHECK(s.watch_job("job-1", "", "tenant-a", t0 + 5s, t0 + 6s) == run);
        }
        CHECK(s.list_watches(watch_listing::all, 10).size() == 1);
    });
}

TEST_CASE("watches: a tombstone finishes the watch and is never watched again" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = must_watch(s, pending("run-1"), "t", t0, t0 + 1s);
        watch_id other = must_watch(s, pending("run-2"), "t", t0, t0 + 1s);
        s.tombstone_run("run-1", t0 + 2s);

        watch w = must_find(s, id);
        CHECK_FALSE(w.active());
        CHECK(w.finished_at == t0 + 2s);
        CHECK(w.last_status == "DELETED");
        CHECK(must_find(s, other).active());
        CHECK(ids(s.due_watches(t0 + 1h, 10, any)) == std::vector<watch_id>{other});

        // A late PENDING answer does not bring the watch back, as put_run keeps the tombstone.
        CHECK_FALSE(s.watch_run(pending("run-1"), "t", t0 + 3s, t0 + 4s));
        CHECK(must_find(s, id).finished_at == t0 + 2s);
        // Neither does a second delete move the finish time.
        s.tombstone_run("run-1", t0 + 5s);
        CHECK(must_find(s, id).finished_at == t0 + 2s);
    });
}

TEST_CASE("watches: a tombstone finishes a job watch still looking for that run" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id job = s.watch_job("job-1", "agent-1", "t", t0, t0 + 1s);
        watch_id unrelated = s.watch_job("job-2", "agent-1", "t", t0, t0 + 1s);
        // The run cache stored the run (it names its job) before anyone polled the job.
        run_fields run = pending("run-1", "job-1");
        s.put_run(run, R"({"id":"run-1","job_id":"job-1"})", t0);
        s.tombstone_run("run-1", t0 + 2s);
        CHECK(must_find(s, job).last_status == "DELETED");
        CHECK_FALSE(must_find(s, job).active());
        CHECK(must_find(s, unrelated).active());
    });
}

TEST_CASE("watches: a job watch that finds a tombstoned run is finished" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        s.tombstone_run("run-1", t0);
        watch_id job = s.watch_job("job-1", "agent-1", "t", t0, t0 + 1s);
        CHECK_FALSE(s.job_watch_found_run(job, "run-1", "proj-1", t0 + 2s));
        watch w = must_find(s, job);
        CHECK(w.run_id == "run-1");
        CHECK(w.finished_at == t0 + 2s);
        CHECK(w.last_status == "DELETED");
        // And watching the job again does not restart it.
        CHECK(s.watch_job("job-1", "agent-1", "t", t0 + 3s, t0 + 4s) == job);
        CHECK_FALSE(must_find(s, job).active());
    });
}

TEST_CASE("watches: a given-up watch stays given up when its run is deleted" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id id = must_watch(s, pending("run-1"), "t", t0, t0 + 1s);
        REQUIRE(s.give_up_watch(id, "too old", t0 + 1s));
        s.tombstone_run("run-1", t0 + 2s);
        watch w = must_find(s, id);
        CHECK(w.given_up_at == t0 + 1s);
        CHECK(w.give_up_reason == "too old");
        CHECK_FALSE(w.finished_at);
    });
}

TEST_CASE("watches: list_watches shows active soonest first, then the most recently ended" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        watch_id late = must_watch(s, pending("late"), "t", t0, t0 + 9s);
        watch_id soon = must_watch(s, pending("soon"), "t", t0, t0 + 1s);
        watch_id ended_first = must_watch(s, pending("e1"), "t", t0, t0);
        watch_id ended_last = must_watch(s, pending("e2"), "t", t0, t0);
        REQUIRE(s.finish_watch(ended_first, "SUCCESS", t0 + 1s));
        REQUIRE(s.give_up_watch(ended_last, "too old", t0 + 2s));

        CHECK(ids(s.list_watches(watch_listing::active, 10)) == std::vector<watch_id>{soon, late});
        CHECK(ids(s.list_watches(watch_listing::all, 10)) ==
              std::vector<watch_id>{soon, late, ended_last, ended_first});
        CHECK(ids(s.list_watches(watch_listing::all, 3)) ==
              std::vector<watch_id>{soon, late, ended_last});
        CHECK(s.list_watches(watch_listing::all, 0).empty());
        watch given_up = s.list_watches(watch_listing::all, 10)[2];
        CHECK(given_up.give_up_reason == "too old");
    });
}

TEST_CASE("watches: a watch needs a run id or a job id" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        CHECK_THROWS_AS(s.watch_run(pending(""), "t", t0, t0), std::invalid_argument);
        CHECK_THROWS_AS(s.watch_job("", "agent-1", "t", t0, t0), std::invalid_argument);
        watch_id job = s.watch_job("job-1", "agent-1", "t", t0, t0);
        CHECK_THROWS_AS(s.job_watch_found_run(job, "", "", t0), std::invalid_argument);
        CHECK(s.list_watches(watch_listing::all, 10).size() == 1);
    });
}

// --- file-only behaviour ----------------------------------------------------------------------

TEST_CASE("watch store file: watches survive close and reopen") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    std::vector<watch> before;
    watch_id run = 0, job = 0;
    {
        auto s = open_sqlite_store(path);
        run = must_watch(*s, pending("run-1", "job-0"), "tenant-a", t0, t0 + 1s);
        REQUIRE(s->reschedule_watch(run, {t0 + 5s, 3, "PENDING", "timeout"}, t0 + 2s));
        job = s->watch_job("job-1", "agent-1", "tenant-b", t0, t0 + 2s);
        REQUIRE(s->finish_watch(must_watch(*s, pending("done"), "t", t0, t0), "SUCCESS", t0));
        REQUIRE(s->give_up_watch(must_watch(*s, pending("old"), "t", t0, t0), "too old", t0));
        before = s->list_watches(watch_listing::all, 10);
        REQUIRE(before.size() == 4);
    }
    auto s = open_sqlite_store(path);
    std::vector<watch> after = s->list_watches(watch_listing::all, 10);
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
        CAPTURE(i);
        const watch& a = after[i];
        const watch& b = before[i];
        CHECK(a.id == b.id);
        CHECK(a.kind == b.kind);
        CHECK(a.run_id == b.run_id);
        CHECK(a.job_id == b.job_id);
        CHECK(a.tenant == b.tenant);
        CHECK(a.project_id == b.project_id);
        CHECK(a.extraction_agent_id == b.extraction_agent_id);
        CHECK(a.created_at == b.created_at);
        CHECK(a.next_poll_at == b.next_poll_at);
        CHECK(a.attempts == b.attempts);
        CHECK(a.last_status == b.last_status);
        CHECK(a.last_error == b.last_error);
        CHECK(a.updated_at == b.updated_at);
        CHECK(a.finished_at == b.finished_at);
        CHECK(a.given_up_at == b.given_up_at);
        CHECK(a.give_up_reason == b.give_up_reason);
    }
    CHECK(ids(s->due_watches(t0 + 1h, 10, any)) == std::vector<watch_id>{job, run});
    CHECK(s->next_due_time(any) == t0 + 2s);
    // Still idempotent after the restart.
    CHECK(s->watch_run(pending("run-1"), "tenant-a", t0 + 1h, t0 + 1h) == run);
    CHECK(must_find(*s, run).next_poll_at == t0 + 5s);
    CHECK(s->watch_job("job-1", "", "tenant-b", t0 + 1h, t0 + 1h) == job);
}

TEST_CASE("watch store file: a version-1 database is upgraded and keeps its runs") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    {
        sqlite::database db(path);
        apply_migrations(db, embedded_migrations().first(1));
        db.exec(
            "INSERT INTO runs (id, body, status, fetched_at) "
            "VALUES ('old-run', '{\"id\":\"old-run\"}', 'PENDING', 1)");
    }
    auto s = open_sqlite_store(path);
    CHECK(s->schema_version() == embedded_migrations().back().version);
    auto run = s->find_run("old-run");
    REQUIRE(run);
    CHECK(run->body == R"({"id":"old-run"})");
    watch_id id = must_watch(*s, pending("old-run"), "t", t0, t0 + 1s);
    CHECK(ids(s->due_watches(t0 + 1s, 10, any)) == std::vector<watch_id>{id});
}

TEST_CASE("watch store file: concurrent watch_run calls make one watch per run") {
    temp_dir dir;
    auto s = open_sqlite_store(dir.file("runs.db"));
    constexpr int runs = 20;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&s, t] {
            for (int i = 0; i < runs; ++i) {
                std::string tenant = "tenant-" + std::to_string(t);
                s->watch_run(pending("run-" + std::to_string(i), "job-" + std::to_string(i)),
                             tenant, t0, t0 + 1s);
                s->watch_job("job-" + std::to_string(i), "agent-1", tenant, t0, t0 + 1s);
            }
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    std::vector<watch> all = s->list_watches(watch_listing::all, 1000);
    CHECK(all.size() == runs);
    for (const watch& w : all) {
        CHECK(w.kind == watch_kind::run);
        CHECK(w.job_id == "job-" + w.run_id.substr(4));
    }
}
