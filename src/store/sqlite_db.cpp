// The only file that includes <sqlite3.h>.

#include "store/sqlite_db.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <exception>

namespace runmirror::sqlite {

void database::closer::operator()(sqlite3* db) const noexcept {
    // _v2 tolerates statements that are still alive; they are finalised first anyway.
    sqlite3_close_v2(db);
}

static_assert(readonly_code == SQLITE_READONLY);

bool is_storage_fault(int code) noexcept {
    switch (code & 0xff) {  // the primary code
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_PERM:
        case SQLITE_NOMEM:
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_NOLFS:
        case SQLITE_PROTOCOL: return true;
        default: return false;
    }
}

namespace {

// |path| as an SQLite URI with |query|: the characters a URI gives a meaning to are escaped.
std::string file_uri(const std::string& path, const char* query) {
    std::string uri = "file:";
    for (unsigned char c : path) {
        if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            uri += buf;
        } else {
            uri += static_cast<char>(c);
        }
    }
    return uri + "?" + query;
}

}  // namespace

database::database(const std::string& path, int busy_timeout_ms, open_mode mode)
    : path_(path), mode_(mode) {
    sqlite3* raw = nullptr;
    int rc = SQLITE_OK;
    switch (mode) {
        case open_mode::read_write:
            rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 nullptr);
            break;
        case open_mode::read_only:
            rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
            break;
        case open_mode::immutable:
            rc = sqlite3_open_v2(file_uri(path, "immutable=1").c_str(), &raw,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
            break;
    }
    // SQLite hands back a handle even on failure; it carries the message and must be closed.
    db_.reset(raw);
    if (rc != SQLITE_OK) {
        if (!db_) {
            throw store_error("sqlite: open '" + path + "': out of memory");
        }
        fail(rc, "open");
    }
    sqlite3_extended_result_codes(raw, 1);
    rc = sqlite3_busy_timeout(raw, busy_timeout_ms);
    if (rc != SQLITE_OK) {
        fail(rc, "busy_timeout");
    }
}

database::~database() = default;

void database::fail(int rc, std::string_view operation) const {
    std::string message = "sqlite: ";
    message.append(operation);
    message += ": ";
    message += db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
    message += " (code " + std::to_string(rc) + ", file '" + path_ + "')";
    throw sqlite_error(message, rc);
}

void database::exec(std::string_view sql) {
    // sqlite3_exec needs a NUL-terminated string.
    std::string text(sql);
    int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        fail(rc, "exec '" + text.substr(0, 80) + "'");
    }
}

statement& database::cached(std::string_view sql) {
    auto it = cache_.find(std::string(sql));
    if (it == cache_.end()) {
        it = cache_.emplace(std::string(sql), std::make_unique<statement>(*this, sql)).first;
    }
    return *it->second;
}

std::int64_t database::changes() const {
    return sqlite3_changes64(db_.get());
}

namespace {

void call_unary(sqlite3_context* ctx, int, sqlite3_value** argv) {
    const auto fn = reinterpret_cast<unary_function>(sqlite3_user_data(ctx));
    value_view arg;
    switch (sqlite3_value_type(argv[0])) {
        case SQLITE_NULL: break;
        case SQLITE_BLOB: arg.type = value::kind::blob; break;
        default: arg.type = value::kind::text; break;
    }
    if (arg.type != value::kind::null) {
        // Blob first, then bytes: the documented order that keeps the pointer valid.
        const void* data = arg.type == value::kind::blob ? sqlite3_value_blob(argv[0])
                                                         : sqlite3_value_text(argv[0]);
        const int size = sqlite3_value_bytes(argv[0]);
        arg.bytes = std::string_view(static_cast<const char*>(data), data ? size : 0);
    }
    try {
        value out = fn(arg);
        switch (out.type) {
            case value::kind::null: sqlite3_result_null(ctx); break;
            case value::kind::text:
                sqlite3_result_text64(ctx, out.bytes.data(), out.bytes.size(), SQLITE_TRANSIENT,
                                      SQLITE_UTF8);
                break;
            case value::kind::blob:
                sqlite3_result_blob64(ctx, out.bytes.data(), out.bytes.size(), SQLITE_TRANSIENT);
                break;
        }
    } catch (const std::exception& e) {
        sqlite3_result_error(ctx, e.what(), -1);
    }
}

}  // namespace

