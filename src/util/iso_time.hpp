#pragma once
// Times as the API and the browse views print them (ISO 8601 UTC with milliseconds), and as
// people, filters and the upstream write them.

#include <optional>
#include <string>
#include <string_view>

#include "runmirror/clock.hpp"

namespace runmirror {

// "2025-01-15T08:00:00.123Z". Civil-calendar arithmetic, so no time_t range or sign issues.
std::string iso_utc(time_point t);
std::string iso_utc(calendar_time t);

// The earliest and latest instants parse_iso_time returns: 0001-01-01T00:00:00Z and
// 9999-12-31T23:59:59.999999Z.
calendar_time min_calendar_time();
calendar_time max_calendar_time();

// ISO 8601 in the forms people and the upstream write: a date ("2025-01-15", midnight UTC) or a
// date and time with 'T' or one space ("2025-01-15T08:00", "...:00", "...:00.123456"), then
// optionally "Z" or an offset ("+02:00", "+0200", "+02"). No zone means UTC. Digits of a
// fraction finer than a microsecond are read and dropped (truncated, never rounded up).
// nullopt when the text is not one of these, names no real time ("2025-02-30", "24:00"), or
// lies outside the years 0001-9999 once in UTC ("0000-06-01", "9999-12-31T23:30:00-01:00");
// |why|, when given, then says which in a few words ("expected ...", "out of range: ...").
std::optional<calendar_time> parse_iso_time(std::string_view text, std::string* why = nullptr);

}  // namespace runmirror
