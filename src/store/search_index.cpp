#include "store/search_index.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include "json/run_fields.hpp"
#include "store/body_codec.hpp"
#include "store/search_terms.hpp"

namespace runmirror {

std::optional<std::string> fts_query(std::string_view search) {
    const auto words = search_words(search);
    if (!words) return std::nullopt;
    std::string query;
    for (const std::string_view word : *words) {
        if (!query.empty()) query += ' ';
        query += '"';
        for (char c : word) {
            if (c == '"') query += '"';
            query += c;
        }
        query += "\"*";
    }
    return query;
}

std::int64_t search_indexed_through(sqlite::database& db) {
    sqlite::statement_use s(db, "SELECT indexed_through FROM run_search_state");
    return s->step() ? s->column_int64(0) : 0;
}

bool search_index_behind(sqlite::database& db) {
    sqlite::statement_use s(db,
                            "SELECT EXISTS (SELECT 1 FROM runs WHERE seq >"
                            " (SELECT indexed_through FROM run_search_state))");
    return s->step() && s->column_int64(0) == 1;
}

void search_index_write(sqlite::database& db, bool add, std::int64_t seq, const resource_kind& kind,
                        std::string_view file_name, std::string_view body) {
    sqlite::statement_use s(
        db, add ? "INSERT INTO run_search (rowid, file_name, data) VALUES (?1, ?2, ?3)"
                : "INSERT INTO run_search (run_search, rowid, file_name, data)"
                  " VALUES ('delete', ?1, ?2, ?3)");
    s->bind_int64(1, seq);
    s->bind_text(2, file_name);
    const std::string data = search_data_text(body, kind.searchable_member);
    if (data.empty()) {
        s->bind_null(3);
    } else {
        s->bind_text(3, data);
    }
    s->run();
}

std::size_t index_pending_runs(sqlite::database& db, std::size_t limit) {
    const std::int64_t through = search_indexed_through(db);
    struct pending {
        std::int64_t seq;
        const resource_kind* kind;
        std::string file_name;
        std::string body;  // empty: deleted or bodiless, nothing to index
    };
    std::vector<pending> runs;
    {
        sqlite::statement_use s(
            db,
            "SELECT seq, file_name, body, deleted_at IS NULL AND body IS NOT NULL, id"
            " FROM runs WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        s->bind_int64(1, through);
        s->bind_int64(2, static_cast<std::int64_t>(limit));
        while (s->step()) {
            pending run{
                s->column_int64(0), &kind_of_store_key(s->column_view(4)), s->column_text(1), {}};
            if (s->column_int64(3) == 1) {
                run.body = unpack_body(s->column_view(2), s->column_is_blob(2));
            }
            runs.push_back(std::move(run));
        }
    }
    if (runs.empty()) return 0;
    for (const pending& run : runs) {
        if (!run.body.empty()) {
            search_index_write(db, true, run.seq, *run.kind, run.file_name, run.body);
        }
    }
    sqlite::statement_use s(db, "UPDATE run_search_state SET indexed_through = ?1");
    s->bind_int64(1, runs.back().seq);
    s->run();
    return runs.size();
}

}  // namespace runmirror
