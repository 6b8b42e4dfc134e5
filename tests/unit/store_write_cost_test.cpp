// What storing runs costs the disk (schema/006_lighter_writes.sql): the search index is written
// in batches off the write path yet every search sees every stored run, and re-storing a run
// whose bytes did not change writes only when it was fetched, not the run again.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runmirror/store.hpp"
#include "store/sqlite_db.hpp"
#include "support/shim_vfs.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::shim_vfs;
using runmirror::testing::temp_dir;

namespace {

run_fields fields_of(const std::string& id, int n) {
    run_fields f;
    f.id = id;
    f.project_id = "proj-1";
    f.extraction_agent_id = "agent-1";
    f.job_id = "job-" + id;
    f.file_id = "file-" + id;
    f.file_name = id + ".pdf";
    f.status = "SUCCESS";
    // Distinct, ascending: the order a list page has.
    f.created_at = "2024-01-01T00:00:" + std::string(n < 10 ? "0" : "") + std::to_string(n) + "Z";
    f.updated_at = f.created_at;
    return f;
}

// About 4 KB of JSON that compresses to about half, like a real run.
std::string body_of(const std::string& id, const std::string& word) {
    std::string items;
    for (int k = 0; k < 40; ++k) {
        if (k) items += ',';
        items += R"({"sku":"SKU-)" + std::to_string(k * 7919 % 100000) + id + R"(","qty":)" +
                 std::to_string(k % 13) + R"(,"price":)" + std::to_string(k * 31 % 997) + ".5}";
    }
    return R"({"id":")" + id + R"(","status":"SUCCESS","data":{"vendor":")" + word +
           R"(","items":[)" + items + "]}}";
}

std::vector<std::string> search(store& s, const std::string& words) {
    run_browse_query q;
    q.search = words;
    q.limit = 100;
    std::vector<std::string> ids;
    for (const stored_run& r : s.browse_runs(q).items)
        ids.push_back(r.fields.id);
    return ids;
}

// The search watermark and the newest run's seq, read beside the store.
std::pair<std::int64_t, std::int64_t> index_state(const std::string& path) {
    sqlite::database db(path, 5000, sqlite::open_mode::read_only);
    sqlite::statement_use s(db,
                            "SELECT (SELECT indexed_through FROM run_search_state),"
                            " (SELECT max(seq) FROM runs)");
    REQUIRE(s->step());
    return {s->column_int64(0), s->column_int64(1)};
}

const time_point t1 = from_unix_ms(1'700'000'000'000);

}  // namespace

TEST_CASE("store write cost: runs are indexed for search in the background, and found at once") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    auto s = open_sqlite_store(path);
    s->put_run(fields_of("run-a", 1), body_of("run-a", "zebra"), t1);
    {
        // Not in the put's transaction: the index has not reached it yet.
        auto [indexed, newest] = index_state(path);
        CHECK(indexed < newest);
    }
    // Without any search, the background indexer gets there within its delay (5 s).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (index_state(path).first < index_state(path).second &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(index_state(path).first == index_state(path).second);
    CHECK(search(*s, "zebra") == std::vector<std::string>{"run-a"});

    // A search right after a put finds the run: it indexes what is pending first.
    s->put_run(fields_of("run-b", 2), body_of("run-b", "yak"), t1);
    CHECK(search(*s, "yak") == std::vector<std::string>{"run-b"});
    // Changed text before it was indexed: only the new text is found.
    s->put_run(fields_of("run-c", 3), body_of("run-c", "okapi"), t1);
    s->put_run(fields_of("run-c", 3), body_of("run-c", "quokka"), t1);
    CHECK(search(*s, "okapi").empty());
    CHECK(search(*s, "quokka") == std::vector<std::string>{"run-c"});
    // Deleted before it was indexed: never found.
    s->put_run(fields_of("run-d", 4), body_of("run-d", "tapir"), t1);
    s->tombstone_run("run-d", t1);
    CHECK(search(*s, "tapir").empty());
    s.reset();
    sqlite::database db(path);
    db.exec("INSERT INTO run_search (run_search) VALUES ('integrity-check')");
}

