// iso_time: ISO 8601 parsing over the whole calendar (0001-9999) and printing, with the edges
// where 64-bit nanoseconds would overflow.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "util/iso_time.hpp"

using namespace runmirror;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// 2025-01-15T08:00:00.123Z
const calendar_time base = calendar_time(1736928000123ms);

calendar_time at(int y, unsigned m, unsigned d) {
    return sys_days(year(y) / month(m) / day(d));
}

}  // namespace

TEST_CASE("parse_iso_time: dates, date-times, fractions and offsets") {
    const calendar_time midnight = calendar_time(1736899200000ms);  // 2025-01-15T00:00:00Z
    CHECK(parse_iso_time("2025-01-15") == midnight);
    CHECK(parse_iso_time("2025-01-15T08:00") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15 08:00:00") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15t08:00:00z") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15T08:00:00Z") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15T08:00:00.123Z") == base);
    CHECK(parse_iso_time("2025-01-15T08:00:00,123Z") == base);
    CHECK(parse_iso_time("2025-01-15T08:00:00.123456Z") == base + 456us);
    // Finer than a microsecond: truncated, never rounded up into the next microsecond.
    CHECK(parse_iso_time("2025-01-15T08:00:00.1234567891Z") == base + 456us);
    CHECK(parse_iso_time("2025-01-15T08:00:00.1234569999999999999999999Z") == base + 456us);
    CHECK(parse_iso_time("2025-01-15T10:00:00+02:00") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15T10:00:00+0200") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15T10:00:00+02") == midnight + 8h);
    CHECK(parse_iso_time("2025-01-15T03:30:00-04:30") == midnight + 8h);
    CHECK(parse_iso_time("2024-02-29") == calendar_time(1709164800000ms));
    CHECK(parse_iso_time("1969-12-31T23:59:59Z") == calendar_time(-1000ms));

    for (const char* bad : {"",
                            "2025",
                            "2025-01",
                            "2025-1-15",
                            "2025-01-15T",
                            "2025-01-15T8:00",
                            "2025-01-15T08",
                            "2025-02-30",
                            "2025-13-01",
                            "2025-01-15T24:00:00",
                            "2025-01-15T08:60",
                            "2025-01-15T08:00:60",
                            "2025-01-15T08:00:00.",
                            "2025-01-15T08:00:00ZZ",
                            "2025-01-15T08:00:00+2",
                            "2025-01-15T08:00:00+02:",
                            "2025-01-15T08:00:00+25:00",
                            "2025-01-15T08:00:00+02:60",
                            "2025-01-15T08:00:00+0x:00",
                            "2025-01-15T08:00:00+02:00:00",
                            "2025-01-15T08:00:00Z+02:00",
                            "2025-01-15x",
                            " 2025-01-15",
                            "2025-01-15T08:00:00 Z",
                            "-001-01-01",
                            "+2025-01-15",
                            "7d"}) {
        CAPTURE(bad);
        std::string why;
        CHECK_FALSE(parse_iso_time(bad, &why));
        CHECK_FALSE(why.empty());
    }
}

TEST_CASE("parse_iso_time: the whole calendar, 0001 to 9999, and nothing outside it") {
    // Both ends: far outside system_clock's nanoseconds (1677-2262), exact to the microsecond.
    CHECK(parse_iso_time("0001-01-01") == at(1, 1, 1));
    CHECK(parse_iso_time("0001-01-01") == min_calendar_time());
    CHECK(parse_iso_time("9999-12-31") == at(9999, 12, 31));
    CHECK(parse_iso_time("9999-12-31T23:59:59.999999999Z") == max_calendar_time());
    CHECK(parse_iso_time("9999-12-31T23:59:59.999999Z") == max_calendar_time());
    CHECK(max_calendar_time() == at(10000, 1, 1) - 1us);
    CHECK(parse_iso_time("1677-09-21T00:12:43Z") == calendar_time(-9223372037s));
    CHECK(parse_iso_time("2262-04-11T23:47:17Z") == calendar_time(9223372037s));
    CHECK(parse_iso_time("5000-06-15T12:00:00Z") == at(5000, 6, 15) + 12h);
    CHECK(parse_iso_time("0400-02-29") == at(400, 2, 29));  // leap: divisible by 400
    CHECK_FALSE(parse_iso_time("1900-02-29"));              // not leap: by 100, not by 400

    // Offsets that keep the instant inside the calendar.
    CHECK(parse_iso_time("9999-12-31T23:59:59.999999999+00:00") == max_calendar_time());
    CHECK(parse_iso_time("9999-12-31T23:59:59.999999999+23:59") ==
          max_calendar_time() - 23h - 59min);
    CHECK(parse_iso_time("0001-01-01T00:00:00-00:01") == min_calendar_time() + 1min);
    CHECK(parse_iso_time("0001-01-01T23:59-23:59") == at(1, 1, 2) + 23h + 58min);

    // Years outside 0001-9999, written or reached through an offset: refused, with why.
    std::string why;
    CHECK_FALSE(parse_iso_time("0000-01-01", &why));
    CHECK(why == "out of range: years 0001 to 9999 (UTC) only");
    CHECK_FALSE(parse_iso_time("0000-12-31T23:59:59.999999Z"));
    CHECK_FALSE(parse_iso_time("0001-01-01T00:00:00+00:01", &why));
    CHECK(why == "out of range: years 0001 to 9999 (UTC) only");
    CHECK_FALSE(parse_iso_time("0001-01-01T00:00:00+23:59"));
    CHECK_FALSE(parse_iso_time("9999-12-31T23:59:59.999999999-00:01"));
    CHECK_FALSE(parse_iso_time("9999-12-31T23:59:59-23:59"));
    CHECK_FALSE(parse_iso_time("10000-01-01", &why));
    CHECK(why.starts_with("expected an ISO 8601 date"));
    CHECK_FALSE(parse_iso_time("99999-12-31"));
    CHECK_FALSE(parse_iso_time("9999-12-32", &why));
    CHECK(why == "no such date");
    CHECK_FALSE(parse_iso_time("2025-01-15T08:00:00+24:00", &why));
    CHECK(why == "no such UTC offset");
}

TEST_CASE("iso_utc: milliseconds, always Z, over the whole calendar") {
    CHECK(iso_utc(from_unix_ms(1736928000123)) == "2025-01-15T08:00:00.123Z");
    CHECK(iso_utc(from_unix_ms(0)) == "1970-01-01T00:00:00.000Z");
    CHECK(iso_utc(base) == "2025-01-15T08:00:00.123Z");
    CHECK(iso_utc(min_calendar_time()) == "0001-01-01T00:00:00.000Z");
    CHECK(iso_utc(max_calendar_time()) == "9999-12-31T23:59:59.999Z");
    CHECK(iso_utc(calendar_time(-1ms)) == "1969-12-31T23:59:59.999Z");
}
