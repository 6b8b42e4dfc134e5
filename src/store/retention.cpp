#include "store/retention.hpp"

#include <string>

#include "util/logging.hpp"

namespace runmirror {

std::string_view prune_class_name(prune_cursor::stage stage) {
    switch (stage) {
        case prune_cursor::stage::list_pages: return "list_pages";
        case prune_cursor::stage::ended_watches: return "ended_watches";
        case prune_cursor::stage::stale_unfinished: return "stale_unfinished";
        case prune_cursor::stage::final_resources: return "final";
        case prune_cursor::stage::done: break;
    }
    return "none";
}

store_pruner::store_pruner(store& db, retention_settings settings, std::function<time_point()> now)
    : db_(db), settings_(settings), now_(std::move(now)) {}

void store_pruner::start() {
    if (settings_.max_bytes == 0 || thread_.joinable()) return;
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void store_pruner::stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
}

prune_counts store_pruner::pruned() const {
    prune_counts out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = pruned_[i].load(std::memory_order_relaxed);
    return out;
}

bool store_pruner::pause(std::stop_token& stop, millis how_long) {
    std::unique_lock lock(mutex_);
    return !cv_.wait_for(lock, stop, how_long, [] { return false; }) && !stop.stop_requested();
}

prune_counts store_pruner::check_now() {
    prune_counts removed{};
    if (settings_.max_bytes == 0) return removed;
    const auto cap = static_cast<std::int64_t>(settings_.max_bytes);
    std::int64_t used = db_.used_bytes();
    if (static_cast<double>(used) <= static_cast<double>(cap) * settings_.high_water) {
        warned_full_ = false;
        return removed;
    }
    const auto target = static_cast<std::int64_t>(static_cast<double>(cap) * settings_.low_water);
    const std::int64_t before = used;
    const prune_policy policy{settings_.batch, now_() - settings_.unfinished_max_age,
                              !settings_.retain_final};
    prune_cursor cursor;
    std::stop_token stop = thread_.get_stop_token();
    while (used > target && !stop.stop_requested()) {
        const prune_batch batch = db_.prune_some(policy, cursor);
        if (batch.what == prune_cursor::stage::done) break;
        const auto index = static_cast<std::size_t>(batch.what);
        removed[index] += batch.rows;
        pruned_[index].fetch_add(batch.rows, std::memory_order_relaxed);
        used = db_.used_bytes();
        if (thread_.joinable() && !pause(stop, settings_.pause)) break;
    }
    std::string what;
    for (std::size_t i = 0; i < removed.size(); ++i) {
        if (removed[i] == 0) continue;
        what += (what.empty() ? "" : ", ") + std::to_string(removed[i]) + " " +
                std::string(prune_class_name(static_cast<prune_cursor::stage>(i)));
    }
    if (!what.empty()) {
        log::info("retention: store used {} bytes, over the cap of {}: pruned {}; now {}", before,
                  cap, what, used);
    }
    if (used > cap && !warned_full_ && !stop.stop_requested()) {
        warned_full_ = true;
        log::warn(
            "retention: the store uses {} bytes, over --max-db-size {}, and nothing more may be "
            "pruned{}",
            used, cap,
            settings_.retain_final ? " (final resources are kept: --retain-final is true)" : "");
    }
    return removed;
}

void store_pruner::run(std::stop_token stop) {
    while (!stop.stop_requested()) {
        try {
            check_now();
        } catch (const std::exception& e) {
            // A failed batch rolled back; the next check tries again.
            log::warn("retention: pruning failed: {}", e.what());
        }
        if (!pause(stop, settings_.check_interval)) return;
    }
}

}  // namespace runmirror
