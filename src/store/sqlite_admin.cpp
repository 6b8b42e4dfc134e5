// `runmirror db` over SQLite (runmirror/store_admin.hpp), and the test every open of a store
// starts with: is this file a runmirror store at all (check_sqlite_store_file).
//
// One connection of its own, never the store's migrating writer: a store at any schema version
// from 001 on is reported, checked, vacuumed and backed up as it is. Tables and columns that
// later migrations added are looked for before they are read (has_table, has_column).
//
// Long scans (check) read in batches of rows by rowid, each batch its own read transaction, so a
// daemon writing beside it is never held off checkpointing its WAL for the whole scan.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "runmirror/resource_kind.hpp"
#include "runmirror/store_admin.hpp"
#include "store/admin_common.hpp"
#include "store/body_codec.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"

namespace runmirror {
namespace {

namespace fs = std::filesystem;

// Rows read per read transaction while checking bodies (a few MB of bodies).
constexpr std::int64_t check_batch = 500;
// The integrity check stops after this many findings: a badly damaged file would list every
// page otherwise.
constexpr int max_integrity_findings = 100;
constexpr int busy_timeout_ms = 5000;

// SQLite primary result codes (sqlite_db.cpp keeps <sqlite3.h> to itself).
constexpr int sqlite_busy = 5;
constexpr int sqlite_locked = 6;

std::int64_t file_size_or_zero(const std::string& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return ec ? 0 : static_cast<std::int64_t>(size);
}

// The SQL functions stats uses: a body's size as stored, and as received.
sqlite::value sql_stored_size(sqlite::value_view body) {
    if (body.type == sqlite::value::kind::null) return {};
    return {sqlite::value::kind::text, std::to_string(body.bytes.size())};
}

sqlite::value sql_unpacked_size(sqlite::value_view body) {
    if (body.type == sqlite::value::kind::null) return {};
    const auto size = unpacked_body_size(body.bytes, body.type == sqlite::value::kind::blob);
    if (!size) return {};
    return {sqlite::value::kind::text, std::to_string(*size)};
}

class sqlite_admin final : public store_admin {
  public:
    sqlite_admin(const std::string& path, admin_access access) : path_(path) {
        std::error_code ec;
        if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) == 0 || ec) {
            throw store_error("no store at " + path);
        }
        check_sqlite_store_file(path);
        db_ = open(access);
        version_ = runmirror::schema_version(*db_);
        if (version_ == 0) {
            throw store_error(path +
                              " is not a runmirror store (an SQLite database without "
                              "runmirror's tables); it was left as it is");
        }
        db_->define_function("runmirror_stored_size", sql_stored_size);
        db_->define_function("runmirror_unpacked_size", sql_unpacked_size);
    }

    store_stats stats() override {
        store_stats out;
        out.schema_version = version_;
        out.known_schema_version = latest_schema_version();
        out.page_size = pragma("page_size");
        out.page_count = pragma("page_count");
        out.freelist_pages = pragma("freelist_count");
        out.file_bytes = file_size_or_zero(path_);
        out.wal_bytes = file_size_or_zero(path_ + "-wal");

        // One snapshot for all the counts, so they add up with each other.
        sqlite::transaction snapshot(*db_, sqlite::transaction::kind::deferred);
        resource_groups(out.groups);
        {
            sqlite::statement_use s(*db_,
                                    "SELECT count(*), sum(runmirror_stored_size(body)),"
                                    " sum(runmirror_unpacked_size(body)) FROM list_pages");
            s->step();
            out.groups.push_back({"list_pages", "cached list pages", s->column_int64(0),
                                  s->column_int64(1), s->column_int64(2)});
        }
        {
            sqlite::statement_use s(*db_, "SELECT count(*) FROM grants");
            s->step();
            out.grants = s->column_int64(0);
        }
        if (has_table("watches")) {
            // A watch names its resource by store key, whose prefix says the kind (as in
            // sqlite_store's counts()).
            sqlite::statement_use s(
                *db_,
                "SELECT coalesce(run_id, job_id, ''),"
                " CASE WHEN finished_at IS NOT NULL THEN 'finished'"
                " WHEN given_up_at IS NOT NULL THEN 'given_up' ELSE 'active' END, count(*)"
                " FROM watches GROUP BY substr(coalesce(run_id, job_id, ''), 1,"
                " instr(coalesce(run_id, job_id, ''), '/')), 2 ORDER BY 1, 2");
            while (s->step()) {
                out.watches.emplace_back(std::string(kind_of_store_key(s->column_text(0)).name),
                                         s->column_text(1), s->column_int64(2));
            }
        }
        if (has_table("run_search_state")) {
            sqlite::statement_use s(
                *db_,
                "SELECT count(*) FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL"
                " AND rowid > (SELECT indexed_through FROM run_search_state WHERE only_row = 1)");
            s->step();
            out.runs_awaiting_search_index = s->column_int64(0);
        }
        return out;
    }

