// The memory cache in front of the store: hits come from memory, and no write, in this process
// or another, leaves a stale answer behind. (Every store behaviour also runs through it: see
// on_each_store.)

#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "runmirror/store.hpp"
#include "store/forwarding_store.hpp"
#include "store/memory_cache.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::temp_dir;

namespace {

run_fields fields_of(std::string id, std::string status, std::string job = "") {
    run_fields f;
    f.id = std::move(id);
    f.project_id = "proj-1";
    f.extraction_agent_id = "agent-1";
    f.job_id = job.empty() ? "job-" + f.id : std::move(job);
    f.status = std::move(status);
    f.created_at = "2024-01-01T00:00:00Z";
    return f;
}

std::string body_of(const run_fields& f) {
    return R"({"id":")" + f.id + R"(","status":")" + f.status + R"("})";
}

const time_point t1 = from_unix_ms(1'700'000'000'000);
const time_point t2 = from_unix_ms(1'700'000'100'000);

memory_cache_options small_cache() {
    memory_cache_options o;
    o.budget_bytes = 64 * 1024;
    o.external_check = std::chrono::milliseconds(0);
    return o;
}

// A store that counts the reads reaching it, and can run a step between reading a run and
// handing it back (as another thread's write would land there).
class observed_store final : public forwarding_store {
  public:
    using forwarding_store::forwarding_store;

    int run_reads = 0;
    int page_reads = 0;
    int grant_reads = 0;
    std::function<void()> after_read;

    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        ++run_reads;
        auto run = forwarding_store::find_run(id);
        if (auto step = std::exchange(after_read, nullptr)) step();
        return run;
    }
    std::shared_ptr<const stored_run> find_run_by_job(std::string_view job) override {
        ++run_reads;
        return forwarding_store::find_run_by_job(job);
    }
    std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) override {
        ++page_reads;
        return forwarding_store::find_list_page(tenant, key);
    }
    bool has_grant(std::string_view t, std::string_view p) override {
        ++grant_reads;
        return forwarding_store::has_grant(t, p);
    }
};

struct cached_fixture {
    explicit cached_fixture(const memory_cache_options& options = small_cache()) {
        auto inner = std::make_unique<observed_store>(open_sqlite_store(dir.file("runs.db")));
        observed = inner.get();
        db = with_memory_cache(std::move(inner), options);
    }
    temp_dir dir;
    observed_store* observed;
    std::unique_ptr<store> db;
};

}  // namespace

TEST_CASE("memory cache: a second read of a run is served from memory, unchanged") {
    cached_fixture f;
    const auto run = fields_of("r1", "SUCCESS");
    f.db->put_run(run, body_of(run), t1);

    auto first = f.db->find_run("r1");
    auto second = f.db->find_run("r1");
    REQUIRE(second);
    CHECK(second == first);  // the same bytes, shared, not copied
    CHECK(second->body == body_of(run));
    CHECK(f.observed->run_reads == 1);

    CHECK(f.db->find_run_by_job("job-r1") == first);
    CHECK(f.db->find_run_by_job("job-r1") == first);
    CHECK(f.observed->run_reads == 2);
}

TEST_CASE("memory cache: writes replace what is held") {
    cached_fixture f;
    auto run = fields_of("r1", "PENDING");
    f.db->put_run(run, body_of(run), t1);
    REQUIRE(f.db->find_run("r1")->fields.status == "PENDING");
    REQUIRE(f.db->find_run_by_job("job-r1")->fields.status == "PENDING");

    SUBCASE("put_run") {
        run.status = "SUCCESS";
        f.db->put_run(run, body_of(run), t2);
    }
    SUBCASE("put_runs") {
        run.status = "SUCCESS";
        f.db->put_runs({{run, body_of(run)}}, t2);
    }
    CHECK(f.db->find_run("r1")->fields.status == "SUCCESS");
    CHECK(f.db->find_run("r1")->body == body_of(run));
    CHECK(f.db->find_run("r1")->fetched_at == t2);
    CHECK(f.db->find_run_by_job("job-r1")->fields.status == "SUCCESS");
}

TEST_CASE("memory cache: an unchanged refresh keeps the held copy, confirmed as of its time") {
    cached_fixture f;
    const auto run = fields_of("r1", "PENDING");
    f.db->put_run(run, body_of(run), t1);
    REQUIRE(f.db->find_run("r1")->fetched_at == t1);
    REQUIRE(f.observed->run_reads == 1);

    auto outcomes = f.db->put_runs({{run, body_of(run)}}, t2);  // a list refresh, same bytes
    REQUIRE(outcomes.size() == 1);
    CHECK_FALSE(outcomes[0].changed);
    auto held = f.db->find_run("r1");
    CHECK(f.observed->run_reads == 1);  // still from memory
    CHECK(held->fetched_at == t2);      // freshness and Age see the refresh
    CHECK(held->body == body_of(run));
}

