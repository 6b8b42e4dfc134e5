// The runs routes. The paths through this file, in order:
//   hit:             stored, allowed by freshness and grant     -> serve stored bytes
//   miss -> stored:  not stored / stale / no-cache / no grant  -> forward (one upstream request
//                                                                 per tenant and key, shared by
//                                                                 concurrent misses); a 200 is
//                                                                 stored, the tenant granted
//   stale-while-revalidate: not final (or a list page) past max age, within the window
//                                                              -> serve stored bytes, refresh
//                                                                 in the background (one
//                                                                 request, shared as above)
//   upstream down:   the breaker says so, and a granted copy   -> serve it at once
//                                                                 (stale-if-error); without
//                                                                 one, forward all the same
//   store failure:   a 200 the store cannot write              -> relay it (detail=not-stored)
//   forward fails:   no answer, 5xx, 429 or a broken body, and
//                    a granted copy                            -> serve it (stale-if-error)
//                    ... a list and no copy                    -> assemble from stored runs
//                    ... and nothing                           -> 502/503/504 JSON, or the
//                                                                 upstream's own JSON error
//   reconcile:       404 for a run the tenant had a grant for  -> tombstone it
//   offline miss:    --offline or only-if-cached, no copy      -> 503 / 504 JSON (lists are
//                                                                 assembled from stored runs)
//   delete:          forward; on 2xx tombstone                 -> never served again
// Cache-Status (RFC 9211, https://www.rfc-editor.org/rfc/rfc9211) is set on every answer.
#include "cache/run_cache.hpp"

#include <array>
#include <charconv>
#include <set>

#include "util/logging.hpp"

#include "admin/browse_json.hpp"
#include "cache/freshness.hpp"
#include "cache/list_key.hpp"
#include "http/header_rules.hpp"
#include "http/json_error.hpp"
#include "json/run_fields.hpp"
#include "obs/metrics.hpp"
#include "util/tenant.hpp"

namespace runmirror {

namespace {

constexpr std::string_view cache_name = "runmirror";

std::string cache_status(std::string_view params) {
    std::string s;
    s.reserve(cache_name.size() + 2 + params.size());
    s += cache_name;
    s += "; ";
    s += params;
    return s;
}

// |body| is shared with the store's memory cache (or owned by the pointer, for assembled pages).
response stored_answer(std::shared_ptr<const std::string> body, std::string_view status_params,
                       time_point fetched_at, time_point now) {
    response r;
    r.status = 200;
    r.headers.reserve(3);
    r.headers.push_back({"Content-Type", "application/json"});
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - fetched_at).count();
    r.headers.push_back({"Age", std::to_string(age < 0 ? 0 : age)});
    r.headers.push_back({"Cache-Status", cache_status(status_params)});
    r.shared_body = std::move(body);
    return r;
}

template <class Stored>
std::shared_ptr<const std::string> body_of(const std::shared_ptr<const Stored>& stored) {
    return {stored, &stored->body};
}

// A stored page's answer: from its memory file when the memory cache keeps it in one.
response stored_page_answer(const std::shared_ptr<const stored_list_page>& page,
                            std::string_view status_params, time_point now) {
    if (!page->file) return stored_answer(body_of(page), status_params, page->fetched_at, now);
    response r = stored_answer(nullptr, status_params, page->fetched_at, now);
    r.file_body = page->file;
    return r;
}

response with_cache_status(response r, std::string params) {
    set_header(r.headers, "Cache-Status", cache_status(params));
    return r;
}

// The upstream's answer as the client should see it: end-to-end headers only (the session
// sets framing), plus Cache-Status.
response relayed(response upstream_answer, std::string params) {
    keep_end_to_end(upstream_answer.headers);
    return with_cache_status(std::move(upstream_answer), std::move(params));
}

// What the daemon sends upstream for a runs route: the client's end-to-end headers, minus
// Accept-Encoding, because the body must arrive as JSON the store can index.
request upstream_request(request client) {
    keep_end_to_end(client.headers);
    erase_header(client.headers, "accept-encoding");
    return client;
}

bool is_retryable_failure(int status) {
    return status == 429 || status >= 500;
}

constexpr std::string_view stale_if_error = "hit; detail=stale-if-error";

// Page tokens runmirror issues for pages it assembles; the upstream's never start so.
constexpr std::string_view own_token_prefix = "runmirror.";

bool is_own_page_token(std::string_view token) {
    return token.starts_with(own_token_prefix);
}

std::string_view param_value(const query_params& params, std::string_view name) {
    for (const auto& [k, v] : params)
        if (k == name) return v;
    return {};
}

// Why a 200 was not stored, for Cache-Status: the store refused the write.
constexpr std::string_view not_stored_detail = "; detail=not-stored";

std::string fwd_params(std::string_view fwd, int status, bool stored) {
    std::array<char, 16> digits;
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), status).ptr;
    std::string s;
    s.reserve(48);
    s += "fwd=";
    s += fwd;
    s += "; fwd-status=";
    s.append(digits.data(), end);
    if (stored) s += "; stored";
    return s;
}

