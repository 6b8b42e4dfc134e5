#pragma once
// Private to src/net: what one client connection's session keeps beside its stream, shared by
// the request loop (net/http_session.cpp), the events stream and the session registry.

#include <chrono>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace runmirror::net {

struct session_state {
    explicit session_state(boost::asio::ip::tcp::socket socket) : stream(std::move(socket)) {}
    boost::beast::tcp_stream stream;
    // Only touched on the stream's strand:
    bool idle = false;                            // waiting for the next request (or for events)
    boost::asio::steady_timer* waiter = nullptr;  // the events stream's wait, cancelled at shutdown
    // When the session began to wait for a request head (keep-alive idle, then the head's
    // bytes); the epoch while it waits for nothing of the kind. Connection pressure cuts long
    // waits (session_registry::cut_slow_heads).
    std::chrono::steady_clock::time_point head_wait_since{};
};

}  // namespace runmirror::net
