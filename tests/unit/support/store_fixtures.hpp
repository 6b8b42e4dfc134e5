#pragma once
// What the store tests share: a scratch directory, and the store under test.
//
// The store conformance suite: every test case in the doctest test suite "store" exercises the
// store through the store interface only, opened with open_test_store() or on_each_store(). By
// default that is SQLite; with RUNMIRROR_TEST_PG set to a libpq URI (ctest's
// store_conformance_postgres starts a throwaway cluster for it: tests/support/pg_cluster.sh),
// it is a fresh PostgreSQL store on an emptied schema, and `unit_tests -ts=store` runs the
// suite on PostgreSQL. Each case drops that database's public schema: point it at a throwaway
// database only. Cases about PostgreSQL alone are the test suite "postgres". Cases about SQLite itself (files, WAL, migrations, VFS shims) stay out
// of the suite and open SQLite stores directly.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "runmirror/store.hpp"
#include "store/memory_cache.hpp"
#include "store/pg_db.hpp"

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

// The PostgreSQL database the suite runs on (RUNMIRROR_TEST_PG), or nullopt: SQLite.
inline std::optional<std::string> test_pg_uri() {
    const char* uri = std::getenv("RUNMIRROR_TEST_PG");
    if (!uri || !*uri) return std::nullopt;
    return std::string(uri);
}

// A fresh, empty store of the backend under test: SQLite in memory, or PostgreSQL with the
// schema dropped and created again (so every case starts from an empty database, migrations
// included).
inline void empty_pg_database(const std::string& uri) {
    pg::connection db(uri, store_display_name(uri));
    db.exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
}

inline std::unique_ptr<store> open_test_store() {
    const std::optional<std::string> uri = test_pg_uri();
    if (!uri) return open_sqlite_store(":memory:");
    empty_pg_database(*uri);
    return open_postgres_store(*uri);
}

// Where several store objects may open one fresh, empty store of the backend under test (as
// several processes or daemons would): a file in |dir|, or the emptied PostgreSQL database.
// Open it with open_store().
inline std::string shared_test_store(const temp_dir& dir) {
    const std::optional<std::string> uri = test_pg_uri();
    if (!uri) return dir.file("shared.db");
    empty_pg_database(*uri);
    return *uri;
}

// Runs |body| on every flavour of the backend under test, a doctest subcase each.
template <class Body>
void on_each_store(Body&& body) {
    if (test_pg_uri()) {
        SUBCASE("postgres") {
            auto s = open_test_store();
            body(*s);
        }
        SUBCASE("postgres behind the memory cache") {
            auto s = with_memory_cache(open_test_store(),
                                       {.budget_bytes = 64 * 1024, .file_threshold_bytes = 4});
            body(*s);
        }
        return;
    }
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
