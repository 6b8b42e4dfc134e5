// explain_watch: why a watch is not polled now, from the stored watch and what the daemon knows
// beyond the store; each case starts from a due watch whose tenant has a key and flips one input.
#include <doctest/doctest.h>

#include <chrono>

#include "admin/watch_json.hpp"
#include "sync/watch_wait.hpp"

using namespace runmirror;

namespace {

const time_point now = from_unix_ms(1'736'928'000'000);

watch due_watch() {
    watch w;
    w.id = 3;
    w.run_id = "run-1";
    w.tenant = "tenant-a";
    w.created_at = now - std::chrono::minutes(1);
    w.next_poll_at = now - std::chrono::seconds(1);
    return w;
}

sync_snapshot worker_with_key() {
    sync_snapshot s;
    s.tenants_with_key = {"tenant-a"};
    s.concurrency = 4;
    return s;
}

watch_wait wait_of(const watch& w, const sync_snapshot& s, bool upstream_down = false) {
    watch_wait_context ctx;
    ctx.sync = &s;
    ctx.upstream_down = upstream_down;
    return explain_watch(w, ctx, now).wait;
}

}  // namespace

TEST_CASE("explain_watch: a due watch with a key, then each reason it may wait") {
    const sync_snapshot base = worker_with_key();
    CHECK(wait_of(due_watch(), base) == watch_wait::due);

    sync_snapshot s = base;
    s.polling = {3};
    CHECK(wait_of(due_watch(), s) == watch_wait::polling);

    s = base;
    s.tenants_with_key = {"tenant-b"};
    CHECK(wait_of(due_watch(), s) == watch_wait::no_key);
    s.service_key = true;  // LLAMA_CLOUD_API_KEY polls every tenant's watches
    CHECK(wait_of(due_watch(), s) == watch_wait::due);

    CHECK(wait_of(due_watch(), base, true) == watch_wait::upstream_down);

    s = base;
    s.paused_until = now + std::chrono::seconds(30);
    const watch_wait_reason paused =
        explain_watch(due_watch(), watch_wait_context{&s, false, false, {}}, now);
    CHECK(paused.wait == watch_wait::paused_by_429);
    CHECK(paused.until == now + std::chrono::seconds(30));
    s.paused_until = now - std::chrono::seconds(1);  // over
    CHECK(wait_of(due_watch(), s) == watch_wait::due);

    s = base;
    s.rate_free_at = now + std::chrono::milliseconds(100);
    CHECK(wait_of(due_watch(), s) == watch_wait::rate_limited);

    s = base;
    s.in_flight = 4;
    CHECK(wait_of(due_watch(), s) == watch_wait::no_free_slot);

    watch later = due_watch();
    later.next_poll_at = now + std::chrono::seconds(5);
    const watch_wait_reason scheduled =
        explain_watch(later, watch_wait_context{&base, false, false, {}}, now);
    CHECK(scheduled.wait == watch_wait::scheduled);
    CHECK(scheduled.until == later.next_poll_at);
}

TEST_CASE("explain_watch: the blocker a person must act on comes before the schedule") {
    sync_snapshot s = worker_with_key();
    s.tenants_with_key.clear();
    watch later = due_watch();
    later.next_poll_at = now + std::chrono::minutes(5);
    // Without a key it is not polled when it comes due either.
    CHECK(wait_of(later, s) == watch_wait::no_key);
    CHECK(explain_watch(later, watch_wait_context{&s, false, false, {}}, now)
              .text.find("LLAMA_CLOUD_API_KEY") != std::string::npos);
    s = worker_with_key();
    CHECK(wait_of(later, s, true) == watch_wait::upstream_down);
}

TEST_CASE("explain_watch: ended watches, offline mode, and the store read alone") {
    const sync_snapshot s = worker_with_key();
    watch done = due_watch();
    done.finished_at = now;
    done.last_status = "SUCCESS";
    CHECK(wait_of(done, s) == watch_wait::finished);
    watch dropped = due_watch();
    dropped.given_up_at = now;
    dropped.give_up_reason = "max age reached";
    const watch_wait_reason given_up =
        explain_watch(dropped, watch_wait_context{&s, false, false, {}}, now);
    CHECK(given_up.wait == watch_wait::given_up);
    CHECK(given_up.text == "given up: max age reached");

    watch_wait_context offline;
    offline.offline = true;
    CHECK(explain_watch(due_watch(), offline, now).wait == watch_wait::offline);

    // From the store alone: whether the daemon holds the tenant's key is not known.
    const watch_wait_reason store_only = explain_watch(due_watch(), {}, now);
    CHECK(store_only.wait == watch_wait::due_key_unknown);
    CHECK(store_only.text.find("not visible") != std::string::npos);
    watch later = due_watch();
    later.next_poll_at = now + std::chrono::seconds(9);
    CHECK(explain_watch(later, {}, now).wait == watch_wait::scheduled);
}

TEST_CASE("watch_to_json: with a reason, wait, wait_text and wait_until follow") {
    watch w = due_watch();
    const std::string plain = watch_to_json(w);
    CHECK(plain.find("\"wait\"") == std::string::npos);
    const std::string json = watch_to_json(
        w, watch_wait_reason{watch_wait::paused_by_429, "paused", now + std::chrono::seconds(2)});
    CHECK(json.ends_with(
        R"(,"wait":"paused_by_429","wait_text":"paused","wait_until":"2025-01-15T08:00:02.000Z"})"));
    CHECK(watch_to_json(w, watch_wait_reason{watch_wait::no_key, "no key", std::nullopt})
              .ends_with(R"("wait":"no_key","wait_text":"no key","wait_until":null})"));
}

TEST_CASE("parse_reported_waits: a watches answer read back, unknown waits and shapes left out") {
    for (int i = 0; i <= static_cast<int>(watch_wait::due_key_unknown); ++i) {
        const auto wait = static_cast<watch_wait>(i);
        CHECK(parse_watch_wait(to_string(wait)) == wait);
    }
    CHECK_FALSE(parse_watch_wait("asleep"));

    watch w = due_watch();
    const std::string body =
        "{\"items\":[" +
        watch_to_json(w, watch_wait_reason{watch_wait::paused_by_429, "paused",
                                           now + std::chrono::seconds(2)}) +
        R"(,{"id":9,"run_id":null,"job_id":"job-9","wait":"no_key","wait_text":"no key",)"
        R"("wait_until":null},{"id":10,"wait":"a wait of a later build"},7]})";
    const auto waits = parse_reported_waits(body);
    REQUIRE(waits);
    REQUIRE(waits->size() == 2);
    CHECK((*waits)[0].id == 3);
    CHECK((*waits)[0].run_id == "run-1");
    CHECK((*waits)[0].why.wait == watch_wait::paused_by_429);
    CHECK((*waits)[0].why.until == now + std::chrono::seconds(2));
    CHECK((*waits)[1].job_id == "job-9");
    CHECK((*waits)[1].run_id.empty());
    CHECK_FALSE((*waits)[1].why.until);
    CHECK_FALSE(parse_reported_waits(R"({"detail":"admin token required"})"));
    CHECK_FALSE(parse_reported_waits("<html>"));
}
