#pragma once
// What the store keeps about watches: the runs and jobs the sync worker polls upstream until
// they are final (DESIGN.md "Sync worker"). Domain terms only; see store.hpp for the methods.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runmirror/clock.hpp"

namespace runmirror {

// Stable for the life of a watch; a watch merged into another one (see store::watch_run) is
// gone, and methods given its id do nothing.
using watch_id = std::int64_t;

enum class watch_kind {
    run,  // polled by run id
    job,  // polled by job id until its run exists; then it becomes a run watch
};

inline std::string_view to_string(watch_kind k) {
    return k == watch_kind::run ? "run" : "job";
}

struct watch {
    watch_id id = 0;
    watch_kind kind = watch_kind::run;
    // The watched resource's store key (its kind's prefix and id: kind_of_store_key tells the
    // kind; a v1 run's key is its id); empty while a job watch has not found its run.
    std::string run_id;
    std::string job_id;               // empty for a run seen directly
    std::string tenant;               // whose key polls it (util/tenant.hpp); never the key
    std::string project_id;           // empty when not known yet
    std::string extraction_agent_id;  // empty when not known yet
    time_point created_at;            // when watching (re)started; the maximum age counts from here
    time_point next_poll_at;
    std::uint32_t attempts = 0;  // consecutive answers without a change (drives the backoff)
    std::string last_status;     // status in the last answer, or "DELETED"; empty before any
    std::string last_error;      // why the last poll failed; empty after a good answer
    time_point updated_at;
    std::optional<time_point> finished_at;  // reached a final status, or was deleted
    std::optional<time_point> given_up_at;  // the worker stopped trying; see give_up_reason
    std::string give_up_reason;

    bool active() const { return !finished_at && !given_up_at; }
};

// The outcome of one poll that did not end the watch, as the sync worker records it.
struct poll_outcome {
    time_point next_poll_at;
    std::uint32_t attempts = 0;
    std::string last_status;
    std::string last_error;
};

// Which tenants' watches a query returns: the sync worker can poll only those whose key it
// holds in memory, unless it has a service key for everyone.
struct tenant_filter {
    bool any_tenant = true;
    std::vector<std::string> tenants;  // when !any_tenant: only these (none when empty)

    static tenant_filter any() { return {}; }
    static tenant_filter only(std::vector<std::string> tenants) {
        return {false, std::move(tenants)};
    }
};

enum class watch_listing {
    active,  // active watches only
    all,     // active ones, then ended ones
};

}  // namespace runmirror
