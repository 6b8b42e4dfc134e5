// `runmirror db` over SQLite (store/sqlite_admin.cpp): stats by kind, the check finding a
// damaged body and naming it, vacuum, backups that open as stores, and the refusal of files that
// are not stores (left exactly as they were).

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "runmirror/store_admin.hpp"
#include "store/body_codec.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/admin_fixtures.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::admin_t1;
using runmirror::testing::checked_problems;
using runmirror::testing::compressible_run_body;
using runmirror::testing::put_compressible;
using runmirror::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("store admin: stats count each kind's rows and bytes, as stored and as received") {
    temp_dir dir;
    const std::string path = dir.file("rm.db");
    {
        auto db = open_sqlite_store(path);
        put_compressible(*db, "run-1");
        put_compressible(*db, "run-2");
        put_compressible(*db, "job-1", kinds::v2_job);
        db->tombstone_run("run-2", admin_t1);
        db->put_list_page("tenant-a", "agent=1", R"({"items":[],"total":0})", admin_t1);
        db->grant("tenant-a", {"p-1"});
    }
    const store_stats s = open_sqlite_store_admin(path, admin_access::read_only)->stats();
    CHECK(s.schema_version == latest_schema_version());
    CHECK(s.known_schema_version == latest_schema_version());
    CHECK(s.page_count > 0);
    CHECK(s.file_bytes == static_cast<std::int64_t>(fs::file_size(path)));
    auto group = [&](const std::string& name) {
        for (const stored_group& g : s.groups)
            if (g.name == name) return g;
        FAIL("no group " << name);
        return stored_group{};
    };
    const stored_group runs = group("run");
    CHECK(runs.rows == 1);
    CHECK(runs.body_bytes == static_cast<std::int64_t>(compressible_run_body("run-1").size()));
    CHECK(runs.stored_bytes < runs.body_bytes);  // compressed
    CHECK(group("v2_job").rows == 1);
    CHECK(group("v1_job").rows == 0);  // listed all the same
    CHECK(group("tombstones").rows == 1);
    CHECK(group("list_pages").rows == 1);
    CHECK(group("list_pages").body_bytes == 22);
    CHECK(s.grants == 1);
}

TEST_CASE("store admin: check passes a sound store and names each resource whose body is damaged") {
    temp_dir dir;
    const std::string path = dir.file("rm.db");
    {
        auto db = open_sqlite_store(path);
        put_compressible(*db, "run-good");
        put_compressible(*db, "run-flipped");
        put_compressible(*db, "job-text", kinds::v2_job);
        db->put_list_page("tenant-a", "agent=1", R"({"items":[]})", admin_t1);
    }
    store_check_summary summary;
    CHECK(checked_problems(*open_sqlite_store_admin(path, admin_access::read_only), &summary)
              .empty());
    CHECK(summary.bodies_checked == 3);
    CHECK(summary.list_pages_checked == 1);

    {
        // One literal byte changed inside run-flipped's LZ4 frame: the frame still decodes (reads
        // skip the content checksum) but the check verifies it. v2 job-text's body becomes text
        // that is not JSON; the list page too.
        sqlite::database raw(path);
        std::string frame;
        {
            sqlite::statement_use s(raw, "SELECT body FROM runs WHERE id = 'run-flipped'");
            REQUIRE(s->step());
            REQUIRE(s->column_is_blob(0));
            frame = std::string(s->column_view(0));
        }
        frame[frame.size() / 2] ^= 0x01;
        sqlite::statement_use s(raw, "UPDATE runs SET body = ?1 WHERE id = 'run-flipped'");
        s->bind_blob(1, frame);
        s->run();
        raw.exec("UPDATE runs SET body = '{\"id\": \"job-text\", trunc' WHERE id = 'v2/job-text'");
        raw.exec("UPDATE list_pages SET body = 'nope'");
    }
    const auto problems = checked_problems(*open_sqlite_store_admin(path, admin_access::read_only));
    REQUIRE(problems.size() == 3);
    CHECK(problems[0].subject == "v1 run run-flipped");
    CHECK(problems[0].problem.find("does not decode") != std::string::npos);
    CHECK(problems[1].subject == "v2 extract job job-text");
    CHECK(problems[1].problem.find("not JSON") != std::string::npos);
    CHECK(problems[2].subject.find("list page 'agent=1'") == 0);
}

