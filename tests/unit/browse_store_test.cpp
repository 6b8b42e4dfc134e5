// store::browse_runs and store::agent_summaries: filters, browse order, keyset paging that
// stays stable while runs are stored, full-text search over data and file names, tombstones,
// and the 003 migration's backfill. Every behavioural case runs on ":memory:" and on a file.

#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/store_fixtures.hpp"
#include "util/iso_time.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;
using runmirror::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

const time_point fetched = from_unix_ms(1'736'928'000'000);

// "2025-01-15T08:MM:00.000000Z" for minute |m|: later minutes are newer runs.
std::string at_minute(int m) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "2025-01-15T%02d:%02d:00.000000Z", 8 + m / 60, m % 60);
    return buf;
}

struct run_spec {
    run_spec(std::string run_id, int at) : id(std::move(run_id)), minute(at) {}
    run_spec& with_status(std::string s) { return status = std::move(s), *this; }
    run_spec& with_agent(std::string a) { return agent = std::move(a), *this; }
    run_spec& with_project(std::string p) { return project = std::move(p), *this; }
    run_spec& with_file(std::string f) { return file_name = std::move(f), *this; }
    run_spec& with_data(std::string d) { return data = std::move(d), *this; }

    std::string id;
    int minute = 0;
    std::string status = "SUCCESS";
    std::string agent = "agent-a";
    std::string project = "proj-1";
    std::string file_name;      // empty: "<id>.pdf"
    std::string data = "null";  // raw JSON of "data"
};

run_fields fields_of(const run_spec& r) {
    run_fields f;
    f.id = r.id;
    f.project_id = r.project;
    f.extraction_agent_id = r.agent;
    f.job_id = "job-" + r.id;
    f.file_id = "file-" + r.id;
    f.file_name = r.file_name.empty() ? r.id + ".pdf" : r.file_name;
    f.status = r.status;
    f.created_at = at_minute(r.minute);
    f.updated_at = at_minute(r.minute + 1);
    return f;
}

// An ExtractRun as the upstream sends it, with words outside "data" that search must not see.
std::string body_of(const run_spec& r) {
    const run_fields f = fields_of(r);
    return R"({"id":")" + f.id + R"(","extraction_agent_id":")" + f.extraction_agent_id +
           R"(","project_id":")" + f.project_id + R"(","status":")" + f.status +
           R"(","config":{"system_prompt":"outsideword in the config"},"created_at":")" +
           f.created_at + R"(","updated_at":")" + f.updated_at + R"(","data":)" + r.data +
           R"(,"error":null,"file":{"id":")" + f.file_id + R"(","name":")" + f.file_name +
           R"("},"job_id":")" + f.job_id + R"("})";
}

void put(store& s, const run_spec& r) {
    s.put_run(fields_of(r), body_of(r), fetched);
}

std::vector<std::string> ids(const run_browse_page& page) {
    std::vector<std::string> out;
    for (const stored_run& r : page.items)
        out.push_back(r.fields.id);
    return out;
}

// "07": equal lengths, so no word is a prefix of another.
std::string two_digits(int i) {
    return (i < 10 ? "0" : "") + std::to_string(i);
}

run_browse_query everything(std::size_t limit = 100) {
    run_browse_query q;
    q.limit = limit;
    return q;
}

run_browse_query searching(std::string text) {
    run_browse_query q = everything();
    q.search = std::move(text);
    return q;
}

// Ten runs over two agents, two projects and all statuses; r9 is the newest.
void put_ten(store& s) {
    const char* statuses[] = {"SUCCESS", "ERROR", "PENDING", "SUCCESS", "CREATED"};
    for (int i = 0; i < 10; ++i) {
        put(s, run_spec("r" + std::to_string(i), i * 10)
                   .with_status(statuses[i % 5])
                   .with_agent(i % 2 == 0 ? "agent-a" : "agent-b")
                   .with_project(i < 8 ? "proj-1" : "proj-2"));
    }
}

}  // namespace

