#include <doctest/doctest.h>

#include "runmirror/event_hub.hpp"
#include "util/utf8.hpp"

using namespace runmirror;

namespace {

run_event change(std::string id, std::string from, std::string to) {
    return run_event{
        &kinds::v1_run, std::move(id),   "job-1",       "agent-1",
        "project-1",    std::move(from), std::move(to), from_unix_ms(1'700'000'000'123)};
}

}  // namespace

TEST_CASE("an event is one SSE frame with JSON data") {
    CHECK(to_sse(change("r\"1", "PENDING", "SUCCESS")) ==
          "event: run\ndata: "
          "{\"run_id\":\"r\\\"1\",\"kind\":\"run\",\"job_id\":\"job-1\",\"extraction_agent_id\":"
          "\"agent-1\",\"old_status\":\"PENDING\",\"new_status\":\"SUCCESS\",\"at\":"
          "\"2023-11-14T22:13:20.123Z\"}\n\n");
}

TEST_CASE("an event names the kind of resource it is about") {
    run_event e = change("job-7", "RUNNING", "COMPLETED");
    e.kind = &kinds::v2_job;
    e.job_id.clear();
    const std::string frame = to_sse(e);
    CHECK(frame.find("\"run_id\":\"job-7\",\"kind\":\"v2_job\",\"job_id\":\"\"") !=
          std::string::npos);
    e.kind = &kinds::v1_run;
    CHECK(to_sse(e).find("\"kind\":\"run\"") != std::string::npos);
}

TEST_CASE("an event is valid UTF-8 whatever the upstream wrote in its fields") {
    run_event e = change("r-\xFF", "PEND\xC0\xAFING", "SUCCESS");
    e.extraction_agent_id = "agent-\xE6\x9D";
    const std::string frame = to_sse(e);
    CHECK(frame.find("\"run_id\":\"r-\xEF\xBF\xBD\"") != std::string::npos);
    CHECK(frame.find("\"old_status\":\"PEND\xEF\xBF\xBD\xEF\xBF\xBDING\"") != std::string::npos);
    CHECK(frame.find("\"extraction_agent_id\":\"agent-\xEF\xBF\xBD\"") != std::string::npos);
    CHECK(is_valid_utf8(frame));
}

TEST_CASE("subscribers get every event in order and are notified") {
    event_hub hub;
    int notified = 0;
    auto a = hub.subscribe([&] { ++notified; });
    auto b = hub.subscribe(nullptr);
    hub.publish(change("r1", "", "PENDING"));
    hub.publish(change("r1", "PENDING", "SUCCESS"));
    CHECK(notified == 2);
    auto frames = a->take();
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].find("\"new_status\":\"PENDING\"") != std::string::npos);
    CHECK(frames[1].find("\"new_status\":\"SUCCESS\"") != std::string::npos);
    CHECK(a->take().empty());
    CHECK(b->take().size() == 2);
}

TEST_CASE("a slow subscriber loses its backlog, is told, and never slows the publisher") {
    event_hub hub(3);
    auto slow = hub.subscribe(nullptr);
    for (int i = 0; i < 7; ++i)
        hub.publish(change("r" + std::to_string(i), "PENDING", "ERROR"));
    auto frames = slow->take();
    // 3 queued, overflowed at the 4th (3 dropped), 3 more queued, overflowed at the 7th.
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == "event: dropped\ndata: {\"dropped\":6}\n\n");
    CHECK(frames[1].find("\"run_id\":\"r6\"") != std::string::npos);
}

TEST_CASE("a released subscription stops receiving") {
    event_hub hub;
    auto s = hub.subscribe(nullptr);
    CHECK(hub.subscribers() == 1);
    s.reset();
    hub.publish(change("r1", "", "SUCCESS"));
    CHECK(hub.subscribers() == 0);
}

TEST_CASE("a subscription with a filter is given only the events it shows") {
    event_hub hub;
    auto all = hub.subscribe(nullptr);
    int notified = 0;
    auto scoped = hub.subscribe([&] { ++notified; },
                                [](const run_event& e) { return e.project_id == "project-2"; });
    hub.publish(change("r1", "PENDING", "SUCCESS"));  // project-1
    run_event other = change("r2", "PENDING", "ERROR");
    other.project_id = "project-2";
    hub.publish(other);
    CHECK(all->take().size() == 2);
    const auto frames = scoped->take();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].find("\"run_id\":\"r2\"") != std::string::npos);
    CHECK(notified == 1);
}
