#pragma once
// Header rules shared by every route: framing checks done before routing, hop-by-hop stripping
// (RFC 9110 §7.6.1) and request Cache-Control directives (RFC 9111 §5.2.1). Pure functions.

#include <array>
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

// Which fields of one header list a proxy forwards: not hop-by-hop (above), not Host, not
// Content-Length (the proxy sets its own Host and framing). Built once per list, so that the
// fields named by Connection are looked up once, not once per field. |headers| must outlive
// the filter and stay unchanged while it is used.
class end_to_end_filter {
  public:
    explicit end_to_end_filter(const header_list& headers);
    bool keeps(std::string_view name) const;

  private:
    // What Connection fields name (views into |headers|); the ones that do not fit here are
    // looked up in |headers| again.
    static constexpr std::size_t max_named = 4;
    std::array<std::string_view, max_named> named_{};
    std::size_t named_count_ = 0;
    bool named_overflow_ = false;
    const header_list& headers_;
};

// |headers| without hop-by-hop fields, Host and Content-Length: what a proxy forwards before it
// sets its own Host and framing.
header_list end_to_end_headers(const header_list& headers);

// The same, in place: nothing is copied, fields are only moved down over the dropped ones.
void keep_end_to_end(header_list& headers);

// Calls |fn| on each field of |headers| that end_to_end_headers would keep, in order.
template <class Fn>
void for_each_end_to_end(const header_list& headers, Fn&& fn) {
    const end_to_end_filter filter(headers);
    for (const auto& f : headers) {
        if (filter.keeps(f.name)) fn(f);
    }
}

struct cache_directives {
    bool no_cache = false;        // revalidate with upstream (also "Pragma: no-cache", "max-age=0")
    bool only_if_cached = false;  // never contact upstream for this request
};

cache_directives parse_cache_directives(const header_list& headers);

}  // namespace runmirror