TEST_CASE("browse: newest first, every filter, summaries without bodies unless asked" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_ten(s);
        CHECK(ids(s.browse_runs(everything())) ==
              std::vector<std::string>{"r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1", "r0"});

        run_browse_query q = everything();
        q.extraction_agent_id = "agent-b";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r9", "r7", "r5", "r3", "r1"});
        q.status = "SUCCESS";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r5", "r3"});
        q.status = "ERROR";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r1"});

        q = everything();
        q.project_id = "proj-2";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r9", "r8"});
        q = everything();
        q.status = "PENDING";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r7", "r2"});
        q.status = "success";  // exact: callers normalise case
        CHECK(s.browse_runs(q).items.empty());

        // [from, to) on created_at: r3 is 08:30:00, r6 is 09:00:00.
        q = everything();
        q.created_from = calendar_time(millis(1'736'928'000'000 + 30 * 60'000));
        q.created_before = calendar_time(millis(1'736'928'000'000 + 60 * 60'000));
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r5", "r4", "r3"});
        q.created_from = *q.created_from + std::chrono::microseconds(1);
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r5", "r4"});
        // Bounds at the calendar's ends, beyond system_clock's 1677-2262.
        const std::size_t all = s.browse_runs(everything()).items.size();
        q = everything();
        q.created_before = max_calendar_time();
        CHECK(s.browse_runs(q).items.size() == all);
        q.created_from = min_calendar_time();
        CHECK(s.browse_runs(q).items.size() == all);
        q.created_before.reset();
        q.created_from = max_calendar_time();
        CHECK(s.browse_runs(q).items.empty());

        const run_browse_page listing = s.browse_runs(everything(1));
        REQUIRE(listing.items.size() == 1);
        const stored_run& r9 = listing.items.front();
        CHECK(r9.body.empty());
        CHECK(r9.fields.status == "CREATED");
        CHECK(r9.fields.project_id == "proj-2");
        CHECK(r9.fields.file_name == "r9.pdf");
        CHECK(r9.fields.created_at == "2025-01-15T09:30:00.000000Z");
        CHECK(r9.fetched_at == fetched);

        q = everything(1);
        q.with_bodies = true;
        CHECK(s.browse_runs(q).items.front().body == s.find_run("r9")->body);

        CHECK(s.browse_runs(everything(0)).items.empty());
    });
}

TEST_CASE("browse: tombstoned and bodiless runs never appear" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_ten(s);
        s.tombstone_run("r9", fetched);
        s.tombstone_run("never-stored", fetched);  // a bodiless row
        put(s, run_spec("r9", 95));                // a late answer does not resurrect it
        const auto all = ids(s.browse_runs(everything()));
        CHECK(all.size() == 9);
        CHECK(all.front() == "r8");
        run_browse_query q = everything();
        q.project_id = "proj-2";
        CHECK(ids(s.browse_runs(q)) == std::vector<std::string>{"r8"});
    });
}

TEST_CASE("browse: keyset pages cover every run once, also across equal created_at" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        // Three runs share each minute: the id breaks the tie.
        for (int i = 0; i < 12; ++i) {
            put(s, run_spec("t" + std::to_string(i % 3) + "-" + std::to_string(i), i / 3));
        }
        const std::vector<std::string> whole = ids(s.browse_runs(everything()));
        REQUIRE(whole.size() == 12);
        for (std::size_t size : {1u, 2u, 3u, 5u, 12u}) {
            CAPTURE(size);
            std::vector<std::string> walked;
            run_browse_query q = everything(size);
            for (int pages = 0; pages < 20; ++pages) {
                const run_browse_page page = s.browse_runs(q);
                for (const auto& id : ids(page))
                    walked.push_back(id);
                if (!page.next) break;
                CHECK(page.items.size() == size);
                q.after = page.next;
            }
            CHECK(walked == whole);
        }
        // A page that ends exactly at the last run says so.
        CHECK_FALSE(s.browse_runs(everything(12)).next);
        CHECK(s.browse_runs(everything(11)).next);
    });
}

