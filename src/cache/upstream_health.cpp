#include "cache/upstream_health.hpp"

#include <algorithm>

namespace runmirror {

upstream_health::upstream_health(unsigned threshold, millis cooldown, millis max_cooldown)
    : threshold_(std::max(1u, threshold)),
      first_cooldown_(cooldown),
      max_cooldown_(std::max(cooldown, max_cooldown)),
      cooldown_(cooldown) {}

bool upstream_health::allow(time_point now) const {
    std::lock_guard lock(mutex_);
    return !open_ || now >= retry_at_;
}

void upstream_health::record_success() {
    std::lock_guard lock(mutex_);
    failures_ = 0;
    open_ = false;
    cooldown_ = first_cooldown_;
}

bool upstream_health::record_failure(time_point now) {
    std::lock_guard lock(mutex_);
    ++failures_;
    if (open_) {
        // A failure after the cool-down (a probe, or a request let through) reopens it
        // longer; failures of requests sent before it opened change nothing.
        if (now < retry_at_) return false;
        cooldown_ = std::min(max_cooldown_, cooldown_ * 2);
    } else if (failures_ < threshold_) {
        return false;
    } else {
        opened_at_ = now;
    }
    open_ = true;
    retry_at_ = now + cooldown_;
    return true;
}

health_snapshot upstream_health::snapshot(time_point now) const {
    std::lock_guard lock(mutex_);
    health_snapshot s;
    s.up = !open_;
    s.consecutive_failures = failures_;
    if (open_ && retry_at_ > now) s.retry_in = std::chrono::duration_cast<millis>(retry_at_ - now);
    if (open_) s.down_since = opened_at_;
    return s;
}

bool is_health_failure(const error& failure, int status) {
    return bool(failure) || status == 502 || status == 503 || status == 504;
}

}  // namespace runmirror
