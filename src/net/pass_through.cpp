// Pass-through: the request's head checked and rewritten for the upstream (hop-by-hop headers
// dropped, Host replaced), the start of its body read and validated before the upstream sees
// anything (unless the client expects 100-continue: then the upstream decides first whether it
// wants the body), then the exchange relayed (net/relay.hpp) over a pooled connection,
// replayed once on a fresh one when a reused connection turns out dead.
#include "net/pass_through.hpp"

#include <string>
#include <string_view>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include "util/logging.hpp"

#include "cache/list_key.hpp"
#include "cache/run_cache.hpp"
#include "http/header_rules.hpp"
#include "http/json_error.hpp"
#include "http/router.hpp"
#include "json/agent_names.hpp"
#include "net/relay.hpp"
#include "net/session_io.hpp"
#include "net/upstream_pool.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// The largest answer to a streamed creation that is kept to be stored (a job is a few KB).
constexpr std::size_t max_created_answer = 1024 * 1024;
// The largest extraction-agents answer read for names (an agent is about 2 KB with its schema).
constexpr std::size_t max_agents_answer = 8 * 1024 * 1024;

// An extraction-agents answer relayed to a client: the agent names it gives are kept for
// browsing, under each agent's project (the request's ?project_id= for an agent that names
// none). The client has its answer whatever happens here.
void remember_agent_names(session_context& ctx, std::string_view target, std::string_view body) {
    if (ctx.admin.db == nullptr) return;
    std::string project;
    if (const auto q = target.find('?'); q != std::string_view::npos) {
        if (auto params = decode_query(target.substr(q + 1))) {
            for (const auto& [name, value] : *params)
                if (name == "project_id") project = value;
        }
    }
    try {
        ctx.admin.db->put_agent_names(parse_agent_names(body, project), clock_type::now());
    } catch (const std::exception& e) {
        log::warn("agent names from {} not stored: {}", target.substr(0, target.find('?')),
                  e.what());
    }
}

// Reads the start of a request body, up to |max| bytes, before anything is sent upstream: a
// malformed body (bad chunk sizes and the like, the stuff of request smuggling) is refused
// while the upstream has seen nothing, and a body that fits whole is forwarded with a plain
// Content-Length and can be replayed. Larger bodies continue streaming from where this stops.
asio::awaitable<error_code> read_body_start(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                            http::request_parser<http::buffer_body>& parser,
                                            std::string& out, std::size_t max, millis timeout) {
    relay_stream in(client);
    out.resize(max);
    std::size_t filled = 0;
    while (!parser.is_done() && filled < out.size()) {
        parser.get().body().data = out.data() + filled;
        parser.get().body().size = out.size() - filled;
        client.expires_after(timeout);
        auto [ec, n] = co_await read_request_body(in, buffer, parser);
        if (ec == http::error::need_buffer) ec = {};
        filled = out.size() - parser.get().body().size;
        if (ec) co_return ec;
    }
    out.resize(filled);
    co_return error_code{};
}

// One of the daemon's own answers on the pass-through route.
asio::awaitable<void> answer(beast::tcp_stream& client, response r, bool keep_alive,
                             const limits_options& limits, int& status_sent) {
    status_sent = r.status;
    r.headers.push_back({"Cache-Status", pass_through_cache_status});
    co_await write_response(client, std::move(r), keep_alive, limits);
}

}  // namespace

