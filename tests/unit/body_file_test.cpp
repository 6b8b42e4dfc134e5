// Sealed memory files for large bodies: the bytes come back exactly, and nothing can change
// them while a sendfile may be reading them.

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

#include <unistd.h>

#include "runmirror/body_file.hpp"

using namespace runmirror;

TEST_CASE("a body file holds exactly the bytes it was made from") {
    std::string bytes(300 * 1024, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(i * 7 + i / 251);
    auto file = body_file::copy_of(bytes);
    REQUIRE(file);
    CHECK(file->size() == bytes.size());
    CHECK(file->read() == bytes);

    auto empty = body_file::copy_of("");
    REQUIRE(empty);
    CHECK(empty->size() == 0);
    CHECK(empty->read().empty());
}

TEST_CASE("a body file cannot be written, grown or shrunk") {
    auto file = body_file::copy_of(R"({"items":[]})");
    REQUIRE(file);
    CHECK(::pwrite(file->fd(), "x", 1, 0) == -1);
    CHECK(errno == EPERM);
    CHECK(::ftruncate(file->fd(), 2) == -1);
    CHECK(::ftruncate(file->fd(), 100) == -1);
    CHECK(file->read() == R"({"items":[]})");
}
