// What daemons sharing a PostgreSQL store tell each other: the notice format (no server
// needed), and the feed between two store objects on one database, as two daemons open it.

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runmirror/store.hpp"
#include "store/memory_cache.hpp"
#include "store/peer_notice.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::shared_test_store;
using runmirror::testing::temp_dir;
using runmirror::testing::test_pg_uri;

namespace {

using scope = store_change::scope;

const time_point t0 = from_unix_ms(1'700'000'000'000);

store_change change(scope what, std::string key = {}, std::string job_id = {},
                    std::string tenant = {}) {
    return {.what = what,
            .key = std::move(key),
            .job_id = std::move(job_id),
            .tenant = std::move(tenant)};
}

bool same(const store_change& a, const store_change& b) {
    return a.what == b.what && a.key == b.key && a.job_id == b.job_id && a.tenant == b.tenant;
}

run_event event_of(std::string id, std::string old_status, std::string new_status) {
    return {.kind = &kinds::v2_job,
            .run_id = std::move(id),
            .job_id = "job-1",
            .extraction_agent_id = "agent-1",
            .project_id = "proj-1",
            .old_status = std::move(old_status),
            .new_status = std::move(new_status),
            .at = t0};
}

}  // namespace

TEST_CASE("peer notice: changes and an event round-trip, keys of any bytes included") {
    const std::string odd("id\0with\nnewline,3:x,\xff", 21);
    peer_notice sent{
        .origin = "host:42:abcd",
        .changes = {change(scope::run, "v1_run/r1?variant", "job-1"), change(scope::resource, odd),
                    change(scope::list_page, "key?a=1", {}, "tenant-x"),
                    change(scope::tenant, {}, {}, odd), change(scope::everything)},
        .event = event_of("r:1", "PENDING", "SUCCESS")};
    const auto got = decode_notice(pg::encode_text(encode_notice(sent)));
    REQUIRE(got);
    CHECK(got->origin == sent.origin);
    REQUIRE(got->changes.size() == sent.changes.size());
    for (std::size_t i = 0; i < sent.changes.size(); ++i)
        CHECK(same(got->changes[i], sent.changes[i]));
    REQUIRE(got->event);
    CHECK(got->event->kind == &kinds::v2_job);
    CHECK(got->event->run_id == "r:1");
    CHECK(got->event->job_id == "job-1");
    CHECK(got->event->extraction_agent_id == "agent-1");
    CHECK(got->event->project_id == "proj-1");
    CHECK(got->event->old_status == "PENDING");
    CHECK(got->event->new_status == "SUCCESS");
    CHECK(got->event->at == t0);
}

TEST_CASE("peer notice: a write of more changes than NOTIFY takes is told as `everything`") {
    peer_notice sent{.origin = "me", .changes = {}, .event = {}};
    for (int i = 0; i < 500; ++i)
        sent.changes.push_back(change(scope::run, "v1_run/run-" + std::to_string(i), "job"));
    const std::string payload = encode_notice(sent);
    CHECK(payload.size() <= max_notice_payload);
    const auto got = decode_notice(payload);
    REQUIRE(got);
    REQUIRE(got->changes.size() == 1);
    CHECK(got->changes[0].what == scope::everything);

    // Bytes that grow when sent as text count as sent.
    sent.changes = {change(scope::resource, std::string(3000, '\xff'))};
    CHECK(decode_notice(encode_notice(sent))->changes[0].what == scope::everything);
}

TEST_CASE("peer notice: what is not a notice of this format is refused, not half read") {
    CHECK_FALSE(decode_notice(""));
    CHECK_FALSE(decode_notice("hello"));
    CHECK_FALSE(decode_notice("3:rm2,2:me,"));           // another format
    CHECK_FALSE(decode_notice("3:rm1,2:me,1:R,2:k1,"));  // a run change without its job id
    CHECK_FALSE(decode_notice("3:rm1,2:me,1:Q,"));       // an unknown change
    CHECK_FALSE(decode_notice("3:rm1,2:me,1:R,9:k1,0:,"));
    CHECK(decode_notice("3:rm1,2:me,1:R,2:k1,0:,"));
}

namespace {

// What a follower was told, in order, as text ("run v1_run/r1 job-r1", "live", ...).
class recorder final : public peer_follower {
  public:
    void peer_changed(const store_change& c) override {
        static const char* names[] = {"run", "resource", "list_page", "tenant", "everything"};
        add(std::string(names[static_cast<int>(c.what)]) + " " + c.key + " " + c.job_id + " " +
            c.tenant);
    }
    void peer_feed(bool live) override { add(live ? "live" : "down"); }
    void peer_event(const run_event& e) override {
        add("event " + e.run_id + " " + e.old_status + ">" + e.new_status);
    }

    std::vector<std::string> told() {
        std::lock_guard lock(mutex_);
        return told_;
    }