response refusal(action what) {
    switch (what) {
        case action::not_found: return json_error(404, "Run not found (deleted)");
        case action::offline_miss: {
            response r = json_error(503, "runmirror is offline and has no stored copy");
            r.headers.push_back({"x-should-retry", "false"});
            return r;
        }
        case action::cached_miss: return json_error(504, "only-if-cached: no usable stored copy");
        case action::unauthenticated:
            return json_error(401, "runmirror is offline: a bearer API key is required");
        case action::forbidden:
            return json_error(403, "runmirror is offline: this key has not been shown this run");
        default: return json_error(500, "unexpected cache decision");
    }
}

// The start of an assembled page, '{"items":[...]', for the caller to finish with its paging
// members and '}'. Sized once: a page is a few hundred KB, and growing it by doubling copies it
// each time (and, past malloc's mmap threshold, maps and faults in fresh pages each time).
std::string items_page(const std::vector<stored_run>& items) {
    std::size_t size = 128;
    for (const stored_run& item : items)
        size += item.body.size() + 1;
    std::string body;
    body.reserve(size);
    body = "{\"items\":[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) body += ',';
        body += items[i].body;
    }
    body += ']';
    return body;
}

std::string hit_params(const decision& d) {
    return d.detail.empty() ? "hit" : "hit; detail=" + std::string(d.detail);
}

std::string_view fwd_reason(action what, bool stored, bool no_cache) {
    if (no_cache) return "request";
    if (what == action::forward && stored) return "stale";
    return "miss";
}

}  // namespace

run_cache::run_cache(store& db, upstream* up, const cache_options& options, clock_fn now)
    : db_(db), up_(up), options_(options), now_(std::move(now)) {}

void run_cache::handle(const route_match& route, request req, reply_fn done) {
    try {
        // The key's digest is computed once per request (the session may have): it is on the
        // hit path.
        std::optional<std::string> tenant;
        if (const request_caller& who = caller_of(req); !who.key.empty()) {
            if (observer_) observer_->on_api_key(who.key, who.tenant);
            tenant = std::move(req.caller->tenant);
            req.caller.reset();  // what is left of it is not the caller any more
        }
        if (route.resource != nullptr) {
            switch (route.kind) {
                case route::item_get:
                case route::item_by_job:
                case route::item_result: return get_run(route, std::move(tenant), req, done);
                case route::list: return list_runs(route, std::move(tenant), req, done);
                case route::item_delete:
                    return delete_run(route, std::move(tenant), std::move(req), std::move(done));
                case route::item_cancel:
                case route::item_create:
                    return write_item(route, std::move(tenant), std::move(req), std::move(done));
                default: break;
            }
        }
        done(json_error(500, "not a resource route"));
    } catch (const store_error& e) {
        // The store cannot even be read: the upstream may still answer. |req| and |done| are
        // moved from only after the store has been consulted (a moved-from std::function is
        // empty); if the answer is already on its way, there is nothing left to do.
        log::error("store: {}", e.what());
        if (!done) return;
        if (options_.mode == serve_mode::offline) {
            return done(with_cache_status(json_error(500, "runmirror store failure"), "fwd=miss"));
        }
        forward_unstored(std::move(req), std::move(done));
    }
}

