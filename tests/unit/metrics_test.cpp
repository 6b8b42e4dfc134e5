// What the metrics make of an answer's Cache-Status, and how they are written.
#include <doctest/doctest.h>

#include "obs/metrics.hpp"

using namespace runmirror;
using obs::cache_outcome;
using obs::classify;

TEST_CASE("an answer's outcome is read from its Cache-Status") {
    CHECK(classify(route::item_get, "runmirror; hit") == cache_outcome::hit);
    CHECK(classify(route::item_get, "runmirror; hit; detail=stale") == cache_outcome::stale);
    CHECK(classify(route::item_get, "runmirror; hit; detail=stale-if-error; fwd-status=502") ==
          cache_outcome::stale);
    CHECK(classify(route::list, "runmirror; hit; detail=stale-while-revalidate") ==
          cache_outcome::stale);
    CHECK(classify(route::list, "runmirror; hit; detail=assembled") == cache_outcome::assembled);
    CHECK(classify(route::item_get, "runmirror; fwd=miss; fwd-status=200; stored") ==
          cache_outcome::miss);
    CHECK(classify(route::item_get, "runmirror; fwd=stale; fwd-status=200; stored") ==
          cache_outcome::revalidated);
    CHECK(classify(route::item_get, "runmirror; fwd=request; fwd-status=200; stored") ==
          cache_outcome::revalidated);
    // Never asked upstream: offline, only-if-cached, a bad query.
    CHECK(classify(route::item_get, "runmirror; fwd=miss") == cache_outcome::refused);
    CHECK(classify(route::list, "runmirror; fwd=bypass") == cache_outcome::refused);
    CHECK(classify(route::item_create, "runmirror; fwd=method; fwd-status=200") ==
          cache_outcome::write);
    CHECK(classify(route::passthrough, std::nullopt) == cache_outcome::passthrough);
    CHECK(classify(route::health, std::nullopt) == cache_outcome::none);
}

TEST_CASE("a histogram's buckets are cumulative, with sum and count") {
    obs::histogram h;
    h.observe(0.0004);
    h.observe(0.003);
    h.observe(20);
    std::string out;
    h.render(out, "x_seconds", "help");
    CHECK(out.find("x_seconds_bucket{le=\"0.001\"} 1\n") != std::string::npos);
    CHECK(out.find("x_seconds_bucket{le=\"0.005\"} 2\n") != std::string::npos);
    CHECK(out.find("x_seconds_bucket{le=\"10\"} 2\n") != std::string::npos);
    CHECK(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(out.find("x_seconds_count 3\n") != std::string::npos);
    CHECK(out.find("# TYPE x_seconds histogram\n") != std::string::npos);
}

TEST_CASE("requests are counted by route, kind, outcome and status class") {
    obs::registry r;
    r.record_request(route::item_get, &kinds::v2_job, cache_outcome::hit, 200, 0.001);
    r.record_request(route::item_get, &kinds::v2_job, cache_outcome::hit, 204, 0.001);
    r.record_request(route::list, nullptr, cache_outcome::refused, 503, 0.001);
    const std::string text = r.render();
    CHECK(text.find("runmirror_requests_total{route=\"item_get\",kind=\"v2_job\",cache=\"hit\","
                    "code=\"2xx\"} 2\n") != std::string::npos);
    CHECK(text.find("runmirror_requests_total{route=\"list\",kind=\"none\",cache=\"refused\","
                    "code=\"5xx\"} 1\n") != std::string::npos);
    CHECK(text.find("runmirror_store_answer_seconds_count 2\n") != std::string::npos);
}