TEST_CASE("memory cache: by job follows the newest run of the job") {
    cached_fixture f;
    auto older = fields_of("r1", "ERROR", "job-x");
    older.created_at = "2024-01-01T00:00:00Z";
    f.db->put_run(older, body_of(older), t1);
    REQUIRE(f.db->find_run_by_job("job-x")->fields.id == "r1");

    auto retry = fields_of("r2", "SUCCESS", "job-x");
    retry.created_at = "2024-01-02T00:00:00Z";
    f.db->put_run(retry, body_of(retry), t2);
    CHECK(f.db->find_run_by_job("job-x")->fields.id == "r2");
}

TEST_CASE("memory cache: a tombstone is seen at once, and drops the list pages") {
    cached_fixture f;
    const auto run = fields_of("r1", "SUCCESS");
    f.db->put_run(run, body_of(run), t1);
    f.db->put_list_page("tenant", "k", "page", t1);
    REQUIRE_FALSE(f.db->find_run("r1")->deleted_at);
    REQUIRE(f.db->find_list_page("tenant", "k"));

    f.db->tombstone_run("r1", t2);
    CHECK(f.db->find_run("r1")->deleted_at == t2);
    CHECK(f.db->find_run_by_job("job-r1")->deleted_at == t2);
    CHECK_FALSE(f.db->find_list_page("tenant", "k"));
}

TEST_CASE("memory cache: list pages are replaced by writes and dropped with their tenant") {
    cached_fixture f;
    f.db->put_list_page("t1", "k", "first", t1);
    f.db->put_list_page("t2", "k", "other", t1);
    REQUIRE(f.db->find_list_page("t1", "k")->body == "first");
    REQUIRE(f.db->find_list_page("t2", "k")->body == "other");

    f.db->put_list_page("t1", "k", "second", t2);
    CHECK(f.db->find_list_page("t1", "k")->body == "second");

    f.db->revoke_tenant("t1");
    CHECK_FALSE(f.db->find_list_page("t1", "k"));
    CHECK(f.db->find_list_page("t2", "k")->body == "other");
}

memory_cache_options files_from_1k(std::size_t max_files = 256) {
    memory_cache_options o = small_cache();
    o.file_threshold_bytes = 1024;
    o.max_files = max_files;
    return o;
}

std::string large_page(char fill) {
    return "{\"items\":\"" + std::string(4000, fill) + "\"}";
}

TEST_CASE("memory cache: a large list page is held in a sealed file and served from it") {
    cached_fixture f(files_from_1k());
    f.db->put_list_page("t1", "k", large_page('a'), t1);
    f.db->put_list_page("t1", "small", "{}", t1);

    auto first = f.db->find_list_page("t1", "k");
    REQUIRE(first);
    REQUIRE(first->file);
    CHECK(first->body.empty());
    CHECK(first->text() == large_page('a'));
    CHECK(first->fetched_at == t1);
    CHECK(f.db->find_list_page("t1", "k") == first);  // held: the same file, no store read
    CHECK(f.observed->page_reads == 1);

    auto small = f.db->find_list_page("t1", "small");
    CHECK_FALSE(small->file);
    CHECK(small->body == "{}");

    f.db->put_list_page("t1", "k", large_page('b'), t2);
    auto replaced = f.db->find_list_page("t1", "k");
    REQUIRE(replaced->file);
    CHECK(replaced->text() == large_page('b'));
    CHECK(first->text() == large_page('a'));  // an answer still being sent keeps its bytes
}

TEST_CASE("memory cache: past max_files large pages stay on the heap; a dropped file frees one") {
    cached_fixture f(files_from_1k(1));
    f.db->put_list_page("t1", "k1", large_page('a'), t1);
    f.db->put_list_page("t1", "k2", large_page('b'), t1);
    REQUIRE(f.db->find_list_page("t1", "k1")->file);
    auto heap = f.db->find_list_page("t1", "k2");
    CHECK_FALSE(heap->file);
    CHECK(heap->body == large_page('b'));
    CHECK(f.db->find_list_page("t1", "k2") == heap);  // held all the same
    CHECK(f.observed->page_reads == 2);

    f.db->put_list_page("t1", "k1", large_page('c'), t2);  // drops the one file held
    auto again = f.db->find_list_page("t1", "k1");
    REQUIRE(again->file);
    CHECK(again->text() == large_page('c'));
}