TEST_CASE("browse: paging is stable while runs are stored between pages" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_ten(s);
        run_browse_query q = everything(3);
        run_browse_page page = s.browse_runs(q);
        CHECK(ids(page) == std::vector<std::string>{"r9", "r8", "r7"});

        // Newer than everything: it belongs before the cursor and must not shift later pages.
        put(s, run_spec("new-top", 500));
        // Older than the cursor: it appears in its place.
        put(s, run_spec("r4b", 45));
        // A refresh of a run already seen (same created_at): not repeated.
        put(s,
            run_spec("r8", 80).with_status("ERROR").with_agent("agent-a").with_project("proj-2"));

        std::vector<std::string> rest;
        while (page.next) {
            q.after = page.next;
            page = s.browse_runs(q);
            for (const auto& id : ids(page))
                rest.push_back(id);
        }
        CHECK(rest == std::vector<std::string>{"r6", "r5", "r4b", "r4", "r3", "r2", "r1", "r0"});
        CHECK(ids(s.browse_runs(everything(1))) == std::vector<std::string>{"new-top"});
    });
}

TEST_CASE("browse search: strings and numbers under data, and file names" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put(s, run_spec("inv", 1)
                   .with_file("ACME_invoice-2024.pdf")
                   .with_data(R"({"vendor":"Globex Corporation","total":4711,"rate":0.19,)"
                              R"("city":"Z\u00fcrich","lines":[{"sku":"WIDGET-9","qty":3}],)"
                              R"("notes":null,"paid":true})"));
        put(s,
            run_spec("pages", 2)
                .with_file("report.pdf")
                .with_data(
                    R"([{"page":1,"text":"Quarterly Globex results"},{"page":2,"text":"東京 支店"}])"));
        put(s, run_spec("pending", 3).with_status("PENDING"));

        CHECK(ids(s.browse_runs(searching("globex"))) == std::vector<std::string>{"pages", "inv"});
        CHECK(ids(s.browse_runs(searching("GLOBEX corp"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("glob"))).size() == 2);  // each word a prefix
        CHECK(ids(s.browse_runs(searching("4711"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("widget-9"))) == std::vector<std::string>{"inv"});
        // Escapes are decoded and accents folded.
        CHECK(ids(s.browse_runs(searching("Zürich"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("zurich"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("東京"))) == std::vector<std::string>{"pages"});
        // The file name, split at punctuation.
        CHECK(ids(s.browse_runs(searching("acme"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("invoice 2024"))) == std::vector<std::string>{"inv"});
        CHECK(ids(s.browse_runs(searching("pending.pdf"))) == std::vector<std::string>{"pending"});
        // Keys, true/false and fields outside data are not searched.
        CHECK(s.browse_runs(searching("vendor")).items.empty());
        CHECK(s.browse_runs(searching("true")).items.empty());
        CHECK(s.browse_runs(searching("outsideword")).items.empty());
        CHECK(s.browse_runs(searching("globex nomatch")).items.empty());

        // Search combines with the other filters and with paging.
        run_browse_query q = searching("globex");
        q.limit = 1;
        run_browse_page page = s.browse_runs(q);
        CHECK(ids(page) == std::vector<std::string>{"pages"});
        REQUIRE(page.next);
        q.after = page.next;
        page = s.browse_runs(q);
        CHECK(ids(page) == std::vector<std::string>{"inv"});
        CHECK_FALSE(page.next);
        q = searching("globex");
        q.status = "PENDING";
        CHECK(s.browse_runs(q).items.empty());
    });
}

TEST_CASE("browse search: user text is never FTS5 syntax" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put(s, run_spec("a", 1).with_data(R"({"text":"alpha AND beta said \"hi\""})"));
        for (const char* text :
             {"\"", "alpha\"", "AND", "alpha OR", "NEAR(alpha", "alpha*", "-beta", "a:b", "(", "^",
              "alpha -", "alpha - beta", "{text}: alpha", "*"}) {
            CAPTURE(text);
            CHECK_NOTHROW(s.browse_runs(searching(text)));
        }
        CHECK(ids(s.browse_runs(searching("alpha - beta"))) == std::vector<std::string>{"a"});
        CHECK(ids(s.browse_runs(searching("\"hi\""))) == std::vector<std::string>{"a"});
        CHECK(ids(s.browse_runs(searching("AND"))) == std::vector<std::string>{"a"});
        // Only punctuation: no word to look for, so nothing matches.
        CHECK(s.browse_runs(searching("- & ;")).items.empty());
        // Only blanks: no search at all.
        CHECK(ids(s.browse_runs(searching("  \t"))) == std::vector<std::string>{"a"});
    });
}

TEST_CASE("browse search: the index follows replacements, tombstones and odd bodies" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put(s, run_spec("r", 1).with_status("PENDING").with_data(R"({"word":"before"})"));
        CHECK(ids(s.browse_runs(searching("before"))) == std::vector<std::string>{"r"});
        put(s, run_spec("r", 1).with_data(R"({"word":"after"})"));
        CHECK(s.browse_runs(searching("before")).items.empty());
        CHECK(ids(s.browse_runs(searching("after"))) == std::vector<std::string>{"r"});
        // The same bytes again (a refresh of a final run): still found once.
        put(s, run_spec("r", 1).with_data(R"({"word":"after"})"));
        CHECK(ids(s.browse_runs(searching("after"))) == std::vector<std::string>{"r"});

        // A body that is not JSON is stored all the same, findable by its file name.
        run_fields odd = fields_of(run_spec("odd", 2).with_file("strange.pdf"));
        CHECK_NOTHROW(s.put_run(odd, "{not json", fetched));
        CHECK(ids(s.browse_runs(searching("strange"))) == std::vector<std::string>{"odd"});
        CHECK_NOTHROW(s.put_run(odd, "", fetched));

        s.tombstone_run("r", fetched);
        CHECK(s.browse_runs(searching("after")).items.empty());
        put(s, run_spec("r", 1).with_data(R"({"word":"after"})"));
        CHECK(s.browse_runs(searching("after")).items.empty());
    });
}