TEST_CASE("store write cost: re-storing an unchanged list page writes its fetch times only") {
    shim_vfs vfs;
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    auto s = open_sqlite_store(path);
    std::vector<std::string> bodies;
    std::vector<std::pair<run_fields, std::string_view>> page;
    for (int i = 0; i < 50; ++i)
        bodies.push_back(body_of("run-" + std::to_string(i), "vendor" + std::to_string(i)));
    for (int i = 0; i < 50; ++i)
        page.emplace_back(fields_of("run-" + std::to_string(i), i), bodies[i]);
    s->put_runs(page, t1);
    CHECK(search(*s, "vendor7") == std::vector<std::string>{"run-7"});  // indexed now

    // The same page again, fetched later: 50 fetch times, a page or two of them.
    const time_point t2 = t1 + std::chrono::seconds(5);
    const std::uint64_t before = vfs.wal_bytes + vfs.db_bytes;
    s->put_runs(page, t2);
    const std::uint64_t written = vfs.wal_bytes + vfs.db_bytes - before;
    MESSAGE("an unchanged 50-run page re-stored: " << written << " bytes written");
    CHECK(written <= 4 * (4096 + 24));
    CHECK(s->find_run("run-7")->fetched_at == t2);
    CHECK(s->find_run("run-7")->body == bodies[7]);
    CHECK(s->find_run_by_job("job-run-7")->fetched_at == t2);
    run_browse_query q;
    q.limit = 1;
    q.with_bodies = true;
    CHECK(s->browse_runs(q).items.at(0).fetched_at == t2);
    CHECK(search(*s, "vendor7") == std::vector<std::string>{"run-7"});

    // New bytes: the row takes its own fetch time again, even an earlier one.
    const time_point t0 = t1 - std::chrono::seconds(60);
    const std::string changed = body_of("run-7", "renamed");
    s->put_run(page[7].first, changed, t0);
    CHECK(s->find_run("run-7")->fetched_at == t0);
    CHECK(search(*s, "vendor7").empty());
    CHECK(search(*s, "renamed") == std::vector<std::string>{"run-7"});
    s->put_run(page[7].first, changed, t2);
    CHECK(s->find_run("run-7")->fetched_at == t2);

    // Same bytes with a changed column (a caller's fields) is a real write.
    run_fields moved = page[8].first;
    moved.project_id = "proj-2";
    s->put_run(moved, bodies[8], t2);
    CHECK(s->find_run("run-8")->fields.project_id == "proj-2");

    // A tombstoned run stays deleted when the page brings it again unchanged.
    s->tombstone_run("run-9", t2);
    s->put_runs(page, t2 + std::chrono::seconds(5));
    CHECK(s->find_run("run-9")->deleted_at == t2);
    CHECK(s->find_run("run-9")->fetched_at == t2);
    s.reset();
    sqlite::database db(path);
    sqlite::statement_use check(db, "PRAGMA integrity_check");
    REQUIRE(check->step());
    CHECK(check->column_text(0) == "ok");
}

TEST_CASE("store write cost: concurrent writes share commits, and each stands or fails alone") {
    temp_dir dir;
    auto s = open_sqlite_store(dir.file("runs.db"));
    constexpr int threads = 8, per_thread = 40;
    std::atomic<int> refused{0};
    {
        std::vector<std::jthread> writers;
        for (int t = 0; t < threads; ++t) {
            writers.emplace_back([&, t] {
                for (int k = 0; k < per_thread; ++k) {
                    const std::string id = "run-" + std::to_string(t) + "-" + std::to_string(k);
                    s->put_run(fields_of(id, t * per_thread + k), body_of(id, "word"),
                               clock_type::now());
                    // A write that throws (no id) fails alone, whatever batch it joined.
                    try {
                        s->put_run(fields_of("", 0), "{}", clock_type::now());
                    } catch (const std::invalid_argument&) {
                        ++refused;
                    }
                }
            });
        }
    }
    CHECK(refused == threads * per_thread);
    for (int t = 0; t < threads; ++t) {
        for (int k = 0; k < per_thread; ++k) {
            const std::string id = "run-" + std::to_string(t) + "-" + std::to_string(k);
            auto run = s->find_run(id);
            REQUIRE(run != nullptr);
            CHECK(run->body == body_of(id, "word"));
        }
    }
    CHECK(s->write_health().writable);
    CHECK(search(*s, "word").size() == 100);  // the query's limit; all are indexed
}

TEST_CASE("store write cost: the WAL is checkpointed off the write path and stays bounded") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    auto s = open_sqlite_store(path);
    // Far more than one checkpoint's worth (4 MiB of WAL): every run writes a dozen pages.
    constexpr int runs = 1500;
    std::uintmax_t wal_max = 0;
    for (int k = 0; k < runs; ++k) {
        const std::string id = "run-" + std::to_string(k);
        s->put_run(fields_of(id, k), body_of(id, "word"), t1);
        std::error_code ec;
        wal_max = std::max(wal_max, std::filesystem::file_size(path + "-wal", ec));
    }
    // The maintenance thread's checkpoints let SQLite start the WAL over; the writer's own
    // backstop (16 MiB) is never needed for this.
    CHECK(wal_max < (16u << 20));
    for (int k = 0; k < runs; k += 100)
        CHECK(s->find_run("run-" + std::to_string(k)) != nullptr);
}

TEST_CASE("store write cost: granting a project the tenant already holds writes nothing") {
    shim_vfs vfs;
    temp_dir dir;
    auto s = open_sqlite_store(dir.file("runs.db"));
    s->grant("tenant", {"proj-1"});
    const std::uint64_t before = vfs.wal_bytes + vfs.db_bytes;
    for (int k = 0; k < 10; ++k)
        s->grant("tenant", {"proj-1"});  // every miss of the tenant's runs does this
    CHECK(vfs.wal_bytes + vfs.db_bytes == before);
    CHECK(s->has_grant("tenant", "proj-1"));
    s->grant("tenant", {"proj-1", "proj-2"});  // a new one is written
    CHECK(vfs.wal_bytes + vfs.db_bytes > before);
    CHECK(s->has_grant("tenant", "proj-2"));
}
