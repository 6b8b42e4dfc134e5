// Connections to the upstream: parsed once from the URL, opened (resolve, connect, TLS) with a
// deadline for each step, parked when an exchange ends cleanly and reused while they look open.
#include "net/upstream_pool.hpp"

#include <sys/socket.h>

#include <stdexcept>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>

namespace runmirror::net {

namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// An idle connection older than this is dropped rather than reused: servers commonly close
// idle keep-alive connections after 5 to 60 seconds, and a connection they already closed
// costs a failed write and a retry.
constexpr auto max_idle_age = std::chrono::seconds(4);

// True when the peer has not closed the idle connection and sent nothing unexpected: a
// non-blocking peek returns EAGAIN. EOF or stray bytes make it unusable.
bool looks_open(upstream_connection& conn) {
    if (conn.buffer.size() != 0) return false;
    auto& socket = conn.tcp().socket();
    if (!socket.is_open()) return false;
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

upstream_connection::upstream_connection(const asio::any_io_executor& executor,
                                         asio::ssl::context* tls)
    : stream(tls ? decltype(stream)(std::in_place_type<tls_stream>, executor, *tls)
                 : decltype(stream)(std::in_place_type<plain_stream>, executor)) {}

upstream_endpoint parse_upstream_url(const std::string& url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (parsed.has_error()) throw std::invalid_argument("invalid upstream URL: " + url);
    upstream_endpoint ep;
    const std::string scheme = parsed->scheme();
    if (scheme == "https") {
        ep.tls = true;
    } else if (scheme == "http") {
        ep.tls = false;
    } else {
        throw std::invalid_argument("upstream URL must be http:// or https://: " + url);
    }
    ep.host = parsed->host_address();
    if (ep.host.empty()) throw std::invalid_argument("upstream URL has no host: " + url);
    const std::string default_port = ep.tls ? "443" : "80";
    ep.port = parsed->has_port() ? std::string(parsed->port()) : default_port;
    std::string authority_host(parsed->encoded_host_and_port());
    ep.host_header = ep.port == default_port ? std::string(parsed->encoded_host()) : authority_host;
    return ep;
}

error upstream_error(const boost::system::error_code& ec, std::string_view during) {
    std::string detail = std::string(during) + ": " + ec.message();
    if (ec == beast::error::timeout) return {errc::timeout, std::string(during) + ": timed out"};
    if (ec == boost::system::errc::io_error) {
        return {errc::internal, std::string(during) + ": cannot keep the answer on disk"};
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
        return {errc::too_large, std::move(detail)};
    }
    if (ec.category() == asio::error::get_ssl_category() ||
        ec == asio::ssl::error::stream_truncated) {
        return {errc::tls, std::move(detail)};
    }
    if (ec == http::error::end_of_stream) return {errc::reset, std::move(detail)};
    if (ec.category() == http::make_error_code(http::error::partial_message).category()) {
        return {errc::bad_response, std::move(detail)};  // malformed or truncated HTTP
    }
    if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
        ec == asio::error::network_unreachable || ec == asio::error::host_not_found ||
        ec == asio::error::host_not_found_try_again) {
        return {errc::refused, std::move(detail)};
    }
    return {errc::reset, std::move(detail)};
}

upstream_pool::upstream_pool(asio::io_context& ioc, const upstream_options& options,
                             unsigned threads)
    : ioc_(ioc),
      one_thread_(threads <= 1),
      options_(options),
      endpoint_(parse_upstream_url(options.url)),
      tls_context_(asio::ssl::context::tls_client) {
    tls_context_.set_default_verify_paths();
    if (!options.ca_file.empty()) {
        boost::system::error_code ec;
        tls_context_.load_verify_file(options.ca_file, ec);
        if (ec) {
            throw std::runtime_error("cannot load upstream CA file " + options.ca_file + ": " +
                                     ec.message());
        }
    }
    tls_context_.set_verify_mode(asio::ssl::verify_peer);
}

asio::any_io_executor upstream_pool::connection_executor() {
    if (one_thread_) return ioc_.get_executor();
    return asio::make_strand(ioc_);
}

connection_ptr upstream_pool::try_idle() {
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
        connection_ptr conn = std::move(idle_.back());
        idle_.pop_back();
        if (steady::now() - conn->idle_since < max_idle_age && looks_open(*conn)) {
            conn->reused = true;
            return conn;
        }
    }
    return nullptr;
}

void upstream_pool::release(connection_ptr conn) {
    conn->idle_since = steady::now();
    conn->tcp().expires_never();
    std::lock_guard lock(mutex_);
    if (idle_.size() >= options_.max_idle_per_host) idle_.pop_front();
    idle_.push_back(std::move(conn));
}

asio::awaitable<std::pair<connection_ptr, error>> upstream_pool::acquire(bool fresh) {
    if (!fresh) {
        if (auto conn = try_idle()) co_return std::pair{std::move(conn), error{}};
    }
    // Name resolution counts against the connect deadline; the resolver has none of its own.
    // Both run on this coroutine's executor, so the timer's handler never races with it.
    auto here = co_await asio::this_coro::executor;
    tcp::resolver resolver(here);
    asio::steady_timer resolve_deadline(here, options_.connect_timeout);
    bool resolve_timed_out = false;
    resolve_deadline.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: resolution finished first (the frame may be gone)
        resolve_timed_out = true;
        resolver.cancel();
    });
    auto [rec, endpoints] =
        co_await resolver.async_resolve(endpoint_.host, endpoint_.port, use_tuple);
    resolve_deadline.cancel();
    if (resolve_timed_out) {
        co_return std::pair{nullptr,
                            error{errc::timeout, "resolving " + endpoint_.host + ": timed out"}};
    }
    if (rec) co_return std::pair{nullptr, upstream_error(rec, "resolving " + endpoint_.host)};

    auto conn = std::make_unique<upstream_connection>(connection_executor(),
                                                      endpoint_.tls ? &tls_context_ : nullptr);
    auto& tcp_layer = conn->tcp();
    tcp_layer.expires_after(options_.connect_timeout);
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_tuple);
    if (cec) co_return std::pair{nullptr, upstream_error(cec, "connecting to upstream")};
    tcp_layer.socket().set_option(tcp::no_delay(true));
    // The buffered client writes and reads without blocking and waits for readiness only when
    // the socket has nothing (see upstream_client.cpp). Asio's own async operations ignore
    // this flag.
    tcp_layer.socket().non_blocking(true);

    if (auto* tls = std::get_if<tls_stream>(&conn->stream)) {
        boost::system::error_code addr_ec;
        asio::ip::make_address(endpoint_.host, addr_ec);
        // SNI carries host names only (RFC 6066 §3), never IP literals.
        if (addr_ec && !SSL_set_tlsext_host_name(tls->native_handle(), endpoint_.host.c_str())) {
            co_return std::pair{nullptr, error{errc::tls, "cannot set TLS SNI"}};
        }
        tls->set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
        tcp_layer.expires_after(options_.tls_timeout);
        auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) co_return std::pair{nullptr, upstream_error(hec, "TLS handshake with upstream")};
    }
    tcp_layer.expires_never();
    co_return std::pair{std::move(conn), error{}};
}

std::size_t upstream_pool::idle_count() {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

}  // namespace runmirror::net
