#include "store/write_health.hpp"

#include "util/logging.hpp"

namespace runmirror {

void write_health_tracker::start_unwritable(std::string_view reason, time_point now) {
    std::lock_guard lock(mutex_);
    state_.writable = false;
    state_.last_error = reason;
    state_.since = now;
    failing_.store(true, std::memory_order_release);
    log::warn("store '{}' is open for reading only ({}); answers are served but not stored", path_,
              reason);
}

void write_health_tracker::write_failed(std::string_view reason, time_point now) {
    std::lock_guard lock(mutex_);
    ++state_.failed_writes;
    state_.last_error = reason;
    if (state_.writable) {
        state_.writable = false;
        state_.since = now;
        failing_.store(true, std::memory_order_release);
        log::warn(
            "store '{}': writes are failing ({}); answers are relayed without being stored "
            "until a write succeeds again",
            path_, reason);
    }
}

void write_health_tracker::write_committed() {
    if (!failing_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(mutex_);
    if (state_.writable) return;  // another thread ended the episode first
    state_.writable = true;
    state_.last_error.clear();
    state_.since.reset();
    failing_.store(false, std::memory_order_release);
    log::info("store '{}' writable again ({} failed writes since it was opened)", path_,
              state_.failed_writes);
}

store_write_health write_health_tracker::snapshot() const {
    std::lock_guard lock(mutex_);
    return state_;
}

}  // namespace runmirror
