#include "cache/upstream_guard.hpp"

#include "obs/metrics.hpp"
#include "util/logging.hpp"

namespace runmirror {

upstream_guard::upstream_guard(upstream& inner, upstream_health& health, clock_fn now,
                               scheduler schedule, when_down policy)
    : inner_(inner),
      health_(health),
      now_(std::move(now)),
      schedule_(std::move(schedule)),
      policy_(policy) {}

bool upstream_guard::believed_down() const {
    return !health_.allow(now_());
}

template <class Send>
void upstream_guard::guarded(handler on_reply, Send&& send) {
    if (const time_point now = now_(); policy_ == when_down::fail_fast && !health_.allow(now)) {
        const health_snapshot s = health_.snapshot(now);
        upstream_reply reply;
        reply.failure = {errc::unavailable, "upstream is down after " +
                                                std::to_string(s.consecutive_failures) +
                                                " consecutive failures; next attempt in " +
                                                std::to_string(s.retry_in.count()) + " ms"};
        reply.retry_in = s.retry_in;
        on_reply(std::move(reply));
        return;
    }
    send([this, on_reply = std::move(on_reply),
          started = std::chrono::steady_clock::now()](upstream_reply reply) {
        reply.seconds = seconds_since(started);
        observe(reply.failure, reply.answer.status, reply.seconds);
        on_reply(std::move(reply));
    });
}

void upstream_guard::async_send(request req, handler on_reply) {
    guarded(std::move(on_reply),
            [&](handler observed) { inner_.async_send(std::move(req), std::move(observed)); });
}

void upstream_guard::async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                                      handler on_reply) {
    guarded(std::move(on_reply), [&](handler observed) {
        inner_.async_revalidate(std::move(req), std::move(known_body), std::move(observed));
    });
}

void upstream_guard::observe(const error& failure, int status, double seconds) {
    obs::metrics().record_upstream(status, failure.code, seconds);
    if (!is_health_failure(failure, status)) {
        if (!health_.snapshot(now_()).up) log::info("upstream is back");
        health_.record_success();
        return;
    }
    if (health_.record_failure(now_())) {
        if (failure) {
            log::warn("upstream marked down: {}", failure.detail);
        } else {
            log::warn("upstream marked down: HTTP {}", status);
        }
    }
    if (!health_.snapshot(now_()).up) schedule_probe();
}

void upstream_guard::schedule_probe() {
    if (probe_pending_.exchange(true)) return;
    const millis delay = health_.snapshot(now_()).retry_in;
    schedule_(delay, [this] { probe(); });
}

// Any HTTP answer proves the upstream reachable; the root path needs no key and no tenant.
void upstream_guard::probe() {
    inner_.async_send(
        request{.method = "GET", .target = "/", .headers = {}, .body = {}, .caller = {}},
        [this, started = std::chrono::steady_clock::now()](upstream_reply reply) {
            probe_pending_ = false;
            observe(reply.failure, reply.answer.status, seconds_since(started));
        });
}

}  // namespace runmirror
