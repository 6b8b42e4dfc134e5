// One client connection: read a request within limits and deadlines, refuse ambiguous framing,
// then either answer it (health, admin, runs routes through the run cache), stream events
// (net/events_stream) or stream it to the upstream and the answer back (net/pass_through).
// Keep-alive until the client, an error or the server's shutdown ends it.
#include "net/http_session.hpp"

#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/header_rules.hpp"
#include "http/json_error.hpp"
#include "http/router.hpp"
#include "net/events_stream.hpp"
#include "net/overload.hpp"
#include "net/pass_through.hpp"
#include "net/session_io.hpp"
#include "net/session_state.hpp"
#include "obs/metrics.hpp"
#include "obs/request_log.hpp"
#include "util/tenant.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// One answered request, counted in the metrics and, when |logged|, kept in the request log
// (the record's method, path and tenant are filled only then).
void answered(session_context& ctx, obs::request_record& record, bool logged) {
    obs::metrics().record_request(record.r, record.kind, record.cache, record.status,
                                  record.seconds);
    if (logged) ctx.admin.requests->add(record);
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

}  // namespace

asio::awaitable<void> run_http_session(tcp::socket socket, session_context& ctx) {
    auto state = std::make_shared<session_state>(std::move(socket));
    const auto id = ctx.registry.add(state);
    auto& stream = state->stream;
    beast::flat_buffer buffer;
    obs::request_record record;  // reused by every request of the connection

    for (bool first = true; !ctx.stopping; first = false) {
        http::request_parser<http::empty_body> head_parser;
        head_parser.header_limit(static_cast<std::uint32_t>(ctx.limits.header_limit));
        // Body limits belong to the route: pass-through streams any size, the daemon's own
        // routes set theirs below. (Beast checks Content-Length against this at header time.)
        head_parser.body_limit(boost::none);
        state->idle = true;
        state->head_wait_since = std::chrono::steady_clock::now();
        stream.expires_after(
            ctx.overload.head_timeout(first ? ctx.limits.read_timeout : ctx.limits.idle_timeout));
        auto [ec, n] = co_await http::async_read_header(stream, buffer, head_parser, use_tuple);
        state->idle = false;
        state->head_wait_since = {};
        if (ec) {
            if (auto answer = answer_for_read_error(ec)) {
                co_await write_response(stream, std::move(*answer), false, ctx.limits);
            }
            break;  // end_of_stream: the client closed between requests
        }

        const auto started = std::chrono::steady_clock::now();
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
            browse_viewer viewer = browse_viewer_of(req, ctx.admin);
            if (!viewer.allowed) {
                co_await write_response(stream, json_error(401, viewer.refusal), false, ctx.limits);
            } else {
                co_await stream_events(*state, ctx, std::move(viewer));
            }
            break;
        }
        // Every field is set again for each request: the record's strings keep their memory
        // from one request of the connection to the next.
        record.r = route.kind;
        record.kind = route.resource;
        record.cache = obs::cache_outcome::none;
        record.status = 0;
        record.upstream_seconds = -1;
        record.bytes = 0;
        const bool logging_requests =
            ctx.admin.requests != nullptr && ctx.admin.requests->enabled();
        if (logging_requests) {
            record.at = clock_type::now();
            record.method.assign(req.method);
            record.path.assign(req.path());
            if (const request_caller& who = caller_of(req); !who.key.empty()) {
                record.tenant = who.tenant;
            } else {
                record.tenant.reset();
            }
        }
        if (route.kind == route::passthrough) {
            const bool reusable =
                co_await pass_through(stream, buffer, head_parser, keep_alive, ctx, record.status);
            record.cache = obs::cache_outcome::passthrough;
            record.seconds = seconds_since(started);
            record.upstream_seconds = record.seconds;
            answered(ctx, record, logging_requests);
            if (!reusable) break;
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
        if (route.kind == route::health || route.kind == route::ready ||
            route.kind == route::admin) {
            answer = handle_admin(route, req, ctx.admin, clock_type::now());
        } else {
            answer = co_await ask_cache(ctx.cache, route, std::move(req));
        }
        record.cache = obs::classify(route.kind, answer.header("Cache-Status"));
        record.status = answer.status;
        record.seconds = seconds_since(started);
        record.upstream_seconds = answer.upstream_seconds;
        record.bytes = head_request ? 0 : answer.body_size();
        answered(ctx, record, logging_requests);
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
