// runmirror_write_cost: what storing a run costs the disk. Stores N distinct generated runs
// (bench/run_gen.hpp, ~4.7 KB of JSON each) one put_run at a time, one transaction each, as the
// daemon does on a miss, into a new store through the real store code; then re-stores an
// unchanged 50-run list page R times with put_runs, as a list refresh every few seconds does.
//
//   runmirror_write_cost --db PATH [--runs 10000] [--refreshes 100] [--seed 1] [--shuffle]
//                        [--per-transaction N] [--concurrency N] [--breakdown] [--grant]
//
// PATH must not exist. --shuffle stores the runs in random created_at order (misses by id
// across an old history) instead of oldest first (new runs as they are created).
// --per-transaction N stores N runs per put_runs call (one transaction) instead of one
// put_run each: what grouping the writes of several misses into one commit would save.
// --concurrency N stores the runs from N threads at once (each takes the next run when its
// previous put_run returned), as a daemon's concurrent misses do; 1 (the default) is one miss
// at a time. --breakdown adds "breakdown" lines: pages written per run to the WAL and to the
// database file, by the table or index each page belongs to (dbstat), and frames per commit.
// --grant follows each put_run with a grant of the run's project to one tenant, as the daemon's
// miss does (cache/run_cache.cpp): the whole write path of a miss.
//
// Bytes are counted where SQLite hands them to the file system: a VFS wrapped around the default
// one (tests/unit/support/shim_vfs.hpp) adds up every xWrite to the database file and to its
// WAL, checkpoints included. /proc/self/io is no help here: tmpfs and overlayfs do not account
// write_bytes. Prints one "key value" line per figure:
//   runs, json_bytes_per_run, stored_body_bytes_per_run (the LZ4 frame, as kept),
//   wal_bytes_per_run, db_bytes_per_run, put_run_wal_bytes_p50/p99 (WAL bytes during one
//   put_run call, or put_runs with --per-transaction), written_per_run, ratio (written / stored
//   body), wal_max_bytes (the largest the WAL file grew), wal_bytes_at_end, db_file_bytes,
//   close_bytes (closing the store after the misses: the runs the search indexer had not
//   reached and the final checkpoint), written_per_run_with_close / ratio_with_close (the same
//   with close_bytes: the figures to compare), put_run_us_p50/p99/max (each call's time),
//   seconds, runs_per_second,
//   refresh_bytes_per_page (one put_runs of 50 unchanged runs, after reopening the store; the
//   close that follows included).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "json/run_fields.hpp"
#include "run_gen.hpp"
#include "runmirror/store.hpp"
#include "shim_vfs.hpp"
#include "store/body_codec.hpp"

namespace {

using namespace runmirror;
using namespace runmirror::bench;

struct options {
    std::string db;
    std::int64_t runs = 10'000;
    std::int64_t refreshes = 100;
    std::uint64_t seed = 1;
    bool shuffle = false;
    std::size_t per_transaction = 1;
    std::size_t concurrency = 1;
    bool breakdown = false;
    bool grant = false;
};

int usage(int code) {
    (code ? std::cerr : std::cout)
        << "usage: runmirror_write_cost --db PATH [--runs 10000] [--refreshes 100] [--seed 1]"
           " [--shuffle] [--per-transaction N] [--concurrency N] [--breakdown] [--grant]\n";
    return code;
}

std::uint64_t file_size(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : size;
}

// The name of the b-tree (table or index; "sqlite_schema" for page 1) each page of |db| belongs
// to, from the dbstat virtual table; pages it does not list (free pages) map to nothing.
std::map<std::uint32_t, std::string> page_owners(const std::string& db) {
    std::map<std::uint32_t, std::string> owners;
    sqlite3* conn = nullptr;
    if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(conn, "SELECT pageno, name FROM dbstat", -1, &s, nullptr) ==
            SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                owners[static_cast<std::uint32_t>(sqlite3_column_int64(s, 0))] =
                    reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(conn);
    return owners;
}

// Pages written per stored run, by b-tree: "breakdown NAME wal_pages_per_run db_pages_per_run".
// Pages are attributed by who owns them at the end, so a page freed and reused (FTS5 segments
// merged away) counts for its last owner.
void print_breakdown(const std::string& db, const std::vector<testing::shim_vfs::page_write>& log,
                     double runs) {
    const auto owners = page_owners(db);
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_tree;
    std::uint64_t commits = 0, frames = 0;
    for (const auto& w : log) {
        const auto it = owners.find(w.page);
        auto& [wal, main] = by_tree[it == owners.end() ? "(free or gone)" : it->second];
        if (w.kind == testing::shim_vfs::file_kind::wal) {
            ++wal;
            ++frames;
            commits += w.commit;
        } else {
            ++main;
        }
    }
    std::vector<std::pair<std::string, std::pair<std::uint64_t, std::uint64_t>>> rows(
        by_tree.begin(), by_tree.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.second.first + a.second.second > b.second.first + b.second.second;
    });
    std::printf("breakdown_commits %llu\n", static_cast<unsigned long long>(commits));
    std::printf("breakdown_wal_frames_per_commit %.2f\n",
                commits ? static_cast<double>(frames) / static_cast<double>(commits) : 0.0);
    for (const auto& [name, pages] : rows) {
        std::printf("breakdown %-28s wal %6.2f db %6.2f pages/run\n", name.c_str(),
                    static_cast<double>(pages.first) / runs,
                    static_cast<double>(pages.second) / runs);
    }
}

