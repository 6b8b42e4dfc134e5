#include "admin/admin_routes.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include <openssl/crypto.h>

#include <boost/url/pct_string_view.hpp>

#include "admin/browse_json.hpp"
#include "admin/ui_assets.hpp"
#include "admin/watch_json.hpp"
#include "cache/list_key.hpp"
#include "http/json_error.hpp"
#include "obs/metrics.hpp"
#include "util/iso_time.hpp"
#include "util/tenant.hpp"
#include "util/utf8.hpp"

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

browse_viewer browse_viewer_of(const request& req, const admin_context& ctx) {
    const bool has_token = !ctx.admin_token.empty();
    if (has_token) {
        if (auto t = req.header("x-runmirror-token")) {
            if (token_matches(*t, ctx.admin_token)) return {true, std::nullopt, {}};
            return {false, std::nullopt, "that is not the admin token"};
        }
    }
    const std::optional<std::string_view> key = bearer_key(req.headers);
    if (key && has_token && token_matches(*key, ctx.admin_token)) return {true, std::nullopt, {}};
    if (key) {
        std::string tenant = tenant_of_key(*key);
        // A key no answer was ever stored for has nothing to see: most likely a mistyped
        // admin token or key, which deserves a refusal rather than an empty mirror.
        if (ctx.db != nullptr && ctx.db->has_any_grant(tenant)) {
            return {true, std::move(tenant), {}};
        }
        return {false, std::nullopt,
                has_token ? "neither the admin token nor an API key runmirror has seen answered"
                          : "no run was ever stored for this API key"};
    }
    if (!has_token && ctx.scope == browse_scope::all) return {true, std::nullopt, {}};
    return {false, std::nullopt,
            has_token ? "admin token or API key required (Authorization: Bearer ...)"
                      : "browsing is scoped to an API key (--browse-scope tenant): send "
                        "Authorization: Bearer <your LlamaCloud API key>"};
}

bool browse_viewer::sees(store& db, std::string_view project_id) const {
    if (!tenant) return true;
    return !project_id.empty() && db.has_grant(*tenant, project_id);
}