TEST_CASE("agent summaries: counts by status, newest first, tombstones left out" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        CHECK(s.agent_summaries().empty());
        put_ten(s);
        s.tombstone_run("r0", fetched);
        const std::vector<agent_summary> all = s.agent_summaries();
        REQUIRE(all.size() == 4);
        // By newest run: r9 (agent-b, proj-2), r8 (agent-a, proj-2), r7, r6.
        CHECK(all[0].extraction_agent_id == "agent-b");
        CHECK(all[0].project_id == "proj-2");
        CHECK(all[0].runs == 1);
        CHECK(all[0].by_status == std::map<std::string, std::int64_t>{{"CREATED", 1}});
        CHECK(all[0].latest_created_at == at_minute(90));
        CHECK(all[1].extraction_agent_id == "agent-a");
        CHECK(all[1].project_id == "proj-2");
        CHECK(all[2].extraction_agent_id == "agent-b");
        CHECK(all[2].project_id == "proj-1");
        CHECK(all[2].runs == 4);  // r1 r3 r5 r7
        CHECK(all[2].by_status ==
              std::map<std::string, std::int64_t>{{"ERROR", 1}, {"SUCCESS", 2}, {"PENDING", 1}});
        CHECK(all[2].latest_created_at == at_minute(70));
        CHECK(all[3].extraction_agent_id == "agent-a");
        CHECK(all[3].project_id == "proj-1");
        CHECK(all[3].runs == 3);  // r2 r4 r6; r0 was deleted
        CHECK(all[3].by_status ==
              std::map<std::string, std::int64_t>{{"PENDING", 1}, {"CREATED", 1}, {"ERROR", 1}});
    });
}

TEST_CASE("agent summaries: every (agent, project) pair with runs" * doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_ten(s);
        std::set<std::pair<std::string, std::string>> pairs;
        std::int64_t total = 0;
        for (const agent_summary& a : s.agent_summaries()) {
            pairs.emplace(a.extraction_agent_id, a.project_id);
            total += a.runs;
            std::int64_t by_status = 0;
            for (const auto& [status, n] : a.by_status)
                by_status += n;
            CHECK(by_status == a.runs);
        }
        CHECK(total == 10);
        CHECK(pairs == std::set<std::pair<std::string, std::string>>{{"agent-a", "proj-1"},
                                                                     {"agent-a", "proj-2"},
                                                                     {"agent-b", "proj-1"},
                                                                     {"agent-b", "proj-2"}});
    });
}

