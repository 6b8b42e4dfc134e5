#pragma once
// Private to src/net: one client connection, from accept to close.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "admin/admin_routes.hpp"
#include "cache/run_cache.hpp"
#include "cache/upstream_guard.hpp"
#include "http/request_site.hpp"
#include "runmirror/event_hub.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

class upstream_pool;

// Lets the server close idle keep-alive connections at shutdown. Thread-safe.
class session_registry {
  public:
    using closer = std::function<void()>;  // closes the session if it waits for a request
    std::uint64_t add(closer close_if_idle);
    void remove(std::uint64_t id);
    void close_idle();
    std::size_t size();

  private:
    std::mutex mutex_;
    std::uint64_t next_id_ = 0;
    std::map<std::uint64_t, closer> sessions_;
};

// What every session shares. Owned by the server, which outlives its sessions.
struct session_context {
    limits_options limits;
    run_cache& cache;
    upstream_pool* pool;      // null in offline mode: pass-through is refused
    upstream_health* health;  // null in offline mode
    upstream_guard* guard;    // pass-through reports its exchanges here; null in offline mode
    admin_context admin;
    event_hub& events;  // /_runmirror/events subscribers
    session_registry& registry;
    std::atomic<bool>& stopping;  // set at shutdown: finish the current request, then close
    site_policy site;             // which Host and Origin names are answered
};

// Serves requests on |socket| until the client closes, an error, or shutdown. Runs on the
// socket's executor (a strand).
boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              session_context& ctx);

}  // namespace runmirror::net
