#pragma once
// Looking after a store as a whole, for `runmirror db`: what it holds and what that costs on
// disk, whether every stored body still reads back, compaction, and consistent backups. Kept
// apart from runmirror/store.hpp, which the daemon serves requests through: these operations
// scan or rewrite everything, and a second backend (PostgreSQL) implements them with its own
// tools (pg_total_relation_size, VACUUM, pg_dump) behind the same shape.
//
// Opening one never creates a store and never applies a migration: a store at an older or newer
// schema version than this build's is reported and checked as it is.
//
// Threading: one thread at a time. Safe while a daemon (or any other runmirror process) uses
// the same store: reads see one committed state; writes wait for the store's write lock.
// Errors: store_error, one line naming the file.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "runmirror/store.hpp"

namespace runmirror {

// One group of stored rows, e.g. the plain representations of v1 runs.
struct stored_group {
    std::string name;   // for scripts: "run", "v2_job?expand", "tombstones", "list_pages", ...
    std::string label;  // for people: "v1 runs", "v2 extract jobs: expand= representations"
    std::int64_t rows = 0;
    std::int64_t stored_bytes = 0;  // the bodies as kept at rest (compressed where smaller)
    std::int64_t body_bytes = 0;    // the same bodies as received (decompressed)
};

struct store_stats {
    int schema_version = 0;
    int known_schema_version = 0;  // the latest this build knows (latest_schema_version())
    std::vector<stored_group> groups;
    // kind (resource_kind::name), state ("active", "finished", "given_up"), count
    std::vector<std::tuple<std::string, std::string, std::int64_t>> watches;
    std::int64_t grants = 0;
    std::int64_t runs_awaiting_search_index = 0;  // stored, indexed for search within seconds
    // The database as committed: page_count pages of page_size bytes, freelist_pages of them
    // unused (what a vacuum gives back). On disk: the file, and the WAL beside it holding commits
    // not yet copied into the file (so the file alone may be smaller than the pages).
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::int64_t freelist_pages = 0;
    std::int64_t file_bytes = 0;
    std::int64_t wal_bytes = 0;
};

// Something wrong in a store, naming what it affects: a resource ("v1 run run-1", "v2 extract
// job job-7 (expand=usage)"), a list page, or the database file itself.
struct store_problem {
    std::string subject;
    std::string problem;
};

struct store_check_summary {
    std::int64_t bodies_checked = 0;      // resources' bodies decoded and parsed
    std::int64_t list_pages_checked = 0;  // list pages parsed
    std::int64_t problems = 0;
};

struct vacuum_result {
    std::int64_t bytes_before = 0;  // the file and its WAL
    std::int64_t bytes_after = 0;
    // False when readers kept the WAL from being folded back into the file: the space is
    // returned once they finish (the daemon's next checkpoint).
    bool wal_truncated = true;
};

class store_admin {
  public:
    virtual ~store_admin() = default;

    virtual store_stats stats() = 0;
    // The storage's own consistency check, then every stored body: it must decode (its
    // compression frame, checksums verified) and be well-formed JSON. Calls |on_problem| for
    // each problem as it is found. Reads everything: seconds per GB.
    virtual store_check_summary check(
        const std::function<void(const store_problem&)>& on_problem) = 0;
    // Rewrites the store compactly, returning unused pages to the file system. Needs the write
    // lock: throws store_error (saying the store is busy) when another process holds it longer
    // than the busy timeout.
    virtual vacuum_result vacuum() = 0;
    // Writes a consistent snapshot of the store (every commit up to its start, none after) to
    // |file|: written beside it under a temporary name and synced, then put in place, so |file|
    // appears whole or not at all. Throws store_error naming |file| when it exists and not
    // |replace|. The snapshot is a database of its own, without a WAL.
    virtual void backup_to(const std::string& file, bool replace) = 0;
};

enum class admin_access {
    read_only,   // stats, check, backup: never writes the store
    read_write,  // vacuum
};

// Opens the SQLite store at |path| for administration. Throws store_error (one line naming the
// path) when there is no file, it is not a runmirror store, or it cannot be opened.
std::unique_ptr<store_admin> open_sqlite_store_admin(const std::string& path, admin_access access);

}  // namespace runmirror