namespace {

// {"state": "up"|"down"|"offline", ...}: what the daemon thinks of its upstream right now;
// "down_since" (ISO 8601 UTC) while down, so the page can say for how long.
std::string upstream_state_json(const admin_context& ctx, time_point now) {
    std::string out = "{\"url\":" + json_quote(ctx.upstream_url);
    if (!ctx.health) return out + ",\"state\":\"offline\"}";
    const health_snapshot s = ctx.health->snapshot(now);
    out += std::string(",\"state\":\"") + (s.up ? "up" : "down") +
           "\",\"consecutive_failures\":" + std::to_string(s.consecutive_failures) +
           ",\"retry_in_ms\":" + std::to_string(s.retry_in.count());
    if (s.down_since) out += ",\"down_since\":" + json_quote(iso_utc(*s.down_since));
    return out + "}";
}

// {"writable": true} or {"writable": false, "error": ..., "since": ..., "failed_writes": N}.
std::string store_state_json(const admin_context& ctx) {
    if (!ctx.db) return "{\"writable\":false,\"error\":\"no store\"}";
    const store_write_health w = ctx.db->write_health();
    std::string out = std::string("{\"writable\":") + (w.writable ? "true" : "false");
    if (!w.writable) {
        out += ",\"error\":" + json_quote(w.last_error);
        if (w.since) out += ",\"since\":" + json_quote(iso_utc(*w.since));
    }
    return out + ",\"failed_writes\":" + std::to_string(w.failed_writes) + "}";
}

// {"version": N, "expected": N}: the schema the store is at and the one this build writes (the
// store refuses to open rather than run behind, so they differ only if another build upgraded
// it meanwhile).
std::string schema_json(const admin_context& ctx) {
    int expected = latest_schema_version();
    int version = 0;
    try {
        if (ctx.db) {
            expected = ctx.db->known_schema_version();
            version = ctx.db->schema_version();
        }
    } catch (const std::exception&) {
        version = -1;  // unreadable: reported as is
    }
    return "{\"version\":" + std::to_string(version) + ",\"expected\":" + std::to_string(expected) +
           "}";
}

// {"overdue": true|false, "lag_ms": N}: whether the sync worker is behind: the most overdue
// active watch's next poll, measured from now (a watch whose tenant sent no key since the
// restart waits for one, and shows here).
std::string watches_json_summary(const admin_context& ctx, time_point now) {
    std::optional<time_point> due;
    try {
        if (ctx.db) due = ctx.db->next_due_time(tenant_filter::any());
    } catch (const std::exception&) {
        return "{\"error\":\"the store cannot be read\"}";
    }
    const auto lag = due && *due < now ? std::chrono::duration_cast<millis>(now - *due).count() : 0;
    return std::string("{\"overdue\":") + (lag > 0 ? "true" : "false") +
           ",\"lag_ms\":" + std::to_string(lag) + "}";
}

// GET /_runmirror/ready: 200 while stored answers can be kept; 503 (with the reason, as a
// JSON detail) while the store refuses writes: the daemon still answers, from upstream and from
// what it has, but a readiness probe should know that nothing new is being kept. The upstream's
// state and the sync worker's backlog are reported, and do not make it unready: the daemon
// answers from its store while the upstream is down, which is what it is for.
response ready_json(const admin_context& ctx, time_point now) {
    response r;
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Cache-Control", "no-store"});
    const std::string store = store_state_json(ctx);
    const bool writable = ctx.db && ctx.db->write_health().writable;
    const std::string details = ",\"store\":" + store + ",\"schema\":" + schema_json(ctx) +
                                ",\"upstream\":" + upstream_state_json(ctx, now) +
                                ",\"watches\":" + watches_json_summary(ctx, now) + "}";
    r.status = writable ? 200 : 503;
    if (writable) {
        r.body = "{\"status\":\"ready\"" + details;
    } else {
        r.body =
            "{\"detail\":\"the store cannot write: answers are relayed but not kept\","
            "\"status\":\"degraded\"" +
            details;
        r.headers.push_back({"Retry-After", "5"});
    }
    return r;
}

// What the daemon knows beyond the store about why watches wait, at |now|.
struct watch_wait_source {
    std::optional<sync_snapshot> sync;
    watch_wait_context context;
};

watch_wait_source watch_wait_source_of(const admin_context& ctx, time_point now) {
    watch_wait_source out;
    out.context.offline = ctx.mode == serve_mode::offline;
    if (ctx.sync_state) out.sync = ctx.sync_state(now);
    if (ctx.health) {
        const health_snapshot h = ctx.health->snapshot(now);
        out.context.upstream_down = !h.up;
        if (!h.up && h.retry_in.count() > 0) out.context.upstream_retry_at = now + h.retry_in;
    }
    return out;
}

// GET /_runmirror/api/watches[?all=1][&limit=N]: what the sync worker watches (for a tenant's
// viewer, its own watches), each with why it waits (watch_to_json's "wait").
response watches_json(const request& req, store& db, const browse_viewer& viewer,
                      const admin_context& ctx, time_point now) {
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
    watch_wait_source source = watch_wait_source_of(ctx, now);
    // The context points into |source|: set here, where |source| stays until the loop ends.
    if (source.sync) source.context.sync = &*source.sync;
    bool first = true;
    for (const watch& w : db.list_watches(listing, limit)) {
        if (viewer.tenant && w.tenant != *viewer.tenant) continue;
        if (!first) r.body += ',';
        first = false;
        r.body += watch_to_json(w, explain_watch(w, source.context, now));
    }
    r.body += "]}";
    return r;
}

// GET /_runmirror/api/requests?route=&cache=&status=&tenant=&limit=: the last requests
// answered, newest first (a tenant's viewer: its own).
response requests_json(const request& req, const obs::request_log* log,
                       const browse_viewer& viewer) {
    auto params = decode_query(req.query());
    if (!params) return json_error(400, "invalid query string");
    obs::request_filter filter;
    filter.only_tenant = viewer.tenant;
    std::size_t limit = 100;
    for (const auto& [name, value] : *params) {
        if (value.empty()) continue;
        if (name == "route") {
            filter.r = obs::parse_route_name(value);
            if (!filter.r) return json_error(400, "route: no route named '" + value + "'");
        } else if (name == "cache") {
            filter.cache = obs::parse_cache_outcome(value);
            if (!filter.cache) {
                return json_error(400,
                                  "cache: expected hit, stale, assembled, miss, revalidated, "
                                  "refused, write, passthrough or none, got '" +
                                      value + "'");
            }
        } else if (name == "status") {
            if (value.size() != 3 || value[0] < '1' || value[0] > '5' || value.substr(1) != "xx") {
                return json_error(400, "status: expected 1xx to 5xx, got '" + value + "'");
            }
            filter.status_class = value[0] - '0';
        } else if (name == "tenant") {
            filter.tenant_prefix = value;
        } else if (name == "limit") {
            if (value.size() > 6 || value.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(value) < 1) {
                return json_error(400, "limit: expected a positive integer, got '" + value + "'");
            }
            limit = std::stoul(value);
        } else {
            return json_error(400, "unknown parameter '" + name +
                                       "' (known: route, cache, status, tenant, limit)");
        }
    }
    std::string body = "{\"kept\":" + std::to_string(log ? log->capacity() : 0) + ",\"items\":[";
    if (log != nullptr) {
        bool first = true;
        for (const obs::request_record& r : log->recent(filter, limit)) {
            if (!first) body += ',';
            first = false;
            body += obs::to_json(r);
        }
    }
    body += "]}";
    response r;
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Cache-Control", "no-store"});
    r.body = std::move(body);
    return r;
}

//--------------------------------------------------------------------------------------------
// The browse API: what the mirror holds, for the offline UI and scripts. Every answer is JSON;
// a bad parameter is 400 {"detail"} naming it, so a typo never silently widens a query.

constexpr std::string_view browse_prefix = "/_runmirror/api/";
constexpr std::size_t default_browse_limit = 50;
constexpr std::size_t max_browse_limit = 500;

response json_ok(std::string body) {
    response r;
    r.headers.push_back({"Content-Type", "application/json"});
    // The store changes under the page at any time (sync worker, other clients).
    r.headers.push_back({"Cache-Control", "no-store"});
    r.body = std::move(body);
    return r;
}

// GET /_runmirror/api/runs?kind=&agent=&project=&status=&from=&to=&q=&limit=&cursor=. kind:
// "run" (v1 runs, the default), "v2_job", or "all". An empty value
// means "no filter" (what an HTML form sends for a field left blank); from is inclusive, to
// exclusive. Returns the detail text of a 400, or "" with |query| filled in.
std::string parse_browse_query(std::string_view query_string, run_browse_query& query) {
    auto params = decode_query(query_string);
    if (!params) return "invalid query string";
    std::vector<std::string> seen;
    for (const auto& [name, value] : *params) {
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
            return "parameter '" + name + "' given more than once";
        }
        seen.push_back(name);
        if (name == "kind") {
            if (value.empty()) continue;
            const auto kind = parse_kind_filter(value);
            if (!kind) return "kind: expected run, v2_job, v1_job or all, got '" + value + "'";
            query.kind = *kind;
        } else if (name == "agent") {
            query.extraction_agent_id = value;
        } else if (name == "project") {
            query.project_id = value;
        } else if (name == "status") {
            // Upstream statuses are upper case; "success" from a hand-typed URL means the same.
            query.status = value;
            for (char& c : query.status)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        } else if (name == "from" || name == "to") {
            if (value.empty()) continue;
            std::string why;
            const auto t = parse_iso_time(value, &why);
            if (!t) return name + ": " + why + ", got '" + value + "'";
            (name == "from" ? query.created_from : query.created_before) = *t;
        } else if (name == "q") {
            query.search = value;
        } else if (name == "limit") {
            if (value.empty() || value.size() > 9 ||
                value.find_first_not_of("0123456789") != std::string::npos ||
                std::stoul(value) < 1 || std::stoul(value) > max_browse_limit) {
                return "limit: expected an integer from 1 to " + std::to_string(max_browse_limit) +
                       ", got '" + value + "'";
            }
            query.limit = std::stoul(value);
        } else if (name == "cursor") {
            if (value.empty()) continue;
            query.after = decode_cursor(value);
            if (!query.after) return "cursor: not a cursor this API returned";
        } else {
            return "unknown parameter '" + name +
                   "' (known: kind, agent, project, status, from, to, q, limit, cursor)";
        }
    }
    if (query.created_from && query.created_before && *query.created_before < *query.created_from) {
        return "from must not be later than to";
    }
    return "";
}