void run_cache::forward_unstored(request req, reply_fn done) {
    up_->async_send(
        upstream_request(std::move(req)), [done = std::move(done)](upstream_reply reply) {
            const auto finish = [&](response r) {
                r.upstream_seconds = reply.seconds;
                done(std::move(r));
            };
            if (reply.failure) {
                return finish(
                    with_cache_status(json_error(status_for_upstream_failure(reply.failure.code),
                                                 "upstream unavailable: " + reply.failure.detail),
                                      "fwd=miss"));
            }
            const int status = reply.answer.status;
            finish(relayed(std::move(reply.answer),
                           fwd_params("miss", status, false) + std::string(not_stored_detail)));
        });
}

// Starts the one background refresh of a stale entry (joins it if it is already out): its
// answer is stored, and nobody waits for it.
void run_cache::refresh_in_background(std::string flight, request req,
                                      std::optional<std::string> tenant, std::string_view fwd,
                                      settle_fn settle) {
    forward_read(std::move(flight), std::move(req), std::move(tenant), nullptr, fwd,
                 std::move(settle), nullptr, [](response) {});
}

void run_cache::get_run(const route_match& route, std::optional<std::string> tenant, request& req,
                        reply_fn& done) {
    const resource_kind& kind = *route.resource;
    // Each representation (v2 "?expand=") is stored and served as its own; a query that is
    // not valid asks for one the store cannot tell, so it goes upstream unstored.
    std::string variant;
    const bool result = route.kind == route::item_result;
    if (result) {
        variant = result_variant;
    } else if (!kind.variant_param.empty()) {
        auto decoded = decode_query(req.query());
        if (!decoded) return forward_unstored(std::move(req), std::move(done));
        variant = variant_of(*decoded, kind.variant_param);
    }
    const auto directives = parse_cache_directives(req.headers);
    const time_point now = now_();
    const auto stored = route.kind == route::item_by_job
                            ? db_.find_run_by_job(route.id)
                            : db_.find_run(store_key(kind, route.id, variant));
    std::optional<run_state> state;
    if (stored) {
        state = run_state{stored->deleted_at.has_value(), kind.is_final(stored->fields.status),
                          tenant && db_.has_grant(*tenant, stored->fields.project_id),
                          stored->fetched_at};
    }
    const decision d = decide_run(state, tenant.has_value(), directives, options_.mode,
                                  options_.pending_max_age, now, options_.stale_while_revalidate);
    if (d.what == action::serve_stored) {
        return done(stored_answer(body_of(stored), hit_params(d), stored->fetched_at, now));
    }
    if (d.what != action::forward && d.what != action::serve_and_revalidate) {
        return done(with_cache_status(refusal(d.what), "fwd=miss"));
    }

    // |granted|: a run this tenant was shown, so a 404 now means it was deleted.
    const bool granted = state && state->granted;
    if (granted && up_->believed_down()) {
        // Knowing the upstream is down only makes the stored copy the answer sooner.
        return done(stored_answer(body_of(stored), stale_if_error, stored->fetched_at, now));
    }
    fallback_fn fallback;
    if (granted) {
        fallback = [stored](const std::string& params, time_point now) -> std::optional<response> {
            return stored_answer(body_of(stored), params, stored->fetched_at, now);
        };
    }
    // A final run the tenant may see, asked again (no-cache): the upstream client compares
    // the answer with the stored bytes as it reads it, and shares them when they are the same.
    const bool revalidating =
        granted && !stored->deleted_at && kind.is_final(stored->fields.status);
    const bool by_job = route.kind == route::item_by_job;
    auto settle = [this, &kind, variant, stored, granted, revalidating, result, by_job,
                   id = route.id](const response& answer, const std::optional<std::string>& tenant,
                                  time_point now) {
        if (answer.status == 404 && granted) {
            const std::string& known_id = stored->fields.id;
            log::info("{} {} is gone upstream: tombstoned", kind.label, known_id);
            db_.tombstone_run(store_key(kind, known_id), now);
            return kept::not_stored;
        }
        if (answer.status != 200) return kept::not_stored;
        if (revalidating && (answer.shared_body.get() == &stored->body ||
                             answer.body_bytes() == std::string_view(stored->body))) {
            // A final run revalidated with the very bytes the store holds (a client's no-cache
            // read): nothing to parse, write or grant. Its fetched_at stays: freshness never
            // reads it for a final run.
            return kept::stored;
        }
        if (answer.file_body) return too_large_to_store(kind);
        const std::string_view body = answer.body_bytes();
        if (result) {
            if (store_result(db_, kind, id, body, now)) return kept::stored;
            log::warn("upstream {} result not stored: not a JSON object", kind.label);
            return kept::invalid;
        }
        auto [fields, err] = parse_run(body, kind);
        if (err) {
            log::warn("upstream {} not stored: {}", kind.label, err.detail);
            return kept::invalid;
        }
        if (by_job ? !fields.job_id.empty() && fields.job_id != id : fields.id != id) {
            // Stored under its own id it would be an answer nobody asked for; under the asked
            // one, a wrong answer served for good.
            log::warn("upstream answered {}{} with {} {}: not stored", by_job ? "job " : "", id,
                      kind.label, fields.id);
            return kept::declined;
        }
        fields.variant = variant;
        auto previous = observer_ ? db_.find_run(store_key(kind, fields.id)) : nullptr;
        db_.put_run(fields, body, now);
        if (tenant && !fields.project_id.empty()) db_.grant(*tenant, {fields.project_id});
        if (observer_) {
            observer_->on_run_stored(fields, previous ? previous->fields.status : "", tenant,
                                     seen_in::read);
        }
        return kept::stored;
    };
    // Tenant, kind, how it is asked for (by id or by job id) and which representation.
    const std::string_view by = by_job ? " job " : " ";
    std::string flight;
    flight.reserve((tenant ? tenant->size() : 0) + 1 + kind.name.size() + by.size() +
                   route.id.size() + 1 + variant.size());
    if (tenant) flight += *tenant;
    flight += '\n';
    flight += kind.name;
    flight += by;
    flight += route.id;
    if (!variant.empty()) {
        flight += '?';
        flight += variant;
    }
    if (d.what == action::serve_and_revalidate) {
        done(stored_answer(body_of(stored), hit_params(d), stored->fetched_at, now));
        return refresh_in_background(std::move(flight), std::move(req), std::move(tenant), "stale",
                                     std::move(settle));
    }
    forward_read(std::move(flight), std::move(req), std::move(tenant), std::move(fallback),
                 fwd_reason(d.what, granted, directives.no_cache), std::move(settle),
                 revalidating ? body_of(stored) : nullptr, std::move(done));
}

