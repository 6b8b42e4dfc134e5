// The store: every behavioural case (test suite "store") runs on each flavour of the backend
// under test (support/store_fixtures.hpp: SQLite in memory, a file with pooled readers, behind
// the memory cache; or PostgreSQL); "store file" cases cover SQLite's reopening, migrations
// and concurrency.

#include <doctest/doctest.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;
using runmirror::testing::open_test_store;
using runmirror::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

run_fields make_fields(std::string id, std::string project = "proj-1",
                       std::string agent = "agent-1", std::string created_at = "") {
    run_fields f;
    f.id = std::move(id);
    f.project_id = std::move(project);
    f.extraction_agent_id = std::move(agent);
    f.job_id = "job-" + f.id;
    f.file_id = "file-" + f.id;
    f.file_name = f.id + ".pdf";
    f.status = "SUCCESS";
    f.created_at = created_at.empty() ? "2024-01-01T00:00:00Z" : std::move(created_at);
    f.updated_at = f.created_at;
    return f;
}

std::string body_for(const run_fields& f) {
    return R"({"id":")" + f.id + R"(","project_id":")" + f.project_id + R"(","status":")" +
           f.status + R"("})";
}

const time_point t1 = from_unix_ms(1'700'000'000'123);
const time_point t2 = from_unix_ms(1'700'000'100'456);

std::vector<std::string> ids(const run_page& page) {
    std::vector<std::string> out;
    for (const stored_run& r : page.items) {
        out.push_back(r.fields.id);
    }
    return out;
}

run_query query(std::string tenant, std::string agent = "", std::string project = "",
                std::int64_t skip = 0, std::int64_t limit = 50) {
    run_query q;
    q.tenant = std::move(tenant);
    q.extraction_agent_id = std::move(agent);
    q.project_id = std::move(project);
    q.skip = skip;
    q.limit = limit;
    return q;
}

// Runs |body| once per backend flavour, as a doctest subcase each.

int user_version_of(const std::string& path) {
    sqlite::database db(path);
    return schema_version(db);
}

}  // namespace

TEST_CASE("store: put_run and find_run keep the body byte for byte" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields f = make_fields("run-1");
        std::string body =
            R"({"id":"run-1","n":123456789012345678901234567890,"u":"\u00e9\ud83d\ude00",)"
            "\"raw\":\"\xc3\xa9\",\"x\":  [ 1 ,2 ]  }";
        body += std::string("\0\xff tail", 7);  // the store does not care what the bytes are
        s.put_run(f, body, t1);

        auto got = s.find_run("run-1");
        REQUIRE(got);
        CHECK(got->body == body);
        CHECK(got->body.size() == body.size());
        CHECK(got->fields.id == "run-1");
        CHECK(got->fields.project_id == "proj-1");
        CHECK(got->fields.extraction_agent_id == "agent-1");
        CHECK(got->fields.job_id == "job-run-1");
        CHECK(got->fields.file_id == "file-run-1");
        CHECK(got->fields.file_name == "run-1.pdf");
        CHECK(got->fields.status == "SUCCESS");
        CHECK(got->fields.created_at == "2024-01-01T00:00:00Z");
        CHECK(got->fields.updated_at == "2024-01-01T00:00:00Z");
        CHECK(got->fetched_at == t1);
        CHECK_FALSE(got->deleted_at);

        CHECK_FALSE(s.find_run("run-2"));
        CHECK_FALSE(s.find_run(""));
    });
}

TEST_CASE("store: put_run replaces an existing run" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields f = make_fields("run-1");
        f.status = "PENDING";
        s.put_run(f, "old", t1);
        f.status = "SUCCESS";
        s.put_run(f, "new", t2);

        auto got = s.find_run("run-1");
        REQUIRE(got);
        CHECK(got->body == "new");
        CHECK(got->fields.status == "SUCCESS");
        CHECK(got->fetched_at == t2);
    });
}

TEST_CASE("store: find_run_by_job" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields a = make_fields("run-a");
        run_fields b = make_fields("run-b");
        b.job_id = "";
        s.put_run(a, body_for(a), t1);
        s.put_run(b, body_for(b), t1);

        auto got = s.find_run_by_job("job-run-a");
        REQUIRE(got);
        CHECK(got->fields.id == "run-a");
        CHECK_FALSE(s.find_run_by_job("job-unknown"));
        // Runs without a job must not match an empty job id.
        CHECK_FALSE(s.find_run_by_job(""));
    });
}

