#pragma once
// Header rules shared by every route: framing checks done before routing, hop-by-hop stripping
// (RFC 9110 §7.6.1) and request Cache-Control directives (RFC 9111 §5.2.1). Pure functions.

#include <optional>
#include <string>
#include <string_view>

#include "runmirror/http_types.hpp"

namespace runmirror {

struct framing_error {
    int status;  // 400, or 501 for a transfer coding the daemon does not implement
    std::string detail;
};

// Checks what Beast 1.81 accepts but a proxy must refuse, so no ambiguous request is routed
// or forwarded (request smuggling): Content-Length together with Transfer-Encoding, any
// coding other than a single "chunked", several or malformed Content-Length values, missing or
// repeated Host, and targets that are not origin-form. Called once the header is read.
std::optional<framing_error> check_request_framing(std::string_view method, std::string_view target,
                                                   const header_list& headers);

// True for the fields a proxy must not forward (Connection, Keep-Alive, Proxy-Connection, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization) and for every
// field named in a Connection header of |headers|.
bool is_hop_by_hop(std::string_view name, const header_list& headers);

// |headers| without hop-by-hop fields, Host and Content-Length: what a proxy forwards before it
// sets its own Host and framing.
header_list end_to_end_headers(const header_list& headers);

struct cache_directives {
    bool no_cache = false;        // revalidate with upstream (also "Pragma: no-cache")
    bool only_if_cached = false;  // never contact upstream for this request
};

cache_directives parse_cache_directives(const header_list& headers);

}  // namespace runmirror