void run_cache::list_runs(const route_match& route, std::optional<std::string> tenant, request& req,
                          reply_fn& done) {
    const resource_kind& kind = *route.resource;
    auto decoded = decode_query(req.query());
    if (!decoded) {
        return done(with_cache_status(json_error(400, "invalid query string"), "fwd=bypass"));
    }
    // How a page never fetched is made from stored resources, when the store can answer the
    // query exactly; empty when it cannot.
    std::function<response(const std::string& tenant, time_point now)> assemble;
    bool own_token = false;  // a page_token runmirror issued: only it can answer
    if (kind.paging == list_paging::skip_limit) {
        auto params = list_params_of(*decoded);
        if (!params) {
            return done(with_cache_status(json_error(400, "invalid query string"), "fwd=bypass"));
        }
        assemble = [this, params = *params](const std::string& tenant, time_point now) {
            return assemble_list(tenant, params, "hit; detail=assembled", now);
        };
    } else if (kind.paging == list_paging::plain_array) {
        // Every item at once: a page the store never saw cannot be told from stored items.
    } else if (auto params = cursor_list_params_of(*decoded, kind.owner_member)) {
        own_token = is_own_page_token(params->page_token);
        assemble = [this, &kind, params = *params](const std::string& tenant, time_point now) {
            return assemble_cursor_page(kind, tenant, params, now);
        };
    } else if (is_own_page_token(param_value(*decoded, "page_token"))) {
        return done(with_cache_status(
            json_error(400,
                       "this page_token was issued by runmirror for a query it can answer "
                       "from its store; change only page_token between pages"),
            "fwd=miss"));
    }
    // Items of a list asked with "expand" are that representation of each resource.
    std::string variant = variant_of(*decoded, kind.variant_param);
    // v1 runs' pages keep the keys stores already hold; other kinds' carry the kind's name.
    std::optional<std::string> key = list_key_of(std::move(*decoded));
    if (!kind.store_prefix.empty()) key->insert(0, std::string(kind.name) + '\n');
    const auto directives = parse_cache_directives(req.headers);
    const time_point now = now_();
    // Assembled pages only for a tenant upstream has shown resources: for any other key an
    // empty page would read as "this agent has none".
    if (own_token) {
        if (!tenant || !db_.has_any_grant(*tenant)) {
            return done(with_cache_status(
                json_error(403, "this page_token was issued by runmirror to another key"),
                "fwd=miss"));
        }
        return done(assemble(*tenant, now));
    }
    std::shared_ptr<const stored_list_page> page;
    if (tenant) page = db_.find_list_page(*tenant, *key);
    std::optional<time_point> fetched_at;
    if (page) fetched_at = page->fetched_at;
    const decision d = decide_list(fetched_at, tenant.has_value(), directives, options_.mode,
                                   options_.list_max_age, now, options_.stale_while_revalidate);

    if (d.what == action::serve_stored) {
        return done(stored_page_answer(page, hit_params(d), now));
    }
    const bool known_tenant = assemble && tenant && db_.has_any_grant(*tenant);
    if (d.what == action::offline_miss || d.what == action::cached_miss) {
        if (known_tenant) return done(assemble(*tenant, now));
        if (tenant && assemble && options_.mode == serve_mode::offline) {
            return done(with_cache_status(
                json_error(403, "runmirror is offline: upstream has never shown this key any " +
                                    std::string(kind.label) + "s"),
                "fwd=miss"));
        }
    }
    if (d.what != action::forward && d.what != action::serve_and_revalidate) {
        return done(with_cache_status(refusal(d.what), "fwd=miss"));
    }
    if (page && up_->believed_down()) return done(stored_page_answer(page, stale_if_error, now));
    if (!page && known_tenant && up_->believed_down()) return done(assemble(*tenant, now));

    fallback_fn fallback;
    if (page) {
        fallback = [page](const std::string& params, time_point now) -> std::optional<response> {
            return stored_page_answer(page, params, now);
        };
    } else if (known_tenant) {
        // Never fetched and the upstream fails: what the store has is better than an error.
        fallback = [tenant = *tenant, assemble](const std::string&,
                                                time_point now) -> std::optional<response> {
            return assemble(tenant, now);
        };
    }
    auto settle = [this, &kind, variant, key = *key](const response& answer,
                                                     const std::optional<std::string>& tenant,
                                                     time_point now) {
        if (answer.status != 200) return kept::not_stored;
        if (answer.file_body) return too_large_to_store(kind);
        auto [list, err] = parse_run_list(answer.body_bytes(), kind);
        if (err) {
            log::warn("upstream list not stored: {}", err.detail);
            return kept::invalid;
        }
        if (!tenant) return kept::not_stored;
        std::set<std::string> projects;
        for (auto& [fields, bytes] : list.items) {
            if (!fields.project_id.empty()) projects.insert(fields.project_id);
            fields.variant = variant;
        }
        // The status each item had, for the observer: the one of its plain representation,
        // which put_runs reports itself when the page is not of another one.
        std::vector<std::string> previous;
        if (observer_ && !variant.empty()) {
            for (const auto& [fields, bytes] : list.items) {
                auto before = db_.find_run(store_key(kind, fields.id));
                previous.push_back(before ? before->fields.status : "");
            }
        }
        std::vector<put_outcome> outcomes = db_.put_runs(list.items, now);
        db_.grant(*tenant, {projects.begin(), projects.end()});
        db_.put_list_page(*tenant, key, answer.body_bytes(), now);
        if (observer_) {
            for (std::size_t i = 0; i < list.items.size(); ++i) {
                observer_->on_run_stored(
                    list.items[i].first,
                    variant.empty() ? outcomes[i].previous_status : previous[i], tenant,
                    seen_in::list);
            }
        }
        return kept::stored;
    };
    std::string flight = tenant.value_or("") + "\nlist " + *key;  // the key names the kind
    if (d.what == action::serve_and_revalidate) {
        done(stored_page_answer(page, hit_params(d), now));
        return refresh_in_background(std::move(flight), std::move(req), std::move(tenant), "stale",
                                     std::move(settle));
    }
    forward_read(std::move(flight), std::move(req), std::move(tenant), std::move(fallback),
                 fwd_reason(d.what, page != nullptr, directives.no_cache), std::move(settle),
                 nullptr, std::move(done));
}

