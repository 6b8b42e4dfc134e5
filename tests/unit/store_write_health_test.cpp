// The SQLite store when its writes do not reach the disk: write_health() reports it, reads keep
// working, committed data survives, and the next write that commits ends the episode. Faults come
// from a VFS that fails writes on demand (support/shim_vfs.hpp) and, where the test may mount
// file systems (root), from a real full tmpfs and a read-only remount.

#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"
#include "support/shim_vfs.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::shim_vfs;
using runmirror::testing::temp_dir;

namespace {

const time_point t1 = from_unix_ms(1'700'000'000'000);

run_fields fields_of(const std::string& id) {
    run_fields f;
    f.id = id;
    f.project_id = "proj-1";
    f.extraction_agent_id = "agent-1";
    f.job_id = "job-" + id;
    f.file_name = id + ".pdf";
    f.status = "SUCCESS";
    f.created_at = "2024-01-01T00:00:00Z";
    f.updated_at = f.created_at;
    return f;
}

std::string body_of(const std::string& id) {
    return R"({"id":")" + id + R"(","status":"SUCCESS","data":{"vendor":"Acme )" + id + R"("}})";
}

void put(store& s, const std::string& id) {
    s.put_run(fields_of(id), body_of(id), t1);
}

bool holds(store& s, const std::string& id) {
    auto run = s.find_run(id);
    return run && run->body == body_of(id);
}

std::string integrity(const std::string& path) {
    sqlite::database db(path, 5000, sqlite::open_mode::read_only);
    sqlite::statement_use s(db, "PRAGMA integrity_check");
    return s->step() ? s->column_text(0) : "";
}

// A tmpfs of |size| mounted on a fresh directory for the test's life, when the test may mount
// (root in a container that allows it); ok() says whether it is there.
class tmpfs_mount {
  public:
    explicit tmpfs_mount(const std::string& size) : options_("size=" + size) {
        ok_ = ::mount("tmpfs", dir_.file("").c_str(), "tmpfs", 0, options_.c_str()) == 0;
        if (!ok_) why_ = std::strerror(errno);
    }
    ~tmpfs_mount() {
        if (ok_) ::umount2(dir_.file("").c_str(), MNT_DETACH);
    }
    bool ok() const { return ok_; }
    const std::string& why() const { return why_; }
    std::string file(const std::string& name) const { return dir_.file(name); }
    void remount(bool read_only) {
        REQUIRE(::mount("tmpfs", dir_.file("").c_str(), "tmpfs",
                        MS_REMOUNT | (read_only ? MS_RDONLY : 0), options_.c_str()) == 0);
    }

  private:
    temp_dir dir_;
    std::string options_;
    bool ok_ = false;
    std::string why_;
};

}  // namespace

TEST_CASE("store write health: a failed write marks the store unwritable until one commits") {
    shim_vfs vfs;
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    int code = 0;
    std::string reason;
    SUBCASE("I/O error") {
        code = SQLITE_IOERR_WRITE;
        reason = "disk I/O error";
    }
    SUBCASE("disk full") {
        code = SQLITE_FULL;
        reason = "full";
    }
    {
        auto s = open_sqlite_store(path);
        put(*s, "run-a");
        CHECK(s->write_health().writable);
        CHECK(s->write_health().failed_writes == 0);

        vfs.fail_writes = code;
        CHECK_THROWS_AS(put(*s, "run-b"), store_error);
        store_write_health h = s->write_health();
        CHECK_FALSE(h.writable);
        CHECK(h.last_error.find(reason) != std::string::npos);
        REQUIRE(h.since.has_value());
        CHECK(h.failed_writes == 1);
        CHECK(vfs.refused_writes > 0);

        // Still failing: counted, same episode (since unchanged); other kinds of writes too.
        const time_point since = *h.since;
        CHECK_THROWS_AS(put(*s, "run-c"), store_error);
        CHECK_THROWS_AS(s->grant("tenant", {"proj-1"}), store_error);
        CHECK_THROWS_AS(s->tombstone_run("run-a", t1), store_error);
        h = s->write_health();
        CHECK_FALSE(h.writable);
        CHECK(h.failed_writes == 4);
        CHECK(h.since == since);

        // Reads work, and show exactly what was committed.
        CHECK(holds(*s, "run-a"));
        CHECK(s->find_run("run-a")->deleted_at == std::nullopt);
        CHECK(s->find_run("run-b") == nullptr);
        CHECK(integrity(path) == "ok");

        // The fault is gone: the next write commits and ends the episode.
        vfs.fail_writes = 0;
        put(*s, "run-b");
        h = s->write_health();
        CHECK(h.writable);
        CHECK(h.last_error.empty());
        CHECK_FALSE(h.since.has_value());
        CHECK(h.failed_writes == 4);
        CHECK(holds(*s, "run-b"));
    }
    CHECK(integrity(path) == "ok");
    auto reopened = open_sqlite_store(path);
    CHECK(holds(*reopened, "run-a"));
    CHECK(holds(*reopened, "run-b"));
    CHECK(reopened->find_run("run-c") == nullptr);
    CHECK(reopened->write_health().writable);
}

TEST_CASE("store write health: a refused write that is not a storage fault changes nothing") {
    auto s = open_sqlite_store(":memory:");
    CHECK_THROWS_AS(s->put_run(fields_of(""), "{}", t1), std::invalid_argument);
    CHECK(s->write_health().writable);
    CHECK(s->write_health().failed_writes == 0);
}

