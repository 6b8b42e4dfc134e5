#include "admin/admin_routes.hpp"

#include <openssl/crypto.h>

#include "http/json_error.hpp"

namespace runmirror {

namespace {

// Constant-time, so the token cannot be guessed byte by byte from response times.
bool token_matches(std::string_view given, const std::string& expected) {
    return given.size() == expected.size() &&
           CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

bool authorised(const request& req, const admin_context& ctx) {
    if (ctx.admin_token.empty()) return true;
    if (auto t = req.header("x-runmirror-token")) return token_matches(*t, ctx.admin_token);
    if (auto auth = req.header("authorization");
        auth && auth->size() > 7 && iequals(auth->substr(0, 7), "bearer ")) {
        return token_matches(auth->substr(7), ctx.admin_token);
    }
    return false;
}

// {"state": "up"|"down"|"offline", ...}: what the daemon thinks of its upstream right now.
std::string upstream_state_json(const admin_context& ctx, time_point now) {
    std::string out = "{\"url\":" + json_quote(ctx.upstream_url);
    if (!ctx.health) return out + ",\"state\":\"offline\"}";
    const health_snapshot s = ctx.health->snapshot(now);
    return out + ",\"state\":\"" + (s.up ? "up" : "down") +
           "\",\"consecutive_failures\":" + std::to_string(s.consecutive_failures) +
           ",\"retry_in_ms\":" + std::to_string(s.retry_in.count()) + "}";
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
    if (!authorised(req, ctx)) return json_error(401, "admin token required");
    return json_error(404, "no such runmirror endpoint: " + std::string(req.path()));
}

}  // namespace runmirror
