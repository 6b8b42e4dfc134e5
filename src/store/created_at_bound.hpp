#pragma once
// Browse bounds on created_at (run_browse_query::created_from, created_before) as both stores
// compare them: as text against the upstream's stored ISO 8601 text.

#include <string>

#include "runmirror/clock.hpp"

namespace runmirror {

// A browse bound on created_at in the upstream's own text form, "2025-01-15T08:00:00" plus
// ".123456" when there is a fraction (trailing zeros dropped), so that comparing texts compares
// times (see run_browse_query). No zone suffix: with one, a bound would sort after a stored
// time of the same second ("...:00Z" > "...:00").
std::string created_at_bound(calendar_time us);

}  // namespace runmirror