// Assembles a page from stored runs this tenant may see, in the upstream's order
// (created_at descending). It may miss runs the mirror never saw, and says so.
response run_cache::assemble_list(const std::string& tenant, const list_params& params,
                                  const std::string& cache_params, time_point now) {
    run_page found = db_.list_runs(run_query{tenant, params.extraction_agent_id, params.project_id,
                                             params.skip, params.limit});
    std::string body = items_page(found.items);
    body += ",\"total\":" + std::to_string(found.total) +
            ",\"skip\":" + std::to_string(params.skip) +
            ",\"limit\":" + std::to_string(params.limit) + "}";
    return stored_answer(std::make_shared<const std::string>(std::move(body)), cache_params, now,
                         now);
}

// A cursor page (v2) from stored resources this tenant may see, newest first, with a
// page_token of runmirror's own for the next one: the keyset of its last item.
response run_cache::assemble_cursor_page(const resource_kind& kind, const std::string& tenant,
                                         const cursor_list_params& params, time_point now) {
    run_browse_query query;
    query.kind = &kind;
    query.tenant = tenant;
    query.extraction_agent_id = params.owner;
    query.project_id = params.project_id;
    query.status = params.status;
    query.limit = static_cast<std::size_t>(params.page_size);
    query.with_bodies = true;
    // Items of a plain list: a job stored only as an ?expand= variant is not one of them.
    query.representation = browse_representation::plain_only;
    if (!params.page_token.empty()) {
        query.after = decode_cursor(params.page_token.substr(own_token_prefix.size()));
        if (!query.after) {
            return with_cache_status(json_error(400, "page_token is not one runmirror issued"),
                                     "fwd=miss");
        }
    }
    const run_browse_page found = db_.browse_runs(query);
    std::string body = items_page(found.items);
    body += ",\"next_page_token\":";
    if (found.next) {
        body += '"';
        body += own_token_prefix;
        body += encode_cursor(*found.next);  // base64url: nothing to escape
        body += '"';
    } else {
        body += "null";
    }
    body += '}';
    return stored_answer(std::make_shared<const std::string>(std::move(body)),
                         "hit; detail=assembled", now, now);
}

