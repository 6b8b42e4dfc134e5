// Writing the daemon's own answers to a client, shared by every kind of session work.
#include "net/session_io.hpp"

#include <array>

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include "http/json_error.hpp"
#include "http/response_head.hpp"
#include "net/file_send.hpp"

namespace runmirror::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

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

asio::awaitable<error_code> write_response(beast::tcp_stream& stream, response r, bool keep_alive,
                                           const limits_options& limits, bool to_head_request) {
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

std::optional<response> answer_for_read_error(const error_code& ec) {
    if (ec == http::error::header_limit) return json_error(431, "request header too large");
    if (ec == http::error::body_limit) return json_error(413, "request body too large");
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return json_error(400, "malformed request: " + ec.message());
    }
    return std::nullopt;
}

}  // namespace runmirror::net
