#pragma once
// Private to src/net: one client connection, from accept to close.

#include <atomic>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "admin/admin_routes.hpp"
#include "cache/run_cache.hpp"
#include "cache/upstream_guard.hpp"
#include "http/request_site.hpp"
#include "net/session_registry.hpp"
#include "runmirror/event_hub.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

class upstream_pool;
class overload_control;

// What every session shares. Owned by the server, which outlives its sessions.
struct session_context {
    limits_options limits;
    run_cache& cache;
    upstream_pool* pool;    // null in offline mode: pass-through is refused
    upstream_guard* guard;  // pass-through reports its exchanges here; null in offline mode
    admin_context admin;
    event_hub& events;  // /_runmirror/events subscribers
    session_registry& registry;
    std::atomic<bool>& stopping;       // set at shutdown: finish the current request, then close
    const overload_control& overload;  // shortens the wait for a request head under pressure
    site_policy site;                  // which Host and Origin names are answered
};

// Serves requests on |socket| until the client closes, an error, or shutdown. Runs on the
// socket's executor (a strand).
boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              session_context& ctx);

}  // namespace runmirror::net