// The resource id a /_runmirror/api/runs/{segment} path names, percent-decoded; nullopt when
// it is not one id: empty, or holding a '/' or a '?' (which would reach another resource or
// another representation's store key).
std::optional<std::string> resource_id(std::string_view segment) {
    auto pct = boost::urls::make_pct_string_view(segment);
    if (pct.has_error()) return std::nullopt;
    std::string id = pct->decode();
    if (id.empty() || id.find_first_of("/?") != std::string::npos) return std::nullopt;
    return id;
}

response no_such_resource_path(std::string_view segment) {
    return json_error(404,
                      "no such runmirror endpoint: /_runmirror/api/runs/" + std::string(segment));
}

// One resource, the upstream's bytes (ill-formed UTF-8 as U+FFFD). |segment| is the path segment
// after "runs/", still percent-encoded; ?kind= names its kind (v1 runs by default).
// Runmirror-Representation: "plain", or the variant served for a resource stored only as variants
// ("expand=usage"); ?representation= asks for one of them.
response stored_run_body(std::string_view segment, std::string_view query_string, store& db,
                         const browse_viewer& viewer) {
    const resource_kind* kind = &kinds::v1_run;
    std::optional<std::string> representation;
    if (auto params = decode_query(query_string)) {
        for (const auto& [name, value] : *params) {
            if (name == "kind" && !value.empty()) kind = find_kind(value);
            if (name == "representation" && !value.empty()) representation = value;
        }
    }
    if (!kind) return json_error(400, "kind: expected run, v2_job or v1_job");
    const std::optional<std::string> id = resource_id(segment);
    if (!id) return no_such_resource_path(segment);
    // Its plain representation when stored, else (a v2 job only ever read with ?expand=) one of
    // its variants; the Runmirror-Representation header says which.
    // ?representation= asks for one exactly, as Runmirror-Representation names it ("plain",
    // "expand=usage", a v1 job's "result").
    std::shared_ptr<const stored_run> run;
    if (representation) {
        std::string variant = *representation == "plain" ? std::string() : *representation;
        const std::string prefix = std::string(kind->variant_param) + '=';
        if (!kind->variant_param.empty() && variant.starts_with(prefix)) {
            variant.erase(0, prefix.size());
        }
        run = db.find_run(store_key(*kind, *id, variant));
    } else {
        run = db.find_run_or_variant(store_key(*kind, *id));
    }
    // A tombstoned run was deleted through the daemon: gone, as it is upstream.
    // One another tenant's key was shown is, for this viewer, not there at all.
    if (!run || run->deleted_at || run->body.empty() || !viewer.sees(db, run->fields.project_id)) {
        return json_error(404, "run '" + *id + "' is not in the store");
    }
    response r = json_ok({});
    r.headers.push_back(
        {"Runmirror-Representation", representation_text(*kind, run->fields.variant)});
    // The stored bytes themselves (no copy) unless the upstream sent ill-formed UTF-8: then the
    // browse view is still valid JSON, with U+FFFD where those bytes were. The runs routes
    // serve the bytes unchanged.
    if (is_valid_utf8(run->body)) {
        r.shared_body = std::shared_ptr<const std::string>(run, &run->body);
    } else {
        r.body = valid_utf8(run->body);
    }
    return r;
}

