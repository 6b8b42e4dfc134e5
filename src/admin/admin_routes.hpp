#pragma once
// /_runmirror/*: the daemon's own endpoints. Health is always open; the rest takes the admin
// token when one is configured ("Authorization: Bearer <token>" or "x-runmirror-token").

#include <string>

#include "cache/upstream_health.hpp"
#include "http/router.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/options.hpp"
#include "runmirror/store.hpp"

namespace runmirror {

struct admin_context {
    serve_mode mode = serve_mode::online;
    std::string admin_token;
    std::string upstream_url;
    const upstream_health* health = nullptr;  // null in offline mode
    store* db = nullptr;                      // for the browse API
};

// Whether |req| carries the admin token (always true when none is configured).
bool admin_authorised(const request& req, const admin_context& ctx);

response handle_admin(const route_match& route, const request& req, const admin_context& ctx,
                      time_point now);

}  // namespace runmirror
