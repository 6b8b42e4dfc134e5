// The PostgreSQL store's own pieces (URIs, search terms, errors), and the conformance cases
// that open one store several times at once, as several daemons (or serve and mirror) do.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/pg_db.hpp"
#include "store/pg_migrations.hpp"
#include "store/search_terms.hpp"
#include "support/store_fixtures.hpp"
#include "util/utf8.hpp"

using namespace runmirror;
using runmirror::testing::shared_test_store;
using runmirror::testing::temp_dir;
using runmirror::testing::test_pg_uri;

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);

run_fields run_named(const std::string& id, const std::string& status = "PENDING") {
    run_fields f;
    f.id = id;
    f.project_id = "proj-1";
    f.extraction_agent_id = "agent-1";
    f.job_id = "job-" + id;
    f.status = status;
    f.created_at = "2025-01-01T00:00:00Z";
    return f;
}

std::string body_of(const run_fields& f) {
    return R"({"id":")" + f.id + R"(","status":")" + f.status + R"(","data":{"n":1}})";
}

int latest_version() {
    return test_pg_uri() ? embedded_postgres_migrations().back().version
                         : embedded_migrations().back().version;
}

}  // namespace

TEST_CASE("open_store: postgresql:// and postgres:// URIs are PostgreSQL, anything else SQLite") {
    CHECK(is_postgres_uri("postgresql://localhost/runmirror"));
    CHECK(is_postgres_uri("postgres://user@db.internal:5433/mirror?sslmode=require"));
    CHECK_FALSE(is_postgres_uri("/var/lib/runmirror/runmirror.db"));
    CHECK_FALSE(is_postgres_uri("postgresql.db"));
    CHECK_FALSE(is_postgres_uri(":memory:"));

    temp_dir dir;
    auto s = open_store(dir.file("runs.db"));
    s->put_run(run_named("r1"), body_of(run_named("r1")), t0);
    CHECK(std::filesystem::exists(dir.file("runs.db")));
    CHECK(open_store(dir.file("runs.db"))->find_run("r1"));
}

TEST_CASE("postgres store: a URI's password never shows in a message") {
    CHECK(store_display_name("postgresql://mirror:s3cret@db:5432/runmirror") ==
          "postgresql://mirror:***@db:5432/runmirror");
    CHECK(store_display_name("postgresql://mirror@db/runmirror") ==
          "postgresql://mirror@db/runmirror");
    CHECK(store_display_name("postgres://db/runmirror?sslmode=require&password=s3cret") ==
          "postgres://db/runmirror?sslmode=require&password=***");
    CHECK(store_display_name("/var/lib/run:mirror@x/runmirror.db") ==
          "/var/lib/run:mirror@x/runmirror.db");
    CHECK(store_display_name("postgresql://db/runmirror?options=a:b@c") ==
          "postgresql://db/runmirror?options=a:b@c");
}

TEST_CASE("postgres store: a server that cannot be reached is one line naming the URI") {
    try {
        open_store("postgresql://mirror:s3cret@%2Fnonexistent-runmirror-socket-dir/runmirror");
        FAIL("expected store_error");
    } catch (const store_error& e) {
        const std::string message = e.what();
        CHECK(message.starts_with(
            "store 'postgresql://mirror:***@%2Fnonexistent-runmirror-socket-dir/runmirror': cannot "
            "connect: "));
        CHECK(message.find("s3cret") == std::string::npos);
        CHECK(message.find('\n') == std::string::npos);
    }
    CHECK_THROWS_WITH_AS(open_postgres_store("/var/lib/runmirror.db"),
                         "store '/var/lib/runmirror.db': not a PostgreSQL URI (postgresql://...)",
                         store_error);
}

