// decide_run / decide_list: each case starts from a known-good state and flips one input.
#include <doctest/doctest.h>

#include "cache/freshness.hpp"

using namespace runmirror;

namespace doctest {
template <>
struct StringMaker<action> {
    static String convert(action a) { return String(to_string(a).data()); }
};
}  // namespace doctest

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);
const millis max_age{2'000};

run_state final_granted() {
    return run_state{false, true, true, t0};
}

action run_action(std::optional<run_state> s, cache_directives d = {},
                  serve_mode m = serve_mode::online, time_point now = t0 + millis(10),
                  bool has_tenant = true) {
    return decide_run(s, has_tenant, d, m, max_age, now).what;
}

}  // namespace

TEST_CASE("a final run the tenant may see is served from the store, however old") {
    CHECK(run_action(final_granted()) == action::serve_stored);
    CHECK(run_action(final_granted(), {}, serve_mode::online, t0 + std::chrono::hours(24 * 365)) ==
          action::serve_stored);
}

TEST_CASE("no-cache forces a revalidation online, but never contacts upstream offline") {
    CHECK(run_action(final_granted(), {.no_cache = true}) == action::forward);
    CHECK(run_action(final_granted(), {.no_cache = true}, serve_mode::offline) ==
          action::serve_stored);
}

TEST_CASE("a pending run is served while younger than max age, then forwarded") {
    run_state pending = final_granted();
    pending.final = false;
    CHECK(run_action(pending, {}, serve_mode::online, t0 + millis(1'999)) == action::serve_stored);
    CHECK(run_action(pending, {}, serve_mode::online, t0 + millis(2'000)) == action::forward);
    auto offline = decide_run(pending, true, {}, serve_mode::offline, max_age, t0 + millis(5'000));
    CHECK(offline.what == action::serve_stored);
    CHECK(offline.detail == "stale");
}

TEST_CASE("a tombstone answers 404 online and offline, to every tenant") {
    run_state deleted = final_granted();
    deleted.deleted = true;
    CHECK(run_action(deleted) == action::not_found);
    CHECK(run_action(deleted, {}, serve_mode::offline) == action::not_found);
    deleted.granted = false;
    CHECK(run_action(deleted) == action::not_found);
}

TEST_CASE("without a grant the store never answers: forward online, 403 offline") {
    run_state other = final_granted();
    other.granted = false;
    CHECK(run_action(other) == action::forward);
    CHECK(run_action(other, {}, serve_mode::offline) == action::forbidden);
    CHECK(run_action(other, {.only_if_cached = true}) == action::cached_miss);
}

TEST_CASE("a request without a bearer key is never answered from the store") {
    CHECK(run_action(final_granted(), {}, serve_mode::online, t0, false) == action::forward);
    CHECK(run_action(final_granted(), {}, serve_mode::offline, t0, false) ==
          action::unauthenticated);
}

TEST_CASE("misses: forward online, 503 offline, 504 only-if-cached") {
    CHECK(run_action(std::nullopt) == action::forward);
    CHECK(run_action(std::nullopt, {}, serve_mode::offline) == action::offline_miss);
    CHECK(run_action(std::nullopt, {.only_if_cached = true}) == action::cached_miss);
    CHECK(run_action(final_granted(), {.only_if_cached = true}) == action::serve_stored);
}

TEST_CASE("list pages are served while younger than max age") {
    auto list = [](std::optional<time_point> fetched, cache_directives d, serve_mode m,
                   time_point now) { return decide_list(fetched, true, d, m, max_age, now).what; };
    CHECK(list(t0, {}, serve_mode::online, t0 + millis(1'999)) == action::serve_stored);
    CHECK(list(t0, {}, serve_mode::online, t0 + millis(2'000)) == action::forward);
    CHECK(list(t0, {.no_cache = true}, serve_mode::online, t0) == action::forward);
    CHECK(list(std::nullopt, {}, serve_mode::online, t0) == action::forward);
    CHECK(list(std::nullopt, {}, serve_mode::offline, t0) == action::offline_miss);
    CHECK(list(t0, {}, serve_mode::offline, t0 + std::chrono::hours(1)) == action::serve_stored);
    CHECK(decide_list(t0, false, {}, serve_mode::offline, max_age, t0).what ==
          action::unauthenticated);
}

TEST_CASE("stale-while-revalidate: past max age and within the window, served and refreshed") {
    const millis window{10'000};
    run_state pending = final_granted();
    pending.final = false;
    auto run = [&](time_point now, cache_directives d = {}, serve_mode m = serve_mode::online) {
        return decide_run(pending, true, d, m, max_age, now, window);
    };
    CHECK(run(t0 + millis(1'999)).what == action::serve_stored);
    const decision aged = run(t0 + millis(2'000));
    CHECK(aged.what == action::serve_and_revalidate);
    CHECK(aged.detail == "stale-while-revalidate");
    CHECK(run(t0 + millis(11'999)).what == action::serve_and_revalidate);
    CHECK(run(t0 + millis(12'000)).what == action::forward);  // past the window: wait
    CHECK(run(t0 + millis(3'000), {.no_cache = true}).what == action::forward);
    CHECK(run(t0 + millis(3'000), {.only_if_cached = true}).what == action::serve_stored);
    CHECK(run(t0 + millis(3'000), {}, serve_mode::offline).what == action::serve_stored);
    pending.final = true;  // final runs never age
    CHECK(run(t0 + std::chrono::hours(1)).what == action::serve_stored);
    pending.final = false;
    pending.granted = false;  // no grant: only upstream may answer
    CHECK(run(t0 + millis(3'000)).what == action::forward);

    auto list = [&](time_point now, cache_directives d = {}) {
        return decide_list(t0, true, d, serve_mode::online, max_age, now, window).what;
    };
    CHECK(list(t0 + millis(1'999)) == action::serve_stored);
    CHECK(list(t0 + millis(2'000)) == action::serve_and_revalidate);
    CHECK(list(t0 + millis(12'000)) == action::forward);
    CHECK(list(t0 + millis(3'000), {.no_cache = true}) == action::forward);
}