    store_check_summary check(
        const std::function<void(const store_problem&)>& on_problem) override {
        store_check_summary summary;
        body_checker checker(summary, on_problem);

        // The file's own structure first: pages, b-trees, indexes against their tables.
        {
            sqlite::statement_use s(
                *db_, "PRAGMA integrity_check(" + std::to_string(max_integrity_findings) + ")");
            while (s->step()) {
                const std::string finding = s->column_text(0);
                if (finding != "ok") checker.report("database file " + path_, finding);
            }
        }
        {
            // runmirror's schema declares no foreign keys today; a later migration may.
            sqlite::statement_use s(*db_, "PRAGMA foreign_key_check");
            while (s->step()) {
                checker.report("table " + s->column_text(0) + " row " + s->column_text(1),
                               "refers to a missing row of " + s->column_text(2));
            }
        }

        // Every stored body: it must decode and be one JSON object.
        const std::string kind_column = has_column("runs", "kind") ? "kind" : "'run'";
        const std::string variant_column = has_column("runs", "variant") ? "variant" : "''";
        const std::string runs_sql = "SELECT rowid, id, body, " + kind_column + ", " +
                                     variant_column +
                                     ", deleted_at IS NOT NULL FROM runs"
                                     " WHERE rowid > ?1 AND body IS NOT NULL ORDER BY rowid"
                                     " LIMIT ?2";
        in_batches(runs_sql, [&](const sqlite::statement& row) {
            // Copies: a view lasts only until the next column call.
            const std::string key = row.column_text(1);
            const std::string kind = row.column_text(3);
            const std::string variant = row.column_text(4);
            const bool deleted = row.column_int64(5) != 0;
            const bool compressed = row.column_is_blob(2);
            checker.resource({key, kind, variant, deleted, row.column_view(2), compressed});
        });
        in_batches(
            "SELECT rowid, tenant, key, body FROM list_pages WHERE rowid > ?1 ORDER BY rowid "
            "LIMIT ?2",
            [&](const sqlite::statement& row) {
                const std::string tenant = row.column_text(1);
                const std::string key = row.column_text(2);
                checker.list_page(tenant, key, row.column_view(3));
            });
        return summary;
    }

    vacuum_result vacuum() override {
        vacuum_result out;
        out.bytes_before = file_size_or_zero(path_) + file_size_or_zero(path_ + "-wal");
        try {
            db_->exec("VACUUM");
        } catch (const sqlite::sqlite_error& e) {
            rethrow_saying_if_busy(e, "vacuum");
        }
        // In WAL mode VACUUM writes the new pages to the WAL; the file shrinks only once they
        // are copied back. TRUNCATE waits (the busy timeout) for readers on older snapshots.
        {
            sqlite::statement_use s(*db_, "PRAGMA wal_checkpoint(TRUNCATE)");
            if (s->step()) out.wal_truncated = s->column_int64(0) == 0;
        }
        out.bytes_after = file_size_or_zero(path_) + file_size_or_zero(path_ + "-wal");
        return out;
    }