void run_cache::forward_read(std::string key, request req, std::optional<std::string> tenant,
                             fallback_fn fallback, std::string_view fwd, settle_fn settle,
                             std::shared_ptr<const std::string> known_body, reply_fn done) {
    flight_map::value_type* entry;
    {
        std::lock_guard lock(flights_mutex_);
        auto [it, created] = flights_.try_emplace(std::move(key));
        if (!created) {
            it->second.others.push_back(std::move(done));
            obs::metrics().record_coalesced();
            return;  // a request for it is already out
        }
        it->second.first = std::move(done);
        entry = &*it;
    }
    // Only this request's callback reads these or erases the flight; later waiters touch
    // nothing but |others|, under the lock.
    flight& f = entry->second;
    f.tenant = std::move(tenant);
    f.fallback = std::move(fallback);
    f.fwd = fwd;
    f.settle = std::move(settle);
    auto on_reply = [this, entry](upstream_reply reply) {
        const flight& f = entry->second;
        response answer = answer_read(reply, f.tenant, f.fallback, f.fwd, f.settle);
        answer.upstream_seconds = reply.seconds;
        finish_flight(*entry, std::move(answer));
    };
    if (known_body) {
        up_->async_revalidate(upstream_request(std::move(req)), std::move(known_body),
                              std::move(on_reply));
    } else {
        up_->async_send(upstream_request(std::move(req)), std::move(on_reply));
    }
}