TEST_CASE("browse file: a version-2 store is indexed by the migration") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    {
        sqlite::database db(path);
        apply_migrations(db, embedded_migrations().first(2));
        db.exec(
            "INSERT INTO runs (id, body, extraction_agent_id, status, created_at, file_name,"
            " fetched_at) VALUES"
            " ('old', '{\"data\":{\"v\":\"Pythagoras\"}}', 'ag', 'SUCCESS', '2024', 'x.pdf', 1),"
            " ('bad', '{oops', 'ag', 'SUCCESS', '2023', 'broken.pdf', 1),"
            " ('gone', '{\"data\":{\"v\":\"Pythagoras\"}}', 'ag', 'SUCCESS', '2022', '', 1);"
            "UPDATE runs SET deleted_at = 2 WHERE id = 'gone'");
    }
    auto s = open_sqlite_store(path);
    CHECK(s->schema_version() == embedded_migrations().back().version);
    CHECK(ids(s->browse_runs(searching("pythagoras"))) == std::vector<std::string>{"old"});
    CHECK(ids(s->browse_runs(searching("broken"))) == std::vector<std::string>{"bad"});
    CHECK(s->agent_summaries().front().runs == 2);
}

TEST_CASE("browse file: the search index survives VACUUM (runs' rowids may change)") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    {
        auto s = open_sqlite_store(path);
        for (int i = 0; i < 50; ++i) {
            put(*s, run_spec("v" + std::to_string(i), i)
                        .with_data(R"({"w":"word)" + two_digits(i) + R"("})"));
        }
        for (int i = 0; i < 50; i += 2)
            s->tombstone_run("v" + std::to_string(i), fetched);
    }
    {
        sqlite::database db(path);
        // Deleting rows and vacuuming is what renumbers implicit rowids.
        db.exec("DELETE FROM runs WHERE deleted_at IS NOT NULL; VACUUM");
    }
    auto s = open_sqlite_store(path);
    for (int i = 1; i < 50; i += 2) {
        CAPTURE(i);
        CHECK(ids(s->browse_runs(searching("word" + two_digits(i)))) ==
              std::vector<std::string>{"v" + std::to_string(i)});
    }
    // Replacing a run after the VACUUM updates its own document, nobody else's.
    put(*s, run_spec("v1", 1).with_data(R"({"w":"replaced"})"));
    CHECK(s->browse_runs(searching("word01")).items.empty());
    CHECK(ids(s->browse_runs(searching("word03"))) == std::vector<std::string>{"v3"});
    CHECK(ids(s->browse_runs(searching("replaced"))) == std::vector<std::string>{"v1"});
}

TEST_CASE("agent summaries: the newest created_at follows tombstones and status changes" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put(s, run_spec("old", 10));
        put(s, run_spec("mid", 20));
        put(s, run_spec("new", 30).with_status("PENDING"));
        auto latest = [&] {
            const std::vector<agent_summary> all = s.agent_summaries();
            return all.empty() ? std::string("none") : all.front().latest_created_at;
        };
        CHECK(latest() == at_minute(30));
        s.tombstone_run("new", fetched);
        CHECK(latest() == at_minute(20));
        // "mid" moves to another status: still the newest of the pair.
        put(s, run_spec("mid", 20).with_status("ERROR"));
        CHECK(latest() == at_minute(20));
        CHECK(s.agent_summaries().front().by_status ==
              std::map<std::string, std::int64_t>{{"ERROR", 1}, {"SUCCESS", 1}});
        s.tombstone_run("mid", fetched);
        CHECK(latest() == at_minute(10));
        s.tombstone_run("old", fetched);
        CHECK(latest() == "none");
    });
}