    void backup_to(const std::string& file, bool replace) override {
        const fs::path target(file);
        const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            throw store_error("cannot write " + file + ": directory '" + dir.string() +
                              "' does not exist");
        }
        if (!replace && fs::exists(fs::symlink_status(target, ec))) {
            throw store_error(file + " exists; not replacing it");
        }
        // VACUUM INTO writes only into a missing or empty file: mkstemp makes an empty one
        // with a name nobody else picks, mode 0600: a backup is its owner's alone, whatever the
        // store's mode.
        std::string temp = file + ".tmp-XXXXXX";
        const int fd = mkstemp(temp.data());
        if (fd < 0) throw store_error("cannot write " + file + ": " + std::strerror(errno));
        ::close(fd);
        struct remove_unless_kept {
            std::string path;
            bool keep = false;
            ~remove_unless_kept() {
                if (!keep) std::remove(path.c_str());
            }
        } guard{temp};
        try {
            // One read transaction: the snapshot holds every commit up to its start, the WAL's
            // included, and nothing of a write in progress.
            sqlite::statement_use s(*db_, "VACUUM INTO ?1");
            s->bind_text(1, temp);
            s->run();
        } catch (const sqlite::sqlite_error& e) {
            rethrow_saying_if_busy(e, "backup");
        }
        // VACUUM INTO does not sync what it wrote; a backup that a crash could leave half on
        // disk under its final name would be worse than none.
        sync_file(temp, file);
        if (replace) {
            if (std::rename(temp.c_str(), file.c_str()) != 0) {
                throw store_error("cannot write " + file + ": " + std::strerror(errno));
            }
        } else {
            // link(2) fails when |file| appeared meanwhile, where rename(2) would replace it.
            if (::link(temp.c_str(), file.c_str()) != 0) {
                if (errno == EEXIST) throw store_error(file + " exists; not replacing it");
                throw store_error("cannot write " + file + ": " + std::strerror(errno));
            }
            std::remove(temp.c_str());
        }
        guard.keep = true;
        sync_file(dir.string(), file);  // the directory entry
    }

  private:
    std::unique_ptr<sqlite::database> open(admin_access access) {
        if (access == admin_access::read_write) {
            return std::make_unique<sqlite::database>(path_, busy_timeout_ms,
                                                      sqlite::open_mode::read_write);
        }
        try {
            auto db = std::make_unique<sqlite::database>(path_, busy_timeout_ms,
                                                         sqlite::open_mode::read_only);
            runmirror::schema_version(*db);  // the first read is where a WAL store can fail
            return db;
        } catch (const sqlite::sqlite_error&) {
            // A WAL store in a directory this process cannot write, with no -shm left behind:
            // only an immutable open reads it, and nobody can be writing it there.
            auto db = std::make_unique<sqlite::database>(path_, busy_timeout_ms,
                                                         sqlite::open_mode::immutable);
            runmirror::schema_version(*db);
            return db;
        }
    }

    // Rethrows |e|, as one sentence saying what to do when the store was busy.
    [[noreturn]] void rethrow_saying_if_busy(const sqlite::sqlite_error& e,
                                             const char* what) const {
        const int primary = e.code() & 0xff;
        if (primary == sqlite_busy || primary == sqlite_locked) {
            throw store_error("store " + path_ + " is busy: another process held its write lock " +
                              "for " + std::to_string(busy_timeout_ms / 1000) + " s; try the " +
                              what + " again");
        }
        throw e;
    }

    static void sync_file(const std::string& path, const std::string& named_as) {
        const int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0 || ::fsync(fd) != 0) {
            const int saved = errno;
            if (fd >= 0) ::close(fd);
            throw store_error("cannot write " + named_as + ": " + std::strerror(saved));
        }
        ::close(fd);
    }

    std::int64_t pragma(const std::string& name) {
        sqlite::statement_use s(*db_, "PRAGMA " + name);
        return s->step() ? s->column_int64(0) : 0;
    }

    bool has_table(const std::string& name) {
        sqlite::statement_use s(*db_,
                                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1");
        s->bind_text(1, name);
        return s->step();
    }

    bool has_column(const std::string& table, const std::string& column) {
        sqlite::statement_use s(*db_, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
        s->bind_text(1, table);
        s->bind_text(2, column);
        return s->step();
    }

    // Calls |fn| for every row of |sql| (parameters ?1 the last rowid seen, ?2 the batch size;
    // the first column the rowid), a batch per read transaction.
    template <class Fn>
    void in_batches(const std::string& sql, Fn&& fn) {
        std::int64_t after = -1;
        for (;;) {
            sqlite::statement_use s(*db_, sql);
            s->bind_int64(1, after);
            s->bind_int64(2, check_batch);
            std::int64_t rows = 0;
            while (s->step()) {
                ++rows;
                after = s->column_int64(0);
                fn(*s);
            }
            if (rows < check_batch) return;
        }
    }

    // The resources' rows, grouped: each kind's plain representations, its other
    // representations, and (every kind together) the tombstones.
    void resource_groups(std::vector<stored_group>& out) {
        const std::string kind_column = has_column("runs", "kind") ? "kind" : "'run'";
        const std::string variant_column = has_column("runs", "variant") ? "variant" : "''";
        sqlite::statement_use s(
            *db_, "SELECT " + kind_column + ", " + variant_column +
                      ", deleted_at IS NOT NULL, body IS NULL, count(*),"
                      " sum(runmirror_stored_size(body)), sum(runmirror_unpacked_size(body))"
                      " FROM runs GROUP BY 1, 2, 3, 4");
        group_tally tally;
        while (s->step()) {
            tally.add(s->column_text(0), s->column_text(1), s->column_int64(2) != 0,
                      s->column_int64(3) != 0, s->column_int64(4), s->column_int64(5),
                      s->column_int64(6));
        }
        for (stored_group& g : tally.take())
            out.push_back(std::move(g));
    }

    std::string path_;
    std::unique_ptr<sqlite::database> db_;
    int version_ = 0;
};

}  // namespace

