// The pass-through relay: both halves of an exchange, over relay_stream (net/relay_stream.hpp),
// so Beast's HTTP reads and writes are compiled here once for every kind of connection.
#include "net/relay.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "http/header_rules.hpp"
#include "net/session_io.hpp"

namespace runmirror::net {

namespace http = beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t relay_chunk_size = 64 * 1024;

// The interim answer to Expect: 100-continue, as Beast writes response<empty_body>{continue_, 11}.
constexpr std::string_view continue_head = "HTTP/1.1 100 Continue\r\n\r\n";

// A relay_body error and which of its two streams it came from.
struct body_error {
    error_code ec;
    bool reading = false;  // from |in|; otherwise from |out|
};

// Copies the body that |parser| reads from |in| to |out| through |serializer|, one chunk at
// a time: memory stays bounded whatever the body's size. |already_read| is a first part of the
// body that was read before (it is sent first). Each read and write has its own deadline, so
// a stalled peer ends the relay rather than holding it.
template <bool isRequest>
asio::awaitable<body_error> relay_body(relay_stream& in, beast::flat_buffer& in_buffer,
                                       http::parser<isRequest, http::buffer_body>& parser,
                                       relay_stream& out,
                                       http::message<isRequest, http::buffer_body>& message,
                                       http::serializer<isRequest, http::buffer_body>& serializer,
                                       std::string_view already_read, millis timeout,
                                       body_copy* copy = nullptr) {
    std::vector<char> chunk(relay_chunk_size);
    if (!already_read.empty()) {
        message.body().data = const_cast<char*>(already_read.data());
        message.body().size = already_read.size();
        message.body().more = !parser.is_done();
        out.lowest().expires_after(timeout);
        auto [ec, n] = co_await http::async_write(out, serializer, use_tuple);
        if (ec == http::error::need_buffer) ec = {};  // the serializer wants the next chunk
        if (ec) co_return body_error{ec, false};
    }
    while (!parser.is_done() || !serializer.is_done()) {
        if (!parser.is_done()) {
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            in.lowest().expires_after(timeout);
            auto [ec, n] = co_await http::async_read(in, in_buffer, parser, use_tuple);
            if (ec == http::error::need_buffer) ec = {};  // the chunk is full, not an error
            if (ec) co_return body_error{ec, true};
            message.body().data = chunk.data();
            message.body().size = chunk.size() - parser.get().body().size;
            message.body().more = !parser.is_done();
            if (copy != nullptr && !copy->overflowed) {
                if (copy->bytes.size() + message.body().size > copy->limit) {
                    copy->overflowed = true;
                    copy->bytes.clear();
                } else {
                    copy->bytes.append(chunk.data(), message.body().size);
                    if (parser.is_done() && copy->on_whole) copy->on_whole(copy->bytes);
                }
            }
        } else {
            message.body().data = nullptr;
            message.body().size = 0;
            message.body().more = false;
        }
        out.lowest().expires_after(timeout);
        auto [ec, n] = co_await http::async_write(out, serializer, use_tuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return body_error{ec, false};
    }
    co_return body_error{};
}

inline bool response_has_no_body(unsigned status) {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// A response parser for the answer to |r|, within the daemon's limits.
void start_response(response_reader& reader, const relay_request& r) {
    reader.emplace();
    reader->body_limit(boost::none);
    reader->header_limit(static_cast<std::uint32_t>(r.limits.header_limit));
    if (r.request_in.get().method() == http::verb::head) reader->skip(true);
}

// Interim answers other than 100 (and 101, which ends HTTP/1.1 on the connection) are dropped
// while waiting for a decision or a final answer.
inline bool ignored_interim(unsigned status) {
    return status / 100 == 1 && status != 100 && status != 101;
}

// The upstream's answer to a head sent with Expect: 100-continue, awaited at most
// expect_continue_wait. Leaves |early| with the head read: 100 Continue or a final answer;
// disengaged: nothing came in time (the read was cancelled, any partial head stays in
// |upstream_buffer| for the next read). Returns the read's error otherwise.
asio::awaitable<error_code> await_continue(const relay_request& r, relay_stream& upstream,
                                           beast::flat_buffer& upstream_buffer,
                                           response_reader& early) {
    asio::steady_timer timer(co_await asio::this_coro::executor, expect_continue_wait);
    for (;;) {
        start_response(early, r);
        upstream.lowest().expires_after(r.upstream_limits.response_timeout);
        auto [order, read_ec, n, timer_ec] =
            co_await asio::experimental::make_parallel_group(
                http::async_read_header(upstream, upstream_buffer, *early, asio::deferred),
                timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        // The read's own result decides, whichever finished first: a head read just as the
        // timer fired is still the upstream's answer.
        if (read_ec) {
            early.reset();
            if (read_ec == asio::error::operation_aborted && order[0] == 1) co_return error_code{};
            co_return read_ec;
        }
        if (!ignored_interim(early->get().result_int())) co_return error_code{};
        if (timer.expiry() <= asio::steady_timer::clock_type::now()) {
            early.reset();
            co_return error_code{};
        }
    }
}

}  // namespace

asio::awaitable<std::tuple<error_code, std::size_t>> read_request_body(
    relay_stream& client, beast::flat_buffer& buffer,
    http::request_parser<http::buffer_body>& parser) {
    return http::async_read(client, buffer, parser, use_tuple);
}

asio::awaitable<relay_outcome> send_request(const relay_request& r, relay_stream& upstream,
                                            beast::flat_buffer& upstream_buffer,
                                            response_reader& early) {
    relay_stream client(r.client);
    relay_outcome outcome;
    outcome.stage = relay_stage::sending;
    outcome.request_body_started = !r.expect_continue;
    http::request_serializer<http::buffer_body> request_writer(r.request_out);
    upstream.lowest().expires_after(r.limits.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(upstream, request_writer, use_tuple); ec) {
        outcome.ec = ec;
        co_return outcome;
    }
    if (r.expect_continue) {
        // RFC 9110 §10.1.1: the upstream decides whether the body is wanted. Its 100 Continue
        // is relayed (§15.2: a proxy forwards 1xx answers), and so is a final answer given to
        // the head alone, with the body left unsent.
        if (auto ec = co_await await_continue(r, upstream, upstream_buffer, early); ec) {
            outcome.stage = relay_stage::awaiting_response;
            outcome.ec = ec;
            co_return outcome;
        }
        if (early && early->get().result_int() != 100) co_return outcome;  // a final answer
        early.reset();
        outcome.request_body_started = true;
        r.client.expires_after(r.limits.write_timeout);
        if (auto [ec, n] =
                co_await asio::async_write(r.client, asio::buffer(continue_head), use_tuple);
            ec) {
            outcome.ec = ec;
            outcome.client_side = true;
            co_return outcome;
        }
    }
    const body_error sent =
        co_await relay_body(client, r.client_buffer, r.request_in, upstream, r.request_out,
                            request_writer, r.body_read, r.limits.read_timeout);
    if (sent.ec) {
        outcome.ec = sent.ec;
        outcome.client_side = sent.reading;
    }
    co_return outcome;
}

asio::awaitable<relay_outcome> relay_response(const relay_request& r, relay_stream& upstream,
                                              beast::flat_buffer& upstream_buffer,
                                              response_reader& early) {
    relay_stream client(r.client);
    relay_outcome outcome;
    outcome.stage = relay_stage::awaiting_response;
    const bool head = r.request_in.get().method() == http::verb::head;
    // A final answer read before the body was sent: the body is still announced on both
    // connections (the upstream's and the client's), so neither carries another request.
    const bool answered_early = early.has_value();
    response_reader& response_in = early;
    // Interim 1xx answers (other than 101) are dropped: the final one follows. After a 100
    // Continue was relayed, another one from the upstream is an interim answer like these.
    while (!answered_early) {
        start_response(response_in, r);
        upstream.lowest().expires_after(r.upstream_limits.response_timeout);
        auto [ec, n] =
            co_await http::async_read_header(upstream, upstream_buffer, *response_in, use_tuple);
        if (ec) {
            outcome.ec = ec;
            co_return outcome;
        }
        const unsigned status = response_in->get().result_int();
        if (status / 100 != 1 || status == 101) break;
    }

    outcome.stage = relay_stage::responding;
    auto& upstream_head = response_in->get();
    outcome.status = upstream_head.result_int();
    http::response<http::buffer_body> response_out;
    response_out.result(upstream_head.result_int());
    response_out.reason(upstream_head.reason());
    response_out.version(11);
    copy_headers(end_to_end_headers(to_header_list(upstream_head)), response_out);
    // After any Cache-Status of caches nearer the upstream, as RFC 9211 lists them.
    response_out.insert("Cache-Status", pass_through_cache_status);
    const unsigned status = upstream_head.result_int();
    if (auto length = response_in->content_length()) {
        response_out.content_length(*length);
    } else if (!head && !response_has_no_body(status)) {
        response_out.chunked(true);  // upstream delimits by chunks or by closing: re-chunk
    }
    outcome.client_reusable = r.client_keep_alive && !answered_early;
    response_out.keep_alive(outcome.client_reusable);
    http::response_serializer<http::buffer_body> response_writer(response_out);
    r.client.expires_after(r.limits.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(client, response_writer, use_tuple); ec) {
        outcome.ec = ec;
        outcome.client_side = true;
        co_return outcome;
    }
    if (!head) {
        const body_error relayed = co_await relay_body(
            upstream, upstream_buffer, *response_in, client, response_out, response_writer, {},
            r.upstream_limits.response_timeout, status / 100 == 2 ? r.response_copy : nullptr);
        if (relayed.ec) {
            outcome.ec = relayed.ec;
            outcome.client_side = !relayed.reading;
            co_return outcome;
        }
    }
    outcome.stage = relay_stage::done;
    outcome.upstream_reusable =
        !answered_early && response_in->keep_alive() && (head || response_in->is_done());
    co_return outcome;
}

}  // namespace runmirror::net
