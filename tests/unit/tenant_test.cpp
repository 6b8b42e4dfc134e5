#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/tenant_fixtures.hpp"
#include "util/tenant.hpp"

using namespace runmirror;
using runmirror::testing::scoped_tenant_secret;

// Expected values from Python's hmac and hashlib with the tests' secret (bytes 0 to 31):
// hmac.new(bytes(range(32)), hashlib.sha256(key).digest(), hashlib.sha256).hexdigest().
TEST_CASE("tenant_of_key is lower-case hex HMAC-SHA-256(secret, SHA-256(key))") {
    CHECK(tenant_of_key("") == "d43ab268ace84897c7c38db898ceba8460c30c061f52a2ea4c514367ed85f6fa");
    CHECK(tenant_of_key("abc") ==
          "910ec338f64892dfc0288e343162e996b71c39c67dd1cad13923f2d67a79cff6");
    CHECK(tenant_of_key(std::string(1'000'000, 'a')) ==
          "751091c8d3036f89044b65fc4df8d4b03086723f9806514ff87060dac80f34e9");
    // Embedded NULs are hashed, not truncated.
    CHECK(tenant_of_key(std::string("a\0b", 3)) ==
          "1764258eedce04a7bc04dc3844a58e98bc2a48fc3455dab5dfd22b799d38cab5");
    // Not the bare SHA-256 of the key, which the store used to hold.
    CHECK(tenant_of_key("abc") !=
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("tenants depend on the secret; installing one takes effect at once") {
    const std::string with_tests_secret = tenant_of_key("abc");  // and remembered by the thread
    {
        tenant_secret other{};
        other.fill(0xff);
        scoped_tenant_secret scope(other);
        CHECK(tenant_of_key("abc") ==
              "b5be762203c5ee7f3adf10c619575db102ca987b79abc7812ebb3258d68fe3aa");
        CHECK(tenant_of_key("abc") != with_tests_secret);
    }
    CHECK(tenant_of_key("abc") == with_tests_secret);
}

TEST_CASE("without a secret there is no tenant") {
    scoped_tenant_secret none;
    CHECK_FALSE(tenant_secret_installed());
    CHECK_THROWS_AS(tenant_of_key("abc"), std::logic_error);
    CHECK_THROWS_AS(rekey_tenant(std::string(64, '0')), std::logic_error);
    CHECK_THROWS_AS(tenant_secret_check(), std::logic_error);
}

TEST_CASE("rekey_tenant turns a pre-009 tenant (SHA-256 hex of a key) into the key's tenant") {
    const std::string sha256_abc =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    CHECK(rekey_tenant(sha256_abc) == tenant_of_key("abc"));
    std::string upper = sha256_abc;
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(rekey_tenant(upper) == tenant_of_key("abc"));
    CHECK(rekey_tenant("") == std::nullopt);
    CHECK(rekey_tenant("t") == std::nullopt);
    CHECK(rekey_tenant(sha256_abc.substr(1)) == std::nullopt);
    CHECK(rekey_tenant(sha256_abc + "0") == std::nullopt);
    CHECK(rekey_tenant(std::string(63, '0') + "g") == std::nullopt);
}

TEST_CASE("tenant_secret_check tells secrets apart and is no key's tenant") {
    CHECK(tenant_secret_check() ==
          "a8a46afa014eeaee0141d63dfe4054d14ee305a0acf680eb71730530b3bb164f");
    tenant_secret other{};
    other.fill(0xff);
    scoped_tenant_secret scope(other);
    CHECK(tenant_secret_check() !=
          "a8a46afa014eeaee0141d63dfe4054d14ee305a0acf680eb71730530b3bb164f");
}

TEST_CASE("threads share a secret and agree on tenants") {
    const std::string expected = tenant_of_key("abc");
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                // Alternating keys: every call computes, none is the thread's last answer.
                const bool abc = i % 2 == 1;
                const std::string key = abc ? "abc" : "key-" + std::to_string(t);
                if ((tenant_of_key(key) == expected) != abc) ++wrong;
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    CHECK(wrong == 0);
}

TEST_CASE("tenant_of reads Authorization: Bearer") {
    const std::string abc = tenant_of_key("abc");
    auto tenant = [](header_list headers) { return tenant_of(headers); };

    CHECK(tenant({{"Authorization", "Bearer abc"}}) == abc);
    SUBCASE("header name and scheme are case-insensitive") {
        CHECK(tenant({{"authorization", "bearer abc"}}) == abc);
        CHECK(tenant({{"AUTHORIZATION", "BEARER abc"}}) == abc);
    }
    SUBCASE("spaces around and between are trimmed") {
        CHECK(tenant({{"Authorization", "  Bearer    abc  "}}) == abc);
        CHECK(tenant({{"Authorization", "Bearer\tabc"}}) == abc);
    }
    SUBCASE("the key is case-sensitive") {
        CHECK(tenant({{"Authorization", "Bearer ABC"}}) == tenant_of_key("ABC"));
        CHECK(tenant({{"Authorization", "Bearer ABC"}}) != abc);
    }
    SUBCASE("other headers do not matter") {
        CHECK(tenant({{"Accept", "application/json"}, {"Authorization", "Bearer abc"}}) == abc);
    }
    SUBCASE("no tenant") {
        CHECK(tenant({}) == std::nullopt);
        CHECK(tenant({{"X-Authorization", "Bearer abc"}}) == std::nullopt);
        CHECK(tenant({{"Authorization", ""}}) == std::nullopt);
        CHECK(tenant({{"Authorization", "Bearer"}}) == std::nullopt);
        CHECK(tenant({{"Authorization", "Bearer   "}}) == std::nullopt);
        CHECK(tenant({{"Authorization", "Bearerabc"}}) == std::nullopt);
        CHECK(tenant({{"Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}}) == std::nullopt);
        CHECK(tenant({{"Authorization", "abc"}}) == std::nullopt);
    }
    SUBCASE("two Authorization fields are ambiguous") {
        CHECK(tenant({{"Authorization", "Bearer abc"}, {"authorization", "Bearer xyz"}}) ==
              std::nullopt);
    }
}