TEST_CASE("memory cache: a grant costs one store read, and a revoke ends it") {
    cached_fixture f;
    CHECK_FALSE(f.db->has_grant("t1", "proj-1"));
    f.db->grant("t1", {"proj-1"});
    CHECK(f.db->has_grant("t1", "proj-1"));
    CHECK(f.db->has_grant("t1", "proj-1"));
    CHECK(f.observed->grant_reads == 2);  // the refusal and the first yes
    CHECK(f.db->has_any_grant("t1"));

    f.db->revoke_tenant("t1");
    CHECK_FALSE(f.db->has_grant("t1", "proj-1"));
    CHECK_FALSE(f.db->has_any_grant("t1"));
}

TEST_CASE("memory cache: a read that crossed a write is not kept") {
    cached_fixture f;
    auto run = fields_of("r1", "PENDING");
    f.db->put_run(run, body_of(run), t1);
    // The read gets PENDING from SQLite; before it returns, a write stores SUCCESS.
    f.observed->after_read = [&] {
        run.status = "SUCCESS";
        f.db->put_run(run, body_of(run), t2);
    };
    CHECK(f.db->find_run("r1")->fields.status == "PENDING");  // what that read saw
    CHECK(f.db->find_run("r1")->fields.status == "SUCCESS");  // never the stale copy again
}

TEST_CASE("memory cache: another process's writes are noticed") {
    temp_dir dir;
    auto cached = with_memory_cache(open_sqlite_store(dir.file("runs.db")), small_cache());
    auto other = open_sqlite_store(dir.file("runs.db"));  // its own connection, as mirror has
    auto run = fields_of("r1", "PENDING");
    cached->put_run(run, body_of(run), t1);
    REQUIRE(cached->find_run("r1")->fields.status == "PENDING");

    run.status = "SUCCESS";
    other->put_run(run, body_of(run), t2);
    CHECK(cached->find_run("r1")->fields.status == "SUCCESS");
}

// 100 runs of about 4 KB (against a 64 KiB budget), each read twice in turn: read twice, a run
// is worth keeping once the budget is full.
void put_and_read_100_runs(cached_fixture& f) {
    const std::string filler(4000, 'x');
    for (int i = 0; i < 100; ++i) {
        auto run = fields_of("r" + std::to_string(i), "SUCCESS");
        f.db->put_run(run, R"({"pad":")" + filler + R"(","id":")" + run.id + "\"}", t1);
        REQUIRE(f.db->find_run(run.id));
        REQUIRE(f.db->find_run(run.id));
    }
}

TEST_CASE("memory cache: holds no more than its budget, and evicted runs still read right") {
    cached_fixture f;
    put_and_read_100_runs(f);
    const int reads = f.observed->run_reads;
    CHECK(f.db->find_run("r99"));  // recent: held
    CHECK(f.observed->run_reads == reads);
    auto first = f.db->find_run("r0");  // long evicted: read again
    REQUIRE(first);
    CHECK(first->body.ends_with(R"("id":"r0"})"));
    CHECK(f.observed->run_reads == reads + 1);
}

TEST_CASE("memory cache: once full, runs read only once do not push out those held") {
    cached_fixture f;
    put_and_read_100_runs(f);
    // Reads of 50 runs no longer held, once each, as random reads over a large store are.
    for (int i = 0; i < 50; ++i)
        REQUIRE(f.db->find_run("r" + std::to_string(i)));
    int reads = f.observed->run_reads;
    for (int i = 90; i < 100; ++i)
        CHECK(f.db->find_run("r" + std::to_string(i)));  // still held
    CHECK(f.observed->run_reads == reads);

    SUBCASE("a run read a second time soon after is kept") {
        REQUIRE(f.db->find_run("r49"));
        CHECK(f.observed->run_reads == reads + 1);
        CHECK(f.db->find_run("r49"));
        CHECK(f.observed->run_reads == reads + 1);
    }
    SUBCASE("so is a run read twice by its job") {
        REQUIRE(f.db->find_run_by_job("job-r48"));
        REQUIRE(f.db->find_run_by_job("job-r48"));
        reads = f.observed->run_reads;
        CHECK(f.db->find_run_by_job("job-r48")->fields.id == "r48");
        CHECK(f.db->find_run("r48"));
        CHECK(f.observed->run_reads == reads);
    }
}

TEST_CASE("memory cache: while the budget has room, a run read once is kept") {
    cached_fixture f;
    const auto run = fields_of("r1", "SUCCESS");
    f.db->put_run(run, body_of(run), t1);
    REQUIRE(f.db->find_run_by_job("job-r1"));
    REQUIRE(f.db->find_run("r1"));
    CHECK(f.observed->run_reads == 1);
}
