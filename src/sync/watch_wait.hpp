#pragma once
// Why a watch is not polled right now, in words a person can act on: what the page's watches
// view, /_runmirror/api/watches and `runmirror watches` show beside each watch. Pure: the
// stored watch, what the running daemon knows beyond the store (its key ring, a 429's pause,
// its poll rate and slots, the upstream's health) and |now| go in; thread-safe.

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "runmirror/clock.hpp"
#include "runmirror/watch.hpp"

namespace runmirror {

enum class watch_wait {
    finished,       // ended: its resource reached a final status, or was deleted
    given_up,       // ended: the worker stopped trying (watch::give_up_reason)
    offline,        // the daemon runs --offline: nothing is polled
    polling,        // a poll of it is in flight
    no_key,         // no key for its tenant in the daemon's memory, and no service key
    upstream_down,  // the upstream's circuit is open: polls wait until it answers again
    paused_by_429,  // upstream answered 429: the whole worker waits for its Retry-After
    scheduled,      // its next poll is later (the backoff after unchanged answers or errors)
    rate_limited,   // due, but the worker's poll rate allows the next poll later
    no_free_slot,   // due, but as many polls as the worker sends at once are in flight
    due,            // due: polled at the worker's next tick
    // Due, read from the store alone (`runmirror watches` without a daemon to ask): whether
    // the daemon holds a key for its tenant cannot be known there.
    due_key_unknown,
};

// "no_key", "paused_by_429", ...: the JSON and CLI form.
std::string_view to_string(watch_wait wait);
// The wait to_string names; nullopt for any other text.
std::optional<watch_wait> parse_watch_wait(std::string_view text);

// What the running daemon's sync worker knows beyond the store, at one instant
// (sync_worker::snapshot).
struct sync_snapshot {
    bool service_key = false;                // LLAMA_CLOUD_API_KEY: every tenant has a key
    std::set<std::string> tenants_with_key;  // a key of their own, learned from a client
    std::set<watch_id> polling;              // polls in flight
    std::optional<time_point> paused_until;  // a 429's pause, while it lasts
    std::optional<time_point> rate_free_at;  // the next poll the rate allows, when after now
    std::size_t in_flight = 0;               // requests in flight (a batch is one)
    std::size_t concurrency = 0;             // at most this many at once

    bool has_key(std::string_view tenant) const {
        return service_key || tenants_with_key.count(std::string(tenant)) > 0;
    }
};

// Where the explanation is given from.
struct watch_wait_context {
    // The daemon's sync worker; null when read from the store alone, or in offline mode.
    const sync_snapshot* sync = nullptr;
    bool offline = false;  // the daemon runs --offline
    // The upstream's circuit is open, and until when at least (nullopt: not known).
    bool upstream_down = false;
    std::optional<time_point> upstream_retry_at;
};

struct watch_wait_reason {
    watch_wait wait = watch_wait::due;
    // One line for a person, without times: clients show |until| in their own way.
    std::string text;
    std::optional<time_point> until;  // when the wait ends, when known
};

// The first that holds, in this order: ended (finished, given up); offline; polling now; no
// key for its tenant; upstream down; paused by a 429; next poll later (scheduled); rate
// limited; no free slot; due. Without a sync snapshot: ended, offline, scheduled or
// due_key_unknown.
watch_wait_reason explain_watch(const watch& w, const watch_wait_context& ctx, time_point now);

}  // namespace runmirror
