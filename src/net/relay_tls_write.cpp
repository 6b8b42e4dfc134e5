// The pass-through relay's writes of the request body over a TLS upstream connection (see
// net/relay_impl.hpp for why they have a TU of their own).
#include "net/relay_impl.hpp"

namespace runmirror::net::relay_detail {

write_result write_body(tls_stream& out, http::request_serializer<http::buffer_body>& serializer) {
    return http::async_write(out, serializer, use_tuple);
}

}  // namespace runmirror::net::relay_detail