response run_cache::answer_read(upstream_reply& reply, const std::optional<std::string>& tenant,
                                const fallback_fn& fallback, std::string_view fwd,
                                const settle_fn& settle) {
    try {
        const time_point now = now_();
        const int status = reply.failure ? 0 : reply.answer.status;
        kept outcome = kept::not_stored;
        if (!reply.failure && !is_retryable_failure(status)) {
            try {
                outcome = settle(reply.answer, tenant, now);
                if (outcome != kept::invalid && status == 401 && tenant) {
                    db_.revoke_tenant(*tenant);
                }
            } catch (const store_error& e) {
                // The store keeps the episode (write_health, one log line); the client still
                // gets what upstream said.
                log::debug("store: {}", e.what());
                return relayed(std::move(reply.answer),
                               fwd_params(fwd, status, false) + std::string(not_stored_detail));
            }
            if (outcome != kept::invalid) {
                std::string params = fwd_params(fwd, status, outcome == kept::stored);
                if (outcome == kept::declined) params += not_stored_detail;
                return relayed(std::move(reply.answer), params);
            }
        }
        // The exchange failed: no answer, 5xx, 429, or a 200 whose body is broken.
        std::string stale(stale_if_error);
        if (!reply.failure) stale += "; fwd-status=" + std::to_string(status);
        if (fallback) {
            if (auto r = fallback(stale, now)) return std::move(*r);
        }
        if (reply.failure) {
            log::warn("upstream: {} ({})", reply.failure.detail, to_string(reply.failure.code));
            response r = json_error(status_for_upstream_failure(reply.failure.code),
                                    "upstream unavailable: " + reply.failure.detail);
            if (reply.retry_in.count() > 0) {
                r.headers.push_back(
                    {"Retry-After", std::to_string((reply.retry_in.count() + 999) / 1000)});
            }
            return with_cache_status(std::move(r), "fwd=" + std::string(fwd));
        }
        if (outcome == kept::invalid) {
            return with_cache_status(json_error(502,
                                                "upstream answered 200 with a body that is "
                                                "not a valid extraction run JSON"),
                                     fwd_params(fwd, status, false));
        }
        // A 5xx or 429 and nothing stored: the upstream's own JSON error (with its Retry-After,
        // which the SDKs obey), or a JSON 502 in place of a gateway's HTML page.
        if (is_json_object(reply.answer.body_bytes())) {
            return relayed(std::move(reply.answer), fwd_params(fwd, status, false));
        }
        return with_cache_status(
            json_error(502, "upstream answered " + std::to_string(status) + " without a JSON body"),
            fwd_params(fwd, status, false));
    } catch (const store_error& e) {
        log::error("store: {}", e.what());
        return with_cache_status(json_error(500, "runmirror store failure"),
                                 "fwd=" + std::string(fwd));
    }
}

void run_cache::finish_flight(const flight_map::value_type& entry, response answer) {
    reply_fn first;
    std::vector<reply_fn> others;
    {
        std::lock_guard lock(flights_mutex_);
        auto it = flights_.find(entry.first);
        first = std::move(it->second.first);
        others = std::move(it->second.others);
        flights_.erase(it);
    }
    // In the order they came; the last one takes the answer itself, the others a copy.
    if (others.empty()) return first(std::move(answer));
    first(answer);
    for (std::size_t i = 0; i + 1 < others.size(); ++i)
        others[i](answer);
    others.back()(std::move(answer));
}

std::size_t run_cache::waiting_clients() const {
    std::lock_guard lock(flights_mutex_);
    std::size_t n = 0;
    for (const auto& [key, f] : flights_)
        n += 1 + f.others.size();
    return n;
}

