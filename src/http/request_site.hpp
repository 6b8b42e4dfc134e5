#pragma once
// Which sites may talk to the daemon: the guard against DNS rebinding and cross-site reads.
// Pure functions.
//
// The daemon holds every run any key fetched through it, and the browse API and the events
// stream serve them without a key. A web page the developer merely visits can reach
// 127.0.0.1 from the browser in two ways:
//  - DNS rebinding: evil.example resolves to 127.0.0.1 once the page has loaded, so its
//    fetches are same-origin to the browser and reach the daemon with "Host: evil.example".
//    A page can only do this under a name its owner controls, so refusing every Host that is
//    not a loopback name, the listen address or a configured name closes it (421).
//  - Cross-site requests: fetch("http://127.0.0.1:8787/...") from another site carries that
//    site's Origin. The browser hides most answers from the page, but pass-through relays the
//    upstream's CORS headers and requests still have effects, so a foreign Origin is refused
//    (403) everywhere except the web page's own static files, which hold no data.
// Health is exempt from the Host rule: a container health check may use the container's name,
// and health shows no stored data.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/http_types.hpp"

namespace runmirror {

// The names a request may use besides the built-in loopback ones (localhost, any 127.x.y.z
// literal, [::1]), in canonical_host form.
struct site_policy {
    std::vector<std::string> extra_hosts;

    bool allows(std::string_view canonical) const;
};

// |listen_host| is the address the daemon listens on, as in listen_options (IPv6 without
// brackets); |allowed| the --allowed-host names, already canonical.
site_policy make_site_policy(std::string_view listen_host, const std::vector<std::string>& allowed);

// A host name or IP literal, without port, in the form names are compared in: lower case, one
// trailing dot dropped ("localhost." is localhost), IPv6 in brackets and in its shortest form
// ("[0:0::1]" is "[::1]"; brackets are optional here). nullopt for anything else: userinfo,
// ports, percent-encoding, spaces, empty, over 253 characters.
std::optional<std::string> canonical_host(std::string_view host);

// The canonical host of an authority as sent in Host or an Origin: host [":" port], IPv6 in
// brackets. nullopt when it is malformed (a bad port, userinfo, unbracketed IPv6, junk).
std::optional<std::string> host_of_authority(std::string_view authority);

// True for an IPv4 literal in 127.0.0.0/8 and for the IPv6 literal ::1 (no brackets).
bool is_loopback_ip(std::string_view address);

struct site_refusal {
    int status;  // 400 malformed Host, 421 Host not allowed, 403 cross-site Origin
    std::string detail;
};

// Whether a request for |path| (the target without its query) with |headers| comes from a
// site allowed to see the answer (nullopt), or why not. Called before routing, on every
// request.
std::optional<site_refusal> check_request_site(std::string_view path, const header_list& headers,
                                               const site_policy& policy);

}  // namespace runmirror
