#include "sync/backoff.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>

namespace runmirror {

millis next_poll_delay(const backoff_options& options, unsigned unchanged_answers,
                       double jitter_unit) {
    // Each option is read as `x >= lo ? x : fallback`, so a NaN falls to the safe side too.
    double interval = std::max<double>(static_cast<double>(options.interval.count()), 1.0);
    double cap = std::max<double>(static_cast<double>(options.cap.count()), 1.0);
    double factor = options.factor >= 1.0 ? options.factor : 1.0;
    double jitter = options.jitter >= 0.0 ? std::min(options.jitter, 1.0) : 0.0;
    double unit = std::isnan(jitter_unit) ? 0.5 : std::clamp(jitter_unit, 0.0, 1.0);

    // pow may overflow to infinity after enough unchanged answers; min() then picks the cap.
    double base = std::min(cap, interval * std::pow(factor, unchanged_answers));
    double delay = std::round(base * (1.0 + jitter * (2.0 * unit - 1.0)));
    // Rounding may not push the delay past cap * (1 + jitter); the bound also keeps the
    // conversion below in range for absurd caps.
    double ceiling = std::min(std::floor(cap * (1.0 + jitter)), 0x1p62);
    return millis(static_cast<millis::rep>(std::clamp(delay, 1.0, std::max(ceiling, 1.0))));
}

namespace {

std::string_view trim_ows(std::string_view s) {
    // OWS is spaces and horizontal tabs (RFC 9110 section 5.6.3).
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// 1*DIGIT [ "." 1*DIGIT ]: no sign, no exponent, no "inf"/"nan", nothing after it.
std::optional<double> parse_non_negative_decimal(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) {
        ++i;
    }
    if (i == 0) {
        return std::nullopt;
    }
    if (i < s.size() && s[i] == '.') {
        std::size_t fraction = ++i;
        while (i < s.size() && is_digit(s[i])) {
            ++i;
        }
        if (i == fraction) {
            return std::nullopt;
        }
    }
    if (i != s.size()) {
        return std::nullopt;
    }
    double value = 0;
    auto [end, ec] =
        std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::fixed);
    if (ec == std::errc::result_out_of_range) {
        // Only a huge number can overflow (tiny ones are not possible in this grammar),
        // and every huge wait is capped anyway.
        return std::numeric_limits<double>::infinity();
    }
    if (ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return value;
}

// Rounds a non-negative wait up to whole milliseconds (never retry before we were told to)
// and caps it.
millis capped_millis(double ms) {
    if (!(ms < static_cast<double>(max_retry_after.count()))) {
        return max_retry_after;
    }
    return millis(static_cast<millis::rep>(std::ceil(ms)));
}

std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t count) {
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (!is_digit(s[i])) {
            return std::nullopt;
        }
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

// Index of |name| in |names|, or -1.
template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view name) {
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

constexpr std::array<std::string_view, 7> day_names = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::optional<std::chrono::sys_seconds> parse_imf_fixdate(std::string_view s) {
    // 0         1         2
    // 01234567890123456789012345678
    // Sun, 06 Nov 1994 08:49:37 GMT
    constexpr std::string_view shape = "ddd, dd mmm yyyy hh:mm:ss GMT";
    if (s.size() != shape.size()) {
        return std::nullopt;
    }
    for (std::size_t i : {3u, 4u, 7u, 11u, 16u, 19u, 22u, 25u}) {
        if (s[i] != shape[i]) {
            return std::nullopt;
        }
    }
    if (s.substr(26) != "GMT" || index_of(day_names, s.substr(0, 3)) < 0) {
        return std::nullopt;
    }
    int month = index_of(month_names, s.substr(8, 3)) + 1;
    auto day = digits(s, 5, 2);
    auto year = digits(s, 12, 4);
    auto hour = digits(s, 17, 2);
    auto minute = digits(s, 20, 2);
    auto second = digits(s, 23, 2);
    if (month == 0 || !day || !year || !hour || !minute || !second || *hour > 23 || *minute > 59 ||
        *second > 60) {
        return std::nullopt;
    }
    using namespace std::chrono;
    year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(month)),
                        std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok()) {  // 31 Apr, 29 Feb outside leap years, day 00
        return std::nullopt;
    }
    return sys_days(date) + hours(*hour) + minutes(*minute) + seconds(*second);
}

std::optional<millis> retry_after(const header_list& headers, time_point now) {
    if (auto ms = find_header(headers, "retry-after-ms")) {
        if (auto value = parse_non_negative_decimal(trim_ows(*ms))) {
            return capped_millis(*value);
        }
    }
    auto header = find_header(headers, "retry-after");
    if (!header) {
        return std::nullopt;
    }
    std::string_view text = trim_ows(*header);
    if (auto seconds = parse_non_negative_decimal(text)) {
        return capped_millis(*seconds * 1000.0);
    }
    if (auto date = parse_imf_fixdate(text)) {
        // Compared in whole seconds first: a date centuries away does not fit |now|'s
        // nanoseconds. Only a date within the cap is converted for the exact difference.
        auto ahead = *date - std::chrono::floor<std::chrono::seconds>(now);
        if (ahead <= std::chrono::seconds(0)) {
            return millis(0);
        }
        if (ahead > max_retry_after + std::chrono::seconds(1)) {
            return max_retry_after;
        }
        return std::min(max_retry_after, std::chrono::ceil<millis>(time_point(*date) - now));
    }
    return std::nullopt;
}

}  // namespace runmirror
