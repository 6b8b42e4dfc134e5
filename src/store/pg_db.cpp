#include "store/pg_db.hpp"

#include <libpq-fe.h>

#include <cstring>

namespace runmirror::pg {
namespace {

// Type OIDs (server/catalog/pg_type.h, stable across releases).
constexpr Oid bool_oid = 16;
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;
constexpr Oid int2_oid = 21;
constexpr Oid int4_oid = 23;

// libpq's messages end in a newline and may span lines ("...failed: ...\n\tIs the server
// running...?"): one line, for logs and for the store_error contract.
std::string one_line(std::string_view text) {
    std::string out;
    bool blank = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t') {
            blank = true;
            continue;
        }
        if (blank && !out.empty()) out += c == ' ' ? "" : " ";
        blank = false;
        out += c;
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

std::uint64_t big_endian(const char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

// The length of the valid UTF-8 sequence at the start of |s| (Unicode 15, table 3-7), 0 when
// there is none.
std::size_t utf8_sequence(std::string_view s) {
    auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return i < s.size() && at(i) >= lo && at(i) <= hi;
    };
    const unsigned b = at(0);
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        const unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        return cont(1, lo, hi) && cont(2) ? 3 : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        const unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

// U+10FE00..U+10FEFF in UTF-8: F4 8F B8..BB 80..BF.
bool is_escape(std::string_view s) {
    return s.size() >= 4 && static_cast<unsigned char>(s[0]) == 0xF4 &&
           static_cast<unsigned char>(s[1]) == 0x8F && static_cast<unsigned char>(s[2]) >= 0xB8 &&
           static_cast<unsigned char>(s[2]) <= 0xBB && static_cast<unsigned char>(s[3]) >= 0x80 &&
           static_cast<unsigned char>(s[3]) <= 0xBF;
}

void append_escape(std::string& out, unsigned char byte) {
    out += static_cast<char>(0xF4);
    out += static_cast<char>(0x8F);
    out += static_cast<char>(0xB8 + (byte >> 6));
    out += static_cast<char>(0x80 + (byte & 0x3F));
}

}  // namespace

bool text_needs_encoding(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size();) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (b != 0 && b < 0x80) {
            ++i;
            continue;
        }
        const std::size_t n = b == 0 ? 0 : utf8_sequence(bytes.substr(i));
        if (n == 0 || is_escape(bytes.substr(i, n))) return true;
        i += n;
    }
    return false;
}

std::string encode_text(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        const std::size_t n = b == 0 ? 0 : utf8_sequence(bytes.substr(i));
        if (n == 0) {
            append_escape(out, b);
            ++i;
            continue;
        }
        if (is_escape(bytes.substr(i, n))) {
            for (std::size_t k = 0; k < n; ++k)
                append_escape(out, static_cast<unsigned char>(bytes[i + k]));
        } else {
            out.append(bytes.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::string decode_text(std::string_view text) {
    if (text.find("\xF4\x8F") == std::string_view::npos) return std::string(text);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (is_escape(text.substr(i))) {
            const auto third = static_cast<unsigned char>(text[i + 2]);
            const auto fourth = static_cast<unsigned char>(text[i + 3]);
            out += static_cast<char>(((third - 0xB8) << 6) | (fourth & 0x3F));
            i += 4;
        } else {
            out += text[i++];
        }
    }
    return out;
}

params& params::text(std::string_view value) {
    if (text_needs_encoding(value)) return owned_text_as_is(encode_text(value));
    values_.push_back({value, false});
    return *this;
}

params& params::owned_text_as_is(std::string value) {
    owned_.push_back(std::make_unique<std::string>(std::move(value)));
    values_.push_back({*owned_.back(), false});
    return *this;
}

params& params::bytes(std::string_view value) {
    values_.push_back({value, true});
    return *this;
}

params& params::owned_text(std::string value) {
    if (text_needs_encoding(value)) return owned_text_as_is(encode_text(value));
    return owned_text_as_is(std::move(value));
}

params& params::int64(std::int64_t value) {
    return owned_text_as_is(std::to_string(value));
}

params& params::boolean(bool value) {
    return owned_text_as_is(value ? "t" : "f");
}

result& result::operator=(result&& other) noexcept {
    if (this != &other) {
        if (res_) PQclear(res_);
        res_ = other.res_;
        other.res_ = nullptr;
    }
    return *this;
}

result::~result() {
    if (res_) PQclear(res_);
}

int result::rows() const {
    return PQntuples(res_);
}

std::int64_t result::affected() const {
    const char* n = PQcmdTuples(res_);
    return n && *n ? std::stoll(n) : 0;
}

bool result::is_null(int row, int col) const {
    return PQgetisnull(res_, row, col) != 0;
}

std::string_view result::bytes(int row, int col) const {
    if (is_null(row, col)) return {};
    return {PQgetvalue(res_, row, col), static_cast<std::size_t>(PQgetlength(res_, row, col))};
}

std::string result::text(int row, int col) const {
    return decode_text(bytes(row, col));
}

std::int64_t result::int64(int row, int col) const {
    const Oid type = PQftype(res_, col);
    const int size = type == int8_oid ? 8 : type == int4_oid ? 4 : type == int2_oid ? 2 : 0;
    if (size == 0) {
        throw store_error("postgres: column " + std::to_string(col) + " is not an integer (type " +
                          std::to_string(type) + ")");
    }
    if (is_null(row, col)) return 0;
    if (PQgetlength(res_, row, col) != size) throw store_error("postgres: malformed integer");
    const std::uint64_t raw = big_endian(PQgetvalue(res_, row, col), size);
    // Sign-extend from |size| bytes.
    const int shift = 64 - 8 * size;
    return static_cast<std::int64_t>(raw << shift) >> shift;
}

bool result::boolean(int row, int col) const {
    if (PQftype(res_, col) != bool_oid) {
        throw store_error("postgres: column " + std::to_string(col) + " is not a boolean");
    }
    return !is_null(row, col) && PQgetvalue(res_, row, col)[0] != 0;
}

connection::connection(const std::string& conninfo, std::string display)
    : display_(std::move(display)) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (!conn_) throw store_error("store '" + display_ + "': out of memory connecting");
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string why = one_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw pg_error("store '" + display_ + "': cannot connect: " + why, "");
    }
    // encode_text's output is UTF-8: the server must not read it as another encoding.
    if (PQsetClientEncoding(conn_, "UTF8") != 0) {
        std::string why = one_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw pg_error("store '" + display_ + "': cannot use UTF8: " + why, "");
    }
    // Notices (e.g. "relation already exists, skipping") would go to stderr otherwise.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
}

