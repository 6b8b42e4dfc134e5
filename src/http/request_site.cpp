#include "http/request_site.hpp"

#include <algorithm>

#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>

#include "util/trim.hpp"

namespace runmirror {

namespace {

constexpr std::string_view health_path = "/_runmirror/health";
// Readiness, like health, shows no stored data and is asked by probes under other names.
constexpr std::string_view ready_path = "/_runmirror/ready";
constexpr std::string_view ui_root = "/_runmirror/ui";

// RFC 1035's longest name; nothing longer is a host anyone can resolve.
constexpr std::size_t max_host_size = 253;
// Refusals quote what the client sent; this much is enough to recognise it.
constexpr std::size_t max_quoted = 100;

std::string quoted(std::string_view s) {
    if (s.size() > max_quoted) return "'" + std::string(s.substr(0, max_quoted)) + "...'";
    return "'" + std::string(s) + "'";
}

// Letters, digits, '-', '.', '_': what DNS names and IPv4 literals are made of. Narrower than
// RFC 3986's reg-name on purpose: percent-encoding and sub-delims ("!$&'()*+,;=") name no host
// a browser would send here, and each is a chance for two parsers to disagree.
bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

std::optional<std::string> canonical_ipv6(std::string_view inside) {
    auto parsed = boost::urls::parse_ipv6_address(inside);
    if (!parsed) return std::nullopt;
    return "[" + parsed->to_string() + "]";
}

bool is_loopback_canonical(std::string_view canonical) {
    if (canonical == "localhost" || canonical == "[::1]") return true;
    auto v4 = boost::urls::parse_ipv4_address(canonical);
    return v4 && v4->is_loopback();
}

bool is_ui_asset(std::string_view path) {
    return path == ui_root || (path.starts_with(ui_root) && path[ui_root.size()] == '/');
}

// The host of a serialised origin (RFC 6454 §6.2: scheme "://" host [":" port], nothing
// after), or nullopt for "null" and anything malformed.
std::optional<std::string> host_of_origin(std::string_view origin) {
    const auto sep = origin.find("://");
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    const std::string_view scheme = origin.substr(0, sep);
    const bool scheme_ok = std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '-' || c == '.';
    });
    if (!scheme_ok) return std::nullopt;
    return host_of_authority(origin.substr(sep + 3));
}

}  // namespace

bool site_policy::allows(std::string_view canonical) const {
    return is_loopback_canonical(canonical) ||
           std::find(extra_hosts.begin(), extra_hosts.end(), canonical) != extra_hosts.end();
}

site_policy make_site_policy(std::string_view listen_host,
                             const std::vector<std::string>& allowed) {
    site_policy policy;
    // The listen address is normally an IP literal; a name the loader let through is added
    // as it is, and at worst matches nothing.
    if (auto listen = canonical_host(listen_host)) policy.extra_hosts.push_back(*listen);
    for (const auto& name : allowed) {
        if (std::find(policy.extra_hosts.begin(), policy.extra_hosts.end(), name) ==
            policy.extra_hosts.end()) {
            policy.extra_hosts.push_back(name);
        }
    }
    return policy;
}

std::optional<std::string> canonical_host(std::string_view host) {
    if (host.empty() || host.size() > max_host_size + 2) return std::nullopt;
    if (host.front() == '[') {
        if (host.back() != ']') return std::nullopt;
        return canonical_ipv6(host.substr(1, host.size() - 2));
    }
    if (host.find(':') != std::string_view::npos) return canonical_ipv6(host);
    if (!std::all_of(host.begin(), host.end(), is_name_char)) return std::nullopt;
    // "localhost." is the same name as "localhost" in DNS; browsers keep the dot in Host.
    if (host.back() == '.') host.remove_suffix(1);
    if (host.empty() || host.size() > max_host_size) return std::nullopt;
    // An empty label (".a", "a..b", "a..") is no DNS name; taken as one, it could be read as
    // another name by some resolver.
    if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos) {
        return std::nullopt;
    }
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return lower;
}

std::optional<std::string> host_of_authority(std::string_view authority) {
    std::string_view host = authority;
    std::string_view port;
    bool has_port = false;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(0, close + 1);
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            has_port = true;
        }
    } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
        // A second colon means an unbracketed IPv6 address or junk: either way no host.
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        has_port = true;
    }
    if (has_port) {
        // RFC 3986 allows an empty port ("localhost:"); it means the scheme's default.
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
            return std::nullopt;
        }
    }
    return canonical_host(host);
}

bool is_loopback_ip(std::string_view address) {
    if (auto v4 = boost::urls::parse_ipv4_address(address)) return v4->is_loopback();
    auto v6 = boost::urls::parse_ipv6_address(address);
    return v6 && v6->is_loopback();
}

std::optional<site_refusal> check_request_site(std::string_view path, const header_list& headers,
                                               const site_policy& policy) {
    if (path != health_path && path != ready_path) {
        const auto host_field = find_header(headers, "host");
        // check_request_framing refuses this first; kept so this function is safe on its own.
        if (!host_field) return site_refusal{400, "missing Host header"};
        const std::string_view host_value = trim(*host_field);
        const auto host = host_of_authority(host_value);
        if (!host) return site_refusal{400, "malformed Host header " + quoted(host_value)};
        if (!policy.allows(*host)) {
            return site_refusal{
                421, "Host " + quoted(*host) +
                         " is not allowed: runmirror answers only requests addressed to "
                         "127.0.0.1, localhost or [::1], so that a web page cannot read it "
                         "through DNS rebinding; use 127.0.0.1, or start runmirror with "
                         "--allowed-host " +
                         *host};
        }
    }
    if (is_ui_asset(path)) return std::nullopt;  // the page's own files hold no data
    for (const auto& field : headers) {
        if (!iequals(field.name, "origin")) continue;
        const std::string_view origin = trim(field.value);
        if (const auto host = host_of_origin(origin); host && policy.allows(*host)) continue;
        std::string detail = "cross-site request refused: Origin " + quoted(origin) +
                             " is not allowed to read runmirror";
        if (origin == "null") {
            detail += " (a sandboxed frame, a file:// page or a redirect sends 'null')";
        } else if (const auto host = host_of_origin(origin)) {
            detail +=
                "; open the page from runmirror itself (http://127.0.0.1:PORT/_runmirror/ui/)"
                ", or start runmirror with --allowed-host " +
                *host;
        } else {
            detail += " (malformed)";
        }
        return site_refusal{403, std::move(detail)};
    }
    return std::nullopt;
}

}  // namespace runmirror
