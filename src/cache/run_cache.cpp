// The runs routes. The paths through this file, in order:
//   hit:             stored, allowed by freshness and grant     -> serve stored bytes
//   miss -> stored:  not stored / stale / no-cache / no grant  -> forward; a 200 is stored,
//                                                                 the tenant granted, relayed
//   forward fails:   error, 5xx or 429, and a granted copy     -> serve it (stale-if-error)
//                    ... and no copy                           -> upstream's answer or 502/504
//   offline miss:    --offline or only-if-cached, no copy      -> 503 / 504 JSON (lists are
//                                                                 assembled from stored runs)
//   delete:          forward; on 2xx tombstone                 -> never served again
// Cache-Status (RFC 9211, https://www.rfc-editor.org/rfc/rfc9211) is set on every answer.
#include "cache/run_cache.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "cache/freshness.hpp"
#include "cache/list_key.hpp"
#include "http/header_rules.hpp"
#include "http/json_error.hpp"
#include "json/run_fields.hpp"
#include "util/tenant.hpp"

namespace runmirror {

namespace {

constexpr std::string_view cache_name = "runmirror";

std::string cache_status(std::string_view params) {
    std::string s(cache_name);
    s += "; ";
    s += params;
    return s;
}

response stored_answer(std::string body, std::string status_params, time_point fetched_at,
                       time_point now) {
    response r;
    r.status = 200;
    r.headers.push_back({"Content-Type", "application/json"});
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - fetched_at).count();
    r.headers.push_back({"Age", std::to_string(age < 0 ? 0 : age)});
    r.headers.push_back({"Cache-Status", cache_status(status_params)});
    r.body = std::move(body);
    return r;
}

response with_cache_status(response r, std::string params) {
    set_header(r.headers, "Cache-Status", cache_status(params));
    return r;
}

// The upstream's answer as the client should see it: end-to-end headers only (the session
// sets framing), plus Cache-Status.
response relayed(response upstream_answer, std::string params) {
    upstream_answer.headers = end_to_end_headers(upstream_answer.headers);
    return with_cache_status(std::move(upstream_answer), std::move(params));
}

// What the daemon sends upstream for a runs route: the client's end-to-end headers, minus
// Accept-Encoding, because the body must arrive as JSON the store can index.
request upstream_request(const request& client) {
    request r;
    r.method = client.method;
    r.target = client.target;
    r.headers = end_to_end_headers(client.headers);
    erase_header(r.headers, "accept-encoding");
    return r;
}

bool is_retryable_failure(int status) {
    return status == 429 || status >= 500;
}

std::string fwd_params(std::string_view fwd, int status, bool stored) {
    std::string s = "fwd=";
    s += fwd;
    s += "; fwd-status=" + std::to_string(status);
    if (stored)
        s += "; stored";
    return s;
}

response refusal(action what) {
    switch (what) {
        case action::not_found:
            return json_error(404, "Run not found (deleted)");
        case action::offline_miss: {
            response r = json_error(503, "runmirror is offline and has no stored copy");
            r.headers.push_back({"x-should-retry", "false"});
            return r;
        }
        case action::cached_miss:
            return json_error(504, "only-if-cached: no usable stored copy");
        case action::unauthenticated:
            return json_error(401, "runmirror is offline: a bearer API key is required");
        case action::forbidden:
            return json_error(403, "runmirror is offline: this key has not been shown this run");
        default:
            return json_error(500, "unexpected cache decision");
    }
}

std::string_view fwd_reason(action what, bool stored, bool no_cache) {
    if (no_cache)
        return "request";
    if (what == action::forward && stored)
        return "stale";
    return "miss";
}

}  // namespace

run_cache::run_cache(store& db, upstream* up, const cache_options& options, clock_fn now)
    : db_(db), up_(up), options_(options), now_(std::move(now)) {}

