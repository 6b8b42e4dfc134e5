#pragma once
// An `upstream` that consults upstream_health: while the circuit is open it fails at once
// (errc::unavailable) instead of waiting for timeouts, and it probes the upstream in the
// background until the upstream answers again. Every reply of the wrapped upstream is fed to
// the health state.

#include <atomic>
#include <functional>

#include "cache/upstream_health.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror {

class upstream_guard final : public upstream {
  public:
    using clock_fn = std::function<time_point()>;
    // Runs |task| once after |delay|, on any thread (an Asio timer in the daemon).
    using scheduler = std::function<void(millis delay, std::function<void()> task)>;

    // |inner| and |health| must outlive the guard; so must the scheduler's pending tasks'
    // target (the daemon stops its timers before destroying the guard).
    upstream_guard(upstream& inner, upstream_health& health, clock_fn now, scheduler schedule);

    void async_send(request req, handler on_reply) override;
    void async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                          handler on_reply) override;

    // Feeds the outcome of an exchange made around this guard (pass-through) to the health
    // state, so the two paths agree on whether the upstream is up.
    void observe(const error& failure, int status);

  private:
    // Fails at once while the circuit is open; otherwise |send| (to the inner upstream) with a
    // handler that feeds the outcome to the health state.
    template <class Send>
    void guarded(handler on_reply, Send&& send);
    void schedule_probe();
    void probe();

    upstream& inner_;
    upstream_health& health_;
    clock_fn now_;
    scheduler schedule_;
    std::atomic<bool> probe_pending_{false};
};

}  // namespace runmirror
