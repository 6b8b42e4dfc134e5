// rate_limiter: a token bucket driven by explicit times; nothing sleeps.

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "sync/rate_limiter.hpp"

using namespace runmirror;
using namespace std::chrono_literals;

namespace doctest {
template <>
struct StringMaker<std::optional<time_point>> {
    static String convert(const std::optional<time_point>& t) {
        if (!t) {
            return "nullopt (token taken)";
        }
        return ("unix_ns " + std::to_string(t->time_since_epoch().count())).c_str();
    }
};
}  // namespace doctest

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);
const std::optional<time_point> taken = std::nullopt;

// Sends as fast as the limiter allows from |start| through |end| (inclusive), jumping to each
// time it announces; returns how many tokens were taken.
int drain(rate_limiter& limiter, time_point start, time_point end) {
    int sent = 0;
    time_point now = start;
    while (now <= end) {
        if (std::optional<time_point> next = limiter.acquire(now)) {
            REQUIRE(*next > now);  // an announced time in the past would spin the worker
            now = *next;
        } else {
            ++sent;
        }
    }
    return sent;
}

}  // namespace

TEST_CASE("rate_limiter: refuses a rate or burst it cannot honour") {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::nan("");
    struct row {
        double per_second;
        double burst;
    };
    for (row r : std::vector<row>{{0, 1},
                                  {-1, 1},
                                  {nan, 1},
                                  {inf, 1},
                                  {1e-9, 1},  // one token in 30 years
                                  {1, 0.5},
                                  {1, 0},
                                  {1, nan},
                                  {1, inf},
                                  {1, 1e9}}) {  // a burst worth 30 years
        CAPTURE(r.per_second);
        CAPTURE(r.burst);
        CHECK_THROWS_AS(rate_limiter(r.per_second, r.burst), std::invalid_argument);
    }
    CHECK_NOTHROW(rate_limiter(0.001, 1));
    CHECK_NOTHROW(rate_limiter(1e12, 1));  // faster than the clock ticks: one per tick
}

TEST_CASE("rate_limiter: a full bucket allows a burst, then one token per 1/rate") {
    rate_limiter limiter(10, 3);
    CHECK(limiter.acquire(t0) == taken);
    CHECK(limiter.acquire(t0) == taken);
    CHECK(limiter.acquire(t0) == taken);
    CHECK(limiter.acquire(t0) == t0 + 100ms);
    CHECK(limiter.acquire(t0 + 99ms) == t0 + 100ms);
    CHECK(limiter.acquire(t0 + 100ms) == taken);
    CHECK(limiter.acquire(t0 + 100ms) == t0 + 200ms);
    // Half a token accrued by 150 ms; the rest arrives at 200 ms.
    CHECK(limiter.acquire(t0 + 150ms) == t0 + 200ms);
    CHECK(limiter.acquire(t0 + 200ms) == taken);
}

TEST_CASE("rate_limiter: an idle bucket refills up to the burst, no further") {
    rate_limiter limiter(10, 3);
    CHECK(drain(limiter, t0, t0) == 3);
    time_point later = t0 + 1h;
    CHECK(drain(limiter, later, later) == 3);
    CHECK(limiter.acquire(later) == later + 100ms);
}

TEST_CASE("rate_limiter: over time the rate holds") {
    struct row {
        double per_second;
        double burst;
        int expected;  // the burst, plus one token per 1/rate over 10 s
    };
    for (row r : std::vector<row>{{10, 3, 103}, {1, 1, 11}, {0.5, 1, 6}, {4, 4, 44}}) {
        CAPTURE(r.per_second);
        rate_limiter limiter(r.per_second, r.burst);
        CHECK(drain(limiter, t0, t0 + 10s) == r.expected);
    }
}

TEST_CASE("rate_limiter: a call at the announced time always gets its token") {
    for (double rate : {0.3, 1.0, 3.0, 7.0, 10.0, 333.3, 1000.0, 1e6}) {
        CAPTURE(rate);
        rate_limiter limiter(rate, 1);
        time_point now = t0;
        int failures = 0;
        for (int i = 0; i < 2000; ++i) {
            std::optional<time_point> next = limiter.acquire(now);
            if (!next) {
                continue;
            }
            now = *next;
            if (limiter.acquire(now)) {
                ++failures;
            }
        }
        CHECK(failures == 0);
    }
}

TEST_CASE("rate_limiter: a pause refuses everything, then resumes at the steady rate") {
    rate_limiter limiter(10, 5);
    REQUIRE(limiter.acquire(t0) == taken);
    limiter.pause_until(t0 + 30s);
    CHECK(limiter.acquire(t0) == t0 + 30s);
    CHECK(limiter.acquire(t0 + 29s) == t0 + 30s);
    // The bucket did not refill during the pause: one token, then the steady rate.
    CHECK(limiter.acquire(t0 + 30s) == taken);
    CHECK(limiter.acquire(t0 + 30s) == t0 + 30s + 100ms);
    CHECK(limiter.acquire(t0 + 30s + 100ms) == taken);
}

TEST_CASE("rate_limiter: a pause only ever extends") {
    rate_limiter limiter(10, 5);
    REQUIRE(limiter.acquire(t0) == taken);
    limiter.pause_until(t0 + 30s);
    limiter.pause_until(t0 + 10s);  // a shorter Retry-After from a concurrent answer
    CHECK(limiter.acquire(t0 + 10s) == t0 + 30s);
    limiter.pause_until(t0 + 60s);
    CHECK(limiter.acquire(t0 + 30s) == t0 + 60s);
    CHECK(limiter.acquire(t0 + 60s) == taken);

    // A pause that ended before the last acquire changes nothing.
    rate_limiter fresh(10, 3);
    REQUIRE(fresh.acquire(t0 + 5s) == taken);
    fresh.pause_until(t0 + 1s);
    CHECK(fresh.acquire(t0 + 5s) == taken);
    CHECK(fresh.acquire(t0 + 5s) == taken);
}

TEST_CASE("rate_limiter: a clock stepping back accrues nothing") {
    rate_limiter limiter(10, 1);
    REQUIRE(limiter.acquire(t0) == taken);
    CHECK(limiter.acquire(t0 - 1h) == t0 + 100ms);
    CHECK(limiter.acquire(t0 + 100ms) == taken);
}

TEST_CASE("rate_limiter: free_at and paused_until tell what acquire would, taking nothing") {
    rate_limiter r(10, 1);
    CHECK(r.free_at(t0) == taken);
    CHECK(r.free_at(t0) == taken);  // asking takes no token
    CHECK(r.acquire(t0) == taken);
    CHECK(r.free_at(t0) == t0 + 100ms);
    CHECK(r.acquire(t0) == t0 + 100ms);
    CHECK(r.paused_until(t0) == std::nullopt);
    r.pause_until(t0 + 2s);
    CHECK(r.paused_until(t0) == t0 + 2s);
    CHECK(r.free_at(t0 + 1s) == t0 + 2s);
    CHECK(r.paused_until(t0 + 2s) == std::nullopt);
}