void run_cache::handle(const route_match& route, request req, reply_fn done) {
    try {
        switch (route.kind) {
            case route::run_get:
            case route::run_by_job:
                return get_run(route, std::move(req), std::move(done));
            case route::runs_list:
                return list_runs(std::move(req), std::move(done));
            case route::run_delete:
                return delete_run(route, std::move(req), std::move(done));
            default:
                break;
        }
        done(json_error(500, "not a runs route"));
    } catch (const store_error& e) {
        spdlog::error("store: {}", e.what());
        done(with_cache_status(json_error(500, "runmirror store failure"), "fwd=bypass"));
    }
}

void run_cache::get_run(const route_match& route, request req, reply_fn done) {
    const auto tenant = tenant_of(req.headers);
    const auto directives = parse_cache_directives(req.headers);
    const time_point now = now_();
    auto stored =
        route.kind == route::run_get ? db_.find_run(route.id) : db_.find_run_by_job(route.id);
    std::optional<run_state> state;
    if (stored) {
        state = run_state{stored->deleted_at.has_value(), is_final_status(stored->fields.status),
                          tenant && db_.has_grant(*tenant, stored->fields.project_id),
                          stored->fetched_at};
    }
    const decision d = decide_run(state, tenant.has_value(), directives, options_.mode,
                                  options_.pending_max_age, now);
    if (d.what == action::serve_stored) {
        std::string params = d.detail.empty() ? "hit" : "hit; detail=" + std::string(d.detail);
        return done(stored_answer(std::move(stored->body), params, stored->fetched_at, now));
    }
    if (d.what != action::forward)
        return done(with_cache_status(refusal(d.what), "fwd=miss"));

    // The fallback copy: only one this tenant may see, never a tombstone.
    std::optional<stored_copy> fallback;
    if (state && state->granted)
        fallback = stored_copy{std::move(stored->body), stored->fetched_at};
    auto keep = [this, tenant](std::string_view body, time_point now) {
        auto [fields, err] = parse_run(body);
        if (err) {
            spdlog::warn("upstream run not stored: {}", err.detail);
            return false;
        }
        db_.put_run(fields, body, now);
        if (tenant && !fields.project_id.empty())
            db_.grant(*tenant, {fields.project_id});
        return true;
    };
    forward_read(std::move(req), tenant, std::move(fallback),
                 std::string(fwd_reason(d.what, state && state->granted, directives.no_cache)),
                 std::move(keep), std::move(done));
}

void run_cache::list_runs(request req, reply_fn done) {
    const auto key = normalise_list_query(req.query());
    const auto params = parse_list_params(req.query());
    if (!key || !params) {
        return done(with_cache_status(json_error(400, "invalid query string"), "fwd=bypass"));
    }
    const auto tenant = tenant_of(req.headers);
    const auto directives = parse_cache_directives(req.headers);
    const time_point now = now_();
    std::optional<stored_list_page> page;
    if (tenant)
        page = db_.find_list_page(*tenant, *key);
    std::optional<time_point> fetched_at;
    if (page)
        fetched_at = page->fetched_at;
    const decision d = decide_list(fetched_at, tenant.has_value(), directives, options_.mode,
                                   options_.list_max_age, now);

    if (d.what == action::serve_stored) {
        std::string status = d.detail.empty() ? "hit" : "hit; detail=" + std::string(d.detail);
        return done(stored_answer(std::move(page->body), status, page->fetched_at, now));
    }
    if ((d.what == action::offline_miss || d.what == action::cached_miss) && tenant) {
        return done(assemble_list(*tenant, *params, now));
    }
    if (d.what != action::forward)
        return done(with_cache_status(refusal(d.what), "fwd=miss"));

    std::optional<stored_copy> fallback;
    if (page)
        fallback = stored_copy{std::move(page->body), page->fetched_at};
    auto keep = [this, tenant, key = *key](std::string_view body, time_point now) {
        if (!tenant)
            return false;
        auto [list, err] = parse_run_list(body);
        if (err) {
            spdlog::warn("upstream list not stored: {}", err.detail);
            return false;
        }
        std::set<std::string> projects;
        for (const auto& [fields, bytes] : list.items) {
            if (!fields.project_id.empty())
                projects.insert(fields.project_id);
        }
        db_.put_runs(list.items, now);
        db_.grant(*tenant, {projects.begin(), projects.end()});
        db_.put_list_page(*tenant, key, body, now);
        return true;
    };
    forward_read(std::move(req), tenant, std::move(fallback),
                 std::string(fwd_reason(d.what, page.has_value(), directives.no_cache)),
                 std::move(keep), std::move(done));
}