TEST_CASE("store: find_run_by_job gives the newest of a job's runs, ties by larger id" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        // Stored in an order that is neither newest first nor last.
        const run_fields runs[] = {
            make_fields("r-b", "proj-1", "agent-1", "2024-01-02T00:00:00Z"),
            make_fields("r-c", "proj-1", "agent-1", "2024-01-03T00:00:00Z"),
            make_fields("r-a", "proj-1", "agent-1", "2024-01-01T00:00:00Z"),
            make_fields("r-d", "proj-1", "agent-1", "2024-01-03T00:00:00Z"),  // ties r-c
            make_fields("r-0", "proj-1", "agent-1", "2024-01-02T12:00:00Z"),
        };
        for (run_fields f : runs) {
            f.job_id = "job-x";
            s.put_run(f, body_for(f), t1);
        }
        auto got = s.find_run_by_job("job-x");
        REQUIRE(got);
        CHECK(got->fields.id == "r-d");
        CHECK(got->body == body_for(runs[3]));
        s.tombstone_run("r-d", t2);  // a deleted run is still the job's run, as it was
        CHECK(s.find_run_by_job("job-x")->fields.id == "r-d");
        run_fields later = runs[2];
        later.job_id = "job-x";
        later.created_at = "2024-02-01T00:00:00Z";
        s.put_run(later, body_for(later), t2);
        CHECK(s.find_run_by_job("job-x")->fields.id == "r-a");
    });
}

TEST_CASE("store: put_runs is one transaction" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields a = make_fields("run-a");
        run_fields b = make_fields("run-b");
        std::string body_a = body_for(a), body_b = body_for(b);
        s.put_runs({{a, body_a}, {b, body_b}}, t1);
        CHECK(s.find_run("run-a")->body == body_a);
        CHECK(s.find_run("run-b")->body == body_b);

        // A bad item rolls back the whole batch, including the items before it.
        run_fields c = make_fields("run-c");
        run_fields bad = make_fields("");
        a.status = "CHANGED";
        CHECK_THROWS_AS(s.put_runs({{a, "changed"}, {c, "c"}, {bad, "x"}}, t2),
                        std::invalid_argument);
        CHECK_FALSE(s.find_run("run-c"));
        CHECK(s.find_run("run-a")->body == body_a);
        CHECK(s.find_run("run-a")->fields.status == "SUCCESS");
        // And the store still works afterwards.
        s.put_run(c, "c", t2);
        CHECK(s.find_run("run-c"));
    });
}

TEST_CASE("store: put_runs says what each run was and whether it changed" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields a = make_fields("run-a");
        a.status = "PENDING";
        run_fields b = make_fields("run-b");
        const std::string body_a = body_for(a);
        auto first = s.put_runs({{a, body_a}, {b, body_for(b)}}, t1);
        REQUIRE(first.size() == 2);
        CHECK(first[0].previous_status == "");
        CHECK(first[0].changed);

        // A refresh: a the same bytes, b finished with new ones.
        run_fields b_done = b;
        b_done.status = "ERROR";
        auto again = s.put_runs({{a, body_a}, {b_done, body_for(b_done)}}, t2);
        REQUIRE(again.size() == 2);
        CHECK(again[0].previous_status == "PENDING");
        CHECK_FALSE(again[0].changed);
        CHECK(again[1].previous_status == "SUCCESS");
        CHECK(again[1].changed);
        CHECK(s.find_run("run-a")->fetched_at == t2);  // confirmed as of the refresh
        CHECK(s.find_run("run-b")->body == body_for(b_done));

        // The same fields with other bytes is a change too.
        auto edited = s.put_run(a, body_a + " ", t2);
        CHECK(edited.changed);
        CHECK(s.find_run("run-a")->body == body_a + " ");

        // A deleted run is not written: nothing changes.
        s.tombstone_run("run-a", t2);
        auto late = s.put_run(a, body_for(b_done), t2);
        CHECK_FALSE(late.changed);
        CHECK(s.find_run("run-a")->body == body_a + " ");
    });
}

TEST_CASE("store: a tombstone is never resurrected" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        run_fields f = make_fields("run-1");
        s.put_run(f, "before", t1);
        s.tombstone_run("run-1", t2);

        auto got = s.find_run("run-1");
        REQUIRE(got);
        REQUIRE(got->deleted_at);
        CHECK(*got->deleted_at == t2);
        CHECK(got->body == "before");

        // A late answer, alone or in a batch, leaves the tombstone as it was.
        f.status = "ERROR";
        s.put_run(f, "late", t2 + std::chrono::seconds(1));
        s.put_runs({{f, "late batch"}}, t2 + std::chrono::seconds(2));
        got = s.find_run("run-1");
        REQUIRE(got);
        REQUIRE(got->deleted_at);
        CHECK(*got->deleted_at == t2);
        CHECK(got->body == "before");
        CHECK(got->fields.status == "SUCCESS");

        // A second delete keeps the first time.
        s.tombstone_run("run-1", t2 + std::chrono::hours(1));
        CHECK(*s.find_run("run-1")->deleted_at == t2);
    });
}

