#include <doctest/doctest.h>

#include "http/header_rules.hpp"

using namespace runmirror;

namespace {

const header_list good = {{"Host", "127.0.0.1:8787"}, {"Content-Length", "5"}};

std::optional<int> framing_status(const header_list& h, std::string_view target = "/api/v1/x",
                                  std::string_view method = "POST") {
    auto e = check_request_framing(method, target, h);
    return e ? std::optional<int>(e->status) : std::nullopt;
}

}  // namespace

TEST_CASE("well-formed framing passes") {
    CHECK_FALSE(framing_status(good));
    CHECK_FALSE(framing_status({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}));
    CHECK_FALSE(framing_status({{"Host", "a"}, {"Content-Length", "5"}, {"content-length", "5"}}));
}

TEST_CASE("ambiguous framing is refused") {
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Content-Length", "5"}}) ==
          400);
    CHECK(framing_status(
              {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}) == 400);
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", "gzip"}}) == 501);
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}}) == 501);
    CHECK(framing_status({{"Host", "a"},
                          {"Transfer-Encoding", "chunked"},
                          {"Transfer-Encoding", "chunked"}}) == 501);
    CHECK(framing_status({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "6"}}) == 400);
    CHECK(framing_status({{"Host", "a"}, {"Content-Length", "+5"}}) == 400);
    CHECK(framing_status({{"Content-Length", "5"}}) == 400);
    CHECK(framing_status({{"Host", "a"}, {"Host", "b"}}) == 400);
    CHECK(framing_status(good, "http://evil/") == 400);
    CHECK(framing_status(good, "*", "OPTIONS") == 400);
}

TEST_CASE("framing that parsers read differently is refused (HTTP Garden findings)") {
    CHECK(framing_status({{"Host", "a"}, {"Content-Length", "010"}}) == 400);
    CHECK_FALSE(framing_status({{"Host", "a"}, {"Content-Length", "0"}}));
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", ",chunked"}}) == 501);
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", ""}}) == 501);
    CHECK(framing_status({{"Host", "a"},
                          {"User",
                           "\x85"
                           "admin\xa0"}}) == 400);
    CHECK(framing_status({{"Host", "a"}, {"X", "a\rb"}}) == 400);
    CHECK_FALSE(framing_status({{"Host", "a"}, {"X", "tab\tok"}}));
    CHECK(framing_status({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}, "/", "GET") == 400);
    CHECK(framing_status({{"Host", "a"}, {"Content-Length", "3"}}, "/", "HEAD") == 400);
    CHECK_FALSE(framing_status({{"Host", "a"}, {"Content-Length", "0"}}, "/", "GET"));
}

TEST_CASE("hop-by-hop fields, and fields named by Connection, are not forwarded") {
    header_list in = {{"Host", "client"},           {"Connection", "keep-alive, X-Secret"},
                      {"Keep-Alive", "timeout=5"},  {"X-Secret", "1"},
                      {"TE", "trailers"},           {"Authorization", "Bearer k"},
                      {"Content-Length", "3"},      {"X-Custom", "kept"},
                      {"Proxy-Authorization", "p"}, {"Upgrade", "h2c"}};
    header_list out = end_to_end_headers(in);
    REQUIRE(out.size() == 2);
    CHECK(out[0].name == "Authorization");
    CHECK(out[1].name == "X-Custom");
}

TEST_CASE("request cache directives") {
    CHECK(parse_cache_directives({{"Cache-Control", "max-age=0, no-cache"}}).no_cache);
    CHECK(parse_cache_directives({{"cache-control", "ONLY-IF-CACHED"}}).only_if_cached);
    CHECK(parse_cache_directives({{"Pragma", "no-cache"}}).no_cache);
    // RFC 9111 §5.4: Pragma is ignored when Cache-Control is present.
    CHECK_FALSE(
        parse_cache_directives({{"Cache-Control", "max-age=5"}, {"Pragma", "no-cache"}}).no_cache);
    CHECK_FALSE(parse_cache_directives({{"Cache-Control", "no-cache-please"}}).no_cache);
    // max-age=0 accepts nothing stored: the same as no-cache (it must wait for upstream).
    CHECK(parse_cache_directives({{"Cache-Control", "max-age=0"}}).no_cache);
    CHECK(parse_cache_directives({{"Cache-Control", "public, MAX-AGE = 0"}}).no_cache);
    CHECK_FALSE(parse_cache_directives({{"Cache-Control", "max-age=00x"}}).no_cache);
    CHECK_FALSE(parse_cache_directives({{"Cache-Control", "max-age"}}).no_cache);
}

TEST_CASE("keep_end_to_end drops in place what end_to_end_headers drops, in the same order") {
    // Connection names fields before and after itself, more of them than the filter keeps at
    // hand, in any case.
    header_list in = {{"X-Before", "1"},
                      {"Content-Type", "application/json"},
                      {"Connection", "x-before, X-A, x-b, x-c, x-d, X-After"},
                      {"Host", "h"},
                      {"x-after", "2"},
                      {"X-Kept", "3"},
                      {"Transfer-Encoding", "chunked"},
                      {"connection", "Keep-Alive"},
                      {"keep-alive", "timeout=5"},
                      {"X-D", "4"}};
    header_list copied = end_to_end_headers(in);
    header_list in_place = in;
    keep_end_to_end(in_place);
    REQUIRE(copied.size() == 2);
    CHECK(copied[0].name == "Content-Type");
    CHECK(copied[1].name == "X-Kept");
    REQUIRE(in_place.size() == copied.size());
    for (std::size_t i = 0; i < copied.size(); ++i) {
        CHECK(in_place[i].name == copied[i].name);
        CHECK(in_place[i].value == copied[i].value);
    }

    header_list clean = {{"Content-Type", "application/json"}, {"ETag", "\"1\""}};
    keep_end_to_end(clean);
    CHECK(clean.size() == 2);

    std::vector<std::string> seen;
    for_each_end_to_end(in, [&](const header_field& f) { seen.push_back(f.name); });
    CHECK(seen == std::vector<std::string>{"Content-Type", "X-Kept"});
}
