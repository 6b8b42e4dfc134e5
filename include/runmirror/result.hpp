#pragma once
// The error type used across module boundaries. I/O code inside a module uses error_code;
// what leaves the module is one of these, with a detail text fit for a {"detail": ...} body.

#include <string>
#include <string_view>

namespace runmirror {

enum class errc {
    ok = 0,
    refused,       // connection refused / host unreachable / DNS failure
    timeout,       // a configured deadline passed
    reset,         // the peer closed or reset mid-exchange
    tls,           // handshake or certificate verification failed
    bad_response,  // unparsable HTTP, truncated body, or invalid JSON where JSON was required
    too_large,     // a configured size limit was exceeded
    offline,       // the daemon runs --offline (or the request said only-if-cached)
    unavailable,   // the upstream failed repeatedly and is not asked until a cool-down ends
    bad_request,   // the client's request is malformed
    internal,      // a bug or a store failure
};

std::string_view to_string(errc code);

struct error {
    errc code = errc::ok;
    std::string detail;

    explicit operator bool() const { return code != errc::ok; }
};

}  // namespace runmirror
