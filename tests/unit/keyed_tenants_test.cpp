// The store and keyed tenants: migration 009 converts the tenants of an older store in place,
// and a store refuses a secret other than the one its tenants were made with.

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/store_fixtures.hpp"
#include "support/tenant_fixtures.hpp"
#include "util/tenant.hpp"

using namespace runmirror;
using runmirror::testing::open_test_store;
using runmirror::testing::scoped_tenant_secret;
using runmirror::testing::temp_dir;

namespace {

// hashlib.sha256(key).hexdigest(): the tenants of a store before schema 009.
const std::string old_tenant_a = "f10f781241e2246678b6b45c857069208152a53863e47fac33f607ab405006f4";
const std::string old_tenant_b = "a30534a53b23547377ddccbd1ac85a8a84c13db43493c16e55a6abc7b0eba634";

// A store at schema 008 holding grants, a list page and watches of key-a and key-b, and one
// watch with a tenant no key could have given.
void migrate_to_008(sqlite::database& db) {
    // 004 names functions the store defines; with no run to convert, they are never called.
    auto never = [](sqlite::value_view) -> sqlite::value { return {}; };
    db.define_function("runmirror_pack_body", never);
    db.define_function("runmirror_search_data", never);
    apply_migrations(db, embedded_migrations().first(8));
}

void write_old_store(const std::string& path) {
    sqlite::database db(path);
    migrate_to_008(db);
    db.exec("INSERT INTO grants (tenant, project_id, granted_at) VALUES ('" + old_tenant_a +
            "', 'proj-1', 1), ('" + old_tenant_a + "', 'proj-2', 1), ('" + old_tenant_b +
            "', 'proj-3', 1);"
            "INSERT INTO list_pages (tenant, key, body, fetched_at) VALUES ('" +
            old_tenant_a +
            "', 'extraction_agent_id=ag&limit=50', '[\"page of a\"]', 1);"
            "INSERT INTO watches (kind, run_id, job_id, tenant, created_at, next_poll_at,"
            " updated_at) VALUES ('run', 'run-b', 'job-b', '" +
            old_tenant_b +
            "', 1, 1, 1),"
            " ('run', 'run-odd', NULL, 'not-a-digest', 1, 1, 1)");
}

std::int64_t count(const std::string& path, const std::string& sql) {
    sqlite::database db(path);
    sqlite::statement_use s(db, sql);
    REQUIRE(s->step());
    return s->column_int64(0);
}

std::string tenant_of_watch(store& s, const std::string& run_id) {
    for (const watch& w : s.list_watches(watch_listing::all, 100))
        if (w.run_id == run_id) return w.tenant;
    return "(none)";
}

}  // namespace

TEST_CASE("keyed tenants: 009 converts an older store's tenants, which then match the keys") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    write_old_store(path);
    // Before: the old tenants match nothing the keys give now.
    CHECK(tenant_of_key("key-a") != old_tenant_a);

    auto s = open_sqlite_store(path);
    CHECK(s->schema_version() == embedded_migrations().back().version);

    // Grants still belong to the same key, and only to it.
    CHECK(s->has_grant(tenant_of_key("key-a"), "proj-1"));
    CHECK(s->has_grant(tenant_of_key("key-a"), "proj-2"));
    CHECK_FALSE(s->has_grant(tenant_of_key("key-a"), "proj-3"));
    CHECK(s->has_grant(tenant_of_key("key-b"), "proj-3"));
    CHECK_FALSE(s->has_grant(old_tenant_a, "proj-1"));
    CHECK_FALSE(s->has_grant(tenant_of_key("key-c"), "proj-1"));

    // The list page (its primary key holds the tenant) is found by the new tenant.
    auto page = s->find_list_page(tenant_of_key("key-a"), "extraction_agent_id=ag&limit=50");
    REQUIRE(page != nullptr);
    CHECK(page->body == "[\"page of a\"]");
    CHECK(s->find_list_page(old_tenant_a, "extraction_agent_id=ag&limit=50") == nullptr);

    // Watches: polled with the key of the converted tenant; an odd value is left as it was.
    CHECK(tenant_of_watch(*s, "run-b") == tenant_of_key("key-b"));
    CHECK(tenant_of_watch(*s, "run-odd") == "not-a-digest");
    s.reset();

    // No old digest is left anywhere.
    for (const std::string& old : {old_tenant_a, old_tenant_b}) {
        CAPTURE(old);
        CHECK(count(path, "SELECT (SELECT count(*) FROM grants WHERE tenant = '" + old +
                              "') + (SELECT count(*) FROM list_pages WHERE tenant = '" + old +
                              "') + (SELECT count(*) FROM watches WHERE tenant = '" + old + "')") ==
              0);
    }
    // Nor in the file's free space: every page checkpointed into the file, WAL gone.
    {
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        CHECK(bytes.find(tenant_of_key("key-a")) != std::string::npos);  // it looks where they are
        CHECK(bytes.find(old_tenant_a) == std::string::npos);
        CHECK(bytes.find(old_tenant_b) == std::string::npos);
    }
    // And the store knows which secret made them.
    CHECK(count(path, "SELECT count(*) FROM tenant_secret WHERE check_value = '" +
                          tenant_secret_check() + "'") == 1);
}