TEST_CASE("store admin: backup is a consistent store of its own; an existing file is refused") {
    temp_dir dir;
    const std::string path = dir.file("rm.db");
    auto db = open_sqlite_store(path);  // kept open: the backup is taken beside a live store
    put_compressible(*db, "run-1");
    put_compressible(*db, "job-1", kinds::v2_job);

    auto admin = open_sqlite_store_admin(path, admin_access::read_only);
    const std::string backup = dir.file("backup.db");
    admin->backup_to(backup, false);
    {
        auto copy = open_sqlite_store(backup);
        auto run = copy->find_run("run-1");
        REQUIRE(run);
        CHECK(run->body == compressible_run_body("run-1"));
        REQUIRE(copy->find_run(store_key(kinds::v2_job, "job-1")));
    }

    fs::remove(backup);
    { std::ofstream(backup) << "precious"; }
    CHECK_THROWS_WITH_AS(admin->backup_to(backup, false), doctest::Contains("exists"), store_error);
    CHECK(read_file(backup) == "precious");
    admin->backup_to(backup, true);
    CHECK(open_sqlite_store(backup)->find_run("run-1"));
    // Nothing left behind under a temporary name.
    for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
        CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("store admin: vacuum gives back the pages of deleted rows") {
    temp_dir dir;
    const std::string path = dir.file("rm.db");
    {
        auto db = open_sqlite_store(path);
        for (int i = 0; i < 200; ++i)
            put_compressible(*db, "run-" + std::to_string(i));
        for (int i = 0; i < 200; ++i)
            db->forget_run("run-" + std::to_string(i));
    }
    auto admin = open_sqlite_store_admin(path, admin_access::read_write);
    CHECK(admin->stats().freelist_pages > 0);
    const vacuum_result r = admin->vacuum();
    CHECK(r.bytes_after < r.bytes_before);
    CHECK(admin->stats().freelist_pages == 0);
}

TEST_CASE("store admin: a file that is not a store is refused by name and left as it is") {
    temp_dir dir;
    SUBCASE("text") {
        const std::string path = dir.file("notes.txt");
        { std::ofstream(path) << "hello\n"; }
        CHECK_THROWS_WITH_AS(open_sqlite_store(path),
                             doctest::Contains("notes.txt is not a runmirror store"), store_error);
        CHECK_THROWS_WITH_AS(open_sqlite_store_admin(path, admin_access::read_only),
                             doctest::Contains("is not a runmirror store"), store_error);
        CHECK(read_file(path) == "hello\n");
    }
    SUBCASE("another program's SQLite database") {
        const std::string path = dir.file("other.db");
        { sqlite::database(path).exec("CREATE TABLE notes (text TEXT)"); }
        const std::string before = read_file(path);
        CHECK_THROWS_WITH_AS(open_sqlite_store(path),
                             doctest::Contains("an SQLite database of something else"),
                             store_error);
        CHECK(read_file(path) == before);
    }
    SUBCASE("missing: the admin never creates one") {
        const std::string path = dir.file("missing.db");
        CHECK_THROWS_WITH_AS(open_sqlite_store_admin(path, admin_access::read_only),
                             doctest::Contains("no store at"), store_error);
        CHECK(!fs::exists(path));
    }
    SUBCASE("empty files still become stores") {
        const std::string path = dir.file("empty.db");
        { std::ofstream{path}; }
        CHECK_NOTHROW(check_sqlite_store_file(path));
        CHECK_NOTHROW(open_sqlite_store(path));
    }
}

TEST_CASE("body codec: the verified unpack catches a changed byte that the fast one lets through") {
    const std::string text = compressible_run_body("run-1");
    packed_body packed = pack_body(text);
    REQUIRE(packed.compressed);
    CHECK(unpack_body_verified(packed.bytes, true) == text);
    CHECK(unpacked_body_size(packed.bytes, true) == text.size());
    // A byte in the middle of the frame: a literal, or a match offset or length.
    packed.bytes[packed.bytes.size() / 2] ^= 0x01;
    CHECK_THROWS_AS(unpack_body_verified(packed.bytes, true), store_error);
}

TEST_CASE(
    "store admin: a store at an older or a newer schema version is reported and checked as "
    "it is, never migrated") {
    temp_dir dir;
    const std::string path = dir.file("rm.db");
    SUBCASE("older: schema 003, bodies as text, no kinds yet") {
        {
            sqlite::database raw(path);
            raw.exec("PRAGMA journal_mode = WAL");
            apply_migrations(raw, embedded_migrations().first(3));
            raw.exec(
                "INSERT INTO runs (id, body, fetched_at) VALUES ('run-old', '{\"id\":"
                "\"run-old\"}', 1), ('run-bad', '{\"id\":', 1)");
        }
        auto admin = open_sqlite_store_admin(path, admin_access::read_only);
        const store_stats s = admin->stats();
        CHECK(s.schema_version == 3);
        CHECK(s.groups.front().name == "run");
        CHECK(s.groups.front().rows == 2);
        const auto problems = checked_problems(*admin);
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].subject == "v1 run run-bad");
        sqlite::database raw(path, 5000, sqlite::open_mode::read_only);
        CHECK(schema_version(raw) == 3);  // untouched
    }
    SUBCASE("newer: a version this build does not know") {
        {
            auto db = open_sqlite_store(path);
            put_compressible(*db, "run-1");
        }
        { sqlite::database(path).exec("PRAGMA user_version = 99"); }
        auto admin = open_sqlite_store_admin(path, admin_access::read_only);
        const store_stats s = admin->stats();
        CHECK(s.schema_version == 99);
        CHECK(s.known_schema_version == latest_schema_version());
        CHECK(checked_problems(*admin).empty());
    }
}
