#pragma once
// A thin RAII layer over the SQLite C API: connection, prepared statement, transaction. The
// shape of SQLiteCpp, without its names. <sqlite3.h> stays in sqlite_db.cpp.
//
// Threading: a database and its statements must be used by one thread at a time; callers
// serialise access (sqlite_store holds a mutex per connection).
// Errors: every failure throws store_error naming the operation, the SQLite message and the
// file. Destructors never throw.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "runmirror/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace runmirror::sqlite {

class statement;

// A store_error raised by SQLite itself, with its (extended) result code, so that a caller can
// tell a storage fault (disk full, EIO, read-only file) from a mistake in the SQL.
class sqlite_error : public store_error {
  public:
    sqlite_error(const std::string& message, int code) : store_error(message), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

// True for result codes that mean the database could not be written or read as storage
// (disk full, I/O error, read-only file or directory, locked by another process, ...), as
// opposed to a constraint or an SQL error, which retrying the same write would repeat.
bool is_storage_fault(int code) noexcept;
// SQLITE_READONLY, for a sqlite_error raised outside SQLite (sqlite_db.cpp checks the value).
inline constexpr int readonly_code = 8;

// How a connection opens its file.
enum class open_mode {
    read_write,  // creating the file if missing (SQLite may still fall back to read-only)
    read_only,   // the file must exist; -wal and -shm are used as usual
    // Read-only and assuming nobody else writes the file: reads without the -shm file, which
    // is what a WAL database in a read-only directory needs when no -shm was left behind.
    immutable,
};

// One value handed to or returned by an application-defined SQL function (define_function).
struct value {
    enum class kind { null, text, blob };
    kind type = kind::null;
    std::string bytes;  // text or blob bytes; empty for NULL
};

// A deterministic SQL function of one argument. |arg| views SQLite's copy of the argument and
// is valid only during the call. Throwing std::exception makes the SQL statement fail with the
// exception's message.
struct value_view {
    value::kind type = value::kind::null;
    std::string_view bytes;
};
using unary_function = value (*)(value_view arg);

class database {
  public:
    // Opens (creating if missing) the database at |path|; ":memory:" for a private in-memory
    // database. Sets a busy timeout so a writer in another process makes us wait, not fail.
    explicit database(const std::string& path, int busy_timeout_ms = 5000,
                      open_mode mode = open_mode::read_write);
    ~database();
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    // Runs one or more statements that return no rows of interest (DDL, PRAGMA setters).
    void exec(std::string_view sql);
    // A prepared statement kept for the life of the connection, prepared on first use. The
    // caller must let the previous use of the same text finish (see statement_use).
    statement& cached(std::string_view sql);

    // Makes |fn| callable as |name|(x) in SQL on this connection (migrations, queries). Marked
    // deterministic: the same argument must always give the same result.
    void define_function(const std::string& name, unary_function fn);

    // Calls |fn| with the number of frames in the WAL after each commit on this connection, in
    // place of SQLite's automatic checkpoint (PRAGMA wal_autocheckpoint sets that one back).
    // |fn| runs inside the commit: it may call checkpoint(), nothing else on this connection.
    void on_wal_commit(std::function<void(int frames)> fn);
    // A PASSIVE checkpoint: copies what it can of the WAL into the database file without
    // waiting for readers or writers. Throws sqlite_error when it fails; SQLITE_BUSY (another
    // checkpoint running) is not a failure.
    void checkpoint();

    // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    std::int64_t changes() const;
    // False while a transaction is open.
    bool autocommit() const noexcept;
    // True when the main database can only be read: opened so, or SQLite fell back to
    // read-only because the file is not writable.
    bool read_only() const noexcept;
    open_mode mode() const noexcept { return mode_; }
    const std::string& path() const { return path_; }

    // Throws sqlite_error for |rc| (a failed SQLite result code) during |operation|.
    [[noreturn]] void fail(int rc, std::string_view operation) const;
    sqlite3* handle() const { return db_.get(); }

  private:
    struct closer {
        void operator()(sqlite3* db) const noexcept;
    };
    std::string path_;
    open_mode mode_;
    std::unique_ptr<sqlite3, closer> db_;
    std::function<void(int)> on_wal_commit_;
    // Declared after db_ so statements are finalised before the connection closes.
    std::unordered_map<std::string, std::unique_ptr<statement>> cache_;
};

class statement {
  public:
    statement(database& db, std::string_view sql);
    ~statement();
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    // Parameters are 1-based, as in SQL's ?1. Text and blobs are copied by SQLite.
    void bind_text(int index, std::string_view value);
    void bind_blob(int index, std::string_view bytes);
    void bind_int64(int index, std::int64_t value);
    void bind_null(int index);

    // Advances to the next row: true if there is one, false when done.
    bool step();
    // Steps to completion, for statements whose rows (if any) do not matter.
    void run();
    // Ready for the next use: ends the implicit read transaction a half-read SELECT holds
    // and clears the bindings.
    void reset() noexcept;

    // Columns are 0-based. NULL reads as "" or 0.
    std::string column_text(int index) const;
    std::int64_t column_int64(int index) const;
    bool column_is_null(int index) const;
    bool column_is_blob(int index) const;
    // The column's bytes (text or blob) without a copy; valid until the next step, reset or
    // column call on this statement.
    std::string_view column_view(int index) const;

  private:
    struct finalizer {
        void operator()(sqlite3_stmt* stmt) const noexcept;
    };
    database& db_;
    std::string sql_;  // for error messages
    std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

// Borrows a cached statement for one use and resets it on scope exit, even on exceptions, so a
// cached SELECT never pins an old snapshot of a WAL database.
class statement_use {
  public:
    statement_use(database& db, std::string_view sql) : stmt_(db.cached(sql)) {}
    ~statement_use() { stmt_.reset(); }
    statement_use(const statement_use&) = delete;
    statement_use& operator=(const statement_use&) = delete;

    statement* operator->() const { return &stmt_; }
    statement& operator*() const { return stmt_; }

  private:
    statement& stmt_;
};

// A transaction that rolls back unless committed. BEGIN IMMEDIATE takes the write lock up
// front, so a writer never fails midway with SQLITE_BUSY; deferred suits read-only snapshots.
class transaction {
  public:
    enum class kind { immediate, deferred };

    explicit transaction(database& db, kind k = kind::immediate);
    ~transaction();  // rolls back if commit() was not reached; never throws
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    void commit();

  private:
    database& db_;
    bool done_ = false;
};

}  // namespace runmirror::sqlite
