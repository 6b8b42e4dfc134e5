#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "support/store_fixtures.hpp"
#include "support/tenant_fixtures.hpp"
#include "util/tenant_secret.hpp"

using namespace runmirror;
using runmirror::testing::scoped_tenant_secret;
using runmirror::testing::temp_dir;

namespace {

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

void write_file(const std::string& path, const std::string& bytes, mode_t mode) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::vector<std::string> names_in(const temp_dir& dir) {
    std::vector<std::string> names;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(dir.file("x")).parent_path()))
        names.push_back(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_CASE("tenant secret: beside the store, named after it, none in memory") {
    CHECK(default_tenant_secret_path("/var/lib/runmirror/runmirror.db") ==
          "/var/lib/runmirror/runmirror.tenant-secret");
    CHECK(default_tenant_secret_path("store") == "store.tenant-secret");
    CHECK(default_tenant_secret_path("/d/a.b.sqlite") == "/d/a.b.tenant-secret");
    // Never the db file itself.
    CHECK(default_tenant_secret_path("/d/x.tenant-secret") == "/d/x.tenant-secret.tenant-secret");
    CHECK(default_tenant_secret_path(":memory:").empty());
}

TEST_CASE("tenant secret: created 0600 with 32 random bytes, then reused") {
    temp_dir dir;
    const std::string path = dir.file("runmirror.tenant-secret");
    const mode_t old_umask = ::umask(0);  // the file is 0600 whatever the umask
    const tenant_secret created = load_or_create_tenant_secret(path);
    ::umask(old_umask);

    CHECK(mode_of(path) == 0600);
    CHECK(std::filesystem::file_size(path) == 32);
    CHECK(created != tenant_secret{});
    // Reused, not replaced.
    CHECK(load_or_create_tenant_secret(path) == created);
    CHECK(read_tenant_secret(path) == created);
    // No temporary file left behind.
    CHECK(names_in(dir) == std::vector<std::string>{"runmirror.tenant-secret"});

    // Another install gets another secret.
    CHECK(load_or_create_tenant_secret(dir.file("other.tenant-secret")) != created);
}

TEST_CASE("tenant secret: racing creators end up with one secret") {
    temp_dir dir;
    const std::string path = dir.file("s");
    std::vector<tenant_secret> got(4);
    std::vector<std::thread> threads;
    for (auto& secret : got)
        threads.emplace_back([&] { secret = load_or_create_tenant_secret(path); });
    for (auto& thread : threads)
        thread.join();
    for (const auto& secret : got)
        CHECK(secret == got.front());
    CHECK(read_tenant_secret(path) == got.front());
    CHECK(names_in(dir) == std::vector<std::string>{"s"});
}

TEST_CASE("tenant secret: refused when others may read it, or of the wrong size") {
    temp_dir dir;
    const std::string path = dir.file("s");
    const std::string good(32, 'k');

    SUBCASE("world-readable") {
        write_file(path, good, 0644);
        CHECK_THROWS_WITH_AS(load_or_create_tenant_secret(path),
                             doctest::Contains("mode 0644): chmod 600"), tenant_secret_error);
    }
    SUBCASE("group-readable") {
        write_file(path, good, 0640);
        CHECK_THROWS_AS(read_tenant_secret(path), tenant_secret_error);
    }
    SUBCASE("writable by others") {
        write_file(path, good, 0602);
        CHECK_THROWS_AS(read_tenant_secret(path), tenant_secret_error);
    }
    SUBCASE("too short, too long, empty") {
        for (std::size_t size : {31, 33, 0}) {
            write_file(path, std::string(size, 'k'), 0600);
            CHECK_THROWS_WITH_AS(load_or_create_tenant_secret(path),
                                 doctest::Contains("bytes, not 32"), tenant_secret_error);
        }
    }
    SUBCASE("a directory") {
        std::filesystem::create_directory(path);
        CHECK_THROWS_WITH_AS(read_tenant_secret(path), doctest::Contains("not a regular file"),
                             tenant_secret_error);
    }
    SUBCASE("unreadable") {
        write_file(path, good, 0000);
        if (::geteuid() != 0) {  // root reads it anyway
            CHECK_THROWS_WITH_AS(read_tenant_secret(path), doctest::Contains("cannot be read"),
                                 tenant_secret_error);
        }
    }
    SUBCASE("in a directory that does not exist") {
        CHECK_THROWS_WITH_AS(load_or_create_tenant_secret(dir.file("no/such/dir/s")),
                             doctest::Contains("cannot be created"), tenant_secret_error);
    }
    // A refused file is left as it was: it may be the only copy of the store's secret.
    if (std::filesystem::is_regular_file(path)) CHECK(std::filesystem::exists(path));
    // A good one is accepted.
    std::filesystem::remove_all(path);
    write_file(path, good, 0600);
    CHECK(read_tenant_secret(path) == std::optional<tenant_secret>([&] {
              tenant_secret s{};
              s.fill('k');
              return s;
          }()));
}

TEST_CASE("install_store_tenant_secret: serve creates, runs and watches only use") {
    temp_dir dir;
    const std::string db = dir.file("runmirror.db");
    const std::string secret = dir.file("runmirror.tenant-secret");
    {
        scoped_tenant_secret none;
        CHECK(install_store_tenant_secret(db, {}, secret_use::existing).empty());
        CHECK_FALSE(tenant_secret_installed());
        CHECK_FALSE(std::filesystem::exists(secret));

        CHECK(install_store_tenant_secret(db, {}, secret_use::create) == secret);
        CHECK(tenant_secret_installed());
        const std::string tenant = tenant_of_key("abc");
        CHECK(tenant != "910ec338f64892dfc0288e343162e996b71c39c67dd1cad13923f2d67a79cff6");

        forget_tenant_secret();
        CHECK(install_store_tenant_secret(db, {}, secret_use::existing) == secret);
        CHECK(tenant_of_key("abc") == tenant);  // the same secret, so the same tenants

        // A configured file instead of the default.
        const std::string elsewhere = dir.file("elsewhere");
        CHECK(install_store_tenant_secret(db, elsewhere, secret_use::create) == elsewhere);
        CHECK(tenant_of_key("abc") != tenant);

        // In memory: a secret of its own, never written.
        forget_tenant_secret();
        CHECK(install_store_tenant_secret(":memory:", {}, secret_use::create).empty());
        CHECK(tenant_secret_installed());
    }
}
