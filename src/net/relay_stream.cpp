// The relay's stream over each connection type: the one instantiation of each stream's
// read_some and write_some (see net/relay_stream.hpp).
#include "net/relay_stream.hpp"

namespace runmirror::net {

namespace {

template <class Stream>
void read_some(void* stream, mutable_buffer_list buffers, relay_stream::io_handler handler) {
    static_cast<Stream*>(stream)->async_read_some(buffers, std::move(handler));
}

template <class Stream>
void write_some(void* stream, const_buffer_list buffers, relay_stream::io_handler handler) {
    static_cast<Stream*>(stream)->async_write_some(buffers, std::move(handler));
}

}  // namespace

relay_stream::relay_stream(plain_stream& stream)
    : stream_(&stream),
      lowest_(stream),
      read_(read_some<plain_stream>),
      write_(write_some<plain_stream>) {}

relay_stream::relay_stream(tls_stream& stream)
    : stream_(&stream),
      lowest_(beast::get_lowest_layer(stream)),
      read_(read_some<tls_stream>),
      write_(write_some<tls_stream>) {}

relay_stream::relay_stream(std::variant<plain_stream, tls_stream>& stream)
    : stream_(std::visit([](auto& s) -> void* { return &s; }, stream)),
      lowest_(
          std::visit([](auto& s) -> plain_stream& { return beast::get_lowest_layer(s); }, stream)),
      read_(std::holds_alternative<tls_stream>(stream) ? read_some<tls_stream>
                                                       : read_some<plain_stream>),
      write_(std::holds_alternative<tls_stream>(stream) ? write_some<tls_stream>
                                                        : write_some<plain_stream>) {}

}  // namespace runmirror::net
