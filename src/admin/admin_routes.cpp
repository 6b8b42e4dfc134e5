#include "admin/admin_routes.hpp"

#include <openssl/crypto.h>

#include "admin/watch_json.hpp"
#include "cache/list_key.hpp"
#include "http/json_error.hpp"

namespace runmirror {

namespace {

// Constant-time, so the token cannot be guessed byte by byte from response times.
bool token_matches(std::string_view given, const std::string& expected) {
    return given.size() == expected.size() &&
           CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

}  // namespace

bool admin_authorised(const request& req, const admin_context& ctx) {
    if (ctx.admin_token.empty()) return true;
    if (auto t = req.header("x-runmirror-token")) return token_matches(*t, ctx.admin_token);
    if (auto auth = req.header("authorization");
        auth && auth->size() > 7 && iequals(auth->substr(0, 7), "bearer ")) {
        return token_matches(auth->substr(7), ctx.admin_token);
    }
    return false;
}

namespace {

// {"state": "up"|"down"|"offline", ...}: what the daemon thinks of its upstream right now.
std::string upstream_state_json(const admin_context& ctx, time_point now) {
    std::string out = "{\"url\":" + json_quote(ctx.upstream_url);
    if (!ctx.health) return out + ",\"state\":\"offline\"}";
    const health_snapshot s = ctx.health->snapshot(now);
    return out + ",\"state\":\"" + (s.up ? "up" : "down") +
           "\",\"consecutive_failures\":" + std::to_string(s.consecutive_failures) +
           ",\"retry_in_ms\":" + std::to_string(s.retry_in.count()) + "}";
}

// GET /_runmirror/api/watches[?all=1][&limit=N]: what the sync worker watches.
response watches_json(const request& req, store& db) {
    auto params = decode_query(req.query());
    if (!params) return json_error(400, "invalid query string");
    auto listing = watch_listing::active;
    std::size_t limit = 1000;
    for (const auto& [name, value] : *params) {
        if (name == "all") listing = value == "0" ? watch_listing::active : watch_listing::all;
        if (name == "limit") {
            if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos ||
                value.size() > 9) {
                return json_error(400, "limit must be a whole number");
            }
            limit = std::stoul(value);
        }
    }
    response r;
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Cache-Control", "no-store"});
    r.body = "{\"items\":[";
    bool first = true;
    for (const watch& w : db.list_watches(listing, limit)) {
        if (!first) r.body += ',';
        first = false;
        r.body += watch_to_json(w);
    }
    r.body += "]}";
    return r;
}

}  // namespace

response handle_admin(const route_match& route, const request& req, const admin_context& ctx,
                      time_point now) {
    if (route.kind == route::health) {
        response r;
        r.headers.push_back({"Content-Type", "application/json"});
        r.headers.push_back({"Cache-Control", "no-store"});
        r.body = std::string("{\"status\":\"ok\",\"version\":") + json_quote(RUNMIRROR_VERSION) +
                 ",\"mode\":\"" + (ctx.mode == serve_mode::offline ? "offline" : "online") +
                 "\",\"upstream\":" + upstream_state_json(ctx, now) + "}";
        return r;
    }
    if (!admin_authorised(req, ctx)) return json_error(401, "admin token required");
    if (req.path() == "/_runmirror/api/watches" && req.method == "GET" && ctx.db) {
        return watches_json(req, *ctx.db);
    }
    return json_error(404, "no such runmirror endpoint: " + std::string(req.path()));
}

}  // namespace runmirror
