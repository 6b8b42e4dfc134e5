// The pass-through relay's response half over a TLS upstream connection (see net/relay.hpp
// for why it has a TU of its own).
#include "net/relay_impl.hpp"

namespace runmirror::net {

boost::asio::awaitable<relay_outcome> relay_response(const relay_request& r, tls_stream& upstream,
                                                     beast::flat_buffer& upstream_buffer) {
    return relay_detail::relay_response(r, upstream, upstream_buffer);
}

}  // namespace runmirror::net