void database::on_wal_commit(std::function<void(int frames)> fn) {
    on_wal_commit_ = std::move(fn);
    sqlite3_wal_hook(
        db_.get(),
        [](void* self, sqlite3*, const char*, int frames) {
            try {
                static_cast<database*>(self)->on_wal_commit_(frames);
            } catch (...) {
                // The commit has happened; a failed follow-up (a checkpoint) is not its failure.
            }
            return SQLITE_OK;
        },
        this);
}

void database::checkpoint() {
    const int rc =
        sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) fail(rc, "checkpoint");
}

void database::define_function(const std::string& name, unary_function fn) {
    int rc = sqlite3_create_function_v2(
        db_.get(), name.c_str(), 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, reinterpret_cast<void*>(fn),
        call_unary, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        fail(rc, "define function " + name);
    }
}

bool database::autocommit() const noexcept {
    return sqlite3_get_autocommit(db_.get()) != 0;
}

bool database::read_only() const noexcept {
    return sqlite3_db_readonly(db_.get(), "main") == 1;
}

// --- statement ------------------------------------------------------------------------------

void statement::finalizer::operator()(sqlite3_stmt* stmt) const noexcept {
    sqlite3_finalize(stmt);
}

statement::statement(database& db, std::string_view sql) : db_(db), sql_(sql) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    stmt_.reset(raw);
    if (rc != SQLITE_OK) {
        db_.fail(rc, "prepare '" + sql_ + "'");
    }
    if (raw == nullptr) {
        throw store_error("sqlite: prepare '" + sql_ + "': no statement");
    }
    // A second statement in the text would be silently ignored; refuse it instead.
    std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        throw store_error("sqlite: prepare '" + sql_ + "': more than one statement");
    }
}

statement::~statement() = default;

namespace {
void check_bind(database& db, int rc, const std::string& sql) {
    if (rc != SQLITE_OK) {
        db.fail(rc, "bind '" + sql + "'");
    }
}
}  // namespace

void statement::bind_text(int index, std::string_view value) {
    check_bind(db_,
               sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8),
               sql_);
}

void statement::bind_blob(int index, std::string_view bytes) {
    check_bind(
        db_, sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT),
        sql_);
}

void statement::bind_int64(int index, std::int64_t value) {
    check_bind(db_, sqlite3_bind_int64(stmt_.get(), index, value), sql_);
}

void statement::bind_null(int index) {
    check_bind(db_, sqlite3_bind_null(stmt_.get(), index), sql_);
}

bool statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    db_.fail(rc, "step '" + sql_ + "'");
}

void statement::run() {
    while (step()) {
    }
}

void statement::reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

std::string statement::column_text(int index) const {
    // Text is read as a blob so the bytes come back exactly as stored, with no conversion
    // and no truncation at an embedded NUL.
    const void* data = sqlite3_column_blob(stmt_.get(), index);
    int size = sqlite3_column_bytes(stmt_.get(), index);
    return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
}

std::int64_t statement::column_int64(int index) const {
    return sqlite3_column_int64(stmt_.get(), index);
}

bool statement::column_is_null(int index) const {
    return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

bool statement::column_is_blob(int index) const {
    return sqlite3_column_type(stmt_.get(), index) == SQLITE_BLOB;
}

std::string_view statement::column_view(int index) const {
    const void* data = sqlite3_column_blob(stmt_.get(), index);
    int size = sqlite3_column_bytes(stmt_.get(), index);
    return data == nullptr ? std::string_view()
                           : std::string_view(static_cast<const char*>(data), size);
}

// --- transaction ----------------------------------------------------------------------------

transaction::transaction(database& db, kind k) : db_(db) {
    db_.exec(k == kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

transaction::~transaction() {
    // After a failed COMMIT SQLite may already have rolled back on its own; a second
    // ROLLBACK would only fail, so ask first. Errors here have nowhere to go.
    if (!done_ && !db_.autocommit()) {
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

void transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace runmirror::sqlite
