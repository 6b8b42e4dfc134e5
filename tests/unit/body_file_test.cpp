// Sealed memory files for large bodies: the bytes come back exactly, and nothing can change
// them while a sendfile may be reading them.

#include <doctest/doctest.h>

#include <cerrno>
#include <filesystem>
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

TEST_CASE("a body written piece by piece to an unlinked file reads back whole") {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("rm-spill-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string error;
    auto writer = body_file_writer::open(dir.string(), error);
    REQUIRE_MESSAGE(writer, error);
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
        const std::string piece = "piece " + std::to_string(i) + std::string(997, 'x');
        REQUIRE(writer->append(piece));
        expected += piece;
    }
    auto file = writer->finish();
    REQUIRE(file);
    CHECK(file->size() == expected.size());
    CHECK(file->read() == expected);
    CHECK(std::filesystem::is_empty(dir));  // never named in the directory
    std::filesystem::remove_all(dir);
}

TEST_CASE("a writer for a directory that does not exist says why") {
    std::string error;
    CHECK_FALSE(body_file_writer::open("/nonexistent/runmirror-spill", error));
    CHECK(error.find("/nonexistent/runmirror-spill") != std::string::npos);
}
