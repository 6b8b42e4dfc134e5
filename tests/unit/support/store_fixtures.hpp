#pragma once
// What the store tests share: a scratch directory, and running one body against every kind of
// SQLite store (in memory, and a WAL file with separate reader connections).

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "runmirror/store.hpp"
#include "store/memory_cache.hpp"

namespace runmirror::testing {

// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
  public:
    temp_dir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "runmirror-test-XXXXXX").string();
        REQUIRE(mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

template <class Body>
void on_each_store(Body&& body) {
    SUBCASE("in memory") {
        auto s = open_sqlite_store(":memory:");
        body(*s);
    }
    SUBCASE("file (WAL)") {
        temp_dir dir;
        auto s = open_sqlite_store(dir.file("runs.db"));
        body(*s);
    }
    // The daemon's store: every store behaviour must hold through the memory cache too. A small
    // budget makes the tests evict as well as hit; a tiny file threshold puts every list page
    // it holds in a memory file.
    SUBCASE("file (WAL) behind the memory cache") {
        temp_dir dir;
        auto s = with_memory_cache(open_sqlite_store(dir.file("runs.db")),
                                   {.budget_bytes = 64 * 1024, .file_threshold_bytes = 4});
        body(*s);
    }
}

}  // namespace runmirror::testing
