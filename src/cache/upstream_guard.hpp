#pragma once
// An `upstream` that keeps upstream_health up to date: every reply of the wrapped upstream is
// fed to it, and while the circuit is open the upstream is probed in the background until it
// answers again. What a request does while the circuit is open is the guard's policy:
//  - send: it is sent anyway, and its outcome counts as a probe (a success closes the circuit at
//    once). Clients' requests: knowing the upstream is down only lets the run cache answer
//    sooner from the store (believed_down()); a request with no stored answer is still tried,
//    as nginx never marks the only server of an upstream group unavailable.
//  - fail_fast: it fails at once (errc::unavailable, with retry_in), so background work (the
//    sync worker's polls) waits for the upstream instead of piling onto it.

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
    enum class when_down { send, fail_fast };

    upstream_guard(upstream& inner, upstream_health& health, clock_fn now, scheduler schedule,
                   when_down policy = when_down::send);

    void async_send(request req, handler on_reply) override;
    void async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                          handler on_reply) override;
    bool believed_down() const override;

    // Feeds the outcome of an exchange made around this guard (pass-through) to the health
    // state, so the two paths agree on whether the upstream is up, and to the metrics.
    void observe(const error& failure, int status, double seconds);

  private:
    // |send| (to the inner upstream) with a handler that feeds the outcome to the health state;
    // with when_down::fail_fast, fails at once instead while the circuit is open.
    template <class Send>
    void guarded(handler on_reply, Send&& send);
    void schedule_probe();
    void probe();

    upstream& inner_;
    upstream_health& health_;
    clock_fn now_;
    scheduler schedule_;
    const when_down policy_;
    std::atomic<bool> probe_pending_{false};
};

}  // namespace runmirror
