// The pass-through relay over a plain TCP upstream connection, both halves (see net/relay.hpp
// for why the stream types have TUs of their own).
#include "net/relay_impl.hpp"

namespace runmirror::net {

boost::asio::awaitable<relay_outcome> send_request(const relay_request& r, plain_stream& upstream) {
    return relay_detail::send_request(r, upstream);
}

boost::asio::awaitable<relay_outcome> relay_response(const relay_request& r, plain_stream& upstream,
                                                     beast::flat_buffer& upstream_buffer) {
    return relay_detail::relay_response(r, upstream, upstream_buffer);
}

}  // namespace runmirror::net
