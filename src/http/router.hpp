#pragma once
// Maps a request's method and path to the daemon's routes. Pure: no I/O, no Beast.

#include <string>
#include <string_view>

namespace runmirror {

enum class route {
    health,       // GET /_runmirror/health (liveness: the daemon answers)
    ready,        // GET /_runmirror/ready (200 while the daemon can do its whole job, else 503)
    admin,        // anything else under /_runmirror/
    runs_list,    // GET  /api/v1/extraction/runs
    run_get,      // GET  /api/v1/extraction/runs/{id}
    run_by_job,   // GET  /api/v1/extraction/runs/by-job/{job_id}
    run_delete,   // DELETE /api/v1/extraction/runs/{id}
    job_create,   // POST /api/v1/extraction/jobs (forwarded, then watched by the sync worker)
    events,       // GET /_runmirror/events (Server-Sent Events)
    passthrough,  // everything else, streamed to the upstream untouched
};

std::string_view to_string(route r);

struct route_match {
    route kind = route::passthrough;
    std::string id;  // run id (run_get, run_delete) or job id (run_by_job), percent-decoded
};

// |path| is the target without its query.
route_match match_route(std::string_view method, std::string_view path);

}  // namespace runmirror