TEST_CASE("store: tombstone of a never-stored run creates a bodiless row" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        s.tombstone_run("ghost", t1);
        auto got = s.find_run("ghost");
        REQUIRE(got);
        REQUIRE(got->deleted_at);
        CHECK(*got->deleted_at == t1);
        CHECK(got->body.empty());

        run_fields f = make_fields("ghost");
        s.put_run(f, body_for(f), t2);
        got = s.find_run("ghost");
        REQUIRE(got);
        CHECK(got->deleted_at);
        CHECK(got->body.empty());

        s.grant("tenant", {"proj-1"});
        CHECK(s.list_runs(query("tenant")).total == 0);
    });
}

TEST_CASE("store: tombstone_run drops every stored list page" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        s.put_list_page("t1", "k1", "page-1", t1);
        s.put_list_page("t2", "k2", "page-2", t1);
        s.tombstone_run("run-x", t2);
        CHECK_FALSE(s.find_list_page("t1", "k1"));
        CHECK_FALSE(s.find_list_page("t2", "k2"));
    });
}

TEST_CASE("store: list pages" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        CHECK_FALSE(s.find_list_page("t1", "k"));
        s.put_list_page("t1", "k", R"({"items":[],"total":0})", t1);
        s.put_list_page("t2", "k", "other tenant", t1);

        auto got = s.find_list_page("t1", "k");
        REQUIRE(got);
        CHECK(got->text() == R"({"items":[],"total":0})");
        CHECK(got->fetched_at == t1);

        s.put_list_page("t1", "k", "replaced", t2);
        got = s.find_list_page("t1", "k");
        REQUIRE(got);
        CHECK(got->text() == "replaced");
        CHECK(got->fetched_at == t2);
        CHECK(s.find_list_page("t2", "k")->text() == "other tenant");
        CHECK_FALSE(s.find_list_page("t1", "other-key"));
    });
}

TEST_CASE("store: grants and revoke_tenant" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        CHECK_FALSE(s.has_grant("t1", "p1"));
        s.grant("t1", {"p1", "p2", ""});
        s.grant("t1", {"p1"});  // again: no error
        s.grant("t2", {"p1"});
        s.grant("t3", {});
        CHECK(s.has_grant("t1", "p1"));
        CHECK(s.has_grant("t1", "p2"));
        CHECK_FALSE(s.has_grant("t1", "p3"));
        CHECK_FALSE(s.has_grant("t1", ""));
        CHECK_FALSE(s.has_grant("t3", "p1"));
        CHECK(s.has_any_grant("t1"));
        CHECK_FALSE(s.has_any_grant("t3"));

        s.put_list_page("t1", "k", "t1 page", t1);
        s.put_list_page("t2", "k", "t2 page", t1);
        s.revoke_tenant("t1");
        CHECK_FALSE(s.has_grant("t1", "p1"));
        CHECK_FALSE(s.has_grant("t1", "p2"));
        CHECK_FALSE(s.has_any_grant("t1"));
        CHECK_FALSE(s.find_list_page("t1", "k"));
        // Other tenants keep theirs.
        CHECK(s.has_grant("t2", "p1"));
        CHECK(s.find_list_page("t2", "k"));
    });
}

