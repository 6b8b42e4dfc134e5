#include <doctest/doctest.h>

#include "http/router.hpp"

using namespace runmirror;

TEST_CASE("runs routes") {
    CHECK(match_route("GET", "/api/v1/extraction/runs").kind == route::runs_list);
    CHECK(match_route("GET", "/api/v1/extraction/runs/").kind == route::runs_list);
    auto get = match_route("GET", "/api/v1/extraction/runs/run-1");
    CHECK(get.kind == route::run_get);
    CHECK(get.id == "run-1");
    auto del = match_route("DELETE", "/api/v1/extraction/runs/run-1");
    CHECK(del.kind == route::run_delete);
    auto job = match_route("GET", "/api/v1/extraction/runs/by-job/job%2D7");
    CHECK(job.kind == route::run_by_job);
    CHECK(job.id == "job-7");
}

TEST_CASE("everything else passes through") {
    CHECK(match_route("POST", "/api/v1/extraction/runs").kind == route::passthrough);
    CHECK(match_route("PUT", "/api/v1/extraction/runs/r").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runs/r/extra").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runs/a%2Fb").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runs/bad%zz").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runsx").kind == route::passthrough);
    CHECK(match_route("POST", "/api/v1/extraction/jobs/file").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/jobs").kind == route::passthrough);
}

TEST_CASE("the daemon's own endpoints") {
    CHECK(match_route("GET", "/_runmirror/health").kind == route::health);
    CHECK(match_route("POST", "/_runmirror/health").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/ready").kind == route::ready);
    CHECK(match_route("HEAD", "/_runmirror/ready").kind == route::ready);
    CHECK(match_route("GET", "/_runmirror/ready/x").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/metrics").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/events").kind == route::events);
    CHECK(match_route("POST", "/api/v1/extraction/jobs").kind == route::job_create);
}
