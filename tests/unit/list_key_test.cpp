#include <doctest/doctest.h>

#include "cache/list_key.hpp"

using namespace runmirror;

TEST_CASE("equivalent list queries share one key") {
    auto a = normalise_list_query("limit=50&extraction_agent_id=agent-1&skip=0");
    auto b = normalise_list_query("skip=0&extraction_agent_id=agent%2D1&limit=50&");
    REQUIRE(a);
    CHECK(a == b);
    CHECK(*a == "extraction_agent_id=agent-1&limit=50&skip=0");
}

TEST_CASE("different windows or filters get different keys") {
    CHECK(normalise_list_query("extraction_agent_id=a&skip=0") !=
          normalise_list_query("extraction_agent_id=a&skip=50"));
    CHECK(normalise_list_query("extraction_agent_id=a") !=
          normalise_list_query("extraction_agent_id=b"));
    // Reserved characters survive normalisation without colliding with separators.
    CHECK(normalise_list_query("extraction_agent_id=a%26b") !=
          normalise_list_query("extraction_agent_id=a&b"));
}

TEST_CASE("bad percent-encoding is rejected") {
    CHECK_FALSE(normalise_list_query("extraction_agent_id=%zz"));
}

TEST_CASE("list parameters") {
    auto p = parse_list_params("extraction_agent_id=agent-1&skip=100&limit=50&project_id=p");
    REQUIRE(p);
    CHECK(p->extraction_agent_id == "agent-1");
    CHECK(p->project_id == "p");
    CHECK(p->skip == 100);
    CHECK(p->limit == 50);
    CHECK(parse_list_params("")->limit == 100);
    CHECK_FALSE(parse_list_params("skip=-1"));
    CHECK_FALSE(parse_list_params("limit=ten"));
}

TEST_CASE("an absent query decodes to no parameters") {
    auto none = decode_query(std::string_view());
    REQUIRE(none);
    CHECK(none->empty());
    CHECK(normalise_list_query(std::string_view()) == "");
}