void check_sqlite_store_file(const std::string& path) {
    if (path.empty() || path == ":memory:") return;
    std::ifstream in(path, std::ios::binary);
    if (!in) return;  // missing (opening creates it) or unreadable (opening says so)
    char header[16] = {};
    in.read(header, sizeof header);
    const std::streamsize got = in.gcount();
    if (got == 0) return;  // empty: SQLite makes a new database of it
    // Every SQLite database file starts with these 16 bytes (its file format's header).
    static constexpr char sqlite_header[16] = "SQLite format 3";  // and the terminating NUL
    if (got < 16 || std::memcmp(header, sqlite_header, sizeof sqlite_header) != 0) {
        throw store_error(path +
                          " is not a runmirror store (not an SQLite database); it was left "
                          "as it is");
    }
    int version = 0;
    bool has_runs = false;
    std::int64_t objects = 0;
    try {
        sqlite::database db(path, busy_timeout_ms, sqlite::open_mode::read_only);
        version = schema_version(db);
        sqlite::statement_use s(db,
                                "SELECT count(*), coalesce(sum(type = 'table' AND name = 'runs'),"
                                " 0) FROM sqlite_schema");
        if (s->step()) {
            objects = s->column_int64(0);
            has_runs = s->column_int64(1) != 0;
        }
    } catch (const sqlite::sqlite_error&) {
        return;  // damaged, locked, unreadable here: opening it for real says what is wrong
    }
    // A store gets its tables and its user_version in one transaction (migrations.cpp): tables
    // without a version, or without runs, are some other program's.
    if (objects > 0 && (version == 0 || !has_runs)) {
        throw store_error(path +
                          " is not a runmirror store (an SQLite database of something "
                          "else); it was left as it is");
    }
}

std::unique_ptr<store_admin> open_sqlite_store_admin(const std::string& path, admin_access access) {
    return std::make_unique<sqlite_admin>(path, access);
}

}  // namespace runmirror
