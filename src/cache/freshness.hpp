#pragma once
// When may a stored run or list page answer a request? One pure function per kind of entry,
// with |now| passed in, so every rule is table-tested without sockets or sleeps.
// Rules: DESIGN.md "Freshness" and "Tenancy"; RFC 9111 for no-cache / only-if-cached.

#include <optional>
#include <string_view>

#include "http/header_rules.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/options.hpp"

namespace runmirror {

enum class action {
    serve_stored,     // answer from the store
    forward,          // ask upstream (and store what it says)
    not_found,        // the run was deleted through the daemon: 404, never served again
    offline_miss,     // --offline and nothing usable stored: 503, x-should-retry: false
    cached_miss,      // only-if-cached and nothing usable stored: 504 (RFC 9111 §5.2.1.7)
    unauthenticated,  // offline and no bearer key: 401
    forbidden,        // offline and the tenant holds no grant for the run's project: 403
    // Past max age but within the stale-while-revalidate window (RFC 5861): serve the stored
    // answer at once and refresh it in the background, so no client waits on a refresh.
    serve_and_revalidate,
};

std::string_view to_string(action a);

// What the store knows about one run, as far as the decision needs it.
struct run_state {
    bool deleted = false;
    bool final = false;    // SUCCESS or ERROR
    bool granted = false;  // the requesting tenant holds a grant for the run's project
    time_point fetched_at;
};

struct decision {
    action what;
    std::string_view detail;  // for Cache-Status: "stale" when a non-final run is served aged
};

// |stored| is nullopt when the store has no such run. |has_tenant| is false when the request
// carries no bearer key (such a request is never answered from the store). A run that is not
// final is fresh for |max_age|; for |stale_window| after that it is served while refreshed in
// the background, unless the client asked for a fresh answer (no-cache, max-age=0).
decision decide_run(const std::optional<run_state>& stored, bool has_tenant,
                    const cache_directives& directives, serve_mode mode, millis max_age,
                    time_point now, millis stale_window = millis(0));

// |fetched_at| of the tenant's stored page for this exact query, if any. Same windows.
decision decide_list(const std::optional<time_point>& fetched_at, bool has_tenant,
                     const cache_directives& directives, serve_mode mode, millis max_age,
                     time_point now, millis stale_window = millis(0));

}  // namespace runmirror
