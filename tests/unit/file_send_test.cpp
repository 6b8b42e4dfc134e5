// Sending an answer whose body is a memory file: all of it arrives after the head, however
// slowly the client reads, and a client that stops reading ends it at the deadline.

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core/error.hpp>

#include "net/file_send.hpp"

using namespace runmirror;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A connected pair on 127.0.0.1; the client's receive buffer is small, so a body of a few MB
// fills the sockets and the sender has to wait for room.
struct socket_pair {
    asio::io_context io;
    tcp::socket server{io};
    tcp::socket client{io};

    socket_pair() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.open(tcp::v4());
        client.set_option(asio::socket_base::receive_buffer_size(4096));
        client.connect(acceptor.local_endpoint());
        acceptor.accept(server);
    }
};

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 31 + i / 4096) % 26);
    return s;
}

}  // namespace

TEST_CASE("file send: the head, then every byte of the file, to a slow reader") {
    socket_pair pair;
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 6000000\r\n\r\n";
    const std::string body = pattern(6'000'000);
    auto file = body_file::copy_of(body);
    REQUIRE(file);

    std::optional<boost::system::error_code> sent;
    std::exception_ptr failure;
    asio::co_spawn(pair.io, net::send_head_and_file(pair.server, head, *file, millis(10'000)),
                   [&](std::exception_ptr e, boost::system::error_code ec) {
                       failure = e;
                       sent = ec;
                   });
    std::thread runner([&pair] { pair.io.run_for(std::chrono::seconds(20)); });

    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the sockets fill
    std::string got(head.size() + body.size(), '\0');
    boost::system::error_code read_ec;
    asio::read(pair.client, asio::buffer(got), read_ec);
    runner.join();
    CHECK_FALSE(read_ec);
    CHECK_FALSE(failure);
    REQUIRE(sent);
    CHECK_FALSE(*sent);
    CHECK(got == head + body);
}

TEST_CASE("file send: a client that stops reading ends the answer at the deadline") {
    socket_pair pair;
    auto file = body_file::copy_of(pattern(16'000'000));
    REQUIRE(file);

    std::optional<boost::system::error_code> sent;
    std::exception_ptr failure;
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(
        pair.io,
        net::send_head_and_file(pair.server, "HTTP/1.1 200 OK\r\n\r\n", *file, millis(300)),
        [&](std::exception_ptr e, boost::system::error_code ec) {
            failure = e;
            sent = ec;
        });
    // Returns once the send gave up (the client never reads), or fails the test at 20 s.
    pair.io.run_for(std::chrono::seconds(20));
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK_FALSE(failure);
    REQUIRE(sent);
    CHECK(*sent == boost::beast::error::timeout);
    CHECK(took >= std::chrono::milliseconds(300));
    CHECK(took < std::chrono::seconds(10));
}
