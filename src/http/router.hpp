#pragma once
// Maps a request's method and path to the daemon's routes. Pure: no I/O, no Beast.

#include <string>
#include <string_view>

#include "runmirror/resource_kind.hpp"

namespace runmirror {

enum class route {
    health,  // GET /_runmirror/health (liveness: the daemon answers)
    ready,   // GET /_runmirror/ready (200 while the daemon can do its whole job, else 503)
    admin,   // anything else under /_runmirror/
    // The routes of a resource kind (route_match::resource); paths from its resource_kind.
    list,         // GET    collection
    item_get,     // GET    collection/{id}
    item_by_job,  // GET    collection/by-job/{job_id} (v1 runs)
    item_delete,  // DELETE collection/{id}
    item_cancel,  // POST   collection/{id}/cancel (v2 jobs)
    item_result,  // GET    collection/{id}/result (v1 jobs)
    item_create,  // POST   collection (v1 and v2 jobs: the answer is the new resource)
    events,       // GET /_runmirror/events (Server-Sent Events)
    passthrough,  // everything else, streamed to the upstream untouched
};

std::string_view to_string(route r);

struct route_match {
    route kind = route::passthrough;
    std::string id;  // the resource's id (or job id for item_by_job), percent-decoded
    // The kind a resource route serves; null for the others.
    const resource_kind* resource = nullptr;
};

// |path| is the target without its query.
route_match match_route(std::string_view method, std::string_view path);

// The kind whose resource a pass-through request creates (resource_kind::streamed_creates), so
// that its answer is stored as it is relayed; null for any other request.
const resource_kind* streamed_create_kind(std::string_view method, std::string_view path);

// Whether a pass-through request reads extraction agents (GET
// /api/v1/extraction/extraction-agents, or one agent by id): its answer names them, and is read
// for those names as it is relayed (json/agent_names.hpp).
bool names_agents(std::string_view method, std::string_view path);

}  // namespace runmirror
