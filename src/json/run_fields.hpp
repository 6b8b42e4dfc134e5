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

#include "runmirror/resource_kind.hpp"
#include "runmirror/result.hpp"
#include "runmirror/run_record.hpp"

namespace runmirror {

inline constexpr unsigned max_json_depth = 256;

// |body| must be one JSON object (a resource of |kind|, e.g. an ExtractRun) with a non-empty
// string "id"; the fields are read from the members |kind| names, and carry |kind|.
// Fails with errc::bad_response and a detail naming the problem.
std::pair<run_fields, error> parse_run(std::string_view body,
                                       const resource_kind& kind = kinds::v1_run);

struct run_list {
    // Each item's fields and its exact bytes inside the parsed body (a view into it).
    std::vector<std::pair<run_fields, std::string_view>> items;
    std::int64_t total = 0;
    std::int64_t skip = 0;
    std::int64_t limit = 0;
    std::string next_page_token;  // cursor paging; empty when absent or null (the last page)
};

// |body| must be {"items": [resource...], ...}: with "total", "skip", "limit" (skip/limit
// paging) or "next_page_token" (cursor paging); unknown members are ignored. For a kind whose
// lists are plain arrays, |body| must be [resource...].
std::pair<run_list, error> parse_run_list(std::string_view body,
                                          const resource_kind& kind = kinds::v1_run);

// The "id" of every agent in an extraction-agents answer (a JSON array of agent objects).
std::pair<std::vector<std::string>, error> parse_agent_ids(std::string_view body);

// The text full-text search indexes for a resource: every string and number under the
// top-level |member| of |body| (its kind's searchable_member: "data" for a v1 run), in document
// order, separated by single spaces; strings unescaped, numbers as written. Empty when there are
// none, or when |body| is not well-formed JSON (an odd body is still stored, just not searchable by
// its data). Keys, booleans and nulls are left out. The store keeps no copy of this text and
// deletes a run's index entries by computing it again, so its output for given bytes must never
// change without a migration that rebuilds the search index.
std::string search_data_text(std::string_view body, std::string_view member = "data");

// Whether |body| is one well-formed JSON object (nesting capped like the parsers above).
bool is_json_object(std::string_view body);

namespace detail {
// The byte-by-byte pass the entry points above fall back to whenever their fast pass fails (and
// the only one parse_agent_ids has), so the reference for what they accept. Exposed for the
// differential tests only.
std::pair<run_fields, error> parse_run_careful(std::string_view body,
                                               const resource_kind& kind = kinds::v1_run);
std::pair<run_list, error> parse_run_list_careful(std::string_view body,
                                                  const resource_kind& kind = kinds::v1_run);
std::pair<std::vector<std::string>, error> parse_agent_ids_careful(std::string_view body);
bool is_json_object_careful(std::string_view body);
std::string search_data_text_careful(std::string_view body, std::string_view member = "data");
}  // namespace detail

}  // namespace runmirror