    // Waits (up to 10 s) until |line| was told; true if it was.
    bool saw(const std::string& line) {
        for (int i = 0; i < 1000; ++i) {
            for (const std::string& t : told())
                if (t == line) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

  private:
    void add(std::string line) {
        std::lock_guard lock(mutex_);
        told_.push_back(std::move(line));
    }
    std::mutex mutex_;
    std::vector<std::string> told_;
};

run_fields run_named(const std::string& id, const std::string& status = "PENDING") {
    run_fields f;
    f.id = id;
    f.project_id = "proj-1";
    f.job_id = "job-" + id;
    f.status = status;
    f.created_at = "2025-01-01T00:00:00Z";
    return f;
}

std::string body_of(const run_fields& f) {
    return R"({"id":")" + f.id + R"(","status":")" + f.status + R"("})";
}

// Polls |done| every 5 ms for up to 10 s.
bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 2000; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

}  // namespace

TEST_CASE("peer feed: a daemon is told what another commits, not what it commits itself" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    temp_dir dir;
    const std::string uri = shared_test_store(dir);
    auto a = open_store(uri);
    auto b = open_store(uri);
    recorder heard;
    auto subscription = b->follow_peers(heard);
    REQUIRE(subscription);
    REQUIRE(heard.saw("live"));

    const run_fields r = run_named("r1");
    const std::string key = store_key(kinds::v1_run, "r1");
    a->put_run(r, body_of(r), t0);
    CHECK(heard.saw("run " + key + " job-r1 "));
    a->put_list_page("tenant-1", "page-key", "[]", t0);
    CHECK(heard.saw("list_page page-key  tenant-1"));
    a->revoke_tenant("tenant-1");
    CHECK(heard.saw("tenant   tenant-1"));
    a->tombstone_run(key, t0);
    CHECK(heard.saw("resource " + key + "  "));
    a->tell_peers(event_of("r1", "PENDING", "SUCCESS"));
    CHECK(heard.saw("event r1 PENDING>SUCCESS"));

    // B's own writes, and A's writes no cache shows (a grant only adds), are not told to B.
    const std::size_t before = heard.told().size();
    b->put_run(run_named("r2"), body_of(run_named("r2")), t0);
    b->tell_peers(event_of("r2", "", "PENDING"));
    a->grant("tenant-2", {"proj-1"});
    a->put_run(r, body_of(r), t0);  // the same bytes again: nothing changed
    // A marker written last: once B hears it, anything before it has been told.
    a->put_list_page("tenant-1", "marker", "[]", t0);
    REQUIRE(heard.saw("list_page marker  tenant-1"));
    const std::vector<std::string> told = heard.told();
    CHECK(std::vector<std::string>(told.begin() + static_cast<long>(before), told.end()) ==
          std::vector<std::string>{"list_page marker  tenant-1"});

    // Once the subscription ends, nothing more is told.
    subscription.reset();
    const std::size_t after = heard.told().size();
    a->put_list_page("tenant-1", "late", "[]", t0);
    auto c = open_store(uri);
    recorder other;
    auto still = c->follow_peers(other);
    REQUIRE(other.saw("live"));
    a->put_list_page("tenant-1", "later", "[]", t0);
    REQUIRE(other.saw("list_page later  tenant-1"));
    CHECK(heard.told().size() == after);
}

TEST_CASE("peer feed: a memory cache drops what another daemon changed, and only that" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    temp_dir dir;
    const std::string uri = shared_test_store(dir);
    auto a = with_memory_cache(open_store(uri), {.budget_bytes = 1 << 20});
    // A check of the change count far apart, so that only the feed can explain a drop.
    auto b = with_memory_cache(open_store(uri),
                               {.budget_bytes = 1 << 20, .external_check = std::chrono::hours(1)});
    const run_fields r1 = run_named("r1");
    const run_fields r2 = run_named("r2");
    const std::string k1 = store_key(kinds::v1_run, "r1");
    const std::string k2 = store_key(kinds::v1_run, "r2");
    // B's cache drops everything when its feed goes live: hold nothing before then. Followers
    // of one feed are told together, so another follower's "live" says the cache heard it too.
    recorder feed;
    auto watching = b->follow_peers(feed);
    REQUIRE(feed.saw("live"));
    a->put_run(r1, body_of(r1), t0);
    a->put_run(r2, body_of(r2), t0);
    a->put_list_page("tenant-1", "page", "[1]", t0);
    a->grant("tenant-1", {"proj-1"});
    // B holds them all.
    REQUIRE(b->find_run(k1));
    REQUIRE(b->find_run(k2));
    REQUIRE(b->find_list_page("tenant-1", "page"));
    REQUIRE(b->has_grant("tenant-1", "proj-1"));
    const auto held_r2 = b->find_run(k2);

    const run_fields done = run_named("r1", "SUCCESS");
    a->put_run(done, body_of(done), t0 + std::chrono::seconds(1));
    CHECK(eventually([&] { return b->find_run(k1)->fields.status == "SUCCESS"; }));
    CHECK(b->find_run(k2) == held_r2);  // the very copy held: untouched

    a->put_list_page("tenant-1", "page", "[2]", t0);
    CHECK(eventually([&] { return b->find_list_page("tenant-1", "page")->body == "[2]"; }));

    a->revoke_tenant("tenant-1");
    CHECK(eventually([&] { return !b->has_grant("tenant-1", "proj-1"); }));
    CHECK(b->find_list_page("tenant-1", "page") == nullptr);

    a->tombstone_run(k2, t0);
    CHECK(eventually([&] { return b->find_run(k2)->deleted_at.has_value(); }));
}
