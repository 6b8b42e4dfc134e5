#pragma once
// A status change of one resource: what /_runmirror/events streams (event_hub.hpp), and what
// daemons sharing a store tell each other (store.hpp, tell_peers).

#include <string>

#include "runmirror/clock.hpp"
#include "runmirror/resource_kind.hpp"

namespace runmirror {

// A status change of one resource, of any kind (resource_kind.hpp).
struct run_event {
    const resource_kind* kind = &kinds::v1_run;  // sent as "kind": its name ("run", "v2_job")
    std::string run_id;                          // the resource's own id, without store prefix
    std::string job_id;
    std::string extraction_agent_id;
    std::string project_id;  // not sent; whose grants may see the event (scoped browsing)
    std::string old_status;  // empty when the run was not known before
    std::string new_status;
    time_point at;
};

}  // namespace runmirror
