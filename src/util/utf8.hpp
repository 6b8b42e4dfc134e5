#pragma once
// Text from upstream is usually, not always, valid UTF-8; JSON writers copy bytes as they are,
// so one stray byte would make a whole answer unparseable.

#include <string>
#include <string_view>

namespace runmirror {

// |text| with each ill-formed UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace runmirror
