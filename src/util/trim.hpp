#pragma once
// HTTP's optional whitespace (RFC 9110 section 5.6.3: spaces and tabs) around a value.

#include <string_view>

namespace runmirror {

// |s| without leading and trailing spaces and tabs. The view points into |s|.
std::string_view trim(std::string_view s);

}  // namespace runmirror
