#pragma once
// When to poll a watch next, and how long a 429 asks us to wait. Pure functions: the caller
// passes |now| and its own random number, so every rule is table-tested without sleeps.

#include <chrono>
#include <optional>
#include <string_view>

#include "runmirror/clock.hpp"
#include "runmirror/http_types.hpp"

namespace runmirror {

struct backoff_options {
    millis interval{1'000};  // the first delay, after an answer that changed something
    millis cap{30'000};      // the delay stops growing here (before jitter)
    double factor = 1.5;     // growth per unchanged answer
    double jitter = 0.2;     // the delay is spread by +-this fraction, so watches drift apart
};

// The delay before the next poll of a watch after |unchanged_answers| consecutive answers
// without a change (0 after a change or for a new watch; 5xx and timeouts count as unchanged):
//   min(cap, interval * factor^n) * (1 + jitter * (2 * jitter_unit - 1))
// |jitter_unit| is a uniform random number in [0, 1) from the caller's RNG; out-of-range values
// are clamped, NaN means no jitter. The result is never above cap * (1 + jitter) and never
// below 1 ms. Nonsense options are read sensibly (factor < 1 as 1, negative jitter as 0,
// jitter above 1 as 1) rather than rejected; config validation is load_options' job.
millis next_poll_delay(const backoff_options& options, unsigned unchanged_answers,
                       double jitter_unit);

// The longest pause a Retry-After can impose; a longer request is cut down to this, so a
// broken or hostile header cannot park the worker for days.
inline constexpr millis max_retry_after{10 * 60 * 1'000};

// How long a 429 (or 503) answer asks us to wait, per the headers the official SDKs obey:
//  - `retry-after-ms`: milliseconds, a non-negative decimal number ("250", "1.5");
//  - else `Retry-After` (RFC 9110 section 10.2.3): delay-seconds (digits; a decimal fraction
//    is accepted as the SDKs do) or an HTTP-date in IMF-fixdate form
//    ("Sun, 06 Nov 1994 08:49:37 GMT"), counted from |now|; a date in the past means 0.
// A header whose value is not one of these is ignored, as if absent (a bad retry-after-ms
// falls back to Retry-After). Fractions of a millisecond round up; the result is capped at
// max_retry_after. nullopt when neither header gives a usable value.
std::optional<millis> retry_after(const header_list& headers, time_point now);

// Parses an IMF-fixdate (RFC 9110 section 5.6.7), exactly "Sun, 06 Nov 1994 08:49:37 GMT":
// fixed widths, case-sensitive names, a valid calendar date, second 60 allowed (leap second).
// The day name must be one of the seven but is not checked against the date. The obsolete
// RFC 850 and asctime forms are not accepted. In whole seconds, since years 0000-9999 do not
// all fit a nanosecond time_point.
std::optional<std::chrono::sys_seconds> parse_imf_fixdate(std::string_view text);

}  // namespace runmirror
