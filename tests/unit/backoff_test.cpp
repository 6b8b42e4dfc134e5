// next_poll_delay, retry_after and parse_imf_fixdate: table-driven, time passed in.

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sync/backoff.hpp"

using namespace runmirror;
using namespace std::chrono_literals;

namespace {

const backoff_options defaults{};
constexpr double no_jitter = 0.5;  // the middle of [0, 1): multiplier exactly 1

long long delay(unsigned n, double unit = no_jitter, const backoff_options& o = defaults) {
    return next_poll_delay(o, n, unit).count();
}

backoff_options options(long long interval_ms, long long cap_ms, double factor = 1.5,
                        double jitter = 0.2) {
    return backoff_options{millis(interval_ms), millis(cap_ms), factor, jitter};
}

// 1'700'000'000 s after the epoch is Tue, 14 Nov 2023 22:13:20 GMT.
const time_point now = from_unix_ms(1'700'000'000'000);

std::optional<long long> wait_ms(const header_list& headers, time_point at = now) {
    auto w = retry_after(headers, at);
    return w ? std::optional<long long>(w->count()) : std::nullopt;
}

std::optional<long long> unix_seconds(std::string_view date) {
    auto t = parse_imf_fixdate(date);
    if (!t) {
        return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

}  // namespace

TEST_CASE("backoff: interval times 1.5 per unchanged answer, up to the cap") {
    struct row {
        unsigned n;
        long long ms;
    };
    for (row r : std::vector<row>{{0, 1000},
                                  {1, 1500},
                                  {2, 2250},
                                  {3, 3375},
                                  {4, 5063},  // 5062.5, rounded half up
                                  {8, 25629},
                                  {9, 30000},  // 38443 without the cap
                                  {50, 30000},
                                  {5000, 30000},  // 1.5^5000 overflows a double
                                  {std::numeric_limits<unsigned>::max(), 30000}}) {
        CAPTURE(r.n);
        CHECK(delay(r.n) == r.ms);
    }
}

TEST_CASE("backoff: jitter spreads the delay by +-20%") {
    struct row {
        unsigned n;
        double unit;
        long long ms;
    };
    for (row r : std::vector<row>{{0, 0.0, 800},
                                  {0, 0.25, 900},
                                  {0, 0.75, 1100},
                                  {0, 0.999999, 1200},
                                  {1, 0.0, 1200},
                                  {100, 0.0, 24000},
                                  {100, 0.999999, 36000},
                                  // out of range or NaN: clamped, or no jitter
                                  {100, 1.0, 36000},
                                  {100, 7.0, 36000},
                                  {100, -3.0, 24000},
                                  {100, std::nan(""), 30000}}) {
        CAPTURE(r.n);
        CAPTURE(r.unit);
        CHECK(delay(r.n, r.unit) == r.ms);
    }
}

TEST_CASE("backoff: never above cap * 1.2, never below 1 ms") {
    std::vector<backoff_options> cases = {defaults, options(1, 7), options(0, 0),
                                          options(3, 5, 10.0), options(250, 100'000, 2.0, 0.5)};
    for (const backoff_options& o : cases) {
        double ceiling =
            static_cast<double>(std::max<long long>(o.cap.count(), 1)) * (1.0 + o.jitter);
        for (unsigned n = 0; n < 80; ++n) {
            for (double unit = 0.0; unit < 1.0; unit += 0.03125) {
                long long ms = delay(n, unit, o);
                CAPTURE(o.interval.count());
                CAPTURE(o.cap.count());
                CAPTURE(n);
                CAPTURE(unit);
                CHECK(ms >= 1);
                CHECK(static_cast<double>(ms) <= ceiling);
            }
        }
    }
}

TEST_CASE("backoff: odd options are read sensibly") {
    CHECK(delay(0, no_jitter, options(0, 30'000)) == 1);              // no interval: 1 ms
    CHECK(delay(0, 0.0, options(1, 30'000)) == 1);                    // 0.8 ms rounds to 1
    CHECK(delay(0, no_jitter, options(1'000, 500)) == 500);           // cap below the interval
    CHECK(delay(9, no_jitter, options(1'000, 30'000, 0.5)) == 1000);  // shrinking: no growth
    CHECK(delay(0, 0.0, options(1'000, 30'000, 1.5, 3.0)) == 1);      // jitter capped at 100%
    CHECK(delay(0, 0.0, options(1'000, 30'000, 1.5, -0.2)) == 1000);  // negative jitter: none
    CHECK(delay(3, 0.0, options(1'000, 30'000, std::nan(""), std::nan(""))) == 1000);
    // A huge cap does not overflow the conversion.
    CHECK(delay(5000, 0.999, options(1'000, std::numeric_limits<long long>::max())) > 0);
}

TEST_CASE("retry_after: retry-after-ms, then Retry-After seconds") {
    struct row {
        header_list headers;
        std::optional<long long> ms;
    };
    std::vector<row> rows = {
        {{}, std::nullopt},
        {{{"Content-Type", "application/json"}}, std::nullopt},
        {{{"retry-after-ms", "250"}}, 250},
        {{{"Retry-After-Ms", "250"}}, 250},  // header names are case-insensitive
        {{{"retry-after-ms", "0"}}, 0},
        {{{"retry-after-ms", "1.5"}}, 2},  // never earlier than asked
        {{{"retry-after-ms", "1.0"}}, 1},
        {{{"retry-after-ms", " \t250 "}}, 250},
        {{{"retry-after", "120"}}, 120'000},
        {{{"RETRY-AFTER", "0"}}, 0},
        {{{"Retry-After", "1.5"}}, 1'500},  // a fraction, as the SDKs accept
        {{{"Retry-After", "007"}}, 7'000},
        // retry-after-ms wins over Retry-After...
        {{{"Retry-After", "3"}, {"retry-after-ms", "100"}}, 100},
        // ...unless it is unusable.
        {{{"Retry-After", "3"}, {"retry-after-ms", "soon"}}, 3'000},
        {{{"Retry-After", "3"}, {"retry-after-ms", ""}}, 3'000},
        // capped at ten minutes, however it is written
        {{{"Retry-After", "600"}}, 600'000},
        {{{"Retry-After", "601"}}, 600'000},
        {{{"Retry-After", "99999999999999999999"}}, 600'000},
        {{{"Retry-After", "1" + std::string(400, '0')}}, 600'000},
        {{{"retry-after-ms", "600000.5"}}, 600'000},
        {{{"retry-after-ms", "1e400"}}, std::nullopt},
    };
    for (const row& r : rows) {
        CAPTURE(r.headers.empty() ? std::string("(none)")
                                  : r.headers.back().name + ": " + r.headers.back().value);
        CHECK(wait_ms(r.headers) == r.ms);
    }
}

TEST_CASE("retry_after: garbage is ignored") {
    for (std::string bad :
         {"", " ", "-1", "+1", "1e3", "0x10", "1 2", "1.", ".5", "1.5.5", "5s", "inf", "nan", "NaN",
          "-0", "１", "1,5", "\"3\"", "Tue, 14 Nov 2023 22:13:50 UTC"}) {
        CAPTURE(bad);
        CHECK_FALSE(retry_after({{"retry-after-ms", bad}}, now));
        CHECK_FALSE(retry_after({{"Retry-After", bad}}, now));
    }
}

TEST_CASE("retry_after: an HTTP-date counts from now") {
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:13:50 GMT"}}) == 30'000);
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:13:50 GMT"}}, now + 250ms) == 29'750);
    // Rounded up: 29'999.999'999 ms is 30'000.
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:13:50 GMT"}}, now + 1ns) == 30'000);
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:13:20 GMT"}}) == 0);  // now
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:13:19 GMT"}}) == 0);  // past
    CHECK(wait_ms({{"Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == 0);
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 23:13:20 GMT"}}) == 600'000);  // capped
    CHECK(wait_ms({{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}}) == 600'000);
    CHECK(wait_ms({{"Retry-After", "Mon, 01 Jan 0001 00:00:00 GMT"}}) == 0);
    // Either side of the cap.
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:23:19 GMT"}}) == 599'000);
    CHECK(wait_ms({{"Retry-After", "Tue, 14 Nov 2023 22:23:21 GMT"}}) == 600'000);
    CHECK(wait_ms({{"Retry-After", "  Tue, 14 Nov 2023 22:13:50 GMT\t"}}) == 30'000);
}

TEST_CASE("parse_imf_fixdate: the one valid form, with a valid calendar date") {
    struct row {
        std::string text;
        std::optional<long long> unix_seconds;
    };
    std::vector<row> rows = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", 784'111'777},  // RFC 9110's example
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Tue, 14 Nov 2023 22:13:20 GMT", 1'700'000'000},
        {"Thu, 29 Feb 2024 00:00:00 GMT", 1'709'164'800},    // leap year
        {"Tue, 29 Feb 2000 12:00:00 GMT", 951'825'600},      // leap: divisible by 400
        {"Tue, 14 Nov 2023 23:59:60 GMT", 1'700'006'400},    // leap second: next midnight
        {"Fri, 31 Dec 9999 23:59:59 GMT", 253'402'300'799},  // beyond nanosecond time_points
        {"Mon, 01 Jan 0001 00:00:00 GMT", -62'135'596'800},
        {"Mon, 14 Nov 2023 22:13:20 GMT", 1'700'000'000},  // day name not cross-checked
        {"Wed, 29 Feb 2023 00:00:00 GMT", std::nullopt},   // not a leap year
        {"Thu, 29 Feb 1900 00:00:00 GMT", std::nullopt},   // divisible by 100 only
        {"Mon, 31 Apr 2023 00:00:00 GMT", std::nullopt},
        {"Mon, 00 Jan 2023 00:00:00 GMT", std::nullopt},
        {"Mon, 32 Jan 2023 00:00:00 GMT", std::nullopt},
        {"Mon, 02 Jan 2023 24:00:00 GMT", std::nullopt},
        {"Mon, 02 Jan 2023 23:60:00 GMT", std::nullopt},
        {"Mon, 02 Jan 2023 23:59:61 GMT", std::nullopt},
        {"sun, 06 Nov 1994 08:49:37 GMT", std::nullopt},  // names are case-sensitive
        {"Sun, 06 nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 gmt", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
        {"Xyz, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Xyz 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},  // fixed widths
        {"Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 8:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 GMT ", std::nullopt},
        {"Sun, 06 Nov 1994 08-49-37 GMT", std::nullopt},
        {"Sun,  6 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 0a Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 19x4 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:3 GMT", std::nullopt},
        {"Sunday, 06-Nov-94 08:49:37 GMT", std::nullopt},  // obsolete RFC 850 form
        {"Sun Nov  6 08:49:37 1994", std::nullopt},        // obsolete asctime form
        {"", std::nullopt},
    };
    for (const row& r : rows) {
        CAPTURE(r.text);
        CHECK(unix_seconds(r.text) == r.unix_seconds);
    }
}
