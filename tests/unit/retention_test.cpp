// Retention: store::prune_some's classes and order, and the pruner keeping a store file under
// its cap.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/resource_kind.hpp"
#include "runmirror/store.hpp"
#include "store/retention.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;
using runmirror::testing::temp_dir;

namespace {

const time_point long_ago = from_unix_ms(1'600'000'000'000);
const time_point now_t = from_unix_ms(1'700'000'000'000);

run_fields v1_run(const std::string& id, const std::string& status, const std::string& created) {
    run_fields f;
    f.id = id;
    f.project_id = "p1";
    f.extraction_agent_id = "agent-1";
    f.job_id = "job-" + id;
    f.file_name = id + ".pdf";
    f.status = status;
    f.created_at = created;
    f.updated_at = created;
    return f;
}

std::string body_of(const run_fields& f, std::size_t padding = 0) {
    return R"({"id":")" + f.id + R"(","status":")" + f.status + R"(","data":{"word":"pruneme )" +
           std::string(padding, 'x') + R"("}})";
}

void put(store& s, const run_fields& f, time_point fetched, std::size_t padding = 0) {
    s.put_run(f, body_of(f, padding), fetched);
}

// Runs prune_some until done; returns the (class, rows) of each batch.
std::vector<std::pair<prune_cursor::stage, std::size_t>> prune_all(store& s,
                                                                   const prune_policy& policy) {
    std::vector<std::pair<prune_cursor::stage, std::size_t>> batches;
    prune_cursor cursor;
    for (;;) {
        const prune_batch b = s.prune_some(policy, cursor);
        if (b.what == prune_cursor::stage::done) return batches;
        batches.emplace_back(b.what, b.rows);
    }
}

std::size_t rows_of(const std::vector<std::pair<prune_cursor::stage, std::size_t>>& batches,
                    prune_cursor::stage what) {
    std::size_t n = 0;
    for (const auto& [stage, rows] : batches)
        n += stage == what ? rows : 0;
    return n;
}

}  // namespace

TEST_CASE("prune_some goes class by class: list pages, ended watches, stale unfinished, final" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put(s, v1_run("final-old", "SUCCESS", "2020-01-01T00:00:00Z"), long_ago);
        put(s, v1_run("final-new", "ERROR", "2024-01-01T00:00:00Z"), now_t);
        put(s, v1_run("pending-stale", "PENDING", "2023-01-01T00:00:00Z"), long_ago);
        put(s, v1_run("pending-fresh", "PENDING", "2023-06-01T00:00:00Z"), now_t);
        for (int i = 0; i < 5; ++i)
            s.put_list_page("tenant", "page-" + std::to_string(i), "{\"items\":[]}", now_t);
        // Two watches that ended, one active (of the fresh pending run).
        auto ended = s.watch_run(v1_run("final-new", "PENDING", "2024-01-01T00:00:00Z"), "tenant",
                                 long_ago, long_ago);
        REQUIRE(ended);
        s.finish_watch(*ended, "ERROR", now_t);
        auto given_up = s.watch_run(v1_run("gone", "PENDING", "2022-01-01T00:00:00Z"), "tenant",
                                    long_ago, long_ago);
        REQUIRE(given_up);
        s.give_up_watch(*given_up, "max age", now_t);
        REQUIRE(s.watch_run(v1_run("pending-fresh", "PENDING", "2023-06-01T00:00:00Z"), "tenant",
                            now_t, now_t));
        // A v2 job, final, with a second representation: both go together.
        const std::string job_body =
            R"({"id":"j1","project_id":"p1","status":"COMPLETED","created_at":"2019-01-01T00:00:00Z"})";
        auto [job, err] = parse_run(job_body, kinds::v2_job);
        REQUIRE_FALSE(err);
        s.put_run(job, job_body, long_ago);
        run_fields usage = job;
        usage.variant = "usage";
        s.put_run(usage, job_body, long_ago);

        SUBCASE("final resources are kept unless the policy allows them") {
            prune_policy policy{.batch = 2,
                                .unfinished_fetched_before = now_t - std::chrono::hours(1)};
            const auto batches = prune_all(s, policy);
            CHECK(rows_of(batches, prune_cursor::stage::list_pages) == 5);
            CHECK(rows_of(batches, prune_cursor::stage::ended_watches) == 2);
            CHECK(rows_of(batches, prune_cursor::stage::stale_unfinished) == 1);
            CHECK(rows_of(batches, prune_cursor::stage::final_resources) == 0);
            // In class order, each batch within the policy's size.
            for (std::size_t i = 1; i < batches.size(); ++i)
                CHECK(batches[i - 1].first <= batches[i].first);
            for (const auto& [stage, rows] : batches)
                CHECK(rows <= 2);

            CHECK_FALSE(s.find_list_page("tenant", "page-0"));
            CHECK_FALSE(s.find_run("pending-stale"));
            CHECK(s.find_run("pending-fresh"));
            CHECK(s.find_run("final-old"));
            CHECK(s.find_run(store_key(kinds::v2_job, "j1", "usage")));
            const auto watches = s.list_watches(watch_listing::all, 10);
            REQUIRE(watches.size() == 1);  // the active one
            CHECK(watches[0].run_id == "pending-fresh");
        }
        SUBCASE("with final resources allowed, oldest created first, every representation") {
            prune_policy policy{.batch = 1,
                                .unfinished_fetched_before = now_t - std::chrono::hours(1),
                                .final_resources = true};
            prune_cursor cursor;
            std::vector<std::string> gone_in_order;
            const std::vector<std::string> finals = {store_key(kinds::v2_job, "j1"), "final-old",
                                                     "final-new"};
            for (;;) {
                const prune_batch b = s.prune_some(policy, cursor);
                if (b.what == prune_cursor::stage::done) break;
                if (b.what != prune_cursor::stage::final_resources) continue;
                for (const auto& key : finals) {
                    if (!s.find_run(key) && std::find(gone_in_order.begin(), gone_in_order.end(),
                                                      key) == gone_in_order.end())
                        gone_in_order.push_back(key);
                }
            }
            CHECK(gone_in_order == finals);
            CHECK_FALSE(s.find_run(store_key(kinds::v2_job, "j1", "usage")));
            CHECK(s.find_run("pending-fresh"));  // never final, not stale: stays
            run_browse_query search;
            search.kind = nullptr;
            search.search = "pruneme";
            const auto found = s.browse_runs(search);
            REQUIRE(found.items.size() == 1);  // the search index lets the pruned ones go
            CHECK(found.items[0].fields.id == "pending-fresh");
        }
    });
}

