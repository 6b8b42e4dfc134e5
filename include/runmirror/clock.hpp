#pragma once
// Time as the daemon sees it. Freshness, backoff and the store take |now| as an argument so
// tests drive time explicitly; only the edges (server, sync worker) read the real clock.

#include <chrono>
#include <cstdint>

namespace runmirror {

using clock_type = std::chrono::system_clock;
using time_point = clock_type::time_point;
using millis = std::chrono::milliseconds;
// A calendar instant of the years 0001-9999 (what people and the upstream write as dates), to
// the microsecond. time_point cannot be one: system_clock counts nanoseconds in 64 bits, so it
// spans only 1677-2262.
using calendar_time = std::chrono::sys_time<std::chrono::microseconds>;

inline std::int64_t to_unix_ms(time_point t) {
    return std::chrono::duration_cast<millis>(t.time_since_epoch()).count();
}
inline time_point from_unix_ms(std::int64_t ms) {
    return time_point(millis(ms));
}
// Seconds elapsed since |start| on the monotonic clock (durations for metrics and logs).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace runmirror
