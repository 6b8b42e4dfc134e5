#pragma once
// Private to src/net: a request the daemon does not answer itself, streamed to the upstream
// and its answer streamed back.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "net/http_session.hpp"

namespace runmirror::net {

// Streams the request whose head |head_parser| has read from |client| to the upstream and its
// answer back. Returns whether the client connection may carry another request; |status_sent|
// is the status the client was sent (0: none, the connection ended first).
boost::asio::awaitable<bool> pass_through(
    boost::beast::tcp_stream& client, boost::beast::flat_buffer& buffer,
    boost::beast::http::request_parser<boost::beast::http::empty_body>& head_parser,
    bool keep_alive, session_context& ctx, int& status_sent);

}  // namespace runmirror::net
