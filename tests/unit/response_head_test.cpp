// The response head the session writes before a body: the framing is the daemon's own.

#include <doctest/doctest.h>

#include "http/response_head.hpp"

using namespace runmirror;

TEST_CASE("response head: status line, headers in order, Content-Length of the body") {
    response r;
    r.status = 200;
    r.headers = {{"Content-Type", "application/json"}, {"Cache-Status", "runmirror; hit"}};
    r.body = R"({"id":"r1"})";
    CHECK(response_head(r, true) ==
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Status: runmirror; hit\r\n"
          "Content-Length: 11\r\n\r\n");
    CHECK(response_head(r, false) ==
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Status: runmirror; hit\r\n"
          "Content-Length: 11\r\nConnection: close\r\n\r\n");
}

TEST_CASE("response head: a shared body is measured like an owned one") {
    response r;
    r.shared_body = std::make_shared<const std::string>(1234, 'x');
    CHECK(response_head(r, true) == "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
}

TEST_CASE("response head: a body in a file is measured by the file's size") {
    response r;
    r.file_body = body_file::copy_of(std::string(70000, 'y'));
    REQUIRE(r.file_body);
    CHECK(response_head(r, true) == "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n");
}

TEST_CASE("response head: framing headers from elsewhere are replaced, not repeated") {
    response r;
    r.status = 404;
    r.headers = {{"content-length", "999"},
                 {"Transfer-Encoding", "chunked"},
                 {"Connection", "keep-alive"},
                 {"Keep-Alive", "timeout=5"},
                 {"x-request-id", "abc"}};
    r.body = "{}";
    CHECK(response_head(r, true) ==
          "HTTP/1.1 404 Not Found\r\nx-request-id: abc\r\nContent-Length: 2\r\n\r\n");
}

TEST_CASE("response head: 204 and 304 carry no Content-Length; unknown codes no reason") {
    response r;
    r.status = 304;
    CHECK(response_head(r, true) == "HTTP/1.1 304 Not Modified\r\n\r\n");
    r.status = 204;
    CHECK(response_head(r, true) == "HTTP/1.1 204 No Content\r\n\r\n");
    r.status = 299;
    CHECK(response_head(r, true) == "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
    CHECK_FALSE(status_has_body(101));
    CHECK(status_has_body(500));
}