// DELETE /_runmirror/api/runs/{id}[?kind=]: forgets the resource here only (store::forget_run),
// for a viewer that sees every tenant (the admin token, or an open daemon); upstream is not
// asked. Without ?kind=, every kind stored under the id.
response forget_stored(std::string_view segment, std::string_view query_string, store& db,
                       const browse_viewer& viewer) {
    if (viewer.tenant) return json_error(403, "forgetting a resource needs the admin token");
    std::vector<const resource_kind*> kinds(all_kinds().begin(), all_kinds().end());
    if (auto params = decode_query(query_string)) {
        for (const auto& [name, value] : *params) {
            if (name != "kind" || value.empty()) continue;
            const resource_kind* kind = find_kind(value);
            if (!kind) return json_error(400, "kind: expected run, v2_job or v1_job");
            kinds = {kind};
        }
    }
    const std::optional<std::string> id = resource_id(segment);
    if (!id) return no_such_resource_path(segment);
    std::string forgotten;
    for (const resource_kind* kind : kinds) {
        if (!db.forget_run(store_key(*kind, *id))) continue;
        if (!forgotten.empty()) forgotten += ',';
        forgotten += json_quote(kind->name);
    }
    if (forgotten.empty()) return json_error(404, "nothing stored under '" + *id + "'");
    return json_ok("{\"id\":" + json_quote(*id) + ",\"forgotten\":[" + forgotten + "]}");
}

