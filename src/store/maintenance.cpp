#include "store/maintenance.hpp"

#include <exception>
#include <utility>

#include "util/logging.hpp"

namespace runmirror {

store_maintenance::store_maintenance(tasks work, maintenance_options options)
    : work_(std::move(work)),
      options_(std::move(options)),
      thread_([this](std::stop_token stop) { run(std::move(stop)); }) {}

void store_maintenance::runs_written(std::size_t runs) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        pending_runs_ += runs;
        if (!index_at_) {
            // The first write of a batch: it waits |index_delay| for others to join it.
            index_at_ = std::chrono::steady_clock::now() + options_.index_delay;
            wake = true;
        }
        wake = wake || pending_runs_ >= options_.index_batch;
    }
    if (wake) cv_.notify_one();
}

void store_maintenance::checkpoint_wanted() {
    {
        std::lock_guard lock(mutex_);
        if (checkpoint_wanted_) return;
        checkpoint_wanted_ = true;
    }
    cv_.notify_one();
}

void store_maintenance::stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
}

void store_maintenance::run(std::stop_token stop) {
    auto attempt = [&](const std::function<void()>& task, const char* what) {
        try {
            task();
        } catch (const std::exception& e) {
            log::debug("store '{}': {} failed: {}", options_.name, what, e.what());
        }
    };
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
        if (checkpoint_wanted_) {
            checkpoint_wanted_ = false;
            lock.unlock();
            attempt(work_.checkpoint, "checkpoint");
            lock.lock();
            continue;
        }
        if (index_at_ && (pending_runs_ >= options_.index_batch ||
                          std::chrono::steady_clock::now() >= *index_at_)) {
            index_at_.reset();
            pending_runs_ = 0;
            lock.unlock();
            attempt(work_.index_search, "indexing for search");
            lock.lock();
            continue;
        }
        // Nothing due: sleep until the indexing time, a full batch or a checkpoint request
        // (or, with no indexing scheduled, until there is some).
        if (index_at_) {
            cv_.wait_until(lock, stop, *index_at_, [&] {
                return checkpoint_wanted_ || pending_runs_ >= options_.index_batch;
            });
        } else {
            cv_.wait(lock, stop, [&] { return checkpoint_wanted_ || index_at_.has_value(); });
        }
    }
}

}  // namespace runmirror