// Assembles a page from stored runs this tenant may see, in the upstream's order
// (created_at descending). It may miss runs the mirror never saw, and says so.
response run_cache::assemble_list(const std::string& tenant, const list_params& params,
                                  time_point now) {
    run_page found = db_.list_runs(run_query{tenant, params.extraction_agent_id, params.project_id,
                                             params.skip, params.limit});
    std::string body = "{\"items\":[";
    for (std::size_t i = 0; i < found.items.size(); ++i) {
        if (i)
            body += ',';
        body += found.items[i].body;
    }
    body += "],\"total\":" + std::to_string(found.total) +
            ",\"skip\":" + std::to_string(params.skip) +
            ",\"limit\":" + std::to_string(params.limit) + "}";
    return stored_answer(std::move(body), "hit; detail=assembled", now, now);
}

void run_cache::forward_read(request req, std::optional<std::string> tenant,
                             std::optional<stored_copy> fallback, std::string fwd, keep_fn keep,
                             reply_fn done) {
    up_->async_send(upstream_request(req), [this, tenant = std::move(tenant),
                                            fallback = std::move(fallback), fwd = std::move(fwd),
                                            keep = std::move(keep),
                                            done = std::move(done)](upstream_reply reply) mutable {
        try {
            const time_point now = now_();
            const bool failed = bool(reply.failure) || is_retryable_failure(reply.answer.status);
            if (failed && fallback) {
                std::string params = "hit; detail=stale-if-error";
                if (!reply.failure)
                    params += "; fwd-status=" + std::to_string(reply.answer.status);
                return done(
                    stored_answer(std::move(fallback->body), params, fallback->fetched_at, now));
            }
            if (reply.failure) {
                spdlog::warn("upstream: {} ({})", reply.failure.detail,
                             to_string(reply.failure.code));
                return done(
                    with_cache_status(json_error(status_for_upstream_failure(reply.failure.code),
                                                 "upstream unavailable: " + reply.failure.detail),
                                      "fwd=" + fwd));
            }
            const int status = reply.answer.status;
            if (status == 401 && tenant)
                db_.revoke_tenant(*tenant);
            const bool stored = status == 200 && keep(reply.answer.body, now);
            done(relayed(std::move(reply.answer), fwd_params(fwd, status, stored)));
        } catch (const store_error& e) {
            spdlog::error("store: {}", e.what());
            done(with_cache_status(json_error(500, "runmirror store failure"), "fwd=" + fwd));
        }
    });
}

void run_cache::delete_run(const route_match& route, request req, reply_fn done) {
    if (options_.mode == serve_mode::offline) {
        response r = json_error(503, "runmirror is offline: deletes are refused");
        r.headers.push_back({"x-should-retry", "false"});
        return done(with_cache_status(std::move(r), "fwd=method"));
    }
    up_->async_send(upstream_request(req), [this, id = route.id, tenant = tenant_of(req.headers),
                                            done = std::move(done)](upstream_reply reply) mutable {
        if (reply.failure) {
            return done(
                with_cache_status(json_error(status_for_upstream_failure(reply.failure.code),
                                             "upstream unavailable: " + reply.failure.detail),
                                  "fwd=method"));
        }
        const int status = reply.answer.status;
        try {
            if (status >= 200 && status < 300)
                db_.tombstone_run(id, now_());
            if (status == 401 && tenant)
                db_.revoke_tenant(*tenant);
        } catch (const store_error& e) {
            // Upstream deleted it; the client must know, even if the tombstone failed.
            spdlog::error("store: tombstone of {} failed: {}", id, e.what());
        }
        done(relayed(std::move(reply.answer), "fwd=method; fwd-status=" + std::to_string(status)));
    });
}

}  // namespace runmirror