TEST_CASE("postgres text: any bytes round-trip; valid UTF-8 without NUL is stored as it is") {
    CHECK_FALSE(pg::text_needs_encoding("plain ascii"));
    CHECK_FALSE(pg::text_needs_encoding("Z\xC3\xBCrich \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80"));
    CHECK(pg::encode_text("Z\xC3\xBCrich") == "Z\xC3\xBCrich");
    // A stray byte, a NUL, a cut sequence, a surrogate: each byte one code point U+10FExx.
    CHECK(pg::encode_text("a\xFF"
                          "b") ==
          "a\xF4\x8F\xBB\xBF"
          "b");
    CHECK(pg::encode_text(std::string("a\0b", 3)) ==
          "a\xF4\x8F\xB8\x80"
          "b");
    CHECK(pg::encode_text("\xE6\x9D") == "\xF4\x8F\xBB\xA6\xF4\x8F\xBA\x9D");
    CHECK(pg::text_needs_encoding("\xED\xA0\x80"));
    // A real U+10FE41 is escaped too, byte by byte, so decoding never mistakes it.
    CHECK(pg::text_needs_encoding("\xF4\x8F\xB9\x81"));
    CHECK(pg::decode_text(pg::encode_text("\xF4\x8F\xB9\x81")) == "\xF4\x8F\xB9\x81");
    std::string every_byte;
    for (int b = 0; b < 256; ++b)
        every_byte += static_cast<char>(b);
    CHECK(pg::decode_text(pg::encode_text(every_byte)) == every_byte);
    std::uint32_t seed = 12345;
    for (int round = 0; round < 2000; ++round) {
        std::string bytes;
        for (int i = 0; i < round % 23; ++i) {
            seed = seed * 1664525u + 1013904223u;
            // Mostly bytes that start or continue UTF-8 sequences, to hit the edges.
            bytes += static_cast<char>(seed % 3 == 0 ? 0x80 + (seed >> 8) % 0x80 : (seed >> 8));
        }
        const std::string encoded = pg::encode_text(bytes);
        REQUIRE(pg::decode_text(encoded) == bytes);
        REQUIRE(is_valid_utf8(encoded));  // what PostgreSQL's text takes
        REQUIRE(encoded.find('\0') == std::string::npos);
    }
}

TEST_CASE("search terms: FTS5's tokens, file name and data apart, each word a phrase prefix") {
    CHECK(search_document("Invoice-2024.pdf", "Zürich ACME-Corp 東京 4711") ==
          " invoice 2024 pdf | zurich acme corp 東京 4711");
    CHECK(search_document("", "") == " |");

    using patterns = std::vector<std::string>;
    CHECK_FALSE(search_patterns(""));
    CHECK_FALSE(search_patterns(" \t "));
    CHECK(search_patterns("glob") == patterns{"% glob%"});
    CHECK(search_patterns("GLOBEX corp") == patterns{"% globex%", "% corp%"});
    CHECK(search_patterns("ACME-Corp") == patterns{"% acme corp%"});
    CHECK(search_patterns("Zürich") == patterns{"% zurich%"});
    // User text is never syntax: quotes and operators are separators or words.
    CHECK(search_patterns("\"hi\" %_") == patterns{"% hi%"});
    // Punctuation alone is dropped; other symbols alone (no token) likewise, as FTS5 ignores a
    // phrase of no token; nothing left matches nothing.
    CHECK(search_patterns("- & ;") == patterns{});
    CHECK(search_patterns("€") == patterns{});
    CHECK(search_patterns("x €") == patterns{"% x%"});
}

TEST_CASE("store: another store object's writes are external changes, its own are not" *
          doctest::test_suite("store")) {
    temp_dir dir;
    const std::string target = shared_test_store(dir);
    auto a = open_store(target);
    auto b = open_store(target);
    const std::int64_t a_before = a->external_change_count();
    const std::int64_t b_before = b->external_change_count();

    const run_fields r = run_named("r1");
    a->put_run(r, body_of(r), t0);
    a->grant("tenant", {"proj-1"});
    CHECK(a->external_change_count() == a_before);
    const std::int64_t b_after = b->external_change_count();
    CHECK(b_after != b_before);
    CHECK(b->find_run("r1")->body == body_of(r));
    CHECK(b->has_grant("tenant", "proj-1"));
    // Unchanged until the next write by another.
    CHECK(b->external_change_count() == b_after);
    b->tombstone_run("r1", t0);
    CHECK(b->external_change_count() == b_after);
    CHECK(a->external_change_count() != a_before);
    CHECK(a->find_run("r1")->deleted_at);
}

