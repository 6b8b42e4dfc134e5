#include "cache/list_key.hpp"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include <boost/url/parse_query.hpp>

#include "util/url_encode.hpp"

namespace runmirror {

std::optional<query_params> decode_query(std::string_view query) {
    // Boost.URL 1.81 reads a null data pointer as a C string (strlen(nullptr)).
    if (query.empty()) return query_params{};
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

namespace {

std::optional<std::int64_t> parse_count(const std::string& s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

}  // namespace

std::optional<std::string> normalise_list_query(std::string_view query) {
    auto params = decode_query(query);
    if (!params) return std::nullopt;
    std::sort(params->begin(), params->end());
    std::string key;
    for (const auto& [k, v] : *params) {
        if (!key.empty()) key += '&';
        key += url_encode(k);
        key += '=';
        key += url_encode(v);
    }
    return key;
}

std::optional<list_params> parse_list_params(std::string_view query) {
    auto params = decode_query(query);
    if (!params) return std::nullopt;
    list_params out;
    for (const auto& [k, v] : *params) {
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

}  // namespace runmirror
