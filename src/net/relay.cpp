// The pass-through relay: both halves of an exchange, over relay_stream (net/relay_stream.hpp),
// so Beast's HTTP reads and writes are compiled here once for every kind of connection.
#include "net/relay.hpp"

#include <cstddef>
#include <optional>
#include <tuple>
#include <vector>

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

}  // namespace

asio::awaitable<std::tuple<error_code, std::size_t>> read_request_body(
    relay_stream& client, beast::flat_buffer& buffer,
    http::request_parser<http::buffer_body>& parser) {
    return http::async_read(client, buffer, parser, use_tuple);
}

asio::awaitable<relay_outcome> send_request(const relay_request& r, relay_stream& upstream) {
    relay_stream client(r.client);
    relay_outcome outcome;
    outcome.stage = relay_stage::sending;
    http::request_serializer<http::buffer_body> request_writer(r.request_out);
    upstream.lowest().expires_after(r.limits.write_timeout);
    if (auto [ec, n] = co_await http::async_write_header(upstream, request_writer, use_tuple); ec) {
        outcome.ec = ec;
        co_return outcome;
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
                                              beast::flat_buffer& upstream_buffer) {
    relay_stream client(r.client);
    relay_outcome outcome;
    outcome.stage = relay_stage::awaiting_response;
    const bool head = r.request_in.get().method() == http::verb::head;
    std::optional<http::response_parser<http::buffer_body>> response_in;
    // Interim 1xx answers (other than 101) are dropped: the final one follows.
    do {
        response_in.emplace();
        response_in->body_limit(boost::none);
        response_in->header_limit(static_cast<std::uint32_t>(r.limits.header_limit));
        if (head) response_in->skip(true);
        upstream.lowest().expires_after(r.upstream_limits.response_timeout);
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
    // After any Cache-Status of caches nearer the upstream, as RFC 9211 lists them.
    response_out.insert("Cache-Status", pass_through_cache_status);
    const unsigned status = upstream_head.result_int();
    if (auto length = response_in->content_length()) {
        response_out.content_length(*length);
    } else if (!head && !response_has_no_body(status)) {
        response_out.chunked(true);  // upstream delimits by chunks or by closing: re-chunk
    }
    response_out.keep_alive(r.client_keep_alive);
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
            r.upstream_limits.response_timeout, r.response_copy);
        if (relayed.ec) {
            outcome.ec = relayed.ec;
            outcome.client_side = !relayed.reading;
            co_return outcome;
        }
    }
    outcome.stage = relay_stage::done;
    outcome.upstream_reusable = response_in->keep_alive() && (head || response_in->is_done());
    co_return outcome;
}

}  // namespace runmirror::net
