#pragma once
// Text from upstream is usually, not always, valid UTF-8; JSON writers copy bytes as they are,
// so one stray byte would make a whole answer unparseable.

#include <string>
#include <string_view>

namespace runmirror {

// Whether |text| is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no surrogates
// U+D800-U+DFFF, nothing past U+10FFFF, no sequence cut short).
bool is_valid_utf8(std::string_view text);

// |text| with each maximal ill-formed subpart replaced by one U+FFFD: Unicode's recommended
// practice (section 3.9, "U+FFFD Substitution of Maximal Subparts"), which is also what the
// WHATWG Encoding Standard's decoder does, so a browser's or Node's TextDecoder shows the same
// text. A lead byte followed by too few valid continuation bytes ("\xE6\x9D" then the end) is
// one U+FFFD; a byte that can start nothing (0x80-0xC1, 0xF5-0xFF) is one each. Valid text is
// returned unchanged. Applied to a whole JSON text, it changes bytes inside strings only (JSON
// outside strings is ASCII), so valid JSON stays valid JSON, now valid UTF-8 too.
std::string valid_utf8(std::string_view text);

}  // namespace runmirror