TEST_CASE("store: list_runs" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        // Two agents in two projects, plus a project nobody was granted.
        std::vector<run_fields> runs = {
            make_fields("r1", "p1", "a1", "2024-01-01T00:00:01Z"),
            make_fields("r2", "p1", "a1", "2024-01-01T00:00:03Z"),
            make_fields("r3", "p1", "a2", "2024-01-01T00:00:02Z"),
            make_fields("r4", "p2", "a1", "2024-01-01T00:00:03Z"),  // same time as r2
            make_fields("r5", "p2", "a2", "2024-01-01T00:00:05Z"),
            make_fields("r6", "p9", "a1", "2024-01-01T00:00:09Z"),  // not granted
            make_fields("r7", "p1", "a1", "2024-01-01T00:00:08Z"),  // deleted below
        };
        for (const run_fields& f : runs) {
            s.put_run(f, body_for(f), t1);
        }
        s.tombstone_run("r7", t2);
        s.tombstone_run("r8", t2);  // bodiless
        s.grant("tenant", {"p1", "p2"});
        s.grant("other", {"p9"});

        SUBCASE("newest first, ties by id descending, body included") {
            run_page page = s.list_runs(query("tenant"));
            CHECK(page.total == 5);
            CHECK(ids(page) == std::vector<std::string>{"r5", "r4", "r2", "r3", "r1"});
            CHECK(page.items[0].body == body_for(runs[4]));
            CHECK(page.items[0].fields.project_id == "p2");
        }
        SUBCASE("paging") {
            run_page page = s.list_runs(query("tenant", "", "", 1, 2));
            CHECK(page.total == 5);
            CHECK(ids(page) == std::vector<std::string>{"r4", "r2"});

            page = s.list_runs(query("tenant", "", "", 4, 2));
            CHECK(page.total == 5);
            CHECK(ids(page) == std::vector<std::string>{"r1"});

            page = s.list_runs(query("tenant", "", "", 10, 2));
            CHECK(page.total == 5);
            CHECK(page.items.empty());

            page = s.list_runs(query("tenant", "", "", 0, 0));
            CHECK(page.total == 5);
            CHECK(page.items.empty());
        }
        SUBCASE("by agent") {
            run_page page = s.list_runs(query("tenant", "a1"));
            CHECK(page.total == 3);
            CHECK(ids(page) == std::vector<std::string>{"r4", "r2", "r1"});
        }
        SUBCASE("by project") {
            run_page page = s.list_runs(query("tenant", "", "p1"));
            CHECK(page.total == 3);
            CHECK(ids(page) == std::vector<std::string>{"r2", "r3", "r1"});
        }
        SUBCASE("by agent and project") {
            run_page page = s.list_runs(query("tenant", "a2", "p2"));
            CHECK(page.total == 1);
            CHECK(ids(page) == std::vector<std::string>{"r5"});
        }
        SUBCASE("a project the tenant holds no grant for is invisible") {
            run_page page = s.list_runs(query("tenant", "", "p9"));
            CHECK(page.total == 0);
            CHECK(page.items.empty());

            page = s.list_runs(query("other"));
            CHECK(ids(page) == std::vector<std::string>{"r6"});
        }
        SUBCASE("unknown and revoked tenants see nothing") {
            CHECK(s.list_runs(query("nobody")).total == 0);
            CHECK(s.list_runs(query("")).total == 0);
            s.revoke_tenant("tenant");
            run_page page = s.list_runs(query("tenant"));
            CHECK(page.total == 0);
            CHECK(page.items.empty());
        }
    });
}

// A tenant that holds every project of what a page selects is served without a grant test per
// run; these cases move a tenant in and out of that state and check nothing leaks either way.
TEST_CASE("store: list_runs for a tenant holding every project, and after that changes" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        std::vector<run_fields> runs = {
            make_fields("r1", "p1", "a1", "2024-01-01T00:00:01Z"),
            make_fields("r2", "p2", "a1", "2024-01-01T00:00:02Z"),
            make_fields("r3", "p1", "a2", "2024-01-01T00:00:03Z"),
        };
        for (const run_fields& f : runs)
            s.put_run(f, body_for(f), t1);
        s.grant("tenant", {"p1", "p2"});

        run_page page = s.list_runs(query("tenant"));
        CHECK(page.total == 3);
        CHECK(ids(page) == std::vector<std::string>{"r3", "r2", "r1"});
        CHECK(page.items[1].body == body_for(runs[1]));
        page = s.list_runs(query("tenant", "a1", "", 1, 1));
        CHECK(page.total == 2);
        CHECK(ids(page) == std::vector<std::string>{"r1"});

        SUBCASE("a run of a project not granted arrives: hidden from every query") {
            const run_fields late = make_fields("r9", "p9", "a1", "2024-01-01T00:00:09Z");
            s.put_run(late, body_for(late), t2);
            CHECK(ids(s.list_runs(query("tenant"))) == std::vector<std::string>{"r3", "r2", "r1"});
            page = s.list_runs(query("tenant", "a1"));
            CHECK(page.total == 2);
            CHECK(ids(page) == std::vector<std::string>{"r2", "r1"});
            CHECK(s.list_runs(query("tenant", "a1", "p9")).items.empty());
            // a2 still has only granted projects.
            CHECK(ids(s.list_runs(query("tenant", "a2"))) == std::vector<std::string>{"r3"});

            SUBCASE("and is deleted again: the agent is all granted once more") {
                s.tombstone_run("r9", t2);
                CHECK(ids(s.list_runs(query("tenant", "a1"))) ==
                      std::vector<std::string>{"r2", "r1"});
            }
            SUBCASE("and its project is granted") {
                s.grant("tenant", {"p9"});
                page = s.list_runs(query("tenant", "a1"));
                CHECK(page.total == 3);
                CHECK(ids(page) == std::vector<std::string>{"r9", "r2", "r1"});
            }
        }
        SUBCASE("a run moves to a project not granted: hidden") {
            run_fields moved = runs[0];
            moved.project_id = "p9";
            s.put_run(moved, body_for(moved), t2);
            CHECK(ids(s.list_runs(query("tenant", "a1"))) == std::vector<std::string>{"r2"});
            CHECK(ids(s.list_runs(query("tenant"))) == std::vector<std::string>{"r3", "r2"});
        }
        SUBCASE("a tenant holding only some of the projects sees only those") {
            s.grant("partial", {"p2"});
            CHECK(ids(s.list_runs(query("partial"))) == std::vector<std::string>{"r2"});
            CHECK(ids(s.list_runs(query("partial", "a1"))) == std::vector<std::string>{"r2"});
            CHECK(s.list_runs(query("partial", "a2")).items.empty());
            CHECK(s.list_runs(query("partial", "", "p1")).items.empty());
        }
        SUBCASE("revoked: nothing") {
            s.revoke_tenant("tenant");
            CHECK(s.list_runs(query("tenant", "a1")).items.empty());
            CHECK(s.list_runs(query("tenant")).items.empty());
        }
    });
}