// The browse routes, or nullopt when |req| is for another path.
std::optional<response> handle_browse(const request& req, store& db, const browse_viewer& viewer) {
    const std::string_view path = req.path();
    if (!path.starts_with(browse_prefix)) return std::nullopt;
    const std::string_view rest = path.substr(browse_prefix.size());
    const bool run_path = rest.starts_with("runs/") && rest.size() > 5;
    if (rest != "runs" && rest != "agents" && !run_path) return std::nullopt;
    if (run_path && req.method == "DELETE")
        return forget_stored(rest.substr(5), req.query(), db, viewer);
    if (req.method != "GET") {
        response r = json_error(405, "method not allowed; use GET");
        r.headers.push_back({"Allow", run_path ? "GET, DELETE" : "GET"});
        return r;
    }
    try {
        if (rest == "agents") {
            std::vector<agent_summary> agents = db.agent_summaries();
            std::erase_if(agents,
                          [&](const agent_summary& a) { return !viewer.sees(db, a.project_id); });
            return json_ok(agents_to_json(agents));
        }
        if (run_path) return stored_run_body(rest.substr(5), req.query(), db, viewer);
        run_browse_query query;
        query.limit = default_browse_limit;
        if (std::string bad = parse_browse_query(req.query(), query); !bad.empty()) {
            return json_error(400, bad);
        }
        query.tenant = viewer.tenant;
        return json_ok(run_page_to_json(db.browse_runs(query)));
    } catch (const store_error& e) {
        return json_error(500, e.what());
    }
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
                 "\",\"upstream\":" + upstream_state_json(ctx, now) +
                 ",\"store\":" + store_state_json(ctx) + "}";
        return r;
    }
    if (route.kind == route::ready) return ready_json(ctx, now);
    if (req.path() == "/_runmirror/metrics") {
        // Counts only, no tenant's data: open unless an admin token guards the daemon.
        if (!admin_authorised(req, ctx)) return json_error(401, "admin token required");
        if (req.method != "GET") {
            response r = json_error(405, "method not allowed; use GET");
            r.headers.push_back({"Allow", "GET"});
            return r;
        }
        response r;
        r.headers.push_back({"Content-Type", "text/plain; version=0.0.4; charset=utf-8"});
        r.headers.push_back({"Cache-Control", "no-store"});
        r.body = obs::metrics().render();
        return r;
    }
    // The page itself holds no data and a browser cannot send a token to load it; the API
    // calls it makes carry the token.
    if (auto ui = serve_ui(req)) return *ui;
    if ((req.path() == "/_runmirror/" || req.path() == "/_runmirror") &&
        (req.method == "GET" || req.method == "HEAD")) {
        // Where a person typing the daemon's prefix means to go.
        response r = json_error(302, "the page is at /_runmirror/ui/");
        r.headers.push_back({"Location", "/_runmirror/ui/"});
        return r;
    }
    const browse_viewer viewer = browse_viewer_of(req, ctx);
    if (!viewer.allowed) return json_error(401, viewer.refusal);
    if (req.path() == "/_runmirror/api/watches" && req.method == "GET" && ctx.db) {
        return watches_json(req, *ctx.db, viewer, ctx, now);
    }
    if (req.path() == "/_runmirror/api/requests" && req.method == "GET") {
        return requests_json(req, ctx.requests, viewer);
    }
    if (ctx.db) {
        if (std::optional<response> answer = handle_browse(req, *ctx.db, viewer)) return *answer;
    }
    return json_error(404, "no such runmirror endpoint: " + std::string(req.path()));
}

}  // namespace runmirror
