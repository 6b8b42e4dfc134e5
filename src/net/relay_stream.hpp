#pragma once
// Private to src/net: the relay's view of a connection, plain TCP or TLS, as one stream type.
// Beast's HTTP reads and writes are instantiated once over it (net/relay.cpp) instead of once
// per stream type, and each stream type's read_some and write_some once, with a type-erased
// completion handler (net/relay_stream.cpp): over TLS those are the costly instantiations
// (the TLS engine's io_op and Beast's flat_stream), and they no longer multiply with every
// buffer type of the serializer and every handler of the HTTP operations.
//
// The bytes and calls are the same as with the stream itself: a read_some or write_some is the
// stream's own, on the same buffers in the same order (copied into a list of buffers first).
// Handlers keep their associated executor, allocator and cancellation slot
// (asio::any_completion_handler carries them). One read and one write at a time, as Beast's HTTP
// operations do.

#include <cstddef>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/system/error_code.hpp>

#include "net/upstream_pool.hpp"

namespace runmirror::net {

// A list of buffers held elsewhere, as a buffer sequence.
template <class Buffer>
struct buffer_list {
    using value_type = Buffer;
    using const_iterator = const Buffer*;
    const_iterator first = nullptr;
    const_iterator last = nullptr;
    const_iterator begin() const { return first; }
    const_iterator end() const { return last; }
};
using mutable_buffer_list = buffer_list<boost::asio::mutable_buffer>;
using const_buffer_list = buffer_list<boost::asio::const_buffer>;

class relay_stream {
  public:
    using executor_type = boost::asio::any_io_executor;
    // A read's or write's completion handler with its type erased. Its associated executor is
    // the one the original handler had (asio::any_completion_handler's own executor type cannot
    // be posted to in Boost 1.81), and it keeps the handler's continuation hint.
    class io_handler {
      public:
        using executor_type = boost::asio::any_io_executor;
        using allocator_type =
            boost::asio::any_completion_handler_allocator<void, void(boost::system::error_code,
                                                                     std::size_t)>;
        using cancellation_slot_type = boost::asio::cancellation_slot;

        template <class Handler>
        io_handler(Handler&& handler, const executor_type& io_executor)
            : executor_(boost::asio::get_associated_executor(handler, io_executor)),
              continuation_(boost_asio_handler_cont_helpers::is_continuation(handler)),
              handler_(std::forward<Handler>(handler)) {}

        executor_type get_executor() const noexcept { return executor_; }
        allocator_type get_allocator() const noexcept { return handler_.get_allocator(); }
        cancellation_slot_type get_cancellation_slot() const noexcept {
            return handler_.get_cancellation_slot();
        }
        friend bool asio_handler_is_continuation(io_handler* h) { return h->continuation_; }

        void operator()(boost::system::error_code ec, std::size_t n) { std::move(handler_)(ec, n); }

      private:
        executor_type executor_;
        bool continuation_;
        boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)> handler_;
    };

    explicit relay_stream(plain_stream& stream);
    explicit relay_stream(tls_stream& stream);
    explicit relay_stream(std::variant<plain_stream, tls_stream>& stream);
    relay_stream(const relay_stream&) = delete;
    relay_stream& operator=(const relay_stream&) = delete;

    executor_type get_executor() { return lowest_.get_executor(); }
    // The TCP stream underneath, whose timeouts bound every operation.
    plain_stream& lowest() { return lowest_; }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBufferSequence& b) {
                reading_.assign(boost::asio::buffer_sequence_begin(b),
                                boost::asio::buffer_sequence_end(b));
                read_(stream_, {reading_.data(), reading_.data() + reading_.size()},
                      io_handler(std::move(handler), get_executor()));
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class Token>
    auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) {
                writing_.assign(boost::asio::buffer_sequence_begin(b),
                                boost::asio::buffer_sequence_end(b));
                write_(stream_, {writing_.data(), writing_.data() + writing_.size()},
                       io_handler(std::move(handler), get_executor()));
            },
            token, buffers);
    }

  private:
    using read_fn = void (*)(void* stream, mutable_buffer_list, io_handler);
    using write_fn = void (*)(void* stream, const_buffer_list, io_handler);

    void* stream_;  // a plain_stream or a tls_stream, as read_ and write_ know
    plain_stream& lowest_;
    read_fn read_;
    write_fn write_;
    // The buffers of the read and of the write in progress.
    std::vector<boost::asio::mutable_buffer> reading_;
    std::vector<boost::asio::const_buffer> writing_;
};

}  // namespace runmirror::net
