#include "admin/ui_assets.hpp"

#include <algorithm>
#include <string>

#include "http/json_error.hpp"

namespace runmirror {

namespace {

constexpr std::string_view ui_root = "/_runmirror/ui";

// The page loads only its own files and talks only to its own origin; nothing inline, nothing
// from elsewhere (so no CDN or font can sneak in), and it cannot be framed.
constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Whether the If-None-Match field |field| matches |etag| (a quoted strong tag). RFC 9110
// 13.1.2: "*" matches any current representation; otherwise the weak comparison, so W/"x"
// matches "x". A malformed list matches nothing from the first bad element on.
bool if_none_match_matches(std::string_view field, std::string_view etag) {
    std::size_t pos = 0;
    while (pos < field.size()) {
        const char c = field[pos];
        if (c == ' ' || c == '\t' || c == ',') {
            ++pos;
            continue;
        }
        if (c == '*') return true;
        if (field.substr(pos, 2) == "W/") pos += 2;
        if (pos >= field.size() || field[pos] != '"') return false;
        const std::size_t close = field.find('"', pos + 1);
        if (close == std::string_view::npos) return false;
        if (field.substr(pos, close - pos + 1) == etag) return true;
        pos = close + 1;
    }
    return false;
}

void add_common_headers(response& r) {
    r.headers.push_back({"Cache-Control", "no-cache"});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    r.headers.push_back({"Referrer-Policy", "no-referrer"});
}

response asset_response(const request& req, const ui_asset& asset) {
    response r;
    add_common_headers(r);
    r.headers.push_back({"ETag", std::string(asset.etag)});
    if (auto inm = req.header("if-none-match"); inm && if_none_match_matches(*inm, asset.etag)) {
        r.status = 304;
        return r;
    }
    r.headers.push_back({"Content-Type", std::string(asset.content_type)});
    r.headers.push_back({"Content-Security-Policy", std::string(content_security_policy)});
    if (req.method != "HEAD") r.body = std::string(asset.body);
    return r;
}

}  // namespace

const ui_asset* find_ui_asset(std::string_view name) {
    const auto assets = embedded_ui_assets();
    const auto it = std::find_if(assets.begin(), assets.end(),
                                 [&](const ui_asset& a) { return a.name == name; });
    return it == assets.end() ? nullptr : &*it;
}

std::optional<response> serve_ui(const request& req) {
    const std::string_view path = req.path();
    if (!path.starts_with(ui_root)) return std::nullopt;
    std::string_view rest = path.substr(ui_root.size());

    const ui_asset* asset = nullptr;
    if (rest.empty()) {
        // Without the slash, "app.js" in the page would resolve to /_runmirror/app.js.
        response r;
        r.status = 301;
        add_common_headers(r);
        std::string location = std::string(ui_root) + "/";
        if (!req.query().empty()) location += "?" + std::string(req.query());
        r.headers.push_back({"Location", std::move(location)});
        return r;
    }
    if (rest.front() != '/') return std::nullopt;  // "/_runmirror/uifoo" is not ours
    rest.remove_prefix(1);
    if (rest.empty()) rest = "index.html";
    // Flat names only: "a/b", "..", "%2e" and the like never name an asset.
    if (rest.find('/') == std::string_view::npos) asset = find_ui_asset(rest);
    if (!asset) return std::nullopt;

    if (req.method != "GET" && req.method != "HEAD") {
        response r = json_error(405, "method not allowed");
        r.headers.push_back({"Allow", "GET, HEAD"});
        return r;
    }
    return asset_response(req, *asset);
}

}  // namespace runmirror
