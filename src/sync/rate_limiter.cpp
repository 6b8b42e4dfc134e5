#include "sync/rate_limiter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace runmirror {

namespace {

// About a year in clock ticks: keeps every sum of times and intervals far from overflow.
constexpr double max_span_ticks = static_cast<double>(
    std::chrono::duration_cast<clock_type::duration>(std::chrono::hours(24 * 366)).count());

clock_type::duration ticks(double seconds) {
    auto d = std::chrono::round<clock_type::duration>(std::chrono::duration<double>(seconds));
    return std::max(d, clock_type::duration(0));
}

}  // namespace

rate_limiter::rate_limiter(double per_second, double burst) {
    double tick_seconds = std::chrono::duration<double>(clock_type::duration(1)).count();
    // Written as !(a < b) so NaN is refused too.
    if (!(per_second > 0.0) || !std::isfinite(per_second) || !(burst >= 1.0) ||
        !(1.0 / per_second / tick_seconds < max_span_ticks) ||
        !((burst - 1.0) / per_second / tick_seconds < max_span_ticks)) {
        throw std::invalid_argument(
            "rate_limiter: needs a rate > 0 and a burst >= 1, each spanning under a year");
    }
    // A rate beyond one token per clock tick is as good as unlimited.
    interval_ = std::max(ticks(1.0 / per_second), clock_type::duration(1));
    tolerance_ = ticks((burst - 1.0) / per_second);
}

std::optional<time_point> rate_limiter::acquire(time_point now) {
    if (auto later = free_at(now)) return later;
    // An arrival time in the past is a full bucket: idle time beyond that does not accrue.
    arrival_ = std::max(arrival_, now) + interval_;
    return std::nullopt;
}

std::optional<time_point> rate_limiter::free_at(time_point now) const {
    if (now < paused_until_) return paused_until_;
    // An arrival time in the past is a full bucket.
    const time_point arrival = std::max(arrival_, now);
    if (arrival - now > tolerance_) return arrival - tolerance_;
    return std::nullopt;
}

std::optional<time_point> rate_limiter::paused_until(time_point now) const {
    if (now < paused_until_) return paused_until_;
    return std::nullopt;
}

void rate_limiter::pause_until(time_point until) {
    if (until <= paused_until_) {
        return;
    }
    paused_until_ = until;
    // Arrival at until + tolerance: at |until| exactly one token is free.
    arrival_ = std::max(arrival_, until + tolerance_);
}

}  // namespace runmirror
