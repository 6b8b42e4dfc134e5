#pragma once
// Percent-encoding for one path segment or query value (RFC 3986 unreserved kept as is).

#include <string>
#include <string_view>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace runmirror {

inline std::string url_encode(std::string_view s) {
    // Most values (ids, numbers) have nothing to encode: skip Boost's two passes for them.
    bool plain = true;
    for (char c : s)
        plain = plain && boost::urls::unreserved_chars(c);
    if (plain) return std::string(s);
    return boost::urls::encode(s, boost::urls::unreserved_chars);
}

}  // namespace runmirror
