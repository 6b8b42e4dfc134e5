#pragma once
// The full-text search index over stored runs: run_search (schema/004, contentless FTS5) and
// its watermark run_search_state (schema/006). The store writes it through these functions
// only, inside its own write transactions; the maintenance thread (store/maintenance) calls
// index_pending_runs in batches, and a search first catches up (search_index_behind).
//
// Invariant: every stored, not deleted run with seq <= indexed_through is in run_search, with
// the text search_data_text computes from its body; no other run is.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runmirror/resource_kind.hpp"
#include "store/sqlite_db.hpp"

namespace runmirror {

// |search| as an FTS5 query: every word must occur, each as a prefix ("inv" finds "invoice").
// Words are quoted, so FTS5 operators typed by a user (AND, NEAR, '*', '"', '-', ':') are plain
// text and never a syntax error. A word of ASCII punctuation alone ("-", "&") holds no token and
// would match nothing; it is dropped rather than emptying the result. Returns nullopt when
// |search| has no words at all (no search), "" when none is left (nothing can match).
std::optional<std::string> fts_query(std::string_view search);

// The watermark: runs with seq at or below it are indexed (when stored and not deleted).
std::int64_t search_indexed_through(sqlite::database& db);

// Whether some run past the watermark waits to be indexed.
bool search_index_behind(sqlite::database& db);

// Adds the document |seq| with the text of |body| (its |kind|'s searchable member) (|add|),
// or removes it (!|add|). The index is
// contentless: it is told a document's text when the document is added and again, identical,
// when it is removed. Both come from here, computed from the body, so they always agree.
void search_index_write(sqlite::database& db, bool add, std::int64_t seq, const resource_kind& kind,
                        std::string_view file_name, std::string_view body);

// Indexes up to |limit| runs past the watermark, in seq order, and moves it past them; the
// caller's write transaction makes both one step. Returns how many runs it looked at: fewer
// than |limit| means the index has caught up.
std::size_t index_pending_runs(sqlite::database& db, std::size_t limit);

}  // namespace runmirror
