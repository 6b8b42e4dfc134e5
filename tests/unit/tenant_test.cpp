#include <doctest/doctest.h>

#include <string>

#include "util/tenant.hpp"

using namespace runmirror;

// FIPS 180-2 / NIST CAVS vectors.
TEST_CASE("tenant_of_key is lower-case hex SHA-256") {
    CHECK(tenant_of_key("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(tenant_of_key("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(tenant_of_key("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(tenant_of_key(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Embedded NULs are hashed, not truncated.
    CHECK(tenant_of_key(std::string("a\0b", 3)) != tenant_of_key("a"));
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
