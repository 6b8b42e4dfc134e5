#pragma once
// Private to src/net: an answer whose body is a sealed memory file goes out as its head,
// then the file through sendfile(2), which passes the kernel's pages to TCP instead of copying
// the bytes in from user space. Used for large cached list pages.

#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "runmirror/body_file.hpp"
#include "runmirror/options.hpp"

namespace runmirror::net {

// Sends |head| then all of |body| on |socket|, waiting for room as often as needed; the whole
// answer must be out within |timeout| (beast::error::timeout otherwise). Errors are the
// socket's (a client gone is an error here, never a signal).
boost::asio::awaitable<boost::system::error_code> send_head_and_file(
    boost::asio::ip::tcp::socket& socket, std::string_view head, const body_file& body,
    millis timeout);

}  // namespace runmirror::net