// An SDK pages with skip += items; the store then starts each page where the one before ended
// (schema/005, page_ends) instead of walking |skip| entries. Whatever is written between two
// pages, by this store or another process, each page must be the same as a fresh one.
namespace {

std::vector<run_fields> paging_runs() {
    std::vector<run_fields> runs;
    for (int i = 0; i < 20; ++i) {
        // Agent a1 in two projects, a2 beside it; every third time equal to the one before.
        const int second = i - i % 3 / 2;
        char created[32];
        std::snprintf(created, sizeof created, "2024-01-01T00:00:%02dZ", second);
        runs.push_back(make_fields("r" + std::to_string(100 + i), i % 4 == 0 ? "p2" : "p1",
                                   i % 5 == 0 ? "a2" : "a1", created));
    }
    return runs;
}

// The page at |skip| as an OFFSET over the whole listing would give it.
std::vector<std::string> slice(const run_page& all, std::size_t skip, std::size_t limit) {
    std::vector<std::string> out = ids(all);
    if (skip >= out.size()) return {};
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(skip));
    if (out.size() > limit) out.resize(limit);
    return out;
}

// Pages through |q| by |limit|, checking each page against a fresh full listing.
void page_through(store& s, run_query q, std::int64_t limit, std::int64_t until = 1000) {
    q.limit = limit;
    for (q.skip = 0; q.skip < until; q.skip += limit) {
        run_query everything = q;
        everything.skip = 0;
        everything.limit = 1000;
        const run_page all = s.list_runs(everything);
        const run_page page = s.list_runs(q);
        CAPTURE(q.skip);
        CHECK(page.total == all.total);
        CHECK(ids(page) ==
              slice(all, static_cast<std::size_t>(q.skip), static_cast<std::size_t>(limit)));
        if (page.items.empty()) break;
    }
}

}  // namespace

