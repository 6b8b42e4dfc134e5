#pragma once
// Private to src/net: connections to the one upstream, plain or TLS, kept alive and reused.
// Only the network TUs include this (it pulls in Beast's stream types).
//
// Threading: acquire/try_idle/release may be called from any thread. A connection is used by
// one exchange at a time (whoever acquired it). Its socket and timer run their handlers on the
// connection's executor: a strand of its own when several threads run the io_context, the
// io_context itself when one does (a strand would only add a lock and executor copies to
// every handler). The buffered client runs on that executor; pass-through sessions run Beast's
// operations on their own strand, which is fine because they hold the connection alone.

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "runmirror/options.hpp"
#include "runmirror/result.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

struct exchange_watch;  // the buffered client's, in upstream_client.cpp

struct upstream_connection {
    // |executor| runs the socket's handlers (see above); |tls| null: plain TCP.
    upstream_connection(const asio::any_io_executor& executor, asio::ssl::context* tls);

    std::variant<plain_stream, tls_stream> stream;
    beast::flat_buffer buffer;  // bytes read past the previous response stay here
    bool reused = false;        // taken from the idle list: it may have been closed meanwhile
    std::chrono::steady_clock::time_point idle_since;
    // The buffered client's deadlines, created on its first exchange here (pass-through uses
    // the stream's own timeouts).
    std::shared_ptr<exchange_watch> watch;

    plain_stream& tcp() {
        return std::visit([](auto& s) -> plain_stream& { return beast::get_lowest_layer(s); },
                          stream);
    }
};

using connection_ptr = std::unique_ptr<upstream_connection>;

// Where the upstream is, parsed once from upstream_options::url.
struct upstream_endpoint {
    bool tls = true;
    std::string host;         // for DNS, SNI and certificate verification
    std::string port;         // service port as text
    std::string host_header;  // "host" or "host:port" when the port is not the default
};

// Parses an http(s) URL; throws std::invalid_argument naming the problem.
upstream_endpoint parse_upstream_url(const std::string& url);

class upstream_pool {
  public:
    // |threads|: how many threads run |ioc| (with one, connections get no strand). Throws
    // std::runtime_error when the CA file cannot be loaded.
    upstream_pool(asio::io_context& ioc, const upstream_options& options, unsigned threads);

    // An idle connection that still looks open, or a new one (resolve, connect, TLS handshake
    // with SNI and peer verification), each step bounded by its configured timeout.
    // |fresh| skips the idle list (used to retry after a reused connection failed).
    asio::awaitable<std::pair<connection_ptr, error>> acquire(bool fresh = false);

    // An idle connection that still looks open, or null. Never blocks, never connects.
    connection_ptr try_idle();

    // Returns a connection whose last exchange ended cleanly and allows reuse.
    void release(connection_ptr conn);
    // Connections parked for reuse right now.
    std::size_t idle_count();

    const upstream_endpoint& endpoint() const { return endpoint_; }
    const upstream_options& options() const { return options_; }

    // The executor for a new connection's handlers (see the threading note above), also
    // fit for a coroutine that opens one.
    asio::any_io_executor connection_executor();

    // True when the caller may use any connection's socket right here: connections have no
    // strand and this thread runs the io_context.
    bool runs_here() const { return one_thread_ && ioc_.get_executor().running_in_this_thread(); }

  private:
    asio::io_context& ioc_;
    bool one_thread_;
    upstream_options options_;
    upstream_endpoint endpoint_;
    asio::ssl::context tls_context_;
    std::mutex mutex_;
    std::deque<connection_ptr> idle_;  // most recently used at the back
};

// Maps an I/O error on the upstream side to the error kind the run cache reasons about.
error upstream_error(const boost::system::error_code& ec, std::string_view during);

}  // namespace runmirror::net
