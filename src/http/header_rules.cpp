#include "http/header_rules.hpp"

#include <array>
#include <charconv>

#include "util/trim.hpp"

namespace runmirror {

namespace {

// Calls |fn| on each trimmed, non-empty element of a comma-separated field value.
template <class Fn>
void for_each_token(std::string_view value, Fn&& fn) {
    while (!value.empty()) {
        auto comma = value.find(',');
        std::string_view item = trim(value.substr(0, comma));
        if (!item.empty()) fn(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

// 1*DIGIT without leading zeros: "010" is 10 to some parsers and 8 to others, so a proxy
// must not guess (RFC 9112 §6.3 allows it; refusing is the safe reading).
bool is_canonical_length(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos &&
           (s.size() == 1 || s.front() != '0');
}

// Visible ASCII, space and tab only. Control bytes and obs-text (0x80-0xFF) are legal to
// some parsers and stripped or split by others, a known smuggling vector; no LlamaCloud
// client sends them.
bool is_plain_field_value(std::string_view v) {
    for (unsigned char c : v) {
        if (c == '\t') continue;
        if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
}

// iequals with the length test inline: in this file's loops most comparisons fail on length,
// and then cost no call.
inline bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && iequals(a, b);
}

// The fields a proxy never forwards (RFC 9110 §7.6.1, plus the obsolete Keep-Alive and
// Proxy-Connection). Most fields differ from all of them in length, so that is checked first.
bool is_hop_by_hop_name(std::string_view name) {
    switch (name.size()) {
        case 2: return same_name(name, "te");
        case 7: return same_name(name, "trailer") || same_name(name, "upgrade");
        case 10: return same_name(name, "connection") || same_name(name, "keep-alive");
        case 16: return same_name(name, "proxy-connection");
        case 17: return same_name(name, "transfer-encoding");
        case 18: return same_name(name, "proxy-authenticate");
        case 19: return same_name(name, "proxy-authorization");
        default: return false;
    }
}

// True when a Connection field of |headers| lists |name| (RFC 9110 §7.6.1).
bool named_by_connection(std::string_view name, const header_list& headers) {
    bool listed = false;
    for (const auto& f : headers) {
        if (!same_name(f.name, "connection")) continue;
        for_each_token(f.value, [&](std::string_view token) { listed |= same_name(token, name); });
    }
    return listed;
}

}  // namespace

std::optional<framing_error> check_request_framing(std::string_view method, std::string_view target,
                                                   const header_list& headers) {
    if (target.empty() || target.front() != '/') {
        // Absolute-form is for proxies configured as such; authority- and asterisk-form are
        // for CONNECT and OPTIONS *, which a reverse proxy does not serve.
        return framing_error{400, "request target must be origin-form (start with '/')"};
    }
    if (method == "CONNECT") return framing_error{400, "CONNECT is not supported"};

    int hosts = 0;
    int transfer_encodings = 0;
    std::optional<std::string_view> content_length;
    bool chunked_last = false;
    bool other_coding = false;
    for (const auto& f : headers) {
        if (!is_plain_field_value(f.value)) {
            return framing_error{400, "header " + f.name + " has control or non-ASCII bytes"};
        }
        if (same_name(f.name, "host")) {
            ++hosts;
        } else if (same_name(f.name, "transfer-encoding")) {
            ++transfer_encodings;
            // Empty list elements (",chunked") are read differently by different parsers.
            if (trim(f.value).empty() || f.value.find(',') != std::string::npos) {
                other_coding = true;
            }
            for_each_token(f.value, [&](std::string_view coding) {
                if (chunked_last || !same_name(coding, "chunked")) other_coding = true;
                chunked_last = same_name(coding, "chunked");
            });
        } else if (same_name(f.name, "content-length")) {
            std::string_view v = trim(f.value);
            if (!is_canonical_length(v)) return framing_error{400, "invalid Content-Length"};
            if (content_length && *content_length != v) {
                return framing_error{400, "conflicting Content-Length values"};
            }
            content_length = v;
        }
    }
    if (hosts == 0) return framing_error{400, "missing Host header"};
    if (hosts > 1) return framing_error{400, "repeated Host header"};
    if (transfer_encodings > 0 && content_length) {
        return framing_error{400, "both Content-Length and Transfer-Encoding"};
    }
    if (transfer_encodings > 0 && (other_coding || !chunked_last)) {
        return framing_error{501, "unsupported Transfer-Encoding (only a single chunked)"};
    }
    // A body on GET or HEAD has no meaning (RFC 9110 §9.3.1) and is a classic desync vector:
    // some servers ignore it and read it as the next request.
    const bool has_body = transfer_encodings > 0 || (content_length && *content_length != "0");
    if (has_body && (method == "GET" || method == "HEAD")) {
        return framing_error{400, "GET and HEAD requests must not carry a body"};
    }
    return std::nullopt;
}

bool is_hop_by_hop(std::string_view name, const header_list& headers) {
    if (is_hop_by_hop_name(name)) return true;
    return named_by_connection(name, headers);
}

end_to_end_filter::end_to_end_filter(const header_list& headers) : headers_(headers) {
    for (const auto& f : headers_) {
        if (!same_name(f.name, "connection")) continue;
        for_each_token(f.value, [&](std::string_view token) {
            if (named_count_ < max_named) {
                named_[named_count_++] = token;
            } else {
                named_overflow_ = true;
            }
        });
    }
}

bool end_to_end_filter::keeps(std::string_view name) const {
    if (is_hop_by_hop_name(name) || same_name(name, "host") || same_name(name, "content-length")) {
        return false;
    }
    for (std::size_t i = 0; i < named_count_; ++i) {
        if (same_name(name, named_[i])) return false;
    }
    return !named_overflow_ || !named_by_connection(name, headers_);
}

header_list end_to_end_headers(const header_list& headers) {
    header_list out;
    out.reserve(headers.size());
    for_each_end_to_end(headers, [&](const header_field& f) { out.push_back(f); });
    return out;
}

void keep_end_to_end(header_list& headers) {
    // Every field is judged against the list as received (a Connection field may name a field
    // that comes before or after it), then the kept ones are moved down in one pass.
    constexpr std::size_t max_marked = 64;
    if (headers.size() > max_marked) {
        headers = end_to_end_headers(headers);
        return;
    }
    std::array<bool, max_marked> keep{};
    const end_to_end_filter filter(headers);
    bool all_kept = true;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        keep[i] = filter.keeps(headers[i].name);
        all_kept &= keep[i];
    }
    if (all_kept) return;
    std::size_t out = 0;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        if (!keep[i]) continue;
        if (out != i) headers[out] = std::move(headers[i]);
        ++out;
    }
    headers.resize(out);
}

cache_directives parse_cache_directives(const header_list& headers) {
    cache_directives d;
    bool has_cache_control = false;
    bool pragma_no_cache = false;
    for (const auto& f : headers) {
        if (same_name(f.name, "cache-control")) {
            has_cache_control = true;
            for_each_token(f.value, [&](std::string_view token) {
                std::string_view name = trim(token.substr(0, token.find('=')));
                if (same_name(name, "no-cache")) d.no_cache = true;
                if (same_name(name, "only-if-cached")) d.only_if_cached = true;
                // A client that accepts nothing older than 0 s wants what upstream says now
                // (RFC 9111 §5.2.1.1); other max-age values are left to the daemon's own.
                if (const auto eq = token.find('=');
                    same_name(name, "max-age") && eq != std::string_view::npos) {
                    const std::string_view seconds = trim(token.substr(eq + 1));
                    if (!seconds.empty() && seconds.find_first_not_of('0') == seconds.npos) {
                        d.no_cache = true;
                    }
                }
            });
        } else if (same_name(f.name, "pragma")) {
            for_each_token(f.value, [&](std::string_view token) {
                if (same_name(token, "no-cache")) pragma_no_cache = true;
            });
        }
    }
    // RFC 9111 §5.4: Pragma is ignored when Cache-Control is present.
    if (!has_cache_control && pragma_no_cache) d.no_cache = true;
    return d;
}

}  // namespace runmirror
