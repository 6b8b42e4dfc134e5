#include "runmirror/http_types.hpp"

#include <algorithm>

#include "runmirror/result.hpp"

namespace runmirror {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    // Field names nearly always come spelled as the code looks them up: one memcmp then.
    if (a == b) return true;
    return std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

std::optional<std::string_view> find_header(const header_list& headers, std::string_view name) {
    for (const auto& field : headers) {
        if (iequals(field.name, name)) return std::string_view(field.value);
    }
    return std::nullopt;
}

void erase_header(header_list& headers, std::string_view name) {
    std::erase_if(headers, [&](const header_field& f) { return iequals(f.name, name); });
}

void set_header(header_list& headers, std::string_view name, std::string value) {
    erase_header(headers, name);
    headers.push_back({std::string(name), std::move(value)});
}

std::string_view request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view request::query() const {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view to_string(errc code) {
    switch (code) {
        case errc::ok: return "ok";
        case errc::refused: return "refused";
        case errc::timeout: return "timeout";
        case errc::reset: return "reset";
        case errc::tls: return "tls";
        case errc::bad_response: return "bad_response";
        case errc::too_large: return "too_large";
        case errc::offline: return "offline";
        case errc::unavailable: return "unavailable";
        case errc::bad_request: return "bad_request";
        case errc::internal: return "internal";
    }
    return "unknown";
}

}  // namespace runmirror
