#pragma once
// Times as the API and the browse views print them: ISO 8601 UTC with milliseconds.

#include <string>

#include "runmirror/clock.hpp"

namespace runmirror {

// "2025-01-15T08:00:00.123Z". Civil-calendar arithmetic, so no time_t range or sign issues.
std::string iso_utc(time_point t);

}  // namespace runmirror
