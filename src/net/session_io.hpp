#pragma once
// Private to src/net: what the session loop, pass-through and the events stream all need to
// talk to a client: header conversions, writing one of the daemon's own answers, and which
// request read errors deserve an answer.

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/system/error_code.hpp>

#include "runmirror/http_types.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

// Every awaited operation here reports its error code instead of throwing.
constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

header_list to_header_list(const boost::beast::http::fields& fields);
void copy_headers(const header_list& from, boost::beast::http::fields& to);

// The head and the body in one gather write: a stored body goes out from the store's memory,
// or from its memory file with sendfile.
// An answer to HEAD has the head a GET would get (its Content-Length included) and no body.
boost::asio::awaitable<boost::system::error_code> write_response(boost::beast::tcp_stream& stream,
                                                                 response r, bool keep_alive,
                                                                 const limits_options& limits,
                                                                 bool to_head_request = false);

// Errors from reading a request that deserve an answer before closing.
std::optional<response> answer_for_read_error(const boost::system::error_code& ec);

}  // namespace runmirror::net
