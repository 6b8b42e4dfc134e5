// One client connection: read a request within limits and deadlines, refuse ambiguous framing,
// then either answer it (health, admin, runs routes through the run cache) or stream it to the
// upstream and the answer back (pass-through). Keep-alive until the client, an error or the
// server's shutdown ends it.
#include "net/http_session.hpp"

#include <array>
#include <functional>
#include <mutex>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "http/header_rules.hpp"
#include "http/json_error.hpp"
#include "http/response_head.hpp"
#include "http/router.hpp"
#include "net/file_send.hpp"
#include "net/upstream_pool.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::uint64_t session_registry::add(closer close_if_idle) {
    std::lock_guard lock(mutex_);
    sessions_.emplace(++next_id_, std::move(close_if_idle));
    return next_id_;
}

void session_registry::remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
}

void session_registry::close_idle() {
    std::lock_guard lock(mutex_);
    for (auto& [id, close] : sessions_)
        close();
}

std::size_t session_registry::size() {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t relay_chunk_size = 64 * 1024;

struct session_state {
    explicit session_state(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    // Only touched on the stream's strand:
    bool idle = false;                     // waiting for the next request (or for events)
    asio::steady_timer* waiter = nullptr;  // the events stream's wait, cancelled at shutdown
};

constexpr auto events_keepalive = std::chrono::seconds(15);

// GET /_runmirror/events: Server-Sent Events until the client or the server goes away. The
// body is delimited by the connection's end, so nothing else is read from this client.
// Waiting is a timer that the event hub's notification cancels; it fires on its own only to
// send a keep-alive comment, which also notices a client that has gone.
asio::awaitable<void> stream_events(session_state& state, session_context& ctx) {
    auto& stream = state.stream;
    auto wake = std::make_shared<asio::steady_timer>(stream.get_executor());
    auto subscription = ctx.events.subscribe([weak = std::weak_ptr(wake)] {
        if (auto timer = weak.lock()) {
            asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        }
    });
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "Connection: close\r\n\r\n: connected\n\n";
    state.waiter = wake.get();
    while (!ctx.stopping) {
        for (auto& frame : subscription->take())
            out += frame;
        if (!out.empty()) {
            state.idle = false;
            stream.expires_after(ctx.limits.write_timeout);
            auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
            if (ec) break;
            out.clear();
            continue;  // more may have arrived while writing
        }
        state.idle = true;
        wake->expires_after(events_keepalive);
        auto [ec] = co_await wake->async_wait(use_tuple);
        if (!stream.socket().is_open()) break;  // closed at shutdown
        if (!ec) out = ": keepalive\n\n";
    }
    state.waiter = nullptr;
}

header_list to_header_list(const http::fields& fields) {
    header_list out;
    for (const auto& f : fields) {
        out.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    return out;
}

void copy_headers(const header_list& from, http::fields& to) {
    for (const auto& f : from)
        to.insert(f.name, f.value);
}

// The head and the body in one gather write: a stored body goes out from the store's memory,
// or from its memory file with sendfile.
// An answer to HEAD has the head a GET would get (its Content-Length included) and no body.
asio::awaitable<error_code> write_response(beast::tcp_stream& stream, response r, bool keep_alive,
                                           const limits_options& limits,
                                           bool to_head_request = false) {
    const std::string head = response_head(r, keep_alive);
    const bool with_body = status_has_body(r.status) && !to_head_request;
    if (with_body && r.file_body) {
        co_return co_await send_head_and_file(stream.socket(), head, *r.file_body,
                                              limits.write_timeout);
    }
    const std::string_view body = with_body ? r.body_bytes() : std::string_view();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head),
                                                    asio::buffer(body.data(), body.size())};
    stream.expires_after(limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream, buffers, use_tuple);
    co_return ec;
}

// The meeting point of the run cache's answer and the session waiting for it: the answer may
// come inline (a hit, answered from the store on this strand) or later from an upstream
// thread. Inline answers skip the round trip through the executor.
class cache_answer {
  public:
    using handler = std::function<void(response)>;

    // From the run cache, on any thread, exactly once.
    void complete(response r) {
        std::unique_lock lock(mutex_);
        if (!waiter_) {
            answer_ = std::move(r);
            return;
        }
        handler h = std::move(waiter_);
        lock.unlock();
        h(std::move(r));
    }
    // From the session, right after handle() returned.
    std::optional<response> take_if_ready() {
        std::lock_guard lock(mutex_);
        return std::exchange(answer_, std::nullopt);
    }
    // From the session when the answer was not ready: |h| runs when it arrives (or now).
    void wait(handler h) {
        std::unique_lock lock(mutex_);
        if (!answer_) {
            waiter_ = std::move(h);
            return;
        }
        response r = std::move(*answer_);
        answer_.reset();
        lock.unlock();
        h(std::move(r));
    }

  private:
    std::mutex mutex_;
    std::optional<response> answer_;
    handler waiter_;
};

// Runs the run cache's callback-style handle() as one awaitable step. A deferred answer is
// dispatched to this session's executor: on the thread that already runs it (one thread, no
// strands: the upstream client's handler), the session resumes at once instead of going
// through the scheduler's queue again; otherwise it is posted there.
asio::awaitable<response> ask_cache(run_cache& cache, const route_match& route, request req) {
    auto meeting = std::make_shared<cache_answer>();
    cache.handle(route, std::move(req), [meeting](response r) { meeting->complete(std::move(r)); });
    if (auto ready = meeting->take_if_ready()) co_return std::move(*ready);
    // A raw pointer, not a shared_ptr copy: g++ 12 destroys objects captured by value in a
    // lambda temporary of a co_await expression twice (found with valgrind). |meeting| stays
    // alive in this frame until the co_await returns.
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(response)>(
        [waiting = meeting.get()](auto handler) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            waiting->wait([shared](response r) {
                auto executor = asio::get_associated_executor(*shared);
                asio::dispatch(executor,
                               [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
            });
        },
        asio::use_awaitable);
}

// Errors from reading a request header that deserve an answer before closing.
std::optional<response> answer_for_read_error(const error_code& ec) {
    if (ec == http::error::header_limit) return json_error(431, "request header too large");
    if (ec == http::error::body_limit) return json_error(413, "request body too large");
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return json_error(400, "malformed request: " + ec.message());
    }
    return std::nullopt;
}

// Copies the body that |parser| reads from |in| to |out| through |serializer|, one chunk at
// a time: memory stays bounded whatever the body's size. |already_read| is a first part of the
// body that was read before (it is sent first). Each read and write has its own deadline, so
// a stalled peer ends the relay rather than holding it.
template <bool isRequest, class InStream, class OutStream>
asio::awaitable<error_code> relay_body(InStream& in, beast::flat_buffer& in_buffer,
                                       http::parser<isRequest, http::buffer_body>& parser,
                                       OutStream& out,
                                       http::message<isRequest, http::buffer_body>& message,
                                       http::serializer<isRequest, http::buffer_body>& serializer,
                                       std::string_view already_read, millis timeout) {
    std::vector<char> chunk(relay_chunk_size);
    if (!already_read.empty()) {
        message.body().data = const_cast<char*>(already_read.data());
        message.body().size = already_read.size();
        message.body().more = !parser.is_done();
        beast::get_lowest_layer(out).expires_after(timeout);
        auto [ec, n] = co_await http::async_write(out, serializer, use_tuple);
        if (ec == http::error::need_buffer) ec = {};  // the serializer wants the next chunk
        if (ec) co_return ec;
    }
    while (!parser.is_done() || !serializer.is_done()) {
        if (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            beast::get_lowest_layer(in).expires_after(timeout);
            auto [ec, n] = co_await http::async_read(in, in_buffer, parser, use_tuple);
            if (ec == http::error::need_buffer) ec = {};  // the chunk is full, not an error
            if (ec) co_return ec;
            message.body().data = chunk.data();
            message.body().size = chunk.size() - parser.get().body().size;
            message.body().more = !parser.is_done();
        } else {
            message.body().data = nullptr;
            message.body().size = 0;
            message.body().more = false;
        }
        beast::get_lowest_layer(out).expires_after(timeout);
        auto [ec, n] = co_await http::async_write(out, serializer, use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return ec;
    }
    co_return error_code{};
}

// How far a pass-through exchange got, which decides what the client can still be told.
enum class relay_stage { connecting, sending, awaiting_response, responding, done };

struct relay_outcome {
    relay_stage stage = relay_stage::connecting;
    error_code ec;
    unsigned status = 0;  // the upstream's, once its response header was read
    bool upstream_reusable = false;
};

bool response_has_no_body(unsigned status) {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// One pass-through exchange over |upstream|: the request head and streamed body out, the
// response head and streamed body back to the client.
template <class UpstreamStream>
asio::awaitable<relay_outcome> relay_exchange(beast::tcp_stream& client,
                                              beast::flat_buffer& client_buffer,
                                              http::request_parser<http::buffer_body>& request_in,
                                              http::request<http::buffer_body>& request_out,
                                              std::string_view body_read, UpstreamStream& upstream,
                                              beast::flat_buffer& upstream_buffer,
                                              bool client_keep_alive, const limits_options& limits,
                                              const upstream_options& upstream_limits) {
    relay_outcome outcome;
    outcome.stage = relay_stage::sending;
    http::request_serializer<http::buffer_body> request_writer(request_out);
    beast::get_lowest_layer(upstream).expires_after(limits.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(upstream, request_writer, use_tuple); ec) {
        outcome.ec = ec;
        co_return outcome;
    }
    outcome.ec = co_await relay_body(client, client_buffer, request_in, upstream, request_out,
                                     request_writer, body_read, limits.read_timeout);
    if (outcome.ec) co_return outcome;

    outcome.stage = relay_stage::awaiting_response;
    const bool head = request_in.get().method() == http::verb::head;
    std::optional<http::response_parser<http::buffer_body>> response_in;
    // Interim 1xx answers (other than 101) are dropped: the final one follows.
    do {
        response_in.emplace();
        response_in->body_limit(boost::none);
        response_in->header_limit(static_cast<std::uint32_t>(limits.header_limit));
        if (head) response_in->skip(true);
        beast::get_lowest_layer(upstream).expires_after(upstream_limits.response_timeout);
        auto [ec, n] =
            co_await http::async_read_header(upstream, upstream_buffer, *response_in, use_tuple);
        if (ec) {
            outcome.ec = ec;
            co_return outcome;
        }
    } while (response_in->get().result_int() / 100 == 1 && response_in->get().result_int() != 101);

    outcome.stage = relay_stage::responding;
    auto& upstream_head = response_in->get();
    outcome.status = upstream_head.result_int();
    http::response<http::buffer_body> response_out;
    response_out.result(upstream_head.result_int());
    response_out.reason(upstream_head.reason());
    response_out.version(11);
    copy_headers(end_to_end_headers(to_header_list(upstream_head)), response_out);
    const unsigned status = upstream_head.result_int();
    if (auto length = response_in->content_length()) {
        response_out.content_length(*length);
    } else if (!head && !response_has_no_body(status)) {
        response_out.chunked(true);  // upstream delimits by chunks or by closing: re-chunk
    }
    response_out.keep_alive(client_keep_alive);
    http::response_serializer<http::buffer_body> response_writer(response_out);
    client.expires_after(limits.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(client, response_writer, use_tuple); ec) {
        outcome.ec = ec;
        co_return outcome;
    }
    if (!head) {
        outcome.ec =
            co_await relay_body(upstream, upstream_buffer, *response_in, client, response_out,
                                response_writer, {}, upstream_limits.response_timeout);
        if (outcome.ec) co_return outcome;
    }
    outcome.stage = relay_stage::done;
    outcome.upstream_reusable = response_in->keep_alive() && (head || response_in->is_done());
    co_return outcome;
}

// Reads the start of a request body, up to |max| bytes, before anything is sent upstream: a
// malformed body (bad chunk sizes and the like, the stuff of request smuggling) is refused
// while the upstream has seen nothing, and a body that fits whole is forwarded with a plain
// Content-Length and can be replayed. Larger bodies continue streaming from where this stops.
asio::awaitable<error_code> read_body_start(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                            http::request_parser<http::buffer_body>& parser,
                                            std::string& out, std::size_t max, millis timeout) {
    out.resize(max);
    std::size_t filled = 0;
    while (!parser.is_done() && filled < out.size()) {
        parser.get().body().data = out.data() + filled;
        parser.get().body().size = out.size() - filled;
        client.expires_after(timeout);
        auto [ec, n] = co_await http::async_read(client, buffer, parser, use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        filled = out.size() - parser.get().body().size;
        if (ec) co_return ec;
    }
    out.resize(filled);
    co_return error_code{};
}

// Streams one request to the upstream and its answer back. Returns whether the client
// connection may carry another request.
asio::awaitable<bool> pass_through(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                   http::request_parser<http::empty_body>& head_parser,
                                   bool keep_alive, session_context& ctx) {
    const bool has_body = head_parser.chunked() || head_parser.content_length().value_or(0) > 0;
    // An answer given before the body was read leaves the body on the wire: close after it.
    const bool reusable_without_body = keep_alive && !has_body;
    if (!ctx.pool) {
        response r = json_error(503, "runmirror is offline: requests cannot be forwarded");
        r.headers.push_back({"x-should-retry", "false"});
        co_await write_response(client, std::move(r), reusable_without_body, ctx.limits);
        co_return reusable_without_body;
    }
    if (const time_point now = clock_type::now(); !ctx.health->allow(now)) {
        const health_snapshot down = ctx.health->snapshot(now);
        response r =
            json_error(503, "upstream is down after " + std::to_string(down.consecutive_failures) +
                                " consecutive failures; next attempt in " +
                                std::to_string(down.retry_in.count()) + " ms");
        r.headers.push_back({"Retry-After", std::to_string((down.retry_in.count() + 999) / 1000)});
        co_await write_response(client, std::move(r), reusable_without_body, ctx.limits);
        co_return reusable_without_body;
    }

    auto& in = head_parser.get();
    http::request<http::buffer_body> out;
    out.method_string(in.method_string());
    out.target(in.target());
    out.version(11);
    bool expect_continue = false;
    for (auto& f : end_to_end_headers(to_header_list(in))) {
        // The daemon answers 100-continue itself, so the upstream never waits on it.
        if (iequals(f.name, "expect")) {
            expect_continue = iequals(f.value, "100-continue");
            continue;
        }
        out.insert(f.name, f.value);
    }
    out.set(http::field::host, ctx.pool->endpoint().host_header);
    out.keep_alive(true);

    if (expect_continue && has_body) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        client.expires_after(ctx.limits.write_timeout);
        if (auto [ec, n] = co_await http::async_write(client, go_on, use_tuple); ec) {
            co_return false;
        }
    }
    http::request_parser<http::buffer_body> body_parser(std::move(head_parser));
    body_parser.body_limit(boost::none);  // streamed, never held whole
    std::string body_start;
    if (has_body) {
        if (auto ec =
                co_await read_body_start(client, buffer, body_parser, body_start,
                                         ctx.limits.request_buffer_size, ctx.limits.read_timeout)) {
            if (auto answer = answer_for_read_error(ec)) {
                co_await write_response(client, std::move(*answer), false, ctx.limits);
            }
            co_return false;
        }
    }
    // The client's framing is never forwarded: a body read whole gets a Content-Length, the
    // rest is re-framed by the serializer (chunked, or the validated Content-Length).
    const bool body_complete = body_parser.is_done();
    if (body_complete) {
        if (has_body || in.method() == http::verb::post || in.method() == http::verb::put ||
            in.method() == http::verb::patch) {
            out.content_length(body_start.size());
        }
    } else if (body_parser.chunked()) {
        out.chunked(true);
    } else {
        out.content_length(body_parser.content_length().value_or(0));
    }

    relay_outcome outcome;
    // A reused upstream connection may have been closed while idle. A request held whole in
    // memory can be replayed on a new connection; one still streaming cannot, so it always
    // gets a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto [conn, err] = co_await ctx.pool->acquire(!body_complete || attempt > 0);
        if (err) {
            ctx.guard->observe(err, 0);
            spdlog::warn("pass-through {} {}: {}", std::string(out.method_string()),
                         std::string(out.target()), err.detail);
            co_await write_response(client,
                                    json_error(status_for_upstream_failure(err.code),
                                               "upstream unavailable: " + err.detail),
                                    keep_alive && body_complete, ctx.limits);
            co_return keep_alive&& body_complete;
        }
        outcome = co_await std::visit(
            [&](auto& stream) {
                return relay_exchange(client, buffer, body_parser, out, body_start, stream,
                                      conn->buffer, keep_alive, ctx.limits, ctx.pool->options());
            },
            conn->stream);
        if (!outcome.ec) {
            if (outcome.upstream_reusable) ctx.pool->release(std::move(conn));
            co_return keep_alive;
        }
        const bool replayable = conn->reused && body_complete &&
                                outcome.stage != relay_stage::responding &&
                                outcome.ec != beast::error::timeout;
        if (!replayable) break;
    }
    if (outcome.stage == relay_stage::responding)
        co_return false;  // the client saw a partial answer
    error failure = upstream_error(outcome.ec, outcome.stage == relay_stage::awaiting_response
                                                   ? "waiting for upstream response"
                                                   : "sending request upstream");
    spdlog::warn("pass-through {} {}: {}", std::string(out.method_string()),
                 std::string(out.target()), failure.detail);
    co_await write_response(client,
                            json_error(status_for_upstream_failure(failure.code),
                                       "upstream unavailable: " + failure.detail),
                            false, ctx.limits);
    co_return false;
}

}  // namespace

asio::awaitable<void> run_http_session(tcp::socket socket, session_context& ctx) {
    auto state = std::make_shared<session_state>(std::move(socket));
    const auto id = ctx.registry.add([weak = std::weak_ptr<session_state>(state)] {
        auto s = weak.lock();
        if (!s) return;
        asio::post(s->stream.get_executor(), [s] {
            if (!s->idle) return;
            s->stream.close();
            if (s->waiter) s->waiter->cancel();
        });
    });
    auto& stream = state->stream;
    beast::flat_buffer buffer;

    for (bool first = true; !ctx.stopping; first = false) {
        http::request_parser<http::empty_body> head_parser;
        head_parser.header_limit(static_cast<std::uint32_t>(ctx.limits.header_limit));
        // Body limits belong to the route: pass-through streams any size, the daemon's own
        // routes set theirs below. (Beast checks Content-Length against this at header time.)
        head_parser.body_limit(boost::none);
        state->idle = true;
        stream.expires_after(first ? ctx.limits.read_timeout : ctx.limits.idle_timeout);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, head_parser, use_tuple);
        state->idle = false;
        if (ec) {
            if (auto answer = answer_for_read_error(ec)) {
                co_await write_response(stream, std::move(*answer), false, ctx.limits);
            }
            break;  // end_of_stream: the client closed between requests
        }

        auto& head = head_parser.get();
        request req;
        req.method = std::string(head.method_string());
        req.target = std::string(head.target());
        req.headers = to_header_list(head);
        if (auto bad = check_request_framing(req.method, req.target, req.headers)) {
            co_await write_response(stream, json_error(bad->status, bad->detail), false,
                                    ctx.limits);
            break;
        }
        // DNS rebinding and cross-site pages; the connection closes, as any body is left unread.
        if (auto refused = check_request_site(req.path(), req.headers, ctx.site)) {
            co_await write_response(stream, json_error(refused->status, refused->detail), false,
                                    ctx.limits);
            break;
        }
        const bool keep_alive = head.keep_alive() && !ctx.stopping;
        const bool head_request = head.method() == http::verb::head;
        const route_match route = match_route(req.method, req.path());
        if (route.kind == route::events) {
            if (!admin_authorised(req, ctx.admin)) {
                co_await write_response(stream, json_error(401, "admin token required"), false,
                                        ctx.limits);
            } else {
                co_await stream_events(*state, ctx);
            }
            break;
        }
        if (route.kind == route::passthrough) {
            if (!co_await pass_through(stream, buffer, head_parser, keep_alive, ctx)) break;
            continue;
        }

        // The daemon's own routes take small bodies, read whole within the limit. Most
        // requests (every read) have none: the head was the whole message.
        if (!head_parser.is_done()) {
            http::request_parser<http::string_body> body_parser(std::move(head_parser));
            body_parser.body_limit(ctx.limits.request_body_limit);
            stream.expires_after(ctx.limits.read_timeout);
            if (auto [bec, bn] = co_await http::async_read(stream, buffer, body_parser, use_tuple);
                bec) {
                if (auto answer = answer_for_read_error(bec)) {
                    co_await write_response(stream, std::move(*answer), false, ctx.limits);
                }
                break;
            }
            req.body = std::move(body_parser.get().body());
        }

        response answer;
        if (route.kind == route::health || route.kind == route::admin) {
            answer = handle_admin(route, req, ctx.admin, clock_type::now());
        } else {
            answer = co_await ask_cache(ctx.cache, route, std::move(req));
        }
        if (auto wec = co_await write_response(stream, std::move(answer), keep_alive, ctx.limits,
                                               head_request);
            wec || !keep_alive) {
            break;
        }
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
    ctx.registry.remove(id);
}

}  // namespace runmirror::net