TEST_CASE("store write health: a read-only database file opens for reading only") {
    shim_vfs vfs;
    temp_dir dir;
    const std::string path = dir.file("runs.db");
    {
        auto s = open_sqlite_store(path);
        put(*s, "run-a");
    }
    vfs.read_only_db = true;  // as SQLite opens a file it has no write permission for
    auto s = open_sqlite_store(path);
    store_write_health h = s->write_health();
    CHECK_FALSE(h.writable);
    CHECK(h.last_error.find("read-only") != std::string::npos);
    CHECK(h.since.has_value());
    CHECK(h.failed_writes == 0);
    CHECK(holds(*s, "run-a"));

    CHECK_THROWS_AS(put(*s, "run-b"), store_error);
    CHECK(s->write_health().failed_writes == 1);
    CHECK_FALSE(s->write_health().writable);

    // Write permission is back (a chmod): the next write reopens the file and commits, and
    // readers see it.
    vfs.read_only_db = false;
    put(*s, "run-b");
    CHECK(s->write_health().writable);
    CHECK(holds(*s, "run-b"));
    CHECK(holds(*s, "run-a"));
}

TEST_CASE("store write health: a read-only store that needs migrating fails at start, saying why") {
    shim_vfs vfs;
    temp_dir dir;
    const std::string path = dir.file("old.db");
    {
        sqlite::database db(path);
        db.exec("PRAGMA journal_mode = WAL");
        apply_migrations(db, embedded_migrations().first(3));
    }
    vfs.read_only_db = true;
    try {
        open_sqlite_store(path);
        FAIL("a read-only store that needs a migration opened");
    } catch (const store_error& e) {
        const std::string message = e.what();
        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("schema") != std::string::npos);
        CHECK(message.find("read-only") != std::string::npos);
        CHECK(message.find('\n') == std::string::npos);
    }
}

TEST_CASE("store write health: a full file system (tmpfs)") {
    tmpfs_mount fs("3m");
    if (!fs.ok()) {
        MESSAGE("skipped: cannot mount a tmpfs here (" << fs.why() << "); the VFS cases cover it");
        return;
    }
    const std::string path = fs.file("runs.db");
    auto s = open_sqlite_store(path);
    put(*s, "run-a");
    // Fill the file system but for a little room, then store incompressible runs until a write
    // fails for want of space.
    const std::string filler = fs.file("filler");
    {
        struct statvfs st {};
        REQUIRE(statvfs(fs.file("").c_str(), &st) == 0);
        const auto room = static_cast<std::size_t>(st.f_bavail) * st.f_frsize;
        std::ofstream out(filler, std::ios::binary);
        out << std::string(room > 256 * 1024 ? room - 256 * 1024 : 0, 'x');
    }
    std::mt19937_64 random(7);
    std::string noise;
    int stored = 0;
    bool failed = false;
    for (int i = 0; i < 200 && !failed; ++i) {
        noise.clear();
        for (int k = 0; k < 2000; ++k)
            noise += std::to_string(random() % 10);
        const std::string id = "big-" + std::to_string(i);
        try {
            s->put_run(fields_of(id), R"({"id":")" + id + R"(","n":")" + noise + "\"}", t1);
            ++stored;
        } catch (const store_error& e) {
            failed = true;
        }
    }
    REQUIRE(failed);
    store_write_health h = s->write_health();
    CHECK_FALSE(h.writable);
    CHECK(h.last_error.find("full") != std::string::npos);
    CHECK(h.failed_writes == 1);
    CHECK(holds(*s, "run-a"));
    for (int i = 0; i < stored; ++i) {
        CHECK(s->find_run("big-" + std::to_string(i)) != nullptr);
    }
    CHECK(integrity(path) == "ok");

    std::filesystem::remove(filler);  // space again
    put(*s, "run-b");
    CHECK(s->write_health().writable);
    CHECK(holds(*s, "run-b"));
    s.reset();
    CHECK(integrity(path) == "ok");
}

TEST_CASE("store write health: a read-only file system (tmpfs remounted read-only)") {
    tmpfs_mount fs("8m");
    if (!fs.ok()) {
        MESSAGE("skipped: cannot mount a tmpfs here (" << fs.why() << "); the VFS cases cover it");
        return;
    }
    const std::string path = fs.file("runs.db");
    {
        auto s = open_sqlite_store(path);
        put(*s, "run-a");
    }  // closed cleanly: no -wal or -shm file is left, and none can be created read-only
    fs.remount(true);
    {
        auto s = open_sqlite_store(path);
        CHECK_FALSE(s->write_health().writable);
        CHECK(holds(*s, "run-a"));
        CHECK_THROWS_AS(put(*s, "run-b"), store_error);
        CHECK(s->write_health().failed_writes == 1);

        fs.remount(false);
        put(*s, "run-b");
        CHECK(s->write_health().writable);
        CHECK(holds(*s, "run-b"));
        CHECK(holds(*s, "run-a"));
    }
    // A store that does not exist yet cannot be created on a read-only file system: one line
    // naming the path.
    fs.remount(true);
    try {
        open_sqlite_store(fs.file("new.db"));
        FAIL("a store was created on a read-only file system");
    } catch (const store_error& e) {
        const std::string message = e.what();
        CHECK(message.find(fs.file("new.db")) != std::string::npos);
        CHECK(message.find('\n') == std::string::npos);
    }
    fs.remount(false);
}
