#include "net/file_send.hpp"

#include <cerrno>

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

namespace runmirror::net {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

asio::awaitable<error_code> send_head_and_file(tcp::socket& socket, std::string_view head,
                                               const body_file& body, millis timeout) {
    using namespace asio::experimental::awaitable_operators;
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

    // Asio made the descriptor non-blocking for its own reads already; this says so to Asio,
    // which then hands a would-block back instead of waiting, and costs a syscall only once.
    error_code ec;
    if (!socket.native_non_blocking()) socket.native_non_blocking(true, ec);
    if (ec) co_return ec;

    const int fd = socket.native_handle();
    std::size_t head_sent = 0;
    off_t body_sent = 0;
    const auto body_size = static_cast<off_t>(body.size());
    std::optional<asio::steady_timer> deadline;  // armed at the first wait: most answers need none
    while (head_sent < head.size() || body_sent < body_size) {
        ssize_t n;
        if (head_sent < head.size()) {
            // MSG_MORE: the head waits for the body's first bytes, one segment rather than two.
            n = ::send(fd, head.data() + head_sent, head.size() - head_sent,
                       MSG_MORE | MSG_NOSIGNAL);
            if (n > 0) head_sent += static_cast<std::size_t>(n);
        } else {
            n = ::sendfile(fd, body.fd(), &body_sent,
                           static_cast<std::size_t>(body_size - body_sent));
            // The file is sealed at its size, so running short of bytes cannot happen; if the
            // kernel says so anyway, stop rather than spin.
            if (n == 0) co_return asio::error::make_error_code(asio::error::eof);
        }
        if (n >= 0) continue;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            co_return error_code(errno, boost::system::system_category());
        if (!deadline) {
            deadline.emplace(co_await asio::this_coro::executor);
            deadline->expires_after(timeout);
        }
        auto first = co_await (socket.async_wait(tcp::socket::wait_write, use_tuple) ||
                               deadline->async_wait(use_tuple));
        if (first.index() == 1) co_return boost::beast::error::timeout;
        if (auto [wait_ec] = std::get<0>(first); wait_ec) co_return wait_ec;
    }
    co_return error_code{};
}

}  // namespace runmirror::net
