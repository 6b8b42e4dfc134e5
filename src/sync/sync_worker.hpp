#pragma once
// The sync worker: polls upstream, once for everyone, every run seen CREATED/PENDING and every
// job created through the daemon, until the run is SUCCESS or ERROR (DESIGN.md "Sync worker").
// Watches live in the store, so they survive restarts; keys live in a key_ring, in memory.
//
// Scheduling: a watch is due at its next_poll_at (backoff: interval x1.5 per unchanged
// answer, capped, jittered). At most |concurrency| polls are in flight and at most |rate| are
// sent per second; a 429 pauses the whole worker for its Retry-After. Answers: 200 stores the
// run and ends the watch when final; 404 tombstones a run (a job's run may simply not exist
// yet); 401 drops the tenant's key, so its watches wait until the tenant comes back; anything
// else backs off. A watch older than max_age is given up. Several due runs of one agent (and
// tenant) are refreshed by one list request, newest first; a run not on that page is then
// polled on its own.
//
// Threading: every public method may be called from any thread. Timers come from the injected
// scheduler; answers arrive on the upstream's threads. stop() makes pending timers and
// answers no-ops; the owner keeps the worker alive until its executor has stopped.

#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <set>

#include "cache/run_observer.hpp"
#include "runmirror/event_hub.hpp"
#include "runmirror/options.hpp"
#include "runmirror/store.hpp"
#include "runmirror/upstream.hpp"
#include "sync/backoff.hpp"
#include "sync/key_ring.hpp"
#include "sync/rate_limiter.hpp"
#include "sync/watch_wait.hpp"

namespace runmirror {

class sync_worker final : public run_observer {
  public:
    using clock_fn = std::function<time_point()>;
    using scheduler = std::function<void(millis delay, std::function<void()> task)>;

    sync_worker(store& db, upstream& up, key_ring& keys, event_hub& events,
                const sync_options& options, clock_fn now, scheduler schedule);

    void start();
    void stop();

    // run_observer: the run cache reports what it stores and the keys it saw.
    void on_run_stored(const run_fields& run, std::string_view previous_status,
                       const std::optional<std::string>& tenant, seen_in how) override;
    void on_api_key(std::string_view api_key, const std::string& tenant) override;

    // Polls answered since start, for tests and metrics.
    std::size_t polls_sent() const;

    // What the worker knows beyond the store at |now| (its keys, polls in flight, a 429's
    // pause, its rate), so that a person can be told why a watch waits (explain_watch).
    sync_snapshot snapshot(time_point now) const;

  private:
    // One request: a single watch, or several run watches of one agent and tenant refreshed
    // by one list request (batching).
    struct launch {
        std::vector<watch> watches;
        std::string key;
    };

    void tick();
    bool running() const;
    void arm(time_point at, time_point now);
    void claim(
        std::vector<launch>& launches);  // drops what it could not claim  // call with mutex_ held
    void poll(launch l);
    void on_answer(const std::vector<watch>& watches, upstream_reply reply);
    void settle(const watch& w, upstream_reply& reply, time_point now);
    void settle_batch(const std::vector<watch>& watches, upstream_reply& reply, time_point now);
    // A fresh copy of the watched run: store it, publish a change, reschedule, or once final
    // collect_after_final.
    void settle_run(const watch& w, const run_fields& run, std::string_view body, time_point now);
    // What a watch does once its resource is final (last seen |last_status|): a kind with a
    // result stays watched for one more poll, of the result, and one whose kind made another
    // (a v1 job's run) has that watched by the job's id; anything else ends the watch.
    void collect_after_final(watch_id id, const run_fields& run, std::string_view last_status,
                             const std::string& tenant, time_point now);
    static bool collects_when_final(const resource_kind& kind);
    // Whether |run|, the answer to |w|'s poll, is the resource |w| asked for: an answer about
    // another one is never stored in its place.
    static bool answers_watch(const watch& w, const run_fields& run);
    // Whether the store holds the job |job_id| (of a kind that makes resources) as final.
    bool job_is_final(std::string_view job_id);
    // Whether |w| is past its resource's final status and waits for the result.
    static bool collecting_result(const watch& w);
    void settle_result(const watch& w, upstream_reply& reply, time_point now);
    // An answer that says nothing about the resource: a 401 (the key is forgotten until its
    // client returns), a 429 (the pause it asks), another status or no answer (backed off).
    void settle_failure(const watch& w, upstream_reply& reply, time_point now);
    // A 429's Retry-After (or one poll interval when it names none).
    millis pause_length(const header_list& headers, time_point now) const;
    void pause_for(const header_list& headers);  // call with mutex_ held
    void reschedule(watch_id id, time_point now, unsigned attempts, std::string last_status,
                    std::string last_error);
    time_point first_poll(time_point now);
    tenant_filter pollable_tenants();

    store& db_;
    upstream& up_;
    key_ring& keys_;
    event_hub& events_;
    const sync_options options_;
    const backoff_options backoff_;
    clock_fn now_;
    scheduler schedule_;

    mutable std::mutex mutex_;
    bool running_ = false;
    rate_limiter limiter_;
    std::set<watch_id> polling_;  // watches with a poll in flight
    std::set<watch_id> solo_;     // missing from their agent's first page: polled on their own
    std::size_t launches_in_flight_ = 0;
    std::optional<time_point> armed_at_;
    std::uint64_t arm_generation_ = 0;  // of the one armed timer that still ticks
    bool rescan_armed_ = false;         // options_.shared_store_rescan's timer is pending
    std::mt19937_64 random_;
    std::size_t polls_sent_ = 0;
};

}  // namespace runmirror