TEST_CASE("store: concurrent writers through several store objects keep one watch per run" *
          doctest::test_suite("store")) {
    temp_dir dir;
    const std::string target = shared_test_store(dir);
    constexpr int writers = 4;
    constexpr int runs = 20;
    std::vector<std::unique_ptr<store>> stores;
    for (int i = 0; i < writers; ++i)
        stores.push_back(open_store(target));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            try {
                for (int i = 0; i < runs; ++i) {
                    // Each writer meets the others on every run: by run id, and by job id.
                    const run_fields r = run_named("run-" + std::to_string((i + w) % runs));
                    stores[w]->put_run(r, body_of(r), t0);
                    if (w % 2 == 0) {
                        stores[w]->watch_job(r.job_id, r.extraction_agent_id,
                                             "tenant-" + std::to_string(w), t0, t0);
                    }
                    stores[w]->watch_run(r, "tenant-" + std::to_string(w), t0, t0);
                }
            } catch (const std::exception& e) {
                MESSAGE(e.what());
                ++failures;
            }
        });
    }
    for (std::thread& t : threads)
        t.join();
    CHECK(failures == 0);
    const std::vector<watch> all = stores[0]->list_watches(watch_listing::all, 1000);
    CHECK(all.size() == runs);
    for (const watch& w : all) {
        CHECK(w.kind == watch_kind::run);
        CHECK(w.job_id == "job-" + w.run_id);
    }
}

