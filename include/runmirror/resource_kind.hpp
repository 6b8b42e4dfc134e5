#pragma once
// The kinds of extraction resource the mirror serves, each described once (DESIGN.md
// "Resources: one model, several kinds"). The router, the JSON field reader, the cache, the
// store and freshness read what differs between kinds from here: paths, field names, final
// statuses, paging, writes. A new kind (a new API version) is a new row in kinds.cpp and its
// tests, not a new copy of the cache.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace runmirror {

// How a kind's list answers page.
enum class list_paging {
    skip_limit,   // ?skip=S&limit=L -> {"items": [...], "total": N, "skip": S, "limit": L}
    cursor,       // ?page_size=N&page_token=T -> {"items": [...], "next_page_token": "..."}
    plain_array,  // ?extraction_agent_id=A -> [...]: every item at once, no paging
};

struct resource_kind {
    // Stored in the store's kind column and shown by the browse API; never changes once a
    // store holds it.
    std::string_view name;
    std::string_view label;  // for people: "v1 run", "v2 extract job"

    // --- paths -------------------------------------------------------------------------------
    std::string_view collection;      // list: GET it; item: GET/DELETE collection + "/{id}"
    std::string_view by_job_segment;  // "by-job/": GET collection/by-job/{job_id}; "" if none
    std::string_view cancel_suffix;   // "/cancel": POST collection/{id}/cancel; "" if none
    bool created_by_post = false;     // POST collection creates one (and answers with it)
    // More POST paths that create one and answer with it, whose bodies (uploads) are too large
    // to hold: passed through streamed, the answer read as it is relayed and stored.
    std::span<const std::string_view> streamed_creates;

    // --- the resource's JSON ------------------------------------------------------------------
    // Members of the resource object read into run_fields. Empty: the kind has none.
    std::string_view owner_member;    // the agent (v1) or configuration (v2) that ran it
    std::string_view job_member;      // the job a run belongs to
    std::string_view file_id_member;  // the file it read
    std::string_view file_object;     // an object member holding the file's "id" and "name"
    // An object member whose "id" is the owner and whose "project_id" is the project (v1 jobs:
    // "extraction_agent"), for kinds that nest them rather than name them at the top.
    std::string_view owner_object;
    std::string_view searchable_member;  // what the extraction produced: full-text searched
    std::span<const std::string_view> final_statuses;

    // --- what a final resource leads to ----------------------------------------------------------
    // "/result": GET collection/{id} + this is the final resource's result (v1 jobs), stored as
    // its representation result_variant and never asked again. Empty: the kind has none.
    std::string_view result_suffix;
    // The kind of resource a final one made, read by its id at that kind's by-job route and
    // stored too (v1 jobs: their run). Null: none.
    const resource_kind* made_by_job = nullptr;

    // --- lists and representations -------------------------------------------------------------
    list_paging paging = list_paging::skip_limit;
    // A query parameter that changes what an item's answer holds (v2 "expand"): each value is
    // its own stored representation. Empty: every answer for an id is the same representation.
    std::string_view variant_param;
    // How the sync worker refreshes several unfinished resources of one tenant with one list
    // request: v1 runs by owner (a page of the agent's runs, newest first), v2 jobs by id (a
    // list filtered to them).
    std::string_view batch_ids_param;    // "job_ids": repeated, one per due resource
    std::string_view batch_owner_param;  // "extraction_agent_id": the owner of the due ones
    std::string_view page_size_param;    // "limit" / "page_size"
    // Put before the ids of this kind in the store, whose key is the id alone (changing that
    // key would rewrite every stored run): "" for v1 runs, the first kind.
    std::string_view store_prefix;

    // --- more of the resource's JSON ----------------------------------------------------------
    // Every status the upstream documents for the kind (final ones included), upper case as it
    // writes them: what `runmirror runs --status` accepts.
    std::span<const std::string_view> statuses;
    // The member holding why it failed ("error", v2 "error_message"); null or absent otherwise.
    std::string_view error_member;

    bool is_final(std::string_view status) const;
    bool operator==(const resource_kind& other) const { return this == &other; }
};

namespace kinds {
extern const resource_kind v1_run;
extern const resource_kind v2_job;
extern const resource_kind v1_job;
}  // namespace kinds

// The representation a kind's result (resource_kind::result_suffix) is stored as.
inline constexpr std::string_view result_variant = "result";

// The store's key of a representation: the kind's prefix, the id, and "?" + |variant| when
// there is one (schema/007_kinds.sql). v1 runs are keyed by their id alone.
std::string store_key(const resource_kind& kind, std::string_view id,
                      std::string_view variant = {});

// Which representation a stored body is, as people are told (browse API, `runmirror runs`):
// "plain", or the query that asked for a variant ("expand=configuration,usage").
std::string representation_text(const resource_kind& kind, std::string_view variant);

// The kind of a store key: the kind whose store_prefix it starts with (v1 runs have none).
const resource_kind& kind_of_store_key(std::string_view key);

// The resource's own id in a store key: without the prefix and the variant.
std::string_view id_of_store_key(std::string_view key);

// Every kind, in a fixed order (the router tries them in it).
std::span<const resource_kind* const> all_kinds();
// The kind stored as |name|; nullptr when there is none.
const resource_kind* find_kind(std::string_view name);
// A kind filter as people write it (browse API, `runmirror runs --kind`): a kind's name, or
// "all" for every kind (nullptr). nullopt when it is neither.
std::optional<const resource_kind*> parse_kind_filter(std::string_view text);

}  // namespace runmirror