int run(const options& o) {
    if (std::filesystem::exists(o.db)) {
        std::cerr << "runmirror_write_cost: " << o.db << " exists; give a new path\n";
        return 2;
    }
    testing::shim_vfs vfs;  // counts from here on, the store's creation included
    rng ids(o.seed * 7919);
    std::vector<std::string> projects, agents;
    for (int k = 0; k < 2; ++k)
        projects.push_back(uuid4(ids));
    for (int k = 0; k < 8; ++k)
        agents.push_back(uuid4(ids));

    std::vector<std::int64_t> order(static_cast<std::size_t>(o.runs));
    // Oldest first: run i is the i-th newest.
    std::iota(order.rbegin(), order.rend(), std::int64_t{0});
    if (o.shuffle) std::shuffle(order.begin(), order.end(), std::mt19937_64(o.seed));

    // Generated and parsed up front, so that the writers do nothing else.
    std::vector<generated> generated_runs;
    std::vector<std::pair<run_fields, std::string_view>> parsed;
    generated_runs.reserve(order.size());
    parsed.reserve(order.size());
    std::uint64_t json_bytes = 0, stored_bytes = 0;
    for (const std::int64_t i : order) {
        generated_runs.push_back(make_run(i, o.seed, agents, projects));
    }
    for (const generated& g : generated_runs) {
        auto [fields, err] = parse_run(g.body);
        if (err || fields.id.empty()) throw std::runtime_error("generated run does not parse");
        json_bytes += g.body.size();
        stored_bytes += pack_body(g.body).bytes.size();
        parsed.emplace_back(std::move(fields), g.body);
    }

    auto s = open_sqlite_store(o.db);
    const std::uint64_t wal0 = vfs.wal_bytes, db0 = vfs.db_bytes;
    vfs.log_pages = o.breakdown;
    // WAL bytes written during each put_run call: the request path's own share (background
    // indexing and checkpoints land between calls or inside whichever call triggers them).
    // Only with one writer: with several, calls overlap and share commits.
    std::vector<std::uint64_t> per_call_wal;
    // How long each put_run call took (with --concurrency, waiting for the commit it shares).
    std::vector<std::int64_t> call_us;
    std::mutex call_us_mutex;
    std::atomic<std::size_t> next{0};
    auto writer = [&] {
        std::vector<std::pair<run_fields, std::string_view>> batch;
        std::vector<std::int64_t> mine;
        for (;;) {
            const std::size_t first = next.fetch_add(o.per_transaction);
            if (first >= parsed.size()) break;
            const auto call_started = std::chrono::steady_clock::now();
            const std::size_t last = std::min(parsed.size(), first + o.per_transaction);
            const std::uint64_t wal_before = vfs.wal_bytes;
            if (last - first == 1) {
                s->put_run(parsed[first].first, parsed[first].second, clock_type::now());
                if (o.grant) s->grant("bench-tenant", {parsed[first].first.project_id});
            } else {
                batch.assign(parsed.begin() + static_cast<std::ptrdiff_t>(first),
                             parsed.begin() + static_cast<std::ptrdiff_t>(last));
                s->put_runs(batch, clock_type::now());
            }
            mine.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - call_started)
                               .count());
            if (o.concurrency == 1) per_call_wal.push_back(vfs.wal_bytes - wal_before);
        }
        std::lock_guard lock(call_us_mutex);
        call_us.insert(call_us.end(), mine.begin(), mine.end());
    };
    const auto started = std::chrono::steady_clock::now();
    {
        std::vector<std::jthread> writers;
        for (std::size_t k = 1; k < o.concurrency; ++k)
            writers.emplace_back(writer);
        writer();
    }
    const std::chrono::steady_clock::duration spent = std::chrono::steady_clock::now() - started;
    std::sort(per_call_wal.begin(), per_call_wal.end());
    std::sort(call_us.begin(), call_us.end());
    auto call_us_at = [&](double p) -> long long {
        return call_us.empty() ? 0 : call_us[static_cast<std::size_t>(p * (call_us.size() - 1))];
    };
    auto percentile = [&](double p) -> unsigned long long {
        if (per_call_wal.empty()) return 0;
        return per_call_wal[static_cast<std::size_t>(p * (per_call_wal.size() - 1))];
    };
    const std::uint64_t wal = vfs.wal_bytes - wal0, db = vfs.db_bytes - db0;
    const std::uint64_t wal_at_end = file_size(o.db + "-wal");

    // Closing the store finishes what the runs cost: the search indexing not done yet and the
    // checkpoint of what the WAL still holds. The breakdown counts it too.
    const std::uint64_t before_close = vfs.wal_bytes + vfs.db_bytes;
    s.reset();
    const std::uint64_t close_bytes = vfs.wal_bytes + vfs.db_bytes - before_close;
    vfs.log_pages = false;

    // A list page refreshed while nothing changed: the 50 newest runs of agent 0, re-stored
    // into the store opened again (nothing left to index or checkpoint from the misses).
    s = open_sqlite_store(o.db);
    std::vector<generated> page;
    for (std::int64_t p = 0; p < 50 && p * 8 < o.runs; ++p)
        page.push_back(make_run(p * 8, o.seed, agents, projects));
    std::vector<std::pair<run_fields, std::string_view>> items;
    for (const generated& g : page)
        items.emplace_back(parse_run(g.body).first, g.body);
    const std::uint64_t before_refresh = vfs.wal_bytes + vfs.db_bytes;
    for (std::int64_t r = 0; r < o.refreshes; ++r)
        s->put_runs(items, clock_type::now());
    s.reset();
    const std::uint64_t refresh = vfs.wal_bytes + vfs.db_bytes - before_refresh;

    const double n = static_cast<double>(o.runs);
    const double seconds = std::chrono::duration<double>(spent).count();
    std::printf("runs %lld\n", static_cast<long long>(o.runs));
    std::printf("concurrency %zu\n", o.concurrency);
    std::printf("json_bytes_per_run %.0f\n", json_bytes / n);
    std::printf("stored_body_bytes_per_run %.0f\n", stored_bytes / n);
    std::printf("wal_bytes_per_run %.0f\n", wal / n);
    std::printf("db_bytes_per_run %.0f\n", db / n);
    if (o.concurrency == 1) {
        std::printf("put_run_wal_bytes_p50 %llu\n", percentile(0.5));
        std::printf("put_run_wal_bytes_p99 %llu\n", percentile(0.99));
    }
    std::printf("written_per_run %.0f\n", (wal + db) / n);
    std::printf("ratio %.2f\n", static_cast<double>(wal + db) / static_cast<double>(stored_bytes));
    // What the runs still cost when the store closes: the runs the search indexer had not
    // reached yet and the final checkpoint of what the WAL still held.
    std::printf("written_per_run_with_close %.0f\n", (wal + db + close_bytes) / n);
    std::printf("ratio_with_close %.2f\n",
                static_cast<double>(wal + db + close_bytes) / static_cast<double>(stored_bytes));
    std::printf("wal_max_bytes %llu\n", static_cast<unsigned long long>(vfs.wal_high_water.load()));
    std::printf("wal_bytes_at_end %llu\n", static_cast<unsigned long long>(wal_at_end));
    std::printf("db_file_bytes %llu\n", static_cast<unsigned long long>(file_size(o.db)));
    std::printf("close_bytes %llu\n", static_cast<unsigned long long>(close_bytes));
    std::printf("put_run_us_p50 %lld\n", call_us_at(0.5));
    std::printf("put_run_us_p99 %lld\n", call_us_at(0.99));
    std::printf("put_run_us_max %lld\n", call_us_at(1.0));
    std::printf("seconds %.2f\n", seconds);
    std::printf("runs_per_second %.0f\n", n / seconds);
    if (o.refreshes > 0) {
        std::printf("refresh_bytes_per_page %.0f\n",
                    static_cast<double>(refresh) / static_cast<double>(o.refreshes));
    }
    if (o.breakdown) print_breakdown(o.db, vfs.page_log, n);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int k = 1; k < argc; ++k) {
        const std::string_view arg = argv[k];
        if (arg == "-h" || arg == "--help") return usage(0);
        if (arg == "--shuffle") {
            o.shuffle = true;
            continue;
        }
        if (arg == "--breakdown") {
            o.breakdown = true;
            continue;
        }
        if (arg == "--grant") {
            o.grant = true;
            continue;
        }
        if (k + 1 >= argc) return usage(2);
        const std::string value = argv[++k];
        try {
            if (arg == "--db")
                o.db = value;
            else if (arg == "--runs")
                o.runs = std::stoll(value);
            else if (arg == "--refreshes")
                o.refreshes = std::stoll(value);
            else if (arg == "--seed")
                o.seed = std::stoull(value);
            else if (arg == "--concurrency")
                o.concurrency = std::max<std::size_t>(1, std::stoul(value));
            else if (arg == "--per-transaction")
                o.per_transaction = std::max<std::size_t>(1, std::stoul(value));
            else
                return usage(2);
        } catch (const std::exception&) {
            return usage(2);
        }
    }
    if (o.db.empty() || o.runs <= 0) return usage(2);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "runmirror_write_cost: " << e.what() << "\n";
        return 1;
    }
}
