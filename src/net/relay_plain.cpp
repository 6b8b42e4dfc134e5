// The pass-through relay over a plain TCP upstream connection (see net/relay.hpp for why each
// stream type has its own TU).
#include "net/relay_impl.hpp"

namespace runmirror::net {

boost::asio::awaitable<relay_outcome> relay_exchange(const relay_request& r, plain_stream& upstream,
                                                     beast::flat_buffer& upstream_buffer) {
    return relay_detail::relay_exchange(r, upstream, upstream_buffer);
}

}  // namespace runmirror::net
