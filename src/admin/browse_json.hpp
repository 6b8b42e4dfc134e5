#pragma once
// The text forms of browsing, shared by the browse API (admin_routes) and `runmirror runs`
// (cli/runs_cmd) so the two cannot drift apart: summaries as JSON, the opaque page cursor,
// ISO 8601 times, and the stored-body transformations the CLI needs (pretty, one line, data
// rows for CSV). RapidJSON stays inside browse_json.cpp: the CLI executable does not have its
// include directory.
//
// Stored bodies are the upstream's bytes. Whatever re-serialises one here keeps every number
// exactly as the upstream wrote it (123456789012345678901234567890, 1.0e+2, -0.0) and every
// member in its order, duplicates included; strings come out unescaped where JSON allows
// ("Z\u00fcrich" becomes "Zürich"), and ill-formed UTF-8 in them as U+FFFD (util/utf8.hpp), so
// every text here is valid JSON whatever the upstream sent. All functions are pure and
// thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runmirror/browse.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/run_record.hpp"
#include "util/iso_time.hpp"

namespace runmirror {

// {"id","kind","representation","extraction_agent_id","project_id","job_id","status","file_name",
//  "created_at","updated_at","fetched_at"} on one line. kind: resource_kind::name ("run",
// "v2_job"); representation: which stored body stands for it (representation_text: "plain", or
// "expand=usage" for a v2 job only ever read with that expand, browse_representation);
// extraction_agent_id holds the kind's owner (a v2 job's configuration_id). created_at and
// updated_at are the upstream's text; fetched_at is ISO 8601 UTC with milliseconds. An empty field
// is null, as in watch_to_json. Invalid UTF-8 becomes U+FFFD.
std::string run_summary_to_json(const stored_run& run);

// {"items":[run summaries],"next_cursor":"<opaque>"|null}
std::string run_page_to_json(const run_browse_page& page);

// {"extraction_agent_id","name","project_id","runs":N,"by_status":{...},"latest_created_at"}.
// name: what upstream calls the agent, null when never learned (agent_summary::name).
// by_status always has CREATED, PENDING, SUCCESS and ERROR (0 when none), then any other status
// the store holds, so a client needs no "missing means 0" rule.
std::string agent_summary_to_json(const agent_summary& summary);

// {"items":[agent summaries]}
std::string agents_to_json(const std::vector<agent_summary>& summaries);

// The cursor as an opaque, URL-safe token (base64url without padding, of a small JSON array),
// and back. decode_cursor returns nullopt for anything encode_cursor did not produce.
std::string encode_cursor(const run_browse_cursor& cursor);
std::optional<run_browse_cursor> decode_cursor(std::string_view token);

// Dates and times: parse_iso_time and iso_utc (util/iso_time.hpp).

//--------------------------------------------------------------------------------------------
// Stored bodies (for `runmirror runs show` and `export`). Each returns nullopt when |body| is
// not JSON (or nests deeper than 512 levels).

// |body| indented by two spaces, ending without a newline; with |data_only|, only its "data"
// member ("null" when the body has none).
std::optional<std::string> pretty_json(std::string_view body, bool data_only);

// |body| as one JSON Lines line (no newline at the end): the stored bytes unchanged when they
// hold no line break (but for ill-formed UTF-8, as U+FFFD); a body the upstream sent
// pretty-printed is written compactly. JSON allows no raw line break inside a string, so any
// line break is formatting and compacting loses nothing. Bodies without a line break are not
// parsed, so not validated as JSON either.
std::optional<std::string> json_line(std::string_view body);

// One table row's worth of a run's extracted data: (column, text) pairs in the data's order.
// A string is its text; a number its text as written; true/false as such; null an empty
// text; an object or array its compact JSON.
using data_cells = std::vector<std::pair<std::string, std::string>>;

// The rows a run contributes to a table, from its "data": an object gives one row of its
// members; an array (PER_PAGE, PER_TABLE_ROW targets) one row per item, an item that is not an
// object giving the single column "value"; an empty array, null or no data, one row without
// cells (so every run appears); any other value, one row with the column "value".
std::optional<std::vector<data_cells>> run_data_rows(std::string_view body);

}  // namespace runmirror
