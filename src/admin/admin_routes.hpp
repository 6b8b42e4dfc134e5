#pragma once
// /_runmirror/*: the daemon's own endpoints. Health is always open; the page's files too (they
// hold no data). The browse API and the events stream answer a browse_viewer: everything for
// the admin token (or anyone, with --browse-scope all and no admin token), one tenant's
// resources for an API key.
//
// The browse API (needs admin_context::db; every answer JSON, Cache-Control: no-store):
//   GET /_runmirror/api/agents     {"items":[agent summaries]}, most recently active first
//   GET /_runmirror/api/runs       {"items":[run summaries],"next_cursor":...}, newest first;
//       agent, project, status, from (inclusive), to (exclusive, ISO 8601, years 0001-9999),
//       q (full text over the extracted data and file name), limit (1..500, default 50), cursor
//       (from the last page). A bad or unknown parameter is 400 {"detail"}. Formats:
//       admin/browse_json.hpp.
//   GET /_runmirror/api/runs/{id}  the stored run, the upstream's bytes but for ill-formed
//       UTF-8 (as U+FFFD, so always valid JSON); 404 when the store does not hold it or it was
//       deleted.
//   Another method on these paths is 405.

#include <functional>
#include <optional>
#include <string>

#include "cache/upstream_health.hpp"
#include "http/router.hpp"
#include "obs/request_log.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/options.hpp"
#include "runmirror/store.hpp"
#include "sync/watch_wait.hpp"

namespace runmirror {

struct admin_context {
    serve_mode mode = serve_mode::online;
    std::string admin_token;
    browse_scope scope = browse_scope::all;
    std::string upstream_url;
    const upstream_health* health = nullptr;  // null in offline mode
    store* db = nullptr;                      // for the browse API
    obs::request_log* requests = nullptr;     // /_runmirror/api/requests; null: none kept
    // The sync worker's state (sync_worker::snapshot), for why each watch waits; empty when
    // there is no worker (offline mode, tests).
    std::function<sync_snapshot(time_point)> sync_state;
};

// Whether |req| carries the admin token (always true when none is configured).
bool admin_authorised(const request& req, const admin_context& ctx);

// Who asks the browse API or the events stream. The admin token sees everything; so does
// anyone when the scope is "all" and no admin token is configured. An API key ("Authorization:
// Bearer <key>", one the daemon has seen answered upstream) sees what its tenant's grants
// allow: the resources of the projects upstream showed that key. Anything else is refused.
struct browse_viewer {
    bool allowed = false;
    std::optional<std::string> tenant;  // when allowed: nullopt sees every tenant's data
    std::string refusal;                // when refused: the 401's detail
    // Whether this viewer may see a resource of |project_id| (checked against the store).
    bool sees(store& db, std::string_view project_id) const;
};
browse_viewer browse_viewer_of(const request& req, const admin_context& ctx);

response handle_admin(const route_match& route, const request& req, const admin_context& ctx,
                      time_point now);

}  // namespace runmirror
