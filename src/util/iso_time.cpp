#include "util/iso_time.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace runmirror {

namespace {

using namespace std::chrono;

// Reads exactly |n| digits at |pos| into |out|.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    pos += n;
    return true;
}

std::optional<calendar_time> fail(std::string* why, const char* text) {
    if (why) *why = text;
    return std::nullopt;
}

}  // namespace

std::string iso_utc(calendar_time t) {
    const auto ms = floor<milliseconds>(t);
    const auto day = floor<days>(ms);
    const year_month_day date(day);
    const hh_mm_ss time(ms - day);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(date.year()),
                  unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                  int(time.minutes().count()), int(time.seconds().count()),
                  int(time.subseconds().count()));
    return buf;
}

std::string iso_utc(time_point t) {
    return iso_utc(floor<microseconds>(t));
}

calendar_time min_calendar_time() {
    return sys_days(year(1) / January / 1);
}

calendar_time max_calendar_time() {
    return sys_days(year(10000) / January / 1) - microseconds(1);
}

std::optional<calendar_time> parse_iso_time(std::string_view s, std::string* why) {
    constexpr const char* malformed =
        "expected an ISO 8601 date or date-time (2025-01-15, 2025-01-15T08:00:00Z)";
    std::size_t pos = 0;
    const auto next_is = [&](char c) { return pos < s.size() && s[pos] == c; };
    const auto skip = [&](char c) { return next_is(c) ? (++pos, true) : false; };
    int y = 0, mo = 0, d = 0;
    if (!read_digits(s, pos, 4, y) || !skip('-') || !read_digits(s, pos, 2, mo) || !skip('-') ||
        !read_digits(s, pos, 2, d)) {
        return fail(why, malformed);
    }
    const year_month_day date{year(y), month(static_cast<unsigned>(mo)),
                              day(static_cast<unsigned>(d))};
    if (!date.ok()) return fail(why, "no such date");
    // Every value below is bounded (years 0-9999, offsets under a day), so microseconds since
    // 1970 stay within +-3.2e17, far inside 64 bits: no step can overflow.
    calendar_time t = sys_days(date);
    if (pos < s.size()) {
        if (!skip('T') && !skip('t') && !skip(' ')) return fail(why, malformed);
        int h = 0, mi = 0, sec = 0;
        if (!read_digits(s, pos, 2, h) || !skip(':') || !read_digits(s, pos, 2, mi)) {
            return fail(why, malformed);
        }
        if (h > 23 || mi > 59) return fail(why, "no such time of day");
        t += hours(h) + minutes(mi);
        if (skip(':')) {
            if (!read_digits(s, pos, 2, sec)) return fail(why, malformed);
            if (sec > 59) return fail(why, "no such time of day");
            t += seconds(sec);
            if (skip('.') || skip(',')) {
                const std::size_t start = pos;
                std::int64_t us = 0;
                for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos) {
                    if (pos - start < 6) us = us * 10 + (s[pos] - '0');  // finer: dropped
                }
                if (pos == start) return fail(why, malformed);
                for (std::size_t n = pos - start; n < 6; ++n)
                    us *= 10;
                t += microseconds(us);
            }
        }
        if (skip('Z') || skip('z')) {
            // UTC
        } else if (next_is('+') || next_is('-')) {
            const bool ahead = s[pos++] == '+';
            int oh = 0, om = 0;
            if (!read_digits(s, pos, 2, oh)) return fail(why, malformed);
            if (skip(':') || pos < s.size()) {
                if (!read_digits(s, pos, 2, om)) return fail(why, malformed);
            }
            if (oh > 23 || om > 59) return fail(why, "no such UTC offset");
            const minutes offset = hours(oh) + minutes(om);
            t += ahead ? -offset : offset;  // local time = UTC + offset
        }
        if (pos != s.size()) return fail(why, malformed);
    }
    if (t < min_calendar_time() || t > max_calendar_time()) {
        return fail(why, "out of range: years 0001 to 9999 (UTC) only");
    }
    return t;
}

}  // namespace runmirror
