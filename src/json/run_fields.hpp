#pragma once
// Reads the indexed fields out of upstream JSON without building a DOM and without ever
// re-serialising: list items are returned as byte ranges of the original body.
// Parsing is iterative (RapidJSON kParseIterativeFlag) with a nesting cap, so hostile or deeply
// nested input cannot exhaust the stack.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runmirror/result.hpp"
#include "runmirror/run_record.hpp"

namespace runmirror {

inline constexpr unsigned max_json_depth = 256;

// |body| must be one JSON object (an ExtractRun) with a non-empty string "id".
// Fails with errc::bad_response and a detail naming the problem.
std::pair<run_fields, error> parse_run(std::string_view body);

struct run_list {
    // Each item's fields and its exact bytes inside the parsed body (a view into it).
    std::vector<std::pair<run_fields, std::string_view>> items;
    std::int64_t total = 0;
    std::int64_t skip = 0;
    std::int64_t limit = 0;
};

// |body| must be {"items": [ExtractRun...], "total": N, ...}; unknown members are ignored.
std::pair<run_list, error> parse_run_list(std::string_view body);

// The "id" of every agent in an extraction-agents answer (a JSON array of agent objects).
std::pair<std::vector<std::string>, error> parse_agent_ids(std::string_view body);

// The text full-text search indexes for a run: every string and number under the top-level
// "data" member of |body|, in document order, separated by single spaces; strings unescaped,
// numbers as written. Empty when there are none, or when |body| is not well-formed JSON (an
// odd body is still stored, just not searchable by its data). Keys, booleans and nulls are left
// out. The store keeps no copy of this text and deletes a run's index entries by computing it
// again, so its output for given bytes must never change without a migration that rebuilds
// the search index.
std::string search_data_text(std::string_view body);

// Whether |body| is one well-formed JSON object (nesting capped like the parsers above).
bool is_json_object(std::string_view body);

namespace detail {
// The byte-by-byte pass the entry points above fall back to whenever their fast pass fails (and
// the only one parse_agent_ids has), so the reference for what they accept. Exposed for the
// differential tests only.
std::pair<run_fields, error> parse_run_careful(std::string_view body);
std::pair<run_list, error> parse_run_list_careful(std::string_view body);
std::pair<std::vector<std::string>, error> parse_agent_ids_careful(std::string_view body);
bool is_json_object_careful(std::string_view body);
std::string search_data_text_careful(std::string_view body);
}  // namespace detail

}  // namespace runmirror
