#include "cache/list_key.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include <boost/url/parse_query.hpp>

#include "util/url_encode.hpp"

namespace runmirror {

namespace detail {

std::optional<query_params> decode_query_with_boost_url(std::string_view view) {
    // Boost.URL 1.81 reads a null data pointer as a C string (strlen(nullptr)).
    if (view.empty()) return query_params{};
    // And parse_query validates the view but then iterates over its data() read as a C string
    // (it builds the params' query_ref from s.data() alone): past the view's end, up to the next
    // NUL, unless the view ends one. A copy ends one. (Found by fuzz/query_key.cpp.)
    const std::string query(view);
    auto parsed = boost::urls::parse_query(query);
    if (parsed.has_error()) return std::nullopt;
    query_params out;
    for (auto p : *parsed) {
        // An empty segment ("a=1&&b=2") carries nothing; keeping it would split the cache.
        if (p.key.empty() && !p.has_value) continue;
        out.emplace_back(p.key.decode(), p.has_value ? p.value.decode() : std::string());
    }
    return out;
}

}  // namespace detail

namespace {

// RFC 3986 query characters that stand for themselves: unreserved ("-._~" and alphanumerics),
// sub-delims ("!$&'()*+,;=") and ":@/?". ('%' is not: a query with escapes takes Boost.URL's
// way.)
constexpr std::string_view plain_query_marks = "-._~!$&'()*+,;=:@/?";

bool is_plain_query_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return plain_query_marks.find(c) != std::string_view::npos;
}

}  // namespace

std::optional<query_params> decode_query(std::string_view query) {
    for (char c : query) {
        if (!is_plain_query_char(c)) return detail::decode_query_with_boost_url(query);
    }
    // Nothing to decode: split at '&', then at the first '='.
    query_params out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view segment = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (segment.empty()) continue;
        const auto eq = segment.find('=');
        if (eq == std::string_view::npos) {
            out.emplace_back(std::string(segment), std::string());
        } else {
            out.emplace_back(std::string(segment.substr(0, eq)),
                             std::string(segment.substr(eq + 1)));
        }
    }
    return out;
}

namespace {

std::optional<std::int64_t> parse_count(const std::string& s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

}  // namespace

std::string list_key_of(query_params params) {
    std::sort(params.begin(), params.end());
    std::string key;
    for (const auto& [k, v] : params) {
        if (!key.empty()) key += '&';
        key += url_encode(k);
        key += '=';
        key += url_encode(v);
    }
    return key;
}

std::optional<list_params> list_params_of(const query_params& params) {
    list_params out;
    for (const auto& [k, v] : params) {
        if (k == "extraction_agent_id") {
            out.extraction_agent_id = v;
        } else if (k == "project_id") {
            out.project_id = v;
        } else if (k == "skip" || k == "limit") {
            auto n = parse_count(v);
            if (!n) return std::nullopt;
            (k == "skip" ? out.skip : out.limit) = *n;
        }
    }
    return out;
}

std::optional<cursor_list_params> cursor_list_params_of(const query_params& params,
                                                        std::string_view owner_param) {
    cursor_list_params out;
    std::vector<std::string_view> seen;
    for (const auto& [k, v] : params) {
        if (v.empty()) continue;  // the SDK sends a null filter as "key="
        if (std::find(seen.begin(), seen.end(), k) != seen.end()) return std::nullopt;
        seen.push_back(k);
        if (k == owner_param) {
            out.owner = v;
        } else if (k == "project_id") {
            out.project_id = v;
        } else if (k == "status") {
            out.status = v;
        } else if (k == "page_token") {
            out.page_token = v;
        } else if (k == "page_size") {
            auto n = parse_count(v);
            if (!n || *n < 1 || *n > 100) return std::nullopt;
            out.page_size = *n;
        } else if (k != "organization_id") {
            return std::nullopt;
        }
    }
    return out;
}

std::string variant_of(const query_params& params, std::string_view param) {
    if (param.empty()) return {};
    std::vector<std::string_view> items;
    for (const auto& [k, v] : params) {
        if (k != param) continue;
        std::string_view rest = v;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            std::string_view item = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            if (!item.empty()) items.push_back(item);
        }
    }
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    std::string out;
    for (std::string_view item : items) {
        if (!out.empty()) out += ',';
        out += item;
    }
    return out;
}

}  // namespace runmirror
