#pragma once
// Whether the store's writes reach the disk, as store::write_health() reports it: a failed
// write starts (or continues) an episode, the next write that commits ends it. One warning per
// episode and one line when it ends, however many writes fail in between, so a full disk does
// not flood the log with one line per request.
//
// Threading: every method may be called from any thread; snapshot() never waits on I/O.

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

#include "runmirror/store.hpp"

namespace runmirror {

class write_health_tracker {
  public:
    explicit write_health_tracker(std::string store_path) : path_(std::move(store_path)) {}

    // The store was opened without write access (|reason| says why): not writable from the
    // start, though no write has failed yet.
    void start_unwritable(std::string_view reason, time_point now);
    // A write failed for |reason| (the store_error's message).
    void write_failed(std::string_view reason, time_point now);
    // A write committed. Cheap while writable: one atomic load.
    void write_committed();

    store_write_health snapshot() const;

  private:
    const std::string path_;
    std::atomic<bool> failing_{false};  // mirrors !state_.writable for write_committed's fast path
    mutable std::mutex mutex_;
    store_write_health state_;
};

}  // namespace runmirror