void run_cache::delete_run(const route_match& route, std::optional<std::string> tenant, request req,
                           reply_fn done) {
    forward_write(
        std::move(tenant), std::move(req), "deletes",
        [this, key = store_key(*route.resource, route.id)](const response&, time_point now) {
            db_.tombstone_run(key, now);
        },
        std::move(done));
}

// A write that answers with the resource itself (v2: a created job, a cancelled one): what
// upstream said is the resource's newest state, stored like a read's answer.
void run_cache::write_item(const route_match& route, std::optional<std::string> tenant, request req,
                           reply_fn done) {
    const resource_kind& kind = *route.resource;
    const std::string_view what = route.kind == route::item_create ? "creations" : "cancels";
    forward_write(
        tenant, std::move(req), what,
        [this, &kind, tenant, id = route.id](const response& answer, time_point now) {
            store_written(kind, tenant, id, answer.body_bytes(), now);
        },
        std::move(done));
}

run_cache::kept run_cache::too_large_to_store(const resource_kind& kind) {
    log::warn(
        "upstream {} answer larger than the store limit (--store-body-limit-mb): relayed, "
        "not stored",
        kind.label);
    return kept::declined;
}

void run_cache::store_written(const resource_kind& kind, const std::optional<std::string>& tenant,
                              std::string_view id, std::string_view answer, time_point now) {
    auto [fields, err] = parse_run(answer, kind);
    if (err || (!id.empty() && fields.id != id)) {
        log::warn("{} answer not stored: {}", kind.label,
                  err ? err.detail : "it names another " + std::string(kind.label));
        return;
    }
    auto previous = observer_ ? db_.find_run(store_key(kind, fields.id)) : nullptr;
    db_.put_run(fields, answer, now);
    if (tenant && !fields.project_id.empty()) db_.grant(*tenant, {fields.project_id});
    // A new job is watched until final, whether or not its client polls it.
    if (observer_) {
        observer_->on_run_stored(fields, previous ? previous->fields.status : "", tenant,
                                 seen_in::write);
    }
}

void run_cache::store_created(const resource_kind& kind, const header_list& request_headers,
                              std::string_view answer) {
    std::optional<std::string> tenant;
    if (auto key = bearer_key(request_headers)) {
        tenant = tenant_of_key(*key);
        if (observer_) observer_->on_api_key(*key, *tenant);
    }
    try {
        store_written(kind, tenant, {}, answer, now_());
    } catch (const std::exception& e) {
        // The client has its answer already; a store failure is kept by the store's health.
        log::warn("{} created through pass-through not stored: {}", kind.label, e.what());
    }
}

void run_cache::forward_write(std::optional<std::string> tenant, request req, std::string_view what,
                              write_fn on_success, reply_fn done) {
    if (options_.mode == serve_mode::offline) {
        response r = json_error(503, "runmirror is offline: " + std::string(what) + " are refused");
        r.headers.push_back({"x-should-retry", "false"});
        return done(with_cache_status(std::move(r), "fwd=method"));
    }
    // Writes are never coalesced nor retried here: each one is the client's own.
    up_->async_send(upstream_request(std::move(req)),
                    [this, tenant = std::move(tenant), on_success = std::move(on_success),
                     done = std::move(done)](upstream_reply reply) {
                        const auto finish = [&](response r) {
                            r.upstream_seconds = reply.seconds;
                            done(std::move(r));
                        };
                        if (reply.failure) {
                            return finish(with_cache_status(
                                json_error(status_for_upstream_failure(reply.failure.code),
                                           "upstream unavailable: " + reply.failure.detail),
                                "fwd=method"));
                        }
                        const int status = reply.answer.status;
                        try {
                            if (status >= 200 && status < 300) on_success(reply.answer, now_());
                            if (status == 401 && tenant) db_.revoke_tenant(*tenant);
                        } catch (const store_error& e) {
                            // Upstream did it; the client must know, even if recording it failed.
                            log::error("store: recording a {} answer failed: {}",
                                       reply.answer.status, e.what());
                        }
                        finish(relayed(std::move(reply.answer),
                                       "fwd=method; fwd-status=" + std::to_string(status)));
                    });
}

}  // namespace runmirror