TEST_CASE("store: several opening a new store at once create it once" *
          doctest::test_suite("store")) {
    temp_dir dir;
    const std::string target = shared_test_store(dir);
    constexpr int openers = 4;
    std::vector<std::unique_ptr<store>> stores(openers);
    std::vector<std::string> errors(openers);
    std::vector<std::thread> threads;
    for (int i = 0; i < openers; ++i) {
        threads.emplace_back([&, i] {
            try {
                stores[i] = open_store(target);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (std::thread& t : threads)
        t.join();
    for (int i = 0; i < openers; ++i) {
        CHECK(errors[i] == "");
        REQUIRE(stores[i]);
        CHECK(stores[i]->schema_version() == latest_version());
    }
    const run_fields r = run_named("r1");
    stores[0]->put_run(r, body_of(r), t0);
    CHECK(stores[openers - 1]->find_run("r1"));
}

// PostgreSQL only (test suite "postgres", run by ctest store_conformance_postgres): what
// happens to a daemon's connections when the server ends them.
TEST_CASE("postgres store: failed writes mark it unwritable, and it reconnects by itself" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    auto s = runmirror::testing::open_test_store();
    const std::string uri = *test_pg_uri();
    pg::connection admin(uri, "admin");
    const std::string database = admin.query("SELECT current_database()").text(0, 0);
    // Every other connection to the database ends, as when the server restarts.
    auto end_connections = [&] {
        admin.exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    };
    struct read_only_database {
        pg::connection& admin;
        std::string name;
        read_only_database(pg::connection& a, std::string n) : admin(a), name(std::move(n)) {
            admin.exec("ALTER DATABASE \"" + name + "\" SET default_transaction_read_only = on");
        }
        ~read_only_database() {
            admin.exec("ALTER DATABASE \"" + name + "\" RESET default_transaction_read_only");
        }
    };

    const run_fields r1 = run_named("r1"), r2 = run_named("r2");
    s->put_run(r1, body_of(r1), t0);
    CHECK(s->write_health().writable);
    {
        // The pooled connections are gone; the new ones cannot write (a standby, a full disk).
        read_only_database read_only(admin, database);
        end_connections();
        CHECK_THROWS_AS(s->put_run(r2, body_of(r2), t0), store_error);
        const store_write_health health = s->write_health();
        CHECK_FALSE(health.writable);
        CHECK(health.failed_writes == 1);
        CHECK(health.last_error.find("read-only transaction") != std::string::npos);
        // Reads go on.
        CHECK(s->find_run("r1"));
    }
    end_connections();
    // The next write reconnects and commits: the episode ends.
    s->put_run(r2, body_of(r2), t0);
    CHECK(s->write_health().writable);
    CHECK(s->find_run("r2"));
    // A read on a pooled connection the server ended is made again on a new one.
    end_connections();
    CHECK(s->find_run("r1"));
}

TEST_CASE("postgres store: a database newer than the binary is refused and left alone" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    runmirror::testing::open_test_store().reset();
    const std::string uri = *test_pg_uri();
    const int known = embedded_postgres_migrations().back().version;
    {
        pg::connection admin(uri, "admin");
        admin.query("INSERT INTO schema_version (version, name) VALUES ($1, 'from the future')",
                    pg::params().int64(known + 1));
    }
    CHECK_THROWS_WITH_AS(
        open_postgres_store(uri),
        ("store '" + uri + "' has schema version " + std::to_string(known + 1) +
         ", newer than this runmirror knows (" + std::to_string(known) + "); refusing to open it")
            .c_str(),
        store_error);
    pg::connection admin(uri, "admin");
    CHECK(admin.query("SELECT count(*) FROM schema_version").int64(0, 0) == known + 1);
}

TEST_CASE("store: counts by kind and watch state, and used bytes that grow with what is stored" *
          doctest::test_suite("store")) {
    runmirror::testing::on_each_store([](store& s) {
        const run_fields r1 = run_named("r1");
        const run_fields r2 = run_named("r2", "SUCCESS");
        run_fields j1 = run_named("j1");
        j1.kind = &kinds::v2_job;
        s.put_runs({{r1, body_of(r1)}, {r2, body_of(r2)}, {j1, body_of(j1)}}, t0);
        s.tombstone_run("gone", t0);  // a bodiless row: not counted

        const time_point soon = t0 + std::chrono::seconds(5);
        const time_point later = t0 + std::chrono::seconds(9);
        REQUIRE(s.watch_run(r1, "tenant", t0, later));
        REQUIRE(s.watch_run(j1, "tenant", t0, soon));
        s.watch_job("job-unknown", "agent-1", "tenant", t0, later);  // a v1 run's, by its job
        const std::optional<watch_id> ended = s.watch_run(r2, "tenant", t0, t0);
        REQUIRE(ended);
        REQUIRE(s.finish_watch(*ended, "SUCCESS", t0));

        const store_counts c = s.counts();
        using by_kind = std::vector<std::pair<std::string, std::int64_t>>;
        CHECK(c.rows_by_kind == by_kind{{"run", 2}, {"v2_job", 1}});
        using by_state = std::vector<std::tuple<std::string, std::string, std::int64_t>>;
        CHECK(c.watches ==
              by_state{{"run", "active", 2}, {"run", "finished", 1}, {"v2_job", "active", 1}});
        REQUIRE(c.earliest_due);
        CHECK(*c.earliest_due == soon);
        CHECK(c.file_bytes > 0);

        // Bodies that do not compress much: 400 runs of about 4 KB each.
        const std::int64_t before = s.used_bytes();
        CHECK(before > 0);
        std::uint32_t seed = 7;
        std::vector<std::pair<run_fields, std::string>> many;
        for (int i = 0; i < 400; ++i) {
            run_fields f = run_named("bulk-" + std::to_string(i), "SUCCESS");
            std::string noise;
            for (int k = 0; k < 4000; ++k) {
                seed = seed * 1664525u + 1013904223u;
                noise += static_cast<char>('a' + (seed >> 24) % 26);
            }
            many.emplace_back(f, R"({"id":")" + f.id + R"(","data":{"noise":")" + noise + "\"}}");
        }
        std::vector<std::pair<run_fields, std::string_view>> views(many.begin(), many.end());
        s.put_runs(views, t0);
        CHECK(s.used_bytes() > before + 400 * 2000);
    });
}

// --- leases: several daemons on one store poll each due watch once (issue 16) -----------------

namespace {

constexpr millis test_lease{10'000};

// Two store objects on one fresh database, as two daemons would open it.
struct two_daemons {
    temp_dir dir;
    std::string uri = shared_test_store(dir);
    std::unique_ptr<store> a = open_postgres_store(uri, {.watch_lease = test_lease});
    std::unique_ptr<store> b = open_postgres_store(uri, {.watch_lease = test_lease});

    watch_id watched(const std::string& id) {
        const run_fields r = run_named(id);
        a->put_run(r, body_of(r), t0);
        return *a->watch_run(r, "tenant", t0, t0);
    }
};

std::vector<watch_id> ids_of(const std::vector<watch>& watches) {
    std::vector<watch_id> out;
    for (const watch& w : watches)
        out.push_back(w.id);
    return out;
}

// What a sync worker does: the due watches (at most |limit|), then a claim of them; the ones
// claimed, soonest first.
std::vector<watch> claim_due(store& s, time_point now, std::size_t limit) {
    std::vector<watch> due = s.due_watches(now, limit, tenant_filter::any());
    const std::vector<watch_id> got = s.claim_watches(ids_of(due), now);
    std::erase_if(
        due, [&](const watch& w) { return std::find(got.begin(), got.end(), w.id) == got.end(); });
    return due;
}

// The claim columns of watch |id|: "owner|until", or "|" when unclaimed.
std::string claim_of(const std::string& uri, watch_id id) {
    pg::connection db(uri, "claims");
    const pg::result r = db.query(
        "SELECT coalesce(claimed_by, ''), coalesce(claimed_until::text, '') FROM watches"
        " WHERE id = $1",
        pg::params().int64(id));
    return r.text(0, 0) + "|" + r.text(0, 1);
}

}  // namespace

TEST_CASE("postgres store: a due watch is given to one store object until it reschedules it" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id w1 = d.watched("r1");
    const watch_id w2 = d.watched("r2");
    const tenant_filter any = tenant_filter::any();

    CHECK(ids_of(claim_due(*d.a, t0, 10)) == std::vector<watch_id>{w1, w2});
    CHECK(claim_due(*d.b, t0, 10).empty());
    CHECK(claim_due(*d.b, t0 + test_lease - millis(1), 10).empty());
    // Its own claims stay A's: the worker keeps those in flight apart.
    CHECK(ids_of(claim_due(*d.a, t0, 10)) == std::vector<watch_id>{w1, w2});
    // B does not wake for what A holds; A does.
    CHECK(d.a->next_due_time(any) == t0);
    CHECK(d.b->next_due_time(any) == t0 + test_lease);

    // A polled w1: it is B's as much as A's when next due.
    CHECK(d.a->reschedule_watch(w1, {t0 + millis(5'000), 1, "PENDING", {}}, t0 + millis(1'000)));
    CHECK(claim_of(d.uri, w1) == "|");
    CHECK(d.b->next_due_time(any) == t0 + millis(5'000));
    CHECK(claim_due(*d.b, t0 + millis(4'999), 10).empty());
    CHECK(ids_of(claim_due(*d.b, t0 + millis(5'000), 10)) == std::vector<watch_id>{w1});
    CHECK(claim_due(*d.a, t0 + millis(5'000), 10).size() == 1);  // w2 only: w1 is B's
    CHECK(claim_due(*d.a, t0 + millis(5'000), 10).front().id == w2);
}

TEST_CASE("postgres store: due_watches claims nothing; a claim takes only what is still due" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id w1 = d.watched("r1");
    const watch_id w2 = d.watched("r2");
    const tenant_filter any = tenant_filter::any();
    // Both see both due: neither holds anything yet.
    CHECK(ids_of(d.a->due_watches(t0, 10, any)) == std::vector<watch_id>{w1, w2});
    CHECK(ids_of(d.b->due_watches(t0, 10, any)) == std::vector<watch_id>{w1, w2});
    CHECK(claim_of(d.uri, w1) == "|");

    // B claims w1 and polls it; A, which scanned before, claims both: it gets w2 only.
    REQUIRE(d.b->claim_watches({w1}, t0) == std::vector<watch_id>{w1});
    CHECK(d.a->claim_watches({w1, w2}, t0) == std::vector<watch_id>{w2});
    // B's poll answered: w1 is due again later, so a claim from a scan before then fails too.
    REQUIRE(d.b->reschedule_watch(w1, {t0 + millis(5'000), 1, "PENDING", {}}, t0));
    CHECK(d.a->claim_watches({w1}, t0).empty());
    CHECK(d.a->claim_watches({w1}, t0 + millis(5'000)) == std::vector<watch_id>{w1});
}

TEST_CASE("postgres store: a claim never released ends with its lease" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id w1 = d.watched("r1");
    const watch_id w2 = d.watched("r2");
    const tenant_filter any = tenant_filter::any();
    REQUIRE(claim_due(*d.a, t0, 10).size() == 2);
    d.a.reset();  // its daemon died mid-poll: nothing is rescheduled

    CHECK(claim_due(*d.b, t0 + test_lease - millis(1), 10).empty());
    CHECK(ids_of(claim_due(*d.b, t0 + test_lease, 10)) == std::vector<watch_id>{w1, w2});
    // B's claim now, from B's |now|.
    CHECK(claim_of(d.uri, w1).ends_with("|" + std::to_string(to_unix_ms(t0 + 2 * test_lease))));
}

TEST_CASE("postgres store: a stopping daemon's claims are released, nobody else's" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id w1 = d.watched("r1");
    const watch_id w2 = d.watched("r2");
    const tenant_filter any = tenant_filter::any();
    REQUIRE(ids_of(claim_due(*d.a, t0, 1)) == std::vector<watch_id>{w1});
    REQUIRE(ids_of(claim_due(*d.b, t0, 10)) == std::vector<watch_id>{w2});
    d.a->release_claims();

    CHECK(claim_of(d.uri, w1) == "|");
    CHECK(claim_of(d.uri, w2) != "|");
    // B takes A's watch at once, not one lease later; its own stays its own.
    CHECK(ids_of(claim_due(*d.b, t0, 10)) == std::vector<watch_id>{w1, w2});
    CHECK(claim_due(*d.a, t0, 10).empty());
}

TEST_CASE("postgres store: finishing or giving up a watch releases its claim" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id w1 = d.watched("r1");
    const watch_id w2 = d.watched("r2");
    const watch_id w3 = d.watched("r3");
    const tenant_filter any = tenant_filter::any();
    REQUIRE(claim_due(*d.a, t0, 10).size() == 3);
    CHECK(claim_of(d.uri, w1) != "|");

    CHECK(d.a->finish_watch(w1, "SUCCESS", t0 + millis(1)));
    CHECK(d.a->give_up_watch(w2, "too old", t0 + millis(1)));
    d.a->tombstone_run("r3", t0 + millis(1));  // a 404 from the poll
    CHECK(claim_of(d.uri, w1) == "|");
    CHECK(claim_of(d.uri, w2) == "|");
    CHECK(claim_of(d.uri, w3) == "|");
    // Watched again, it starts over unclaimed: B may have it at once.
    d.b->watch_run(run_named("r1"), "tenant", t0 + millis(2), t0 + millis(2));
    CHECK(ids_of(claim_due(*d.b, t0 + millis(2), 10)) == std::vector<watch_id>{w1});
}

TEST_CASE("postgres store: a job watch that found its run stays claimed for the rest of its poll" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    two_daemons d;
    const watch_id job = d.a->watch_job("job-r1", "agent-1", "tenant", t0, t0);
    const tenant_filter any = tenant_filter::any();
    REQUIRE(claim_due(*d.a, t0, 10).size() == 1);
    CHECK(d.a->job_watch_found_run(job, "r1", "proj-1", t0));
    // Between this and its reschedule, B must not poll it as well.
    CHECK(claim_due(*d.b, t0, 10).empty());
    CHECK(d.a->reschedule_watch(job, {t0 + millis(100), 0, "PENDING", {}}, t0));
    CHECK(ids_of(claim_due(*d.b, t0 + millis(100), 10)) == std::vector<watch_id>{job});
}

TEST_CASE("postgres store: concurrent due_watches never give one watch to two store objects" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    temp_dir dir;
    const std::string uri = shared_test_store(dir);
    constexpr int daemons = 3;
    constexpr int watches = 150;
    constexpr int rounds = 4;
    std::vector<std::unique_ptr<store>> stores;
    for (int i = 0; i < daemons; ++i)
        stores.push_back(open_postgres_store(uri, {.watch_lease = millis(60'000)}));
    for (int i = 0; i < watches; ++i) {
        const run_fields r = run_named("run-" + std::to_string(i));
        stores[0]->put_run(r, body_of(r), t0);
        stores[0]->watch_run(r, "tenant", t0, t0);
    }

    // Each round, every daemon takes small batches and reschedules each watch it got to the
    // next round, as a worker answering its polls would: in a round, each watch is given once.
    std::mutex mutex;
    std::map<std::pair<int, watch_id>, int> given;  // (round, watch) -> times given
    std::atomic<int> failures{0};
    for (int round = 0; round < rounds; ++round) {
        const time_point now = t0 + millis(1'000) * round;
        std::vector<std::thread> threads;
        for (int i = 0; i < daemons; ++i) {
            threads.emplace_back([&, i] {
                try {
                    for (;;) {
                        const std::vector<watch> due = claim_due(*stores[i], now, 7);
                        if (due.empty()) break;
                        for (const watch& w : due) {
                            {
                                std::lock_guard lock(mutex);
                                ++given[{round, w.id}];
                            }
                            stores[i]->reschedule_watch(
                                w.id, {now + millis(1'000), 0, "PENDING", {}}, now);
                        }
                    }
                } catch (const std::exception& e) {
                    MESSAGE(e.what());
                    ++failures;
                }
            });
        }
        for (std::thread& t : threads)
            t.join();
    }
    CHECK(failures == 0);
    CHECK(given.size() == static_cast<std::size_t>(watches * rounds));
    int twice = 0;
    for (const auto& [key, times] : given)
        twice += times > 1 ? 1 : 0;
    CHECK(twice == 0);
}

TEST_CASE("postgres store: a store of schema version 1 is upgraded; its watches start unclaimed" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    temp_dir dir;
    const std::string uri = shared_test_store(dir);
    {
        pg::connection db(uri, "old binary");
        apply_pg_migrations(db, embedded_postgres_migrations().first(1));
        db.exec(
            "INSERT INTO watches (kind, run_id, tenant, created_at, next_poll_at, updated_at)"
            " VALUES ('run', 'r1', 'tenant', 0, 0, 0)");
    }
    auto a = open_postgres_store(uri, {.watch_lease = test_lease});
    auto b = open_postgres_store(uri, {.watch_lease = test_lease});
    CHECK(a->schema_version() == 2);
    CHECK(claim_due(*a, t0, 10).size() == 1);
    CHECK(claim_due(*b, t0, 10).empty());
}
