#pragma once
// What the store keeps about runs, list pages and grants. Bodies are the upstream's bytes,
// exactly as received; the other fields are indexed copies pulled out of those bytes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runmirror/body_file.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/resource_kind.hpp"

namespace runmirror {

// Indexed fields of one resource (an ExtractRun, a v2 job), read from its JSON
// (json/run_fields) by the members its kind names.
struct run_fields {
    const resource_kind* kind = &kinds::v1_run;
    // Which representation the body is, for kinds with a variant_param ("expand=usage"); empty
    // for the plain one. Set by the cache from the request, not read from the JSON.
    std::string variant;
    std::string id;
    std::string project_id;
    std::string extraction_agent_id;  // the kind's owner_member (v2: "configuration_id")
    std::string job_id;               // empty when absent or null
    std::string file_id;              // "file_id", or "file"."id" when only that is present
    std::string file_name;            // "file"."name"; empty when absent
    std::string status;      // CREATED, PENDING, SUCCESS, ERROR (or whatever upstream says)
    std::string created_at;  // ISO 8601 as sent; empty when absent
    std::string updated_at;
};

inline bool is_final_status(std::string_view status) {
    return status == "SUCCESS" || status == "ERROR";
}

struct stored_run {
    run_fields fields;
    std::string body;  // upstream bytes of the run object
    time_point fetched_at;
    std::optional<time_point> deleted_at;  // set once the run was deleted through the daemon
};

// What storing one run found: the observer's "status before", and whether the memory cache
// must forget the copy it holds.
struct put_outcome {
    std::string previous_status;  // the stored row's status before; empty when none was stored
    bool changed = true;          // false: the store held these very bytes and fields already
};

// One cached list answer, for one tenant and one normalised query.
struct stored_list_page {
    std::string body;  // upstream bytes of the whole page; empty when |file| holds them
    time_point fetched_at;
    // Set by the memory cache for large pages, which it keeps in a sealed memory file.
    std::shared_ptr<const body_file> file;

    std::string text() const { return file ? file->read() : body; }
};

// A query over stored runs, used to assemble list pages offline and by the browse API.
struct run_query {
    std::string tenant;               // only runs of projects this tenant holds a grant for
    std::string extraction_agent_id;  // empty: any
    std::string project_id;           // empty: any
    std::int64_t skip = 0;
    std::int64_t limit = 50;
};

struct run_page {
    std::vector<stored_run> items;  // created_at descending, then id descending
    std::int64_t total = 0;         // all matches, ignoring skip/limit
};

}  // namespace runmirror
