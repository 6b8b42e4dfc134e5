// Refusing connections past the cap with an answer, and shedding slow connections under
// pressure. See net/overload.hpp for the rules.
#include "net/overload.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include "util/logging.hpp"

#include "http/json_error.hpp"
#include "http/response_head.hpp"
#include "net/session_io.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// How long a refusal may take to write, and then to wait for the client to close first. A
// socket closed with the client's request bytes still unread sends a reset, which can destroy
// the answer before the client reads it; after shutdown(send) and this wait, it has had it.
constexpr millis refusal_write_timeout{1'000};
constexpr millis refusal_linger{1'000};

std::string refusal_bytes(std::size_t max_connections) {
    response r =
        json_error(503, "runmirror is serving its maximum of " + std::to_string(max_connections) +
                            " connections; retry shortly");
    r.headers.push_back({"Retry-After", std::to_string(refusal_retry_after_s)});
    std::string out = response_head(r, false);
    out += r.body_bytes();
    return out;
}

}  // namespace

overload_control::overload_control(asio::io_context& ioc, session_registry& registry,
                                   const listen_options& listen, const std::atomic<bool>& stopping)
    : ioc_(ioc),
      registry_(registry),
      max_connections_(listen.max_connections),
      pressure_at_(std::max<std::size_t>(
          1, static_cast<std::size_t>(std::ceil(pressure_share * listen.max_connections)))),
      stopping_(stopping),
      refusal_(refusal_bytes(listen.max_connections)) {}

millis overload_control::head_timeout(millis usual) const {
    return under_pressure() ? std::min(usual, pressure_head_timeout) : usual;
}

bool overload_control::admit(tcp::socket& socket) {
    // Only the accept loop admits, so the count cannot grow between this check and the add.
    const std::size_t open = open_.load();
    if (open >= max_connections_) {
        auto executor = socket.get_executor();
        asio::co_spawn(executor, refuse(std::move(socket)), asio::detached);
        return false;
    }
    open_.fetch_add(1);
    if (open + 1 >= pressure_at_ && !pressure_.exchange(true)) {
        log::warn("{} of at most {} connections open: slow and idle connections now get {} ms",
                  open + 1, max_connections_, pressure_head_timeout.count());
        asio::co_spawn(ioc_, relieve(), asio::detached);
    }
    return true;
}

void overload_control::release() {
    open_.fetch_sub(1);
}

// Runs while under pressure: ends the sessions that have waited too long for a request head,
// those that began waiting before the pressure included.
asio::awaitable<void> overload_control::relieve() {
    asio::steady_timer tick(ioc_);
    while (!stopping_ && open_.load() >= pressure_at_) {
        registry_.cut_slow_heads(pressure_head_timeout);
        tick.expires_after(pressure_sweep_interval);
        co_await tick.async_wait(use_tuple);
    }
    pressure_ = false;
    log::info("connection pressure over: {} connections open", open_.load());
}

asio::awaitable<void> overload_control::refuse(tcp::socket socket) {
    const std::string& answer = refusal_;
    boost::system::error_code ignored;
    if (lingering_.fetch_add(1) >= max_lingering_refusals) {
        lingering_.fetch_sub(1);
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(answer), ignored);
        socket.shutdown(tcp::socket::shutdown_send, ignored);
        socket.close(ignored);
        co_return;
    }
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(refusal_write_timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(answer), use_tuple);
    if (!ec) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        // Read and drop whatever the client sends until it closes, or the linger is over.
        std::array<char, 4096> sink;
        stream.expires_after(refusal_linger);
        for (;;) {
            auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
            if (rec) break;
        }
    }
    stream.close();
    lingering_.fetch_sub(1);
}

}  // namespace runmirror::net
