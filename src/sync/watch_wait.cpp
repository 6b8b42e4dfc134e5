#include "sync/watch_wait.hpp"

namespace runmirror {

std::string_view to_string(watch_wait wait) {
    switch (wait) {
        case watch_wait::finished: return "finished";
        case watch_wait::given_up: return "given_up";
        case watch_wait::offline: return "offline";
        case watch_wait::polling: return "polling";
        case watch_wait::no_key: return "no_key";
        case watch_wait::upstream_down: return "upstream_down";
        case watch_wait::paused_by_429: return "paused_by_429";
        case watch_wait::scheduled: return "scheduled";
        case watch_wait::rate_limited: return "rate_limited";
        case watch_wait::no_free_slot: return "no_free_slot";
        case watch_wait::due: return "due";
        case watch_wait::due_key_unknown: return "due_key_unknown";
    }
    return "due";
}

std::optional<watch_wait> parse_watch_wait(std::string_view text) {
    for (int i = 0; i <= static_cast<int>(watch_wait::due_key_unknown); ++i) {
        const auto wait = static_cast<watch_wait>(i);
        if (to_string(wait) == text) return wait;
    }
    return std::nullopt;
}

watch_wait_reason explain_watch(const watch& w, const watch_wait_context& ctx, time_point now) {
    if (w.finished_at) {
        return {watch_wait::finished,
                w.last_status == "DELETED" ? "deleted upstream" : "final: " + w.last_status,
                std::nullopt};
    }
    if (w.given_up_at) {
        return {watch_wait::given_up, "given up: " + w.give_up_reason, std::nullopt};
    }
    if (ctx.offline) {
        return {watch_wait::offline, "not polled: the daemon runs offline (--offline)",
                std::nullopt};
    }
    const bool later = w.next_poll_at > now;
    if (!ctx.sync) {
        if (later) return {watch_wait::scheduled, "next poll scheduled", w.next_poll_at};
        return {watch_wait::due_key_unknown,
                "due; whether the daemon holds a key for its tenant is not visible from the "
                "store (the daemon's /_runmirror/api/watches says)",
                std::nullopt};
    }
    const sync_snapshot& sync = *ctx.sync;
    if (sync.polling.count(w.id)) return {watch_wait::polling, "being polled now", std::nullopt};
    // Before the schedule: a watch without a key is not polled when it comes due either, and
    // only a returning client (or a service key) changes that.
    if (!sync.has_key(w.tenant)) {
        return {watch_wait::no_key,
                "no key for its tenant yet: waits for a client with that key to call through "
                "runmirror, or for a service key (LLAMA_CLOUD_API_KEY)",
                std::nullopt};
    }
    if (ctx.upstream_down) {
        return {watch_wait::upstream_down, "upstream down: polls wait until it answers again",
                ctx.upstream_retry_at};
    }
    if (sync.paused_until && *sync.paused_until > now) {
        return {watch_wait::paused_by_429, "paused: upstream answered 429 (Retry-After)",
                sync.paused_until};
    }
    if (later) return {watch_wait::scheduled, "next poll scheduled", w.next_poll_at};
    if (sync.rate_free_at && *sync.rate_free_at > now) {
        return {watch_wait::rate_limited,
                "rate limited: the worker's poll rate (--sync-rate) allows the next poll later",
                sync.rate_free_at};
    }
    if (sync.concurrency > 0 && sync.in_flight >= sync.concurrency) {
        return {watch_wait::no_free_slot,
                "waits for a free poll slot: " + std::to_string(sync.in_flight) +
                    " polls in flight (--sync-concurrency)",
                std::nullopt};
    }
    return {watch_wait::due, "due: polled at the worker's next turn", std::nullopt};
}

}  // namespace runmirror
