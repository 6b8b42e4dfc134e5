// obs::request_log: the ring keeps the newest records, newest first, across wraps (its slots
// are reused), and filters by route, cache result, status class and tenant.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "obs/request_log.hpp"

using namespace runmirror;
using namespace runmirror::obs;

namespace {

request_record record_of(int i, std::optional<std::string> tenant = std::nullopt) {
    request_record r;
    r.method = "GET";
    r.path = "/api/v1/extraction/runs/run-" + std::to_string(i) + std::string(i % 3 * 40, 'x');
    r.r = i % 2 == 0 ? route::item_get : route::passthrough;
    r.cache = i % 2 == 0 ? cache_outcome::hit : cache_outcome::passthrough;
    r.status = i % 5 == 0 ? 404 : 200;
    r.tenant = std::move(tenant);
    return r;
}

std::vector<std::string> paths(const std::vector<request_record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records)
        out.push_back(r.path);
    return out;
}

void keep(request_log& log, request_record record) {
    log.add(record);
}

}  // namespace

TEST_CASE("request log: the last N, newest first, through many wraps of the ring") {
    request_log log(4, "", log_format::text);
    CHECK(log.recent({}, 10).empty());
    for (int i = 0; i < 3; ++i)
        keep(log, record_of(i));
    CHECK(paths(log.recent({}, 10)) ==
          std::vector<std::string>{record_of(2).path, record_of(1).path, record_of(0).path});
    for (int i = 3; i < 23; ++i) {
        keep(log, record_of(i));
        std::vector<std::string> expected;
        for (int j = i; j >= 0 && j > i - 4; --j)
            expected.push_back(record_of(j).path);
        REQUIRE(paths(log.recent({}, 10)) == expected);
    }
    CHECK(log.recent({}, 2).size() == 2);
}

TEST_CASE("request log: one record refilled request after request, as a connection does") {
    request_log log(3, "", log_format::text);
    request_record reused;
    for (int i = 0; i < 10; ++i) {
        const request_record next =
            record_of(i, i % 2 == 0 ? std::optional<std::string>("t1") : std::nullopt);
        reused.method.assign(next.method);
        reused.path.assign(next.path);
        reused.r = next.r;
        reused.cache = next.cache;
        reused.status = next.status;
        reused.tenant = next.tenant;
        log.add(reused);
        const auto kept = log.recent({}, 1);
        REQUIRE(kept.size() == 1);
        CHECK(kept[0].path == next.path);
        CHECK(kept[0].tenant == next.tenant);
        CHECK(kept[0].status == next.status);
    }
    CHECK(paths(log.recent({}, 10)) ==
          std::vector<std::string>{record_of(9).path, record_of(8).path, record_of(7).path});
}

TEST_CASE("request log: filters, and a tenant sees its own records only") {
    request_log log(100, "", log_format::text);
    for (int i = 0; i < 20; ++i)
        keep(log, record_of(i, i < 10 ? std::optional<std::string>("aaaa1111bbbb2222")
                                      : std::optional<std::string>("cccc3333dddd4444")));
    request_filter hits;
    hits.cache = cache_outcome::hit;
    CHECK(log.recent(hits, 100).size() == 10);
    request_filter not_found;
    not_found.status_class = 4;
    CHECK(log.recent(not_found, 100).size() == 4);
    request_filter own;
    own.only_tenant = "aaaa1111bbbb2222";
    const auto mine = log.recent(own, 100);
    REQUIRE(mine.size() == 10);
    for (const auto& r : mine)
        CHECK(*r.tenant == "aaaa1111bbbb2222");
    request_filter prefix;
    prefix.tenant_prefix = "cccc33";
    CHECK(log.recent(prefix, 100).size() == 10);
}

TEST_CASE("request log: capacity 0 keeps nothing") {
    request_log log(0, "", log_format::text);
    CHECK_FALSE(log.enabled());
    keep(log, record_of(1));
    CHECK(log.recent({}, 10).empty());
}
