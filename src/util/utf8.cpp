#include "util/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace runmirror {

namespace {

// The length (1-4) of the well-formed sequence at |p|, or, negated, the length of the maximal
// ill-formed subpart there (at least 1). |p| < |end|.
int sequence_at(const unsigned char* p, const unsigned char* end) {
    const unsigned lead = p[0];
    if (lead < 0x80) return 1;
    int continuations = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the next byte (table 3-7)
    if (lead >= 0xC2 && lead <= 0xDF) {
        continuations = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        continuations = 2;
        if (lead == 0xE0) lo = 0xA0;  // below: overlong
        if (lead == 0xED) hi = 0x9F;  // above: surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        continuations = 3;
        if (lead == 0xF0) lo = 0x90;  // below: overlong
        if (lead == 0xF4) hi = 0x8F;  // above: past U+10FFFF
    } else {
        return -1;  // a continuation byte, C0/C1 (always overlong) or F5-FF
    }
    int n = 1;
    for (int k = 0; k < continuations; ++k, ++n) {
        if (p + n == end || p[n] < lo || p[n] > hi) return -n;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

// Where the first ill-formed byte of |text| is, or its size when there is none.
std::size_t first_invalid(std::string_view text) {
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = begin + text.size();
    const auto* p = begin;
    while (p < end) {
        // ASCII eight bytes at a time: most stored text is.
        if (end - p >= 8) {
            std::uint64_t word;
            std::memcpy(&word, p, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }
        const int n = sequence_at(p, end);
        if (n < 0) break;
        p += n;
    }
    return static_cast<std::size_t>(p - begin);
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
    return first_invalid(text) == text.size();
}

std::string valid_utf8(std::string_view text) {
    std::size_t pos = first_invalid(text);
    if (pos == text.size()) return std::string(text);
    std::string out;
    out.reserve(text.size() + 16);
    const auto* end = reinterpret_cast<const unsigned char*>(text.data()) + text.size();
    std::size_t good_from = 0;  // the start of the valid run not yet copied
    while (pos < text.size()) {
        const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + pos;
        const int n = sequence_at(p, end);
        if (n > 0) {
            pos += static_cast<std::size_t>(n);
            continue;
        }
        out.append(text, good_from, pos - good_from);
        out += "\xEF\xBF\xBD";
        pos += static_cast<std::size_t>(-n);
        good_from = pos;
    }
    out.append(text, good_from, text.size() - good_from);
    return out;
}

}  // namespace runmirror