TEST_CASE("the pruner keeps a store file near its cap; final resources only when allowed") {
    temp_dir dir;
    const std::string path = dir.file("capped.db");
    auto s = open_sqlite_store(path);
    // About 6 MB of final runs with distinct bodies (they must not compress to nothing).
    std::string noise;
    for (int i = 0; i < 3000; ++i) {
        run_fields f = v1_run("run-" + std::to_string(i), "SUCCESS",
                              "2024-01-01T00:00:" + std::to_string(10000 + i) + "Z");
        std::string body = body_of(f);
        for (int j = 0; j < 60; ++j)
            body += " " + std::to_string((i * 7919 + j * 104729) % 1000003);
        s->put_run(f, body, now_t);
    }
    const std::int64_t used = s->used_bytes();
    REQUIRE(used > 1'000'000);
    const auto cap = static_cast<std::uint64_t>(used / 2);

    SUBCASE("final resources kept: nothing to prune, nothing lost") {
        store_pruner pruner(*s, {.max_bytes = cap, .retain_final = true}, [] { return now_t; });
        const prune_counts removed = pruner.check_now();
        CHECK(removed[3] == 0);
        CHECK(s->find_run("run-0"));
        // (used_bytes moves on its own: the search index catches up in the background.)
        const store_counts counts = s->counts();
        REQUIRE(counts.rows_by_kind.size() == 1);
        CHECK(counts.rows_by_kind[0].second == 3000);
    }
    SUBCASE("final resources allowed: down to the low-water mark, oldest first") {
        store_pruner pruner(*s, {.max_bytes = cap, .retain_final = false, .batch = 50},
                            [] { return now_t; });
        const prune_counts removed = pruner.check_now();
        CHECK(removed[3] > 0);
        CHECK(s->used_bytes() <= static_cast<std::int64_t>(cap));
        CHECK(s->used_bytes() > static_cast<std::int64_t>(cap) / 2);  // not everything
        CHECK_FALSE(s->find_run("run-0"));
        CHECK(s->find_run("run-2999"));
        CHECK(pruner.pruned()[3] == removed[3]);
        // New runs go into the freed pages: the file does not grow. (Closing the store copies
        // its WAL into the file.)
        s.reset();
        const auto file_before = std::filesystem::file_size(path);
        s = open_sqlite_store(path);
        for (int i = 0; i < 200; ++i)
            put(*s, v1_run("late-" + std::to_string(i), "SUCCESS", "2025-01-01T00:00:00Z"), now_t,
                400);
        s.reset();
        CHECK(std::filesystem::file_size(path) <= file_before);
    }
}