connection::~connection() {
    if (conn_) PQfinish(conn_);
}

result connection::check(pg_result* res, std::string_view what) {
    result owned(res);
    const ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return owned;
    std::string sqlstate;
    std::string message;
    if (res) {
        if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) sqlstate = s;
        if (const char* m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) message = m;
    }
    if (message.empty()) message = PQerrorMessage(conn_);
    std::string head = "store '" + display_ + "': " + std::string(what) + ": ";
    throw pg_error(head + one_line(message) + (sqlstate.empty() ? "" : " (" + sqlstate + ")"),
                   sqlstate);
}

void connection::exec(const std::string& sql) {
    check(PQexec(conn_, sql.c_str()), "query");
}

// |p| as libpq's parallel arrays. Text parameters must be NUL-terminated C strings, so each is
// copied: a view is not. params::text has encoded every NUL away; one left would silently cut
// the value short, hence the check.
struct connection::wire {
    explicit wire(const params& p) : n(p.size()), types(n), values(n), lengths(n), formats(n) {
        copies.reserve(n);
        for (int i = 0; i < n; ++i) {
            const auto& v = p.values_[i];
            types[i] = v.binary ? bytea_oid : 0;
            lengths[i] = static_cast<int>(v.value.size());
            formats[i] = v.binary ? 1 : 0;
            if (v.binary) {
                values[i] = v.value.data();
            } else {
                if (v.value.find('\0') != std::string_view::npos) {
                    throw store_error("postgres: text with a NUL byte cannot be stored");
                }
                copies.emplace_back(v.value);
                values[i] = copies.back().c_str();
            }
        }
    }
    int n;
    std::vector<Oid> types;
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    std::vector<std::string> copies;
};

result connection::query(const std::string& sql, const params& p) {
    const wire w(p);
    return check(PQexecParams(conn_, sql.c_str(), w.n, w.types.data(), w.values.data(),
                              w.lengths.data(), w.formats.data(), 1),
                 "query");
}

result connection::prepared(const char* name, const char* sql, const params& p) {
    const wire w(p);
    if (!prepared_.contains(name)) {
        check(PQprepare(conn_, name, sql, w.n, w.types.data()), std::string("preparing ") + name);
        prepared_.insert(name);
    }
    return check(
        PQexecPrepared(conn_, name, w.n, w.values.data(), w.lengths.data(), w.formats.data(), 1),
        name);
}

bool connection::reusable() const {
    return conn_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

int connection::socket() const {
    return PQsocket(conn_);
}

std::vector<std::string> connection::notifications(std::string_view channel) {
    if (PQconsumeInput(conn_) == 0) {
        throw pg_error("store '" + display_ + "': listening: " + one_line(PQerrorMessage(conn_)),
                       "");
    }
    std::vector<std::string> payloads;
    while (PGnotify* n = PQnotifies(conn_)) {
        if (channel == n->relname) payloads.emplace_back(n->extra);
        PQfreemem(n);
    }
    return payloads;
}

transaction::~transaction() {
    if (!open_) return;
    try {
        db_.exec("ROLLBACK");
    } catch (const std::exception&) {
    }
}

void transaction::commit() {
    open_ = false;  // a COMMIT that fails has ended the transaction too
    db_.exec("COMMIT");
}

}  // namespace runmirror::pg
