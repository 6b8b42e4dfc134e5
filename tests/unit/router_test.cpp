#include <doctest/doctest.h>

#include "http/router.hpp"

using namespace runmirror;

TEST_CASE("runs routes") {
    CHECK(match_route("GET", "/api/v1/extraction/runs").kind == route::list);
    CHECK(match_route("GET", "/api/v1/extraction/runs/").kind == route::list);
    auto get = match_route("GET", "/api/v1/extraction/runs/run-1");
    CHECK(get.kind == route::item_get);
    CHECK(get.id == "run-1");
    auto del = match_route("DELETE", "/api/v1/extraction/runs/run-1");
    CHECK(del.kind == route::item_delete);
    auto job = match_route("GET", "/api/v1/extraction/runs/by-job/job%2D7");
    CHECK(job.kind == route::item_by_job);
    CHECK(job.id == "job-7");
}

TEST_CASE("v1 runs routes carry their kind") {
    CHECK(match_route("GET", "/api/v1/extraction/runs").resource == &kinds::v1_run);
    CHECK(match_route("GET", "/api/v1/extraction/runs/r").resource == &kinds::v1_run);
    CHECK(match_route("GET", "/_runmirror/health").resource == nullptr);
    CHECK(match_route("GET", "/api/v1/files").resource == nullptr);
}

TEST_CASE("extract v2 routes") {
    auto list = match_route("GET", "/api/v2/extract");
    CHECK(list.kind == route::list);
    CHECK(list.resource == &kinds::v2_job);
    CHECK(match_route("GET", "/api/v2/extract/").kind == route::list);
    CHECK(match_route("POST", "/api/v2/extract").kind == route::item_create);
    auto get = match_route("GET", "/api/v2/extract/job%2D1");
    CHECK(get.kind == route::item_get);
    CHECK(get.id == "job-1");
    CHECK(get.resource == &kinds::v2_job);
    CHECK(match_route("DELETE", "/api/v2/extract/j1").kind == route::item_delete);
    auto cancel = match_route("POST", "/api/v2/extract/j1/cancel");
    CHECK(cancel.kind == route::item_cancel);
    CHECK(cancel.id == "j1");
    // No by-job route, no cancel by GET, nothing deeper, nothing that only shares a prefix.
    CHECK(match_route("GET", "/api/v2/extract/by-job/j").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v2/extract/j1/cancel").kind == route::passthrough);
    CHECK(match_route("POST", "/api/v2/extract/j1").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v2/extract/j1/x/y").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v2/extraction/jobs").kind == route::passthrough);
    CHECK(match_route("POST", "/api/v1/extraction/runs/r/cancel").kind == route::passthrough);
}

TEST_CASE("everything else passes through") {
    CHECK(match_route("POST", "/api/v1/extraction/runs").kind == route::passthrough);
    CHECK(match_route("PUT", "/api/v1/extraction/runs/r").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runs/r/extra").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runs/a%2Fb").kind == route::passthrough);
    // An id is never a store key with a variant: "v2/abc?usage" is job abc's expand=usage.
    for (const char* path : {"/api/v2/extract/abc%3Fusage", "/api/v2/extract/abc%3fusage/cancel",
                             "/api/v1/extraction/runs/r%3F", "/api/v1/extraction/runs/by-job/j%3Fx",
                             "/api/v1/extraction/jobs/j%3Fresult/result"}) {
        CAPTURE(path);
        const route_match m = match_route("GET", path);
        CHECK(m.kind == route::passthrough);
        CHECK(match_route("POST", path).kind == route::passthrough);
        CHECK(match_route("DELETE", path).kind == route::passthrough);
    }
    CHECK(match_route("GET", "/api/v2/extract/abc%3Dusage").id == "abc=usage");
    CHECK(match_route("GET", "/api/v1/extraction/runs/bad%zz").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/runsx").kind == route::passthrough);
    CHECK(match_route("POST", "/api/v1/extraction/jobs/file").kind == route::passthrough);
}

TEST_CASE("the daemon's own endpoints") {
    CHECK(match_route("GET", "/_runmirror/health").kind == route::health);
    CHECK(match_route("POST", "/_runmirror/health").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/ready").kind == route::ready);
    CHECK(match_route("HEAD", "/_runmirror/ready").kind == route::ready);
    CHECK(match_route("GET", "/_runmirror/ready/x").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/metrics").kind == route::admin);
    CHECK(match_route("GET", "/_runmirror/events").kind == route::events);
}

TEST_CASE(
    "v1 jobs routes: create, poll and result are the kind's; uploads and lists pass through") {
    auto create = match_route("POST", "/api/v1/extraction/jobs");
    CHECK(create.kind == route::item_create);
    CHECK(create.resource == &kinds::v1_job);
    auto get = match_route("GET", "/api/v1/extraction/jobs/job%2D1");
    CHECK(get.kind == route::item_get);
    CHECK(get.resource == &kinds::v1_job);
    CHECK(get.id == "job-1");
    auto result = match_route("GET", "/api/v1/extraction/jobs/job-1/result");
    CHECK(result.kind == route::item_result);
    CHECK(result.resource == &kinds::v1_job);
    CHECK(result.id == "job-1");
    auto list = match_route("GET", "/api/v1/extraction/jobs");
    CHECK(list.kind == route::list);
    CHECK(list.resource == &kinds::v1_job);
    // Uploads and stateless runs stay streamed pass-through; their answers are stored there.
    CHECK(match_route("POST", "/api/v1/extraction/jobs/file").kind == route::passthrough);
    CHECK(match_route("POST", "/api/v1/extraction/run").kind == route::passthrough);
    CHECK(streamed_create_kind("POST", "/api/v1/extraction/jobs/file") == &kinds::v1_job);
    CHECK(streamed_create_kind("POST", "/api/v1/extraction/run") == &kinds::v1_job);
    CHECK(streamed_create_kind("GET", "/api/v1/extraction/run") == nullptr);
    CHECK(streamed_create_kind("POST", "/api/v1/extraction/jobs") == nullptr);
    CHECK(streamed_create_kind("POST", "/api/v1/files") == nullptr);
    CHECK(match_route("POST", "/api/v1/extraction/jobs/job-1/result").kind == route::passthrough);
    CHECK(match_route("GET", "/api/v1/extraction/jobs/a/b/result").kind == route::passthrough);
    // Runs have no result route.
    CHECK(match_route("GET", "/api/v1/extraction/runs/r/result").kind == route::passthrough);
}
