#pragma once
// Browsing what the mirror holds, offline: the questions behind the browse API
// (/_runmirror/api/runs, /_runmirror/api/agents) and `runmirror runs`. Domain terms only; see
// store::browse_runs and store::agent_summaries for the methods.
//
// Unlike run_query (list pages assembled for an SDK), browsing knows no tenant: the browse API
// sits behind the admin token and the CLI reads the store file directly, so both see every
// stored run that was not deleted.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runmirror/clock.hpp"
#include "runmirror/run_record.hpp"

namespace runmirror {

// Where a page ended: the (created_at, id) of its last run. The next page starts strictly after
// it in browse order (created_at descending, then id descending), so runs stored meanwhile
// never shift, repeat or skip entries of the pages that follow (keyset pagination). Clients see
// it only as an opaque token (browse_json: encode_cursor / decode_cursor).
struct run_browse_cursor {
    std::string created_at;  // the run's created_at exactly as stored
    std::string id;          // its store key, variant included (resource_kind.hpp: store_key)
};

// Which stored representation stands for a resource of a kind stored in several (a v2 job read
// with ?expand= is stored once per expand set: resource_kind::variant_param, store_key).
enum class browse_representation {
    // Every resource once: its plain representation when one is stored, else one of its stored
    // variants (the first by variant text), so that a job only ever read with ?expand= is
    // listed too. stored_run::fields.variant says which (empty: the plain one). Browsing.
    plain_else_variant,
    // Only resources whose plain representation is stored, by it: a page assembled for an SDK
    // holds what the upstream's plain list would (DESIGN.md "Freshness": a representation is
    // served only for the request it answers).
    plain_only,
};

struct run_browse_query {
    const resource_kind* kind = &kinds::v1_run;  // nullptr: every kind
    // Only resources of projects this tenant holds a grant for (pages assembled for an SDK);
    // nullopt: every tenant's (the browse API, the CLI).
    std::optional<std::string> tenant;
    std::string extraction_agent_id;  // the owner (v1 agent, v2 configuration); empty: any
    std::string project_id;           // exact match; empty: any
    std::string status;               // exact match ("SUCCESS"); empty: any
    // A half-open window on created_at: from <= created_at < before. The stored created_at is
    // the upstream's ISO 8601 UTC text and is compared as text against the bound written the
    // same way ("2025-01-15T08:00:00", plus ".fff..." when the bound has a fraction), which is
    // exact to the second; within one second, a stored time without a fraction ("...:00Z")
    // counts as later than a bound with one.
    std::optional<calendar_time> created_from;
    std::optional<calendar_time> created_before;
    // Words that must all occur in the run's extracted data (every string and number under its
    // "data") or its file name: case- and accent-insensitive, each word matching as a prefix
    // ("inv" finds "Invoice"). Punctuation separates words inside a word ("ACME-Corp" is the
    // phrase "acme corp"); a word of ASCII punctuation alone ("-") is ignored, and text that
    // leaves no word matches nothing. Empty or blank: no search.
    std::string search;
    std::optional<run_browse_cursor> after;  // continue after this run; nullopt: the first page
    std::size_t limit = 50;                  // at most this many items (0 gives an empty page)
    // Whether items carry their body: export wants it, a listing does not pay for it.
    bool with_bodies = false;
    browse_representation representation = browse_representation::plain_else_variant;
};

struct run_browse_page {
    // Newest first; stored_run::body is empty unless the query asked for bodies. Never holds a
    // tombstoned or bodiless run.
    std::vector<stored_run> items;
    // Set when more runs match after the last item; pass it back as run_browse_query::after.
    std::optional<run_browse_cursor> next;
};

// What the mirror holds for one extraction agent (within one project).
struct agent_summary {
    std::string extraction_agent_id;
    std::string project_id;
    std::int64_t runs = 0;                          // stored, not deleted
    std::map<std::string, std::int64_t> by_status;  // status -> runs; statuses with none absent
    std::string latest_created_at;                  // newest created_at as stored; may be empty
    std::string name;  // what upstream calls the agent (agent_name); empty when never learned
};

// A name the upstream gave an extraction agent of a project, learned from its
// extraction-agents answers (relayed through the daemon, or read by `runmirror mirror`). Kept
// per project so that it is shown only where the agent's project is (agent_summary).
struct agent_name {
    std::string extraction_agent_id;
    std::string project_id;
    std::string name;
};

}  // namespace runmirror
