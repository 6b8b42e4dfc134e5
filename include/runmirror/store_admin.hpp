#pragma once
// Looking after a store as a whole, for `runmirror db`: what it holds and what that costs on
// disk, whether every stored body still reads back, compaction, and consistent backups. Kept
// apart from runmirror/store.hpp, which the daemon serves requests through: these operations
// scan or rewrite everything, and the PostgreSQL backend implements them with its own tools
// (pg_total_relation_size, VACUUM (ANALYZE)) behind the same shape; its backup is pg_dump's
// job, not ours (backup_to refuses).
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

// One of the store's tables on PostgreSQL, with its indexes and TOAST data.
struct stored_table {
    std::string name;
    std::int64_t bytes = 0;  // pg_total_relation_size
};

enum class store_backend { sqlite, postgresql };

struct store_stats {
    store_backend backend = store_backend::sqlite;
    int schema_version = 0;
    int known_schema_version = 0;  // the latest this build knows for this backend
    std::vector<stored_group> groups;
    // kind (resource_kind::name), state ("active", "finished", "given_up"), count
    std::vector<std::tuple<std::string, std::string, std::int64_t>> watches;
    std::int64_t grants = 0;
    // SQLite: stored, indexed for search within seconds. (PostgreSQL indexes with each write.)
    std::int64_t runs_awaiting_search_index = 0;
    // SQLite only (0 on PostgreSQL, whose files are the server's): the database as committed,
    // page_count pages of page_size bytes, freelist_pages of them unused (what a vacuum gives
    // back). On disk: the file, and the WAL beside it holding commits not yet copied into the
    // file (so the file alone may be smaller than the pages).
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::int64_t freelist_pages = 0;
    std::int64_t file_bytes = 0;
    std::int64_t wal_bytes = 0;
    // PostgreSQL only: the store's tables as they are, largest first.
    std::vector<stored_table> tables;
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
    // SQLite: the file and its WAL. PostgreSQL: the store's tables (pg_total_relation_size).
    std::int64_t bytes_before = 0;
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
    // SQLite: rewrites the store compactly, returning unused pages to the file system. Needs
    // the write lock: throws store_error (saying the store is busy) when another process holds
    // it longer than the busy timeout. PostgreSQL: VACUUM (ANALYZE) of the store's tables
    // (space of dead rows made reusable, planner statistics refreshed; the files shrink only by
    // empty pages at their ends), beside the daemons' reads and writes.
    virtual vacuum_result vacuum() = 0;
    // Writes a consistent snapshot of the store (every commit up to its start, none after) to
    // |file|: written beside it under a temporary name and synced, then put in place, so |file|
    // appears whole or not at all. Throws store_error naming |file| when it exists and not
    // |replace|. The snapshot is a database of its own, without a WAL. PostgreSQL: throws
    // store_error naming pg_dump, writing nothing.
    virtual void backup_to(const std::string& file, bool replace) = 0;
};

enum class admin_access {
    read_only,   // stats, check, backup: never writes the store
    read_write,  // vacuum
};

// Opens the SQLite store at |path| for administration. Throws store_error (one line naming the
// path) when there is no file, it is not a runmirror store, or it cannot be opened.
std::unique_ptr<store_admin> open_sqlite_store_admin(const std::string& path, admin_access access);

// Opens the PostgreSQL store at |uri| for administration, on a connection of its own (read-only
// transactions only, for admin_access::read_only). Throws store_error (one line naming the URI,
// its password hidden) when the server cannot be reached or the database holds no runmirror
// store. Needs no tenant secret: nothing here computes a tenant.
std::unique_ptr<store_admin> open_postgres_store_admin(const std::string& uri, admin_access access);

}  // namespace runmirror
