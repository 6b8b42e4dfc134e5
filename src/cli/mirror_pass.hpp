#pragma once
// One pass of `runmirror mirror`: a kind's list (resource_kind: its collection, its paging)
// for one scope (an agent's v1 runs, the v2 jobs a key or project sees), read page by page,
// newest first, into the store as the daemon stores list items: the same store keys and
// bytes, grants for the key's tenant and each item's project, and a watch for each item that
// is not final so that the daemon's sync worker finishes it.
//
// Each page is committed as it arrives, so an interrupted pass loses nothing. A pass is
// incremental once a previous one completed: it stops at the first page that reaches a stored
// final item that has not changed (newer items come first, so nothing new is older than it).
// When a previous pass completed is told per paging form:
//   skip/limit (v1 runs): the store holds at least as many of the agent's runs as upstream
//     lists ("total");
//   cursor (v2 jobs, no total): a completed pass records, for the key's tenant and the scope,
//     the newest item it listed (the frontier); a later pass only stops at a stored final
//     item at or older than it, so a pass interrupted before it reached the stored ones is
//     completed by the next.

#include <atomic>
#include <cstddef>
#include <string>
#include <utility>

#include "runmirror/clock.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/resource_kind.hpp"
#include "runmirror/store.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror {

struct mirror_tally {
    std::size_t added = 0, updated = 0, unchanged = 0, requests = 0;
    std::size_t fetched() const { return added + updated + unchanged; }
    mirror_tally& operator+=(const mirror_tally& other);
};

// GETs with the API key; a failure or a non-200 answer becomes a one-line error text.
class mirror_fetcher {
  public:
    mirror_fetcher(upstream& up, std::string key) : up_(up), key_(std::move(key)) {}
    // Counts the request in |counts|. The error is empty when the answer is a 200.
    std::pair<response, std::string> get(const std::string& target, mirror_tally& counts);

  private:
    upstream& up_;
    std::string key_;
};

// What one pass lists.
struct mirror_scope {
    const resource_kind* kind = &kinds::v1_run;
    std::string label;         // for progress and errors: an agent id, "v2 jobs", ...
    std::string filter_param;  // "extraction_agent_id", "project_id"; empty: none
    std::string filter_value;
};

struct mirror_settings {
    store& db;
    std::string tenant;   // of the API key
    millis first_poll;    // a new watch's first poll is due this long after it is made
    int page_size = 100;  // items per list request
    const std::atomic<bool>& interrupted;  // checked between pages
};

// Mirrors |scope|, adding what it did to |totals|. False when it failed: the error is printed
// as one line on stderr, and the pages stored before it stay stored.
bool mirror_pass(const mirror_scope& scope, mirror_fetcher& fetch, const mirror_settings& settings,
                 mirror_tally& totals);

}  // namespace runmirror
