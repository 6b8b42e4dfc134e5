#pragma once
// The store's maintenance thread: work that writes make necessary but that no request should
// wait for. Two tasks, both supplied by the store (sqlite_store.cpp), which runs them on this
// thread only:
//   - search indexing: new runs join the search index in batches (schema/006), either
//     |index_delay| after the first write not yet indexed, or as soon as |index_batch| runs
//     wait, whichever comes first. One batch of many runs writes the FTS5 segment, structure
//     and averages records once where each run alone would write them again.
//   - checkpoints: the WAL is copied into the database file here, not inside whichever write
//     happened to cross SQLite's threshold (that caller would wait for megabytes of it).
//
// Threading: runs_written and checkpoint_wanted may be called from any thread, including
// inside a commit (they only take a mutex briefly). The tasks never overlap. After stop() (or
// destruction) no task runs and none is in progress. Errors: a task that throws is logged and
// retried when next asked for.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace runmirror {

struct maintenance_options {
    std::size_t index_batch = 1000;
    std::chrono::milliseconds index_delay{5000};
    std::string name;  // for log lines: the store's path
};

class store_maintenance {
  public:
    struct tasks {
        std::function<void()> index_search;  // index every pending run
        std::function<void()> checkpoint;    // copy the WAL into the database file
    };

    store_maintenance(tasks work, maintenance_options options);
    ~store_maintenance() { stop(); }
    store_maintenance(const store_maintenance&) = delete;
    store_maintenance& operator=(const store_maintenance&) = delete;

    // |runs| runs were written (stored or changed): schedule their indexing.
    void runs_written(std::size_t runs);
    // The WAL has grown past the store's checkpoint threshold.
    void checkpoint_wanted();
    // Lets the task in progress finish and ends the thread. Idempotent.
    void stop();

  private:
    void run(std::stop_token stop);

    const tasks work_;
    const maintenance_options options_;
    std::mutex mutex_;
    std::condition_variable_any cv_;
    std::optional<std::chrono::steady_clock::time_point> index_at_;  // when to index next
    std::size_t pending_runs_ = 0;  // written since indexing was last scheduled
    bool checkpoint_wanted_ = false;
    std::jthread thread_;  // last: starts once the rest exists
};

}  // namespace runmirror
