#pragma once
// Private to src/net: what one client connection's session keeps beside its stream, shared by
// the request loop (net/http_session.cpp), the events stream and the shutdown closer.

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
};

}  // namespace runmirror::net
