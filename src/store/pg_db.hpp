#pragma once
// A thin RAII layer over libpq: connection, result, parameters. <libpq-fe.h> stays in
// pg_db.cpp.
//
// Every statement is sent with parameters (never spliced into the SQL text) and asks for its
// result in binary: text columns then arrive as their bytes, bytea as its bytes (no hex to
// decode), bigint as 8 bytes. Parameters go as text, bytea ones as binary.
//
// Text: PostgreSQL's text holds valid UTF-8 without NUL only, where the store's callers hand
// it any bytes (ids and names read from upstream JSON, which is usually, not always, valid
// UTF-8), as SQLite's TEXT takes them. So text parameters and text columns pass through
// encode_text and decode_text: valid UTF-8 without NUL is stored as it is (readable, ordered
// bytewise as SQLite orders it); any other byte is stored as a code point of its own.
//
// Threading: a connection must be used by one thread at a time (pg_store lends each one to a
// single call). Errors: every failure throws store_error with one line: what failed and the
// server's message. Destructors never throw.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "runmirror/store.hpp"

struct pg_conn;
struct pg_result;

namespace runmirror::pg {

// A store_error raised by the server or the connection, with the SQLSTATE when there is one
// ("" for a connection that broke), so a caller can tell a serialisation failure or a lost
// connection from a mistake in the SQL.
class pg_error : public store_error {
  public:
    pg_error(const std::string& message, std::string sqlstate)
        : store_error(message), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

// Parameters of one statement, $1, $2, ... in the order added. Views the strings it is given:
// they must outlive the exec call.
class params {
  public:
    params& text(std::string_view value);
    params& owned_text(std::string value);  // for a value made just for the statement
    params& bytes(std::string_view value);  // bytea
    params& int64(std::int64_t value);
    params& boolean(bool value);

    int size() const { return static_cast<int>(values_.size()); }

  private:
    friend class connection;
    params& owned_text_as_is(std::string value);  // |value| already encoded
    struct one {
        std::string_view value;
        bool binary = false;
    };
    std::vector<one> values_;
    // Values made for the statement (numbers as text, encoded text), each a string of its own
    // so that views into it survive later adds.
    std::vector<std::unique_ptr<std::string>> owned_;
};

// The rows of one statement. The number and boolean accessors check the column's type and
// throw store_error on a mismatch, so a changed query fails loudly instead of misreading bytes.
class result {
  public:
    explicit result(pg_result* res) : res_(res) {}
    result(result&& other) noexcept : res_(other.res_) { other.res_ = nullptr; }
    result& operator=(result&& other) noexcept;
    ~result();

    int rows() const;
    // Rows a command changed (UPDATE, DELETE, INSERT).
    std::int64_t affected() const;

    bool is_null(int row, int col) const;
    std::string_view bytes(int row, int col) const;  // a bytea's bytes; "" for NULL
    std::string text(int row, int col) const;        // decode_text of a text column; "" for NULL
    std::int64_t int64(int row, int col) const;      // smallint, integer or bigint
    bool boolean(int row, int col) const;

  private:
    pg_result* res_;
};

class connection {
  public:
    // Connects with |conninfo| (a URI or key=value string; PG* environment variables fill in
    // what it leaves out, as libpq does). Throws store_error naming |display| (the URI
    // without its password) when the server cannot be reached or refuses.
    connection(const std::string& conninfo, std::string display);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Runs |sql| (one or more statements, no parameters, results dropped).
    void exec(const std::string& sql);
    // Runs |sql| with |p|; the statement is parsed anew each time. For SQL built per call.
    result query(const std::string& sql, const params& p = {});
    // Runs |sql| with |p| through a statement prepared once on this connection under |name|.
    // |name| must always come with the same |sql|.
    result prepared(const char* name, const char* sql, const params& p = {});

    // Whether the connection can still be used: connected, and not inside a transaction.
    bool reusable() const;

    // For a connection that LISTENs: its socket, to wait on for input (poll), and the payloads
    // of the notifications on |channel| that arrived since the last call, oldest first
    // (reading what the socket holds without blocking). Throws pg_error when the connection
    // broke.
    int socket() const;
    std::vector<std::string> notifications(std::string_view channel);
    const std::string& display() const { return display_; }

  private:
    struct wire;
    result check(pg_result* res, std::string_view what);

    pg_conn* conn_ = nullptr;
    std::string display_;
    std::unordered_set<std::string> prepared_;
};

// BEGIN now; ROLLBACK at destruction unless committed (a rollback that fails is left to the
// connection's owner, which sees a connection that is not reusable()).
class transaction {
  public:
    explicit transaction(connection& db, const char* begin = "BEGIN") : db_(db) { db_.exec(begin); }
    ~transaction();
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    void commit();

  private:
    connection& db_;
    bool open_ = true;
};

// |bytes| as it is stored in a text column: unchanged when it is valid UTF-8 without NUL and
// without a code point of U+10FE00..U+10FEFF; otherwise each NUL, each byte not part of a
// valid UTF-8 sequence, and each byte of such a code point becomes the code point U+10FE00 +
// the byte. decode_text(encode_text(x)) == x for every byte string x.
std::string encode_text(std::string_view bytes);
bool text_needs_encoding(std::string_view bytes);
std::string decode_text(std::string_view text);

}  // namespace runmirror::pg
