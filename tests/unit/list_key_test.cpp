#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cache/list_key.hpp"

using namespace runmirror;

namespace {

// A list request's key and window, as the run cache derives them from its query string.
std::optional<std::string> normalise_list_query(std::string_view query) {
    auto params = decode_query(query);
    if (!params) return std::nullopt;
    return list_key_of(std::move(*params));
}

std::optional<list_params> parse_list_params(std::string_view query) {
    auto params = decode_query(query);
    if (!params) return std::nullopt;
    return list_params_of(*params);
}

}  // namespace

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

TEST_CASE("a query is decoded to its end, not to the end of the text it is cut from") {
    // Boost.URL 1.81's parse_query reads its view's data() as a C string; a query that is not
    // the end of its text (here, with '%' so Boost.URL decodes it) must not pick up what
    // follows. Found by fuzz/query_key.cpp (under ASan: a read past a buffer without a NUL).
    const std::string text = "a=%41bc&d";
    const auto cut = decode_query(std::string_view(text).substr(0, 5));
    REQUIRE(cut);
    CHECK(*cut == query_params{{"a", "A"}});
    const auto raw = detail::decode_query_with_boost_url(std::string_view(text).substr(0, 5));
    REQUIRE(raw);
    CHECK(*raw == query_params{{"a", "A"}});
    // And one that is not valid as cut ("%4") stays invalid, whatever follows it.
    CHECK_FALSE(decode_query(std::string_view(text).substr(0, 4)));
}

TEST_CASE("the short way of decoding a query agrees with Boost.URL's on every query") {
    const std::vector<std::string> fixed = {
        "",          "&",           "&&",           "=",
        "a",         "a=",          "=v",           "a=b=c",
        "a=1&&b=2&", "a+b=c+d",     "x=%41%2d",     "x=%zz",
        "x=%4",      "a b=c",       "a=\xc3\xa9",   "a=b#c",
        "a=[1]",     "q=a/b?c:d@e", "k='(x)!*,;$'", "extraction_agent_id=agent-1&skip=50&limit=50"};
    for (const auto& q : fixed) {
        CAPTURE(q);
        CHECK(decode_query(q) == detail::decode_query_with_boost_url(q));
    }
    // Random queries: half of plain characters only (the short way), half with what needs
    // escaping too (Boost.URL's way, or a refusal).
    const std::string plain = "ab09-._~!$&'()*+,;=:@/?";
    const std::string alphabet = plain + "%2fFz #[]\"<>\\^`{|}\x01\x7f\xc3\xa9";
    std::uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>(state >> 33);
    };
    for (int i = 0; i < 20000; ++i) {
        std::string q;
        const std::size_t length = next() % 24;
        for (std::size_t j = 0; j < length; ++j)
            q += i % 2 ? alphabet[next() % alphabet.size()] : plain[next() % plain.size()];
        CAPTURE(q);
        REQUIRE(decode_query(q) == detail::decode_query_with_boost_url(q));
    }
}

TEST_CASE("a list request's key and window come from one decoding") {
    auto params = decode_query("skip=50&extraction_agent_id=a%20b&limit=10");
    REQUIRE(params);
    CHECK(list_key_of(*params) == "extraction_agent_id=a%20b&limit=10&skip=50");
    auto window = list_params_of(*params);
    REQUIRE(window);
    CHECK(window->extraction_agent_id == "a b");
    CHECK(window->skip == 50);
    CHECK(window->limit == 10);
}