TEST_CASE("store: list_runs paged in order, with writes between the pages" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        std::vector<run_fields> runs = paging_runs();
        for (const run_fields& f : runs)
            s.put_run(f, body_for(f), t1);
        s.grant("tenant", {"p1", "p2"});

        for (const std::string agent : {"a1", "a2", ""}) {
            for (const std::string project : {"", "p1"}) {
                CAPTURE(agent);
                CAPTURE(project);
                for (std::int64_t limit : {1, 3, 7})
                    page_through(s, query("tenant", agent, project), limit);
            }
        }
        // Up to skip 6 by 3; then a write; then the pages after it, by 3 and by another limit.
        page_through(s, query("tenant", "a1"), 3, 6);
        SUBCASE("a new newest run") {
            const run_fields f = make_fields("r900", "p1", "a1", "2024-01-02T00:00:00Z");
            s.put_run(f, body_for(f), t2);
        }
        SUBCASE("a new run in the middle, same time as another, larger id") {
            const run_fields f = make_fields("r999", "p1", "a1", runs[9].created_at);
            s.put_run(f, body_for(f), t2);
        }
        SUBCASE("a run of the first page deleted") {
            s.tombstone_run(ids(s.list_runs(query("tenant", "a1", "", 0, 1)))[0], t2);
        }
        SUBCASE("a run moved in time") {
            run_fields moved = runs[1];
            moved.created_at = "2023-12-31T00:00:00Z";
            s.put_run(moved, body_for(moved), t2);
        }
        SUBCASE("a run moved to another agent") {
            run_fields moved = runs[2];
            moved.extraction_agent_id = "a2";
            s.put_run(moved, body_for(moved), t2);
        }
        SUBCASE("a run moved to a project the tenant does not hold") {
            run_fields moved = runs[3];
            moved.project_id = "p9";
            s.put_run(moved, body_for(moved), t2);
        }
        SUBCASE("only a status changed: nothing moved") {
            run_fields changed = runs[4];
            changed.status = "ERROR";
            s.put_run(changed, body_for(changed), t2);
        }
        run_query q = query("tenant", "a1", "", 6, 3);
        CHECK(ids(s.list_runs(q)) == slice(s.list_runs(query("tenant", "a1")), 6, 3));
        q.limit = 5;
        CHECK(ids(s.list_runs(q)) == slice(s.list_runs(query("tenant", "a1")), 6, 5));
        page_through(s, query("tenant", "a1"), 3);
        // A tenant holding only some projects walks with the grant test, whatever others did.
        s.grant("partial", {"p1"});
        page_through(s, query("partial", "a1"), 3);
    });
}

TEST_CASE("store file: pages after another process's write are fresh") {
    temp_dir dir;
    auto s = open_sqlite_store(dir.file("runs.db"));
    for (const run_fields& f : paging_runs())
        s->put_run(f, body_for(f), t1);
    s->grant("tenant", {"p1", "p2"});
    page_through(*s, query("tenant", "a1"), 3, 6);
    {
        auto other = open_sqlite_store(dir.file("runs.db"));  // as `runmirror mirror` would
        const run_fields f = make_fields("r900", "p1", "a1", "2024-01-02T00:00:00Z");
        other->put_run(f, body_for(f), t2);
    }
    const run_page all = s->list_runs(query("tenant", "a1"));
    REQUIRE(ids(all)[0] == "r900");
    CHECK(ids(s->list_runs(query("tenant", "a1", "", 6, 3))) == slice(all, 6, 3));
}

TEST_CASE("store: schema version is the last embedded migration" * doctest::test_suite("store")) {
    auto migrations = embedded_migrations();
    REQUIRE_FALSE(migrations.empty());
    CHECK(migrations.front().version == 1);
    CHECK(migrations.front().name == "001_init.sql");
    CHECK(migrations.front().sql.find("CREATE TABLE runs") != std::string_view::npos);
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        CHECK(migrations[i].version == static_cast<int>(i + 1));
    }
    // Each backend has its own migrations (schema/ and schema/postgres/).
    const int latest = runmirror::testing::test_pg_uri()
                           ? embedded_postgres_migrations().back().version
                           : migrations.back().version;
    on_each_store([&](store& s) {
        CHECK(s.schema_version() == latest);
        CHECK(s.known_schema_version() == latest);
    });
}

// --- file-only behaviour ----------------------------------------------------------------------

TEST_CASE("store file: data survives close and reopen, and migrations run once") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    run_fields f = make_fields("run-1");
    std::string body = body_for(f);
    {
        auto s = open_sqlite_store(path);
        s->put_run(f, body, t1);
        s->tombstone_run("gone", t1);
        s->grant("tenant", {"proj-1"});
        s->put_list_page("tenant", "k", "page", t1);
    }
    int version = user_version_of(path);
    CHECK(version == embedded_migrations().back().version);
    {
        // 001 uses plain CREATE TABLE: re-running it would throw here.
        auto s = open_sqlite_store(path);
        CHECK(s->schema_version() == version);
        auto got = s->find_run("run-1");
        REQUIRE(got);
        CHECK(got->body == body);
        CHECK(got->fetched_at == t1);
        CHECK(s->find_run("gone")->deleted_at);
        CHECK(s->has_grant("tenant", "proj-1"));
        CHECK(s->find_list_page("tenant", "k")->body == "page");
        CHECK(s->list_runs(query("tenant")).total == 1);
    }
    // A clean close checkpoints the WAL into the main file.
    CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("store file: the database is in WAL mode") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    auto s = open_sqlite_store(path);
    sqlite::database db(path);
    sqlite::statement_use mode(db, "PRAGMA journal_mode");
    REQUIRE(mode->step());
    CHECK(mode->column_text(0) == "wal");
}

