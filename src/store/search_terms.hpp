#pragma once
// Search for stores without FTS5 (the PostgreSQL store): a run's searchable text as a string
// of normalised tokens, and a browse search as LIKE patterns over it. Tokens are what SQLite's
// FTS5 "unicode61 remove_diacritics 2" tokenizer makes (the SQLite store's index,
// schema/004): the same tokenizer does it here, so both backends find the same runs for the
// same words ("Zürich" is "zurich", "ACME-Corp" the tokens "acme corp", "東京" one token).
//
// Threading: any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runmirror {

// The words of a browse search, split on ASCII whitespace, with words of ASCII punctuation alone
// ("-", "&") left out: they hold no token and would match nothing. nullopt when |search| has no
// words at all (no search); an empty list when none is left (nothing can match). Views into
// |search|. Both search forms (fts_query, search_patterns) start from these.
std::optional<std::vector<std::string_view>> search_words(std::string_view search);

// The text a search looks in for a run: " " + tokens of |file_name| + " |" + " " + tokens of
// |data| (search_data_text), each token preceded by one space. '|' is never part of a token,
// so no phrase matches across the two fields, as FTS5 keeps columns apart.
std::string search_document(std::string_view file_name, std::string_view data);

// |search| (run_browse_query::search) as LIKE patterns that must all match a search_document:
// per word, its tokens as a phrase, the last one a prefix: "% glob%" for "glob", "% acme corp%"
// for "ACME-Corp". Same rules as fts_query: nullopt when |search| has no words (no search); an
// empty list when none of them holds a token (nothing can match). Patterns need no ESCAPE:
// tokens never hold '%', '_' or '\'.
std::optional<std::vector<std::string>> search_patterns(std::string_view search);

}  // namespace runmirror
