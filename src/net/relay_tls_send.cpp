// The pass-through relay's request half over a TLS upstream connection, and its write of the
// request head (see net/relay.hpp and net/relay_impl.hpp for why these have a TU of their own).
#include "net/relay_impl.hpp"

namespace runmirror::net {

namespace relay_detail {

write_result write_header(tls_stream& out,
                          http::request_serializer<http::buffer_body>& serializer) {
    return http::async_write_header(out, serializer, use_tuple);
}

}  // namespace relay_detail

boost::asio::awaitable<relay_outcome> send_request(const relay_request& r, tls_stream& upstream) {
    return relay_detail::send_request(r, upstream);
}

}  // namespace runmirror::net