asio::awaitable<bool> pass_through(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                   http::request_parser<http::empty_body>& head_parser,
                                   bool keep_alive, session_context& ctx, int& status_sent) {
    status_sent = 0;
    const bool has_body = head_parser.chunked() || head_parser.content_length().value_or(0) > 0;
    // An answer given before the body was read leaves the body on the wire: close after it.
    const bool reusable_without_body = keep_alive && !has_body;
    if (!ctx.pool) {
        response r = json_error(503, "runmirror is offline: requests cannot be forwarded");
        r.headers.push_back({"x-should-retry", "false"});
        co_await answer(client, std::move(r), reusable_without_body, ctx.limits, status_sent);
        co_return reusable_without_body;
    }
    // No circuit-breaker check here: knowing the upstream is down only lets the daemon answer
    // sooner from its store, and pass-through has nothing stored. The request is tried, and its
    // outcome is a probe like any other (see the observe() calls below).

    auto& in = head_parser.get();
    http::request<http::buffer_body> out;
    out.method_string(in.method_string());
    out.target(in.target());
    out.version(11);
    // A request that creates a resource (an upload): its answer is kept as it is relayed, and
    // asked for unencoded, so that the store can read it.
    const std::string_view target(in.target().data(), in.target().size());
    const std::string_view method(in.method_string().data(), in.method_string().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const resource_kind* created = streamed_create_kind(method, path);
    // Or one whose answer names extraction agents, read for those names as it is relayed.
    const bool reads_agents = !created && names_agents(method, path);
    const bool copies_answer = created || reads_agents;
    header_list creator;  // its credentials, for the tenant the new resource belongs to
    bool expect_continue = false;
    for (auto& f : end_to_end_headers(to_header_list(in))) {
        // Set again below when it is forwarded: only 100-continue, only with a body.
        if (iequals(f.name, "expect")) {
            expect_continue = iequals(f.value, "100-continue");
            continue;
        }
        if (copies_answer && iequals(f.name, "accept-encoding")) continue;
        if (created && iequals(f.name, "authorization")) creator.push_back(f);
        out.insert(f.name, f.value);
    }
    out.set(http::field::host, ctx.pool->endpoint().host_header);
    out.keep_alive(true);
    // RFC 9110 §10.1.1: a proxy forwards the head of a request that expects 100-continue, and
    // the upstream's answer decides whether the client sends its body; an HTTP/1.0 client's
    // expectation is ignored.
    const bool forward_expect = expect_continue && has_body && in.version() >= 11;
    if (forward_expect) out.set(http::field::expect, "100-continue");

    http::request_parser<http::buffer_body> body_parser(std::move(head_parser));
    body_parser.body_limit(boost::none);  // streamed, never held whole
    std::string body_start;
    if (has_body && !forward_expect) {
        if (auto ec =
                co_await read_body_start(client, buffer, body_parser, body_start,
                                         ctx.limits.request_buffer_size, ctx.limits.read_timeout)) {
            if (auto refusal = answer_for_read_error(ec)) {
                co_await answer(client, std::move(*refusal), false, ctx.limits, status_sent);
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
    const auto started = std::chrono::steady_clock::now();
    // A reused upstream connection may have been closed while idle. A request held whole in
    // memory can be replayed on a new connection, and so can one that expects 100-continue
    // until its body is asked for; one already streaming cannot, so it always gets a fresh
    // connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto [conn, err] =
            co_await ctx.pool->acquire((!body_complete && !forward_expect) || attempt > 0);
        if (err) {
            ctx.guard->observe(err, 0, seconds_since(started));
            log::warn("pass-through {} {}: {}", std::string(out.method_string()),
                      std::string(out.target()), err.detail);
            co_await answer(client,
                            json_error(status_for_upstream_failure(err.code),
                                       "upstream unavailable: " + err.detail),
                            keep_alive && body_complete, ctx.limits, status_sent);
            co_return keep_alive&& body_complete;
        }
        body_copy answer_copy{created ? max_created_answer : max_agents_answer,
                              [&](std::string_view bytes) {
                                  if (created) {
                                      ctx.cache.store_created(*created, creator, bytes);
                                  } else {
                                      remember_agent_names(ctx, target, bytes);
                                  }
                              },
                              {},
                              false};
        const relay_request exchange{client,
                                     buffer,
                                     body_parser,
                                     out,
                                     body_start,
                                     forward_expect,
                                     keep_alive,
                                     ctx.limits,
                                     ctx.pool->options(),
                                     copies_answer ? &answer_copy : nullptr};
        relay_stream upstream(conn->stream);
        response_reader early;
        outcome = co_await send_request(exchange, upstream, conn->buffer, early);
        const bool body_started = outcome.request_body_started;
        if (!outcome.ec) outcome = co_await relay_response(exchange, upstream, conn->buffer, early);
        if (outcome.stage == relay_stage::responding || outcome.stage == relay_stage::done) {
            status_sent = static_cast<int>(outcome.status);
        }
        if (!outcome.ec) {
            // Any answer, the upstream's errors included, is the upstream's word on its health:
            // a success closes an open circuit at once.
            ctx.guard->observe({}, static_cast<int>(outcome.status), seconds_since(started));
            if (outcome.upstream_reusable) ctx.pool->release(std::move(conn));
            co_return outcome.client_reusable;
        }
        const bool replayable = conn->reused && (body_complete || !body_started) &&
                                !outcome.client_side && outcome.stage != relay_stage::responding &&
                                outcome.ec != beast::error::timeout;
        if (!replayable) break;
    }
    if (outcome.client_side) {
        // The client went away, stalled or sent a malformed body: nothing about the upstream.
        if (auto refusal = answer_for_read_error(outcome.ec);
            refusal && outcome.stage == relay_stage::sending) {
            co_await answer(client, std::move(*refusal), false, ctx.limits, status_sent);
        }
        co_return false;
    }
    error failure = upstream_error(outcome.ec, outcome.stage == relay_stage::responding
                                                   ? "relaying upstream response"
                                               : outcome.stage == relay_stage::awaiting_response
                                                   ? "waiting for upstream response"
                                                   : "sending request upstream");
    ctx.guard->observe(failure, 0, seconds_since(started));
    log::warn("pass-through {} {}: {}", std::string(out.method_string()), std::string(out.target()),
              failure.detail);
    if (outcome.stage == relay_stage::responding)
        co_return false;  // the client saw a partial answer
    co_await answer(client,
                    json_error(status_for_upstream_failure(failure.code),
                               "upstream unavailable: " + failure.detail),
                    false, ctx.limits, status_sent);
    co_return false;
}

}  // namespace runmirror::net
