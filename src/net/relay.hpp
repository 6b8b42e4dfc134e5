#pragma once
// Private to src/net: one pass-through exchange over an upstream connection, in two halves:
// the request streamed out (send_request), then the response streamed back (relay_response).
// Both run over relay_stream (net/relay_stream.hpp), whatever the connection's type, so that
// Beast's HTTP operations are compiled once, in net/relay.cpp.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>

#include "net/relay_stream.hpp"
#include "net/upstream_pool.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

// Every answer on the pass-through route says in its Cache-Status (RFC 9211) that the daemon
// forwards the request without looking for a stored answer: the upstream's relayed answer and
// the daemon's own refusals and errors alike.
constexpr const char* pass_through_cache_status = "runmirror; fwd=bypass";

// How far a pass-through exchange got, which decides what the client can still be told.
enum class relay_stage { connecting, sending, awaiting_response, responding, done };

struct relay_outcome {
    relay_stage stage = relay_stage::connecting;
    boost::system::error_code ec;
    // |ec| came from the client's side (gone, stalled, a malformed body), not the upstream's:
    // it says nothing about the upstream's health.
    bool client_side = false;
    unsigned status = 0;  // the upstream's, once its response header was read
    bool upstream_reusable = false;
    bool client_reusable = false;  // the client connection may carry another request
    // The client was told to send its body (100 Continue) or some of it was read: the
    // exchange can no longer be replayed on another connection.
    bool request_body_started = false;
};

// A copy of a relayed success's body (the answer to a request that created a resource), kept
// while it is at most |limit| bytes: past that the copy is given up and the relay goes on.
// |on_whole| sees the whole copy once the upstream's last byte is read and before the client
// gets it, so a client that asks again at once finds what the answer made stored.
struct body_copy {
    std::size_t limit = 0;
    std::function<void(std::string_view bytes)> on_whole;
    std::string bytes;
    bool overflowed = false;
};

// The upstream's response head, once read. send_request may read it early: the upstream's
// final answer to a request that expects 100-continue, before any of the body was sent.
using response_reader = std::optional<beast::http::response_parser<beast::http::buffer_body>>;

// How long the upstream has to answer Expect: 100-continue before the daemon tells the
// client to send its body anyway (an upstream may ignore the expectation and wait for the
// body; curl waits as long before sending it).
constexpr millis expect_continue_wait{1'000};

// The client's side of an exchange: its connection, the request being read from it (head
// already parsed, |body_read| the start of the body read before) and the request to send.
struct relay_request {
    beast::tcp_stream& client;
    beast::flat_buffer& client_buffer;
    beast::http::request_parser<beast::http::buffer_body>& request_in;
    beast::http::request<beast::http::buffer_body>& request_out;
    std::string_view body_read;
    // |request_out| carries Expect: 100-continue and none of the body was read yet: the
    // upstream's answer to the head decides whether the client sends it (RFC 9110 §10.1.1).
    bool expect_continue;
    bool client_keep_alive;
    const limits_options& limits;
    const upstream_options& upstream_limits;
    body_copy* response_copy = nullptr;  // when set, the response body is copied here too
};

// One read of a request body from |client| (Beast's http::async_read, which stops with
// http::error::need_buffer when the parser's body buffer is full), for pass-through's read of
// the body's start: the same operation the relay's reads are, compiled once with them.
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_request_body(
    relay_stream& client, beast::flat_buffer& buffer,
    beast::http::request_parser<beast::http::buffer_body>& parser);

// The request head and streamed body out to the upstream. With r.expect_continue, the head
// alone first, then the upstream's answer to it: 100 Continue is relayed to the client and the
// body follows (as it does when the upstream says nothing within expect_continue_wait); a
// final answer is left in |early| and the body is never asked for. On success the outcome is
// at relay_stage::sending with no error: go on with relay_response. Every argument must
// outlive the returned awaitable.
boost::asio::awaitable<relay_outcome> send_request(const relay_request& r, relay_stream& upstream,
                                                   beast::flat_buffer& upstream_buffer,
                                                   response_reader& early);

// After send_request succeeded: the response head (|early|'s when send_request read it) and
// streamed body back to the client. After an early answer neither connection is reused: the
// request's body was announced and never sent. Every argument must outlive the returned
// awaitable.
boost::asio::awaitable<relay_outcome> relay_response(const relay_request& r, relay_stream& upstream,
                                                     beast::flat_buffer& upstream_buffer,
                                                     response_reader& early);

}  // namespace runmirror::net