TEST_CASE("store file: a database newer than the binary is refused and left alone") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    open_sqlite_store(path).reset();
    {
        sqlite::database db(path);
        db.exec("PRAGMA user_version = 999");
    }
    try {
        open_sqlite_store(path);
        FAIL("expected store_error");
    } catch (const store_error& e) {
        std::string what = e.what();
        CHECK(what.find("999") != std::string::npos);
        CHECK(what.find(path) != std::string::npos);
    }
    CHECK(user_version_of(path) == 999);
}

TEST_CASE("store file: opening fails clearly") {
    temp_dir dir;
    SUBCASE("missing directory") {
        std::string path = dir.file("no-such-dir/runs.db");
        try {
            open_sqlite_store(path);
            FAIL("expected store_error");
        } catch (const store_error& e) {
            CHECK(std::string(e.what()).find(path) != std::string::npos);
        }
        CHECK_FALSE(fs::exists(dir.file("no-such-dir")));
    }
    SUBCASE("not a database") {
        std::string path = dir.file("junk.db");
        std::ofstream(path) << std::string(4096, 'x');
        try {
            open_sqlite_store(path);
            FAIL("expected store_error");
        } catch (const store_error& e) {
            CHECK(std::string(e.what()).find(path) != std::string::npos);
        }
    }
    SUBCASE("empty path") {
        CHECK_THROWS_AS(open_sqlite_store(""), store_error);
    }
}

TEST_CASE("store file: reads are not blocked by a writer and see only committed data") {
    temp_dir dir;
    std::string path = dir.file("runs.db");
    auto s = open_sqlite_store(path);
    run_fields a = make_fields("run-a");
    s->put_run(a, body_for(a), t1);
    CHECK_FALSE(s->find_run("run-b"));  // leaves a cached statement on a pooled reader

    // Another connection holds the write lock with an uncommitted row.
    sqlite::database other(path);
    auto tx = std::make_unique<sqlite::transaction>(other);
    other.exec(
        "INSERT INTO runs (id, body, fetched_at) VALUES ('run-b', '{}', 1);"
        "UPDATE runs SET status = 'CHANGED' WHERE id = 'run-a'");

    auto start = std::chrono::steady_clock::now();
    auto got = s->find_run("run-a");
    CHECK_FALSE(s->find_run("run-b"));
    auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE(got);
    CHECK(got->fields.status == "SUCCESS");
    // A blocked reader would sit out the 5 s busy timeout.
    CHECK(waited < std::chrono::seconds(1));

    tx->commit();
    tx.reset();
    // The pooled reader must not still be looking at its old snapshot.
    CHECK(s->find_run("run-b"));
    CHECK(s->find_run("run-a")->fields.status == "CHANGED");
}

TEST_CASE("store file: concurrent readers and a writer") {
    temp_dir dir;
    auto s = open_sqlite_store(dir.file("runs.db"));
    s->grant("tenant", {"proj-1"});
    constexpr int runs = 200;
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};

    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
        readers.emplace_back([&] {
            std::int64_t last_total = 0;
            while (!done) {
                try {
                    run_page page = s->list_runs(query("tenant", "", "", 0, 5));
                    // Commits are observed in order: the count never goes backwards.
                    if (page.total < last_total || page.items.size() > 5) {
                        ++failures;
                    }
                    last_total = page.total;
                    s->find_run("run-0");
                } catch (...) {
                    ++failures;
                }
            }
        });
    }
    for (int i = 0; i < runs; ++i) {
        run_fields f = make_fields("run-" + std::to_string(i));
        s->put_run(f, body_for(f), t1);
    }
    done = true;
    for (std::thread& t : readers) {
        t.join();
    }
    CHECK(failures == 0);
    CHECK(s->list_runs(query("tenant")).total == runs);
}

// --- migrations and the SQLite wrapper --------------------------------------------------------

