// The circuit breaker and the guard around an upstream, with injected time and a manual
// scheduler: no sockets, no sleeps.
#include <doctest/doctest.h>

#include <deque>

#include "cache/upstream_guard.hpp"
#include "cache/upstream_health.hpp"
#include "support/scripted_upstream.hpp"

using namespace runmirror;
using runmirror::testing::scripted_upstream;

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);

}  // namespace

TEST_CASE("the circuit opens after the threshold and reopens longer after a failed retry") {
    upstream_health h(3, millis(1'000), millis(4'000));
    CHECK(h.allow(t0));
    CHECK_FALSE(h.record_failure(t0));
    CHECK_FALSE(h.record_failure(t0));
    CHECK(h.record_failure(t0));
    CHECK_FALSE(h.allow(t0 + millis(999)));
    CHECK(h.snapshot(t0).retry_in == millis(1'000));
    CHECK_FALSE(h.snapshot(t0).up);

    CHECK(h.allow(t0 + millis(1'000)));
    CHECK(h.record_failure(t0 + millis(1'000)));  // 2 s now
    CHECK_FALSE(h.allow(t0 + millis(2'999)));
    CHECK(h.record_failure(t0 + millis(3'000)));  // 4 s
    CHECK(h.record_failure(t0 + millis(7'000)));  // capped at 4 s
    CHECK(h.snapshot(t0 + millis(7'000)).retry_in == millis(4'000));

    h.record_success();
    CHECK(h.snapshot(t0).up);
    CHECK(h.snapshot(t0).consecutive_failures == 0);
    CHECK(h.allow(t0));
}

TEST_CASE("a success between failures resets the count") {
    upstream_health h(2, millis(1'000), millis(4'000));
    h.record_failure(t0);
    h.record_success();
    CHECK_FALSE(h.record_failure(t0));
    CHECK(h.allow(t0));
}

TEST_CASE("what counts as a health failure") {
    CHECK(is_health_failure({errc::timeout, "x"}, 0));
    CHECK(is_health_failure({}, 503));
    CHECK_FALSE(is_health_failure({}, 429));
    CHECK_FALSE(is_health_failure({}, 404));
    CHECK_FALSE(is_health_failure({}, 500));
}

namespace {

upstream_reply refused() {
    upstream_reply r;
    r.failure = {errc::refused, "connection refused"};
    return r;
}

upstream_reply ok() {
    upstream_reply r;
    r.answer.status = 404;
    return r;
}

}  // namespace

TEST_CASE(
    "a fail-fast guard (the sync worker's) fails fast while down and probes in the "
    "background until the upstream is back") {
    scripted_upstream inner;
    upstream_health health(2, millis(500), millis(10'000));
    time_point now = t0;
    std::vector<std::pair<millis, std::function<void()>>> timers;
    upstream_guard guard(
        inner, health, [&] { return now; },
        [&](millis delay, std::function<void()> task) {
            timers.emplace_back(delay, std::move(task));
        },
        upstream_guard::when_down::fail_fast);
    auto send = [&] {
        upstream_reply got;
        guard.async_send(request{"GET", "/api/v1/extraction/runs/r", {}, {}, {}},
                         [&](upstream_reply r) { got = std::move(r); });
        return got;
    };

    inner.script = {refused(), refused()};
    CHECK(send().failure.code == errc::refused);
    CHECK(timers.empty());
    CHECK(send().failure.code == errc::refused);
    REQUIRE(timers.size() == 1);  // the circuit opened: a probe is scheduled
    CHECK(timers[0].first == millis(500));

    upstream_reply fast = send();
    CHECK(fast.failure.code == errc::unavailable);
    CHECK(fast.retry_in == millis(500));
    CHECK(inner.seen.size() == 2);  // failed fast, upstream not asked

    now += millis(500);
    inner.script = {refused()};
    auto probe = std::move(timers[0].second);
    timers.clear();
    probe();  // still down: reopened for 1 s, next probe scheduled
    CHECK(inner.seen.back().target == "/");
    REQUIRE(timers.size() == 1);
    CHECK(timers[0].first == millis(1'000));
    CHECK(send().failure.code == errc::unavailable);

    now += millis(1'000);
    inner.script = {ok()};
    probe = std::move(timers[0].second);
    timers.clear();
    probe();
    CHECK(health.snapshot(now).up);
    CHECK(timers.empty());
    inner.script = {ok()};
    CHECK_FALSE(send().failure);
}

TEST_CASE("a clients' guard still sends while down; the first success closes the circuit") {
    scripted_upstream inner;
    upstream_health health(2, millis(500), millis(10'000));
    time_point now = t0;
    std::vector<std::pair<millis, std::function<void()>>> timers;
    upstream_guard guard(
        inner, health, [&] { return now; },
        [&](millis delay, std::function<void()> task) {
            timers.emplace_back(delay, std::move(task));
        });
    auto send = [&] {
        upstream_reply got;
        guard.async_send(request{"DELETE", "/api/v1/extraction/runs/r", {}, {}, {}},
                         [&](upstream_reply r) { got = std::move(r); });
        return got;
    };

    inner.script = {refused(), refused()};
    send();
    CHECK_FALSE(guard.believed_down());
    send();
    CHECK(guard.believed_down());
    REQUIRE(timers.size() == 1);  // the background probe, as for any guard

    inner.script = {refused()};
    CHECK(send().failure.code == errc::refused);  // sent, not refused by the guard
    CHECK(inner.seen.size() == 3);
    CHECK(guard.believed_down());

    now += millis(100);  // the upstream is back before the cool-down ends
    inner.script = {ok()};
    CHECK_FALSE(send().failure);
    CHECK(inner.seen.size() == 4);
    CHECK(health.snapshot(now).up);
    CHECK_FALSE(guard.believed_down());
}

TEST_CASE("down_since: when the circuit opened, kept through reopening, gone once it closes") {
    upstream_health h(2, millis(1'000), millis(4'000));
    CHECK_FALSE(h.snapshot(t0).down_since);
    h.record_failure(t0);
    CHECK_FALSE(h.snapshot(t0).down_since);  // below the threshold: still up
    h.record_failure(t0 + millis(10));
    CHECK(h.snapshot(t0 + millis(20)).down_since == t0 + millis(10));
    h.record_failure(t0 + millis(1'010));  // a failed retry reopens it: down since the start
    CHECK(h.snapshot(t0 + millis(1'020)).down_since == t0 + millis(10));
    h.record_success();
    CHECK_FALSE(h.snapshot(t0 + millis(1'030)).down_since);
}
