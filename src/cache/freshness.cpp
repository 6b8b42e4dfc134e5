#include "cache/freshness.hpp"

namespace runmirror {

std::string_view to_string(action a) {
    switch (a) {
        case action::serve_stored: return "serve_stored";
        case action::forward: return "forward";
        case action::not_found: return "not_found";
        case action::offline_miss: return "offline_miss";
        case action::cached_miss: return "cached_miss";
        case action::unauthenticated: return "unauthenticated";
        case action::forbidden: return "forbidden";
        case action::serve_and_revalidate: return "serve_and_revalidate";
    }
    return "unknown";
}

namespace {

bool upstream_allowed(const cache_directives& d, serve_mode mode) {
    return mode == serve_mode::online && !d.only_if_cached;
}

action miss(serve_mode mode) {
    return mode == serve_mode::offline ? action::offline_miss : action::cached_miss;
}

// A stored answer past its max age, online, without a client's no-cache.
decision aged(time_point fetched_at, millis max_age, millis stale_window, time_point now) {
    if (now - fetched_at < max_age + stale_window) {
        return {action::serve_and_revalidate, "stale-while-revalidate"};
    }
    return {action::forward, {}};
}

}  // namespace

decision decide_run(const std::optional<run_state>& stored, bool has_tenant,
                    const cache_directives& directives, serve_mode mode, millis max_age,
                    time_point now, millis stale_window) {
    // A tombstone answers everyone, online or not: the run is gone upstream too.
    if (stored && stored->deleted) return {action::not_found, {}};
    const bool may_forward = upstream_allowed(directives, mode);

    if (!has_tenant) {
        if (may_forward) return {action::forward, {}};
        return {mode == serve_mode::offline ? action::unauthenticated : action::cached_miss, {}};
    }
    if (!stored) return {may_forward ? action::forward : miss(mode), {}};
    if (!stored->granted) {
        // Only upstream can say whether this tenant may see the run.
        if (may_forward) return {action::forward, {}};
        return {mode == serve_mode::offline ? action::forbidden : action::cached_miss, {}};
    }
    if (!may_forward) {
        const bool aged = !stored->final && now - stored->fetched_at >= max_age;
        return {action::serve_stored, aged ? "stale" : ""};
    }
    if (directives.no_cache) return {action::forward, {}};
    if (stored->final) return {action::serve_stored, {}};
    if (now - stored->fetched_at < max_age) return {action::serve_stored, {}};
    return aged(stored->fetched_at, max_age, stale_window, now);
}

decision decide_list(const std::optional<time_point>& fetched_at, bool has_tenant,
                     const cache_directives& directives, serve_mode mode, millis max_age,
                     time_point now, millis stale_window) {
    const bool may_forward = upstream_allowed(directives, mode);
    if (!has_tenant) {
        if (may_forward) return {action::forward, {}};
        return {mode == serve_mode::offline ? action::unauthenticated : action::cached_miss, {}};
    }
    if (!fetched_at) return {may_forward ? action::forward : miss(mode), {}};
    if (!may_forward) {
        return {action::serve_stored, now - *fetched_at >= max_age ? "stale" : ""};
    }
    if (directives.no_cache) return {action::forward, {}};
    if (now - *fetched_at < max_age) return {action::serve_stored, {}};
    return aged(*fetched_at, max_age, stale_window, now);
}

}  // namespace runmirror
