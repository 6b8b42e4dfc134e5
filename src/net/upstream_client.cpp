#include "net/upstream_client.hpp"

#include <sys/socket.h>

#include <future>
#include <stdexcept>
#include <thread>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "http/header_rules.hpp"
#include "net/standalone_upstream.hpp"

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

upstream_pool::upstream_pool(asio::io_context& ioc, const upstream_options& options)
    : ioc_(ioc),
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

connection_ptr upstream_pool::take_idle() {
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
        if (auto conn = take_idle()) co_return std::pair{std::move(conn), error{}};
    }
    auto executor = asio::make_strand(ioc_);
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

    auto conn = std::make_unique<upstream_connection>(upstream_connection{
        endpoint_.tls
            ? decltype(upstream_connection::stream)(std::in_place_type<tls_stream>, executor,
                                                    tls_context_)
            : decltype(upstream_connection::stream)(std::in_place_type<plain_stream>, executor),
        {},
        false,
        {}});
    auto& tcp_layer = conn->tcp();
    tcp_layer.expires_after(options_.connect_timeout);
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_tuple);
    if (cec) co_return std::pair{nullptr, upstream_error(cec, "connecting to upstream")};
    tcp_layer.socket().set_option(tcp::no_delay(true));

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
    co_return std::pair{std::move(conn), error{}};
}

namespace {

class upstream_client final : public upstream {
  public:
    upstream_client(asio::io_context& ioc, upstream_pool& pool, const limits_options& limits)
        : ioc_(ioc), pool_(pool), limits_(limits) {}

    void async_send(request req, handler on_reply) override {
        asio::co_spawn(asio::make_strand(ioc_), exchange(std::move(req)),
                       [on_reply = std::move(on_reply)](std::exception_ptr e, upstream_reply r) {
                           if (e) {
                               r = {};
                               r.failure = {errc::internal, "upstream exchange failed"};
                           }
                           on_reply(std::move(r));
                       });
    }

  private:
    asio::awaitable<upstream_reply> exchange(request req) {
        const auto deadline = steady::now() + pool_.options().total_timeout;
        http::request<http::string_body> out;
        out.method_string(req.method);
        out.target(req.target);
        out.version(11);
        for (auto& f : end_to_end_headers(req.headers))
            out.insert(f.name, f.value);
        out.set(http::field::host, pool_.endpoint().host_header);
        out.body() = std::move(req.body);
        if (!out.body().empty() || req.method == "POST" || req.method == "PUT" ||
            req.method == "PATCH") {
            out.prepare_payload();
        }
        out.keep_alive(true);

        upstream_reply reply;
        // A reused connection may have been closed by the upstream since it was parked; such
        // a failure before any response byte is retried once on a new connection. Every
        // request sent here is buffered, so it can be replayed whole.
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto [conn, err] = co_await pool_.acquire(attempt > 0);
            if (err) {
                reply.failure = std::move(err);
                co_return reply;
            }
            auto remaining = [&] {
                return std::chrono::duration_cast<millis>(deadline - steady::now());
            };
            auto& tcp_layer = conn->tcp();
            tcp_layer.expires_after(std::min(pool_.options().response_timeout, remaining()));
            boost::system::error_code ec;
            http::response_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits_.header_limit));
            parser.body_limit(limits_.response_body_limit);
            if (req.method == "HEAD") parser.skip(true);

            ec = co_await std::visit(
                [&](auto& stream) -> asio::awaitable<boost::system::error_code> {
                    auto [wec, wn] = co_await http::async_write(stream, out, use_tuple);
                    if (wec) co_return wec;
                    auto [hec, hn] =
                        co_await http::async_read_header(stream, conn->buffer, parser, use_tuple);
                    if (hec) co_return hec;
                    tcp_layer.expires_after(remaining());
                    auto [bec, bn] =
                        co_await http::async_read(stream, conn->buffer, parser, use_tuple);
                    co_return bec;
                },
                conn->stream);
            if (ec) {
                const bool nothing_received = !parser.got_some();
                if (conn->reused && nothing_received && attempt == 0 &&
                    ec != beast::error::timeout) {
                    continue;
                }
                reply.failure =
                    upstream_error(ec, nothing_received ? "waiting for upstream response"
                                                        : "reading upstream response");
                co_return reply;
            }
            auto& msg = parser.get();
            reply.answer.status = static_cast<int>(msg.result_int());
            for (auto& f : msg) {
                reply.answer.headers.push_back(
                    {std::string(f.name_string()), std::string(f.value())});
            }
            reply.answer.body = std::move(msg.body());
            if (msg.keep_alive()) pool_.release(std::move(conn));
            co_return reply;
        }
        reply.failure = {errc::reset, "upstream closed the connection twice"};
        co_return reply;
    }

    asio::io_context& ioc_;
    upstream_pool& pool_;
    limits_options limits_;
};

}  // namespace

std::unique_ptr<upstream> make_upstream_client(asio::io_context& ioc, upstream_pool& pool,
                                               const limits_options& limits) {
    return std::make_unique<upstream_client>(ioc, pool, limits);
}

namespace {

class standalone_upstream final : public upstream {
  public:
    standalone_upstream(const upstream_options& upstream, const limits_options& limits)
        : work_(asio::make_work_guard(ioc_)),
          pool_(ioc_, upstream),
          client_(ioc_, pool_, limits),
          thread_([this] { ioc_.run(); }) {}

    ~standalone_upstream() override {
        work_.reset();  // run() returns once the last exchange is done
        thread_.join();
    }

    void async_send(request req, handler on_reply) override {
        client_.async_send(std::move(req), std::move(on_reply));
    }

  private:
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    upstream_pool pool_;
    upstream_client client_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<upstream> make_standalone_upstream(const upstream_options& upstream,
                                                   const limits_options& limits) {
    return std::make_unique<standalone_upstream>(upstream, limits);
}

upstream_reply send_and_wait(upstream& up, request req) {
    std::promise<upstream_reply> done;
    auto reply = done.get_future();
    up.async_send(std::move(req), [&done](upstream_reply r) { done.set_value(std::move(r)); });
    return reply.get();
}

}  // namespace runmirror::net
