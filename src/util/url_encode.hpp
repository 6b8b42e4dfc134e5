#pragma once
// Percent-encoding for one path segment or query value (RFC 3986 unreserved kept as is).

#include <string>
#include <string_view>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace runmirror {

inline std::string url_encode(std::string_view s) {
    return boost::urls::encode(s, boost::urls::unreserved_chars);
}

}  // namespace runmirror
