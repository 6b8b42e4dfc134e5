#pragma once
// The retention pruner: keeps the store under --max-db-size. A thread of its own checks the
// store's used bytes every |check_interval|; near the cap, it removes rows in small batches
// (store::prune_some, one short write transaction each, a pause between them so that writes
// of requests interleave) until the store is at |low_water| of the cap, in this order: cached
// list pages, ended watches, unfinished resources not fetched for the watch max age, then,
// only with --retain-final false, final resources, oldest created first. Reads are never
// blocked (WAL): only writes wait, for one batch at most.
//
// Freed pages stay in the file and are reused by later writes, so the file stops growing near
// the cap; a store that was already larger when the cap was set keeps its size until
// `runmirror db vacuum` returns the free pages to the filesystem.
//
// Threading: the pruner's own thread calls the store; stop() (or destruction) ends it after
// the batch in progress.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "runmirror/clock.hpp"
#include "runmirror/store.hpp"

namespace runmirror {

struct retention_settings {
    std::uint64_t max_bytes = 0;                // the cap; 0: none (the pruner does nothing)
    bool retain_final = true;                   // false: final resources may go too, oldest first
    millis unfinished_max_age{24 * 3'600'000};  // the sync worker's watch max age
    millis check_interval{100};
    millis pause{2};  // between batches
    std::size_t batch = 100;
    // A pass starts past |high_water| of the cap and stops at |low_water|: the room above
    // high water takes what clients store between two checks.
    double high_water = 0.85;
    double low_water = 0.75;
};

// Rows removed so far, by class (prune_cursor::stage order, without done).
using prune_counts = std::array<std::uint64_t, 4>;

class store_pruner {
  public:
    store_pruner(
        store& db, retention_settings settings,
        std::function<time_point()> now = [] { return clock_type::now(); });
    ~store_pruner() { stop(); }
    store_pruner(const store_pruner&) = delete;
    store_pruner& operator=(const store_pruner&) = delete;

    // Starts the thread (no-op without a cap).
    void start();
    // One check and, over the cap, one pass, on the caller's thread (tests, and the thread's
    // loop). Returns the rows it removed by class.
    prune_counts check_now();
    void stop();

    prune_counts pruned() const;  // since start, by class

  private:
    void run(std::stop_token stop);
    bool pause(std::stop_token& stop, millis how_long);

    store& db_;
    const retention_settings settings_;
    const std::function<time_point()> now_;
    std::array<std::atomic<std::uint64_t>, 4> pruned_{};
    bool warned_full_ = false;  // "nothing more may go" said once per time over the cap
    std::mutex mutex_;
    std::condition_variable_any cv_;
    std::jthread thread_;  // last: starts once the rest exists
};

// The name of a prune class, for logs and metrics labels.
std::string_view prune_class_name(prune_cursor::stage stage);

}  // namespace runmirror