TEST_CASE("keyed tenants: converting needs the secret; without one the store is not opened") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    write_old_store(path);
    {
        scoped_tenant_secret none;
        CHECK_THROWS_WITH_AS(open_sqlite_store(path),
                             doctest::Contains("runmirror serve` (or `runmirror mirror`)"),
                             store_error);
    }
    CHECK(count(path, "PRAGMA user_version") == 8);  // rolled back, whole
    CHECK(count(path, "SELECT count(*) FROM grants WHERE tenant = '" + old_tenant_a + "'") == 2);

    // A store without tenants needs no secret to upgrade (runs list before serve ever ran).
    const std::string empty = dir.file("empty.db");
    {
        sqlite::database db(empty);
        migrate_to_008(db);
    }
    {
        scoped_tenant_secret none;
        CHECK(open_sqlite_store(empty)->schema_version() == embedded_migrations().back().version);
    }
    CHECK(count(empty, "SELECT count(*) FROM tenant_secret") == 0);
    open_sqlite_store(empty);  // the first open with a secret records it
    CHECK(count(empty, "SELECT count(*) FROM tenant_secret") == 1);
}

TEST_CASE("keyed tenants: a store refuses another secret while it holds tenants") {
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    open_sqlite_store(path)->grant(tenant_of_key("key-a"), {"proj-1"});

    tenant_secret other{};
    other.fill(0x42);
    {
        scoped_tenant_secret scope(other);
        CHECK_THROWS_WITH_AS(open_sqlite_store(path),
                             doctest::Contains("made with another tenant secret"), store_error);
    }
    // With its own secret it opens, the grant intact.
    CHECK(open_sqlite_store(path)->has_grant(tenant_of_key("key-a"), "proj-1"));

    // Starting over, as the README says: forget which secret it was; the old tenants then match
    // no key (grants are learned again online).
    {
        sqlite::database db(path);
        db.exec("DELETE FROM tenant_secret");
    }
    {
        scoped_tenant_secret scope(other);
        auto s = open_sqlite_store(path);
        CHECK_FALSE(s->has_grant(tenant_of_key("key-a"), "proj-1"));
    }
    // Now the other secret is the store's.
    CHECK_THROWS_AS(open_sqlite_store(path), store_error);

    // A store that holds no tenant takes a new secret without a word.
    const std::string empty = dir.file("empty.db");
    open_sqlite_store(empty);
    {
        scoped_tenant_secret scope(other);
        open_sqlite_store(empty);
    }
    CHECK(count(empty, "SELECT count(*) FROM tenant_secret WHERE check_value = '" +
                           tenant_secret_check() + "'") == 0);
}

TEST_CASE("keyed tenants: an in-memory store gets its check too" * doctest::test_suite("store")) {
    auto s = open_test_store();
    s->grant(tenant_of_key("key-a"), {"proj-1"});
    CHECK(s->has_grant(tenant_of_key("key-a"), "proj-1"));
}
