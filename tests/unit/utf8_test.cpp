// utf8: validation and U+FFFD substitution of maximal subparts (Unicode 3.9, as the WHATWG
// decoder and so browsers and Node do), and that valid text passes through unchanged.

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "util/utf8.hpp"

using namespace runmirror;

namespace {

const std::string fffd = "\xEF\xBF\xBD";

}  // namespace

TEST_CASE("valid_utf8: well-formed text is unchanged, at every boundary of table 3-7") {
    for (const std::string& text : {
             std::string(),
             std::string("plain ASCII, longer than eight bytes"),
             std::string("\x00\x7F", 2),
             std::string("\xC2\x80"
                         "\xDF\xBF"),  // U+0080, U+07FF
             std::string("\xE0\xA0\x80"
                         "\xED\x9F\xBF"
                         "\xEE\x80\x80"
                         "\xEF\xBF\xBF"),  // U+0800, U+D7FF, U+E000, U+FFFF
             std::string("\xF0\x90\x80\x80"
                         "\xF4\x8F\xBF\xBF"),  // U+10000, U+10FFFF
             std::string("Zürich – 東京 😀"),
         }) {
        CAPTURE(text);
        CHECK(is_valid_utf8(text));
        CHECK(valid_utf8(text) == text);
    }
}

TEST_CASE("valid_utf8: each maximal ill-formed subpart becomes one U+FFFD") {
    struct example {
        std::string bytes, expected;
    };
    for (const example& e : std::initializer_list<example>{
             {"\x80", fffd},  // lone continuation byte
             {"a\xBF"
              "b",
              "a" + fffd + "b"},
             {"\x80\x80\x80", fffd + fffd + fffd},             // each continuation alone
             {"\xC0\xAF", fffd + fffd},                        // overlong '/': C0 starts nothing
             {"\xC1\xBF", fffd + fffd},                        // overlong, C1
             {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong 3 bytes: E0 needs A0+
             {"\xF0\x80\x80\xAF", fffd + fffd + fffd + fffd},  // overlong 4 bytes: F0 needs 90+
             {"\xED\xA0\x80", fffd + fffd + fffd},             // U+D800, a surrogate
             {"\xED\xBF\xBF", fffd + fffd + fffd},             // U+DFFF
             // A surrogate pair written as UTF-8 (CESU-8): six bad bytes, not U+10000.
             {"\xED\xA0\x80\xED\xB0\x80", fffd + fffd + fffd + fffd + fffd + fffd},
             {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // U+110000: past the last
             {"\xF5\x80\x80\x80", fffd + fffd + fffd + fffd},  // F5 starts nothing
             {"\xFE\xFF", fffd + fffd},
             {"\xE6\x9D", fffd},      // cut short at the end: one subpart
             {"\xF0\x9F\x98", fffd},  // 😀 without its last byte
             {"x\xF0\x9F\x98", "x" + fffd},
             {"\xE6\x9D"
              "A",
              fffd + "A"},                                     // cut short before ASCII
             {"\xE6\x9D\xE6\x9D\xB1", fffd + "\xE6\x9D\xB1"},  // then a whole 東
             {"\xC2", fffd},
             // Unicode's own example (table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
             {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
              "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d"},
             // The ASCII fast path (eight bytes at a time) must not skip a bad byte after it.
             {"0123456789abcdef\xFF", "0123456789abcdef" + fffd},
             {"01234567\x80"
              "89abcdef",
              "01234567" + fffd + "89abcdef"},
         }) {
        CAPTURE(e.bytes);
        CHECK_FALSE(is_valid_utf8(e.bytes));
        CHECK(valid_utf8(e.bytes) == e.expected);
        CHECK(is_valid_utf8(valid_utf8(e.bytes)));
    }
}

TEST_CASE("valid_utf8: any bytes come out valid; valid bytes come out unchanged") {
    std::mt19937 rng(20250115);
    std::uniform_int_distribution<int> byte(0, 255), length(0, 40);
    for (int i = 0; i < 20000; ++i) {
        std::string bytes;
        for (int n = length(rng); n > 0; --n)
            bytes += static_cast<char>(i % 2 ? byte(rng) : 0x70 + byte(rng) % 0x90);
        const std::string fixed = valid_utf8(bytes);
        CAPTURE(bytes);
        REQUIRE(is_valid_utf8(fixed));
        CHECK(valid_utf8(fixed) == fixed);
        if (is_valid_utf8(bytes)) CHECK(fixed == bytes);
    }
}