TEST_CASE("migrations: each step is applied once and atomically") {
    sqlite::database db(":memory:");
    const migration good[] = {
        {1, "001_a.sql", "CREATE TABLE a (x INTEGER);"},
        {2, "002_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);"},
    };
    const migration broken[] = {
        good[0],
        good[1],
        {3, "003_c.sql", "CREATE TABLE c (x INTEGER); INSERT INTO nowhere VALUES (1);"},
    };
    apply_migrations(db, std::span(good).first(1));
    CHECK(schema_version(db) == 1);
    apply_migrations(db, good);
    CHECK(schema_version(db) == 2);
    apply_migrations(db, good);  // nothing left to do; a re-run of 002 would throw
    CHECK(schema_version(db) == 2);

    try {
        apply_migrations(db, broken);
        FAIL("expected store_error");
    } catch (const store_error& e) {
        CHECK(std::string(e.what()).find("003_c.sql") != std::string::npos);
        CHECK(std::string(e.what()).find("nowhere") != std::string::npos);
    }
    CHECK(schema_version(db) == 2);
    // Table c was created inside the failed step and rolled back with it.
    sqlite::statement_use c(db, "SELECT count(*) FROM sqlite_master WHERE name = 'c'");
    REQUIRE(c->step());
    CHECK(c->column_int64(0) == 0);
}

TEST_CASE("migrations: a newer database is refused untouched") {
    sqlite::database db(":memory:");
    db.exec("PRAGMA user_version = 3");
    const migration known[] = {{1, "001_a.sql", "CREATE TABLE a (x INTEGER);"}};
    CHECK_THROWS_AS(apply_migrations(db, known), store_error);
    CHECK(schema_version(db) == 3);
    sqlite::statement_use a(db, "SELECT count(*) FROM sqlite_master WHERE name = 'a'");
    REQUIRE(a->step());
    CHECK(a->column_int64(0) == 0);
}

TEST_CASE("sqlite wrapper: transactions roll back unless committed") {
    sqlite::database db(":memory:");
    db.exec("CREATE TABLE t (x INTEGER)");
    {
        sqlite::transaction tx(db);
        db.exec("INSERT INTO t VALUES (1)");
        CHECK_FALSE(db.autocommit());
    }
    CHECK(db.autocommit());
    {
        sqlite::transaction tx(db);
        db.exec("INSERT INTO t VALUES (2)");
        tx.commit();
    }
    sqlite::statement_use sum(db, "SELECT count(*), sum(x) FROM t");
    REQUIRE(sum->step());
    CHECK(sum->column_int64(0) == 1);
    CHECK(sum->column_int64(1) == 2);
}

TEST_CASE("sqlite wrapper: errors name the operation and SQLite's message") {
    sqlite::database db(":memory:");
    try {
        sqlite::statement_use s(db, "SELECT * FROM missing_table");
        FAIL("expected store_error");
    } catch (const store_error& e) {
        std::string what = e.what();
        CHECK(what.find("prepare") != std::string::npos);
        CHECK(what.find("no such table: missing_table") != std::string::npos);
    }
    CHECK_THROWS_AS(sqlite::statement(db, "SELECT 1; SELECT 2"), store_error);

    db.exec("CREATE TABLE t (x INTEGER PRIMARY KEY)");
    sqlite::statement_use insert(db, "INSERT INTO t VALUES (?1)");
    insert->bind_int64(1, 1);
    insert->run();
    insert->reset();
    insert->bind_int64(1, 1);
    try {
        insert->run();
        FAIL("expected store_error");
    } catch (const store_error& e) {
        CHECK(std::string(e.what()).find("UNIQUE") != std::string::npos);
    }
    CHECK_THROWS_AS(insert->bind_int64(9, 1), store_error);
}

TEST_CASE(
    "forget_run drops every representation, its watches and the list pages; the next read misses" *
    doctest::test_suite("store")) {
    auto db = open_test_store();
    const time_point t = from_unix_ms(1'700'000'000'000);
    const std::string body =
        R"({"id":"j1","project_id":"p1","status":"PENDING","created_at":"2026-01-01T00:00:00Z"})";
    auto [job, err] = parse_run(body, kinds::v2_job);
    REQUIRE_FALSE(err);
    db->put_run(job, body, t);
    run_fields usage = job;
    usage.variant = "usage";
    db->put_run(usage, body, t);
    db->put_list_page("tenant", "page", "{\"items\":[]}", t);
    REQUIRE(db->watch_run(job, "tenant", t, t));

    CHECK(db->forget_run(store_key(kinds::v2_job, "j1")));
    CHECK_FALSE(db->find_run(store_key(kinds::v2_job, "j1")));
    CHECK_FALSE(db->find_run(store_key(kinds::v2_job, "j1", "usage")));
    CHECK_FALSE(db->find_list_page("tenant", "page"));
    CHECK(db->list_watches(watch_listing::all, 10).empty());
    CHECK_FALSE(db->forget_run(store_key(kinds::v2_job, "j1")));  // nothing left

    // Stored again afterwards, as new.
    db->put_run(job, body, t);
    CHECK(db->find_run(store_key(kinds::v2_job, "j1")));
}
