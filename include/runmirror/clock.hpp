#pragma once
// Time as the daemon sees it. Freshness, backoff and the store take |now| as an argument so
// tests drive time explicitly; only the edges (server, sync worker) read the real clock.

#include <chrono>
#include <cstdint>

namespace runmirror {

using clock_type = std::chrono::system_clock;
using time_point = clock_type::time_point;
using millis = std::chrono::milliseconds;

inline std::int64_t to_unix_ms(time_point t) {
    return std::chrono::duration_cast<millis>(t.time_since_epoch()).count();
}
inline time_point from_unix_ms(std::int64_t ms) {
    return time_point(millis(ms));
}

}  // namespace runmirror
