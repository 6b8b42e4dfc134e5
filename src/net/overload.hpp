#pragma once
// Private to src/net: what the listener does when client connections run short. Past
// --max-connections a new connection is told so (503, Retry-After, Connection: close) instead
// of being dropped unanswered. Above pressure_share of the cap, connections that have not sent
// a complete request head (idle keep-alive, slow senders: slowloris) get pressure_head_timeout
// instead of the usual timeouts, those already waiting included, until the count falls below
// that share again (Envoy's overload manager, "reduce_timeouts").

#include <atomic>
#include <cstddef>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/session_registry.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

// Sessions at or above this share of --max-connections put the daemon under pressure.
constexpr double pressure_share = 0.8;
// Under pressure: the longest a connection may wait for, or take to send, a request head.
constexpr millis pressure_head_timeout{1'000};
// How often, under pressure, waiting connections are checked against that timeout.
constexpr millis pressure_sweep_interval{200};
// What a refused client is told to wait before trying again, in seconds.
constexpr int refusal_retry_after_s = 1;
// Refusals being written and lingered over at once; past this, the 503 is written only if the
// socket takes it at once (it nearly always does) and the socket is closed right away.
constexpr std::size_t max_lingering_refusals = 1024;

class overload_control {
  public:
    // |registry| finds the sessions to cut under pressure; |stopping| ends the pressure sweep
    // at shutdown. Both must outlive this object.
    overload_control(boost::asio::io_context& ioc, session_registry& registry,
                     const listen_options& listen, const std::atomic<bool>& stopping);

    // For each accepted connection, before its session starts: true to serve it (call
    // release() when its session ends); false when the daemon is full, in which case the
    // socket was taken and is answered 503.
    bool admit(boost::asio::ip::tcp::socket& socket);
    void release();

    // The deadline for a session's wait for a request head: |usual|, shortened under pressure.
    millis head_timeout(millis usual) const;

    bool under_pressure() const { return pressure_.load(std::memory_order_relaxed); }

  private:
    boost::asio::awaitable<void> relieve();
    boost::asio::awaitable<void> refuse(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& ioc_;
    session_registry& registry_;
    const std::size_t max_connections_;
    const std::size_t pressure_at_;
    const std::atomic<bool>& stopping_;
    const std::string refusal_;  // the whole 503 answer, head and body
    // Sessions admitted and not yet ended. Counted here, not in the registry, which a session
    // joins only once it runs: a burst of accepts would overshoot the cap.
    std::atomic<std::size_t> open_{0};
    std::atomic<bool> pressure_{false};
    std::atomic<std::size_t> lingering_{0};
};

}  // namespace runmirror::net
