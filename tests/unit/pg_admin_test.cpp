// `runmirror db` over PostgreSQL (store/pg_admin.cpp): stats, check across several batches,
// vacuum, backup refused, and a read-only open that creates nothing. Test suite "postgres":
// needs RUNMIRROR_TEST_PG (tests/support/pg_cluster.sh run), skipped without it.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "runmirror/store_admin.hpp"
#include "store/migrations.hpp"
#include "store/pg_db.hpp"
#include "support/admin_fixtures.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::admin_t1;
using runmirror::testing::checked_problems;
using runmirror::testing::compressible_run_body;
using runmirror::testing::put_compressible;
using runmirror::testing::test_pg_uri;

namespace {

const stored_group& group(const store_stats& s, const std::string& name) {
    for (const stored_group& g : s.groups)
        if (g.name == name) return g;
    FAIL("no group " << name);
    static const stored_group none;
    return none;
}

}  // namespace

TEST_CASE("pg admin: stats count each kind's rows and bytes, and size the store's tables" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    const std::string uri = *test_pg_uri();
    {
        auto db = runmirror::testing::open_test_store();
        put_compressible(*db, "run-1");
        put_compressible(*db, "run-2");
        put_compressible(*db, "job-1", kinds::v2_job);
        db->tombstone_run("run-2", admin_t1);
        db->put_list_page("tenant-a", "agent=1", R"({"items":[],"total":0})", admin_t1);
        db->grant("tenant-a", {"p-1"});
    }
    const store_stats s = open_postgres_store_admin(uri, admin_access::read_only)->stats();
    CHECK(s.backend == store_backend::postgresql);
    CHECK(s.schema_version == embedded_postgres_migrations().back().version);
    CHECK(s.known_schema_version == s.schema_version);
    CHECK(s.page_count == 0);  // SQLite's figures are not faked
    CHECK(s.file_bytes == 0);
    const stored_group& runs = group(s, "run");
    CHECK(runs.rows == 1);
    CHECK(runs.body_bytes == static_cast<std::int64_t>(compressible_run_body("run-1").size()));
    CHECK(runs.stored_bytes < runs.body_bytes);  // compressed, its size read from the header
    CHECK(group(s, "v2_job").rows == 1);
    CHECK(group(s, "v1_job").rows == 0);  // listed all the same
    CHECK(group(s, "tombstones").rows == 1);
    CHECK(group(s, "list_pages").rows == 1);
    CHECK(group(s, "list_pages").body_bytes == 22);
    CHECK(s.grants == 1);
    REQUIRE(s.tables.size() == 8);
    for (const stored_table& t : s.tables)
        CHECK(t.bytes > 0);
}

TEST_CASE("pg admin: check reads every body across batches and names each damaged one" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    const std::string uri = *test_pg_uri();
    // More rows than one batch holds (200), so the scan must carry on from each batch's last
    // key, two-column keys included.
    constexpr int runs = 450;
    constexpr int pages = 230;
    {
        auto db = runmirror::testing::open_test_store();
        for (int i = 0; i < runs; ++i)
            put_compressible(*db, "run-" + std::to_string(i));
        for (int i = 0; i < pages; ++i) {
            db->put_list_page(i % 2 ? "tenant-a" : "tenant-b", "page=" + std::to_string(i),
                              R"({"items":[]})", admin_t1);
        }
    }
    store_check_summary summary;
    CHECK(checked_problems(*open_postgres_store_admin(uri, admin_access::read_only), &summary)
              .empty());
    CHECK(summary.bodies_checked == runs);
    CHECK(summary.list_pages_checked == pages);

    {
        pg::connection raw(uri, "raw");
        // A byte in the middle of run-321's LZ4 frame: reads skip the checksum, check does not.
        raw.exec(
            "UPDATE runs SET body = set_byte(body, length(body) / 2,"
            " get_byte(body, length(body) / 2) # 1) WHERE id = 'run-321'");
        raw.exec("UPDATE list_pages SET body = 'nope' WHERE key = 'page=201'");
    }
    const auto problems =
        checked_problems(*open_postgres_store_admin(uri, admin_access::read_only));
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].subject == "v1 run run-321");
    CHECK(problems[0].problem.find("does not decode") != std::string::npos);
    CHECK(problems[1].subject.find("list page 'page=201' of tenant tenant-a") == 0);
}

TEST_CASE("pg admin: a database without a store is refused, read-only, and nothing is created" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    const std::string uri = *test_pg_uri();
    runmirror::testing::empty_pg_database(uri);
    CHECK_THROWS_WITH_AS(open_postgres_store_admin(uri, admin_access::read_only),
                         ("store '" + uri +
                          "': no runmirror store in this database (no schema_version table in "
                          "schema public); 'runmirror serve' creates one")
                             .c_str(),
                         store_error);
    CHECK_THROWS_AS(open_postgres_store_admin(uri, admin_access::read_write), store_error);
    pg::connection raw(uri, "raw");
    CHECK(raw.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").int64(0, 0) == 0);
}

TEST_CASE("pg admin: vacuum runs beside a store in use; backup is refused, naming pg_dump" *
          doctest::test_suite("postgres") * doctest::skip(!test_pg_uri().has_value())) {
    const std::string uri = *test_pg_uri();
    auto db = runmirror::testing::open_test_store();
    put_compressible(*db, "run-1");
    const vacuum_result r = open_postgres_store_admin(uri, admin_access::read_write)->vacuum();
    CHECK(r.bytes_before > 0);
    CHECK(r.bytes_after > 0);
    put_compressible(*db, "run-2");  // the daemon's store object writes on
    CHECK(db->find_run("run-2"));

    auto admin = open_postgres_store_admin(uri, admin_access::read_only);
    std::string refusal;
    try {
        admin->backup_to("/nonexistent/backup.db", false);
    } catch (const store_error& e) {
        refusal = e.what();
    }
    CHECK(refusal.find("back it up with pg_dump") != std::string::npos);
}
