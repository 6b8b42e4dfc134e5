#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "http/request_site.hpp"

using namespace runmirror;

namespace {

// The default daemon: 127.0.0.1, no --allowed-host.
const site_policy loopback = make_site_policy("127.0.0.1", {});

// The refusal's status for a request to |path| with Host |host| (none when nullopt) and
// Origin |origin| (none when nullopt); 0 when it is answered.
int status(std::string_view path, std::optional<std::string> host,
           std::optional<std::string> origin = std::nullopt, const site_policy& p = loopback) {
    header_list h;
    if (host) h.push_back({"Host", *host});
    if (origin) h.push_back({"Origin", *origin});
    auto refused = check_request_site(path, h, p);
    return refused ? refused->status : 0;
}

std::string detail(std::string_view path, header_list h, const site_policy& p = loopback) {
    auto refused = check_request_site(path, h, p);
    REQUIRE(refused);
    return refused->detail;
}

}  // namespace

TEST_CASE("canonical_host") {
    struct row {
        std::string in;
        std::optional<std::string> out;
    };
    for (const row& r : std::initializer_list<row>{
             {"localhost", "localhost"},
             {"LocalHost", "localhost"},
             {"localhost.", "localhost"},
             {"localhost..", std::nullopt},  // one dot dropped, the other is not a name
             {".localhost", std::nullopt},
             {"local..host", std::nullopt},
             {"127.0.0.1", "127.0.0.1"},
             {"[::1]", "[::1]"},
             {"::1", "[::1]"},
             {"[0:0:0:0:0:0:0:1]", "[::1]"},
             {"[FE80::1]", "[fe80::1]"},
             {"my_box.lan", "my_box.lan"},
             {"", std::nullopt},
             {".", std::nullopt},
             {"user@localhost", std::nullopt},
             {"local%68ost", std::nullopt},
             {"local host", std::nullopt},
             {"localhost:8787", std::nullopt},
             {"[::1", std::nullopt},
             {"[localhost]", std::nullopt},
             {"[fe80::1%25eth0]", std::nullopt},
             {"a/b", std::nullopt},
             {std::string(254, 'a'), std::nullopt},
         }) {
        CAPTURE(r.in);
        CHECK(canonical_host(r.in) == r.out);
    }
}

TEST_CASE("host_of_authority") {
    struct row {
        std::string in;
        std::optional<std::string> out;
    };
    for (const row& r : std::initializer_list<row>{
             {"127.0.0.1:8787", "127.0.0.1"},
             {"127.0.0.1", "127.0.0.1"},
             {"localhost:", "localhost"},
             {"LOCALHOST.:8787", "localhost"},
             {"[::1]:8787", "[::1]"},
             {"[::1]", "[::1]"},
             {"evil.example", "evil.example"},
             {"::1:8787", std::nullopt},  // unbracketed IPv6: which colon starts the port?
             {"[::1]8787", std::nullopt},
             {"localhost:87a", std::nullopt},
             {"localhost:123456", std::nullopt},
             {"localhost:80:80", std::nullopt},
             {"user@localhost:8787", std::nullopt},
             {"user:pw@localhost", std::nullopt},
             {"localhost/x", std::nullopt},
             {"", std::nullopt},
             {":8787", std::nullopt},
         }) {
        CAPTURE(r.in);
        CHECK(host_of_authority(r.in) == r.out);
    }
}

TEST_CASE("is_loopback_ip") {
    CHECK(is_loopback_ip("127.0.0.1"));
    CHECK(is_loopback_ip("127.8.9.10"));
    CHECK(is_loopback_ip("::1"));
    CHECK_FALSE(is_loopback_ip("0.0.0.0"));
    CHECK_FALSE(is_loopback_ip("::"));
    CHECK_FALSE(is_loopback_ip("10.0.0.1"));
    CHECK_FALSE(is_loopback_ip("localhost"));  // a name, not an address
    CHECK_FALSE(is_loopback_ip("[::1]"));
}

TEST_CASE("Host: loopback names and the listen address are answered, others refused") {
    struct row {
        std::string host;
        int want;
    };
    for (const row& r : std::initializer_list<row>{
             {"127.0.0.1:8787", 0},
             {"127.0.0.1", 0},
             {"localhost:8787", 0},
             {"LOCALHOST:8787", 0},
             {"localhost.:8787", 0},
             {"[::1]:8787", 0},
             {"127.0.0.2:9000", 0},
             {"evil.example", 421},
             {"evil.example:8787", 421},
             {"localhost.evil.example", 421},
             {"127.0.0.1.evil.example", 421},
             {"10.0.0.5:8787", 421},
             {"[::2]:8787", 421},
             {"0.0.0.0:8787", 421},
             {"user@127.0.0.1:8787", 400},
             {"127.0.0.1:8787/x", 400},
             {"::1:8787", 400},
             {"", 400},
         }) {
        CAPTURE(r.host);
        CHECK(status("/_runmirror/api/runs", r.host) == r.want);
        CHECK(status("/api/v1/extraction/runs/r1", r.host) == r.want);
        CHECK(status("/api/v1/files", r.host) == r.want);  // pass-through
        CHECK(status("/_runmirror/events", r.host) == r.want);
        CHECK(status("/_runmirror/ui/", r.host) == r.want);
    }
    CHECK(status("/_runmirror/api/runs", std::nullopt) == 400);
}

TEST_CASE("health answers any Host: a container check may use the container's name") {
    CHECK(status("/_runmirror/health", "runmirror:8787") == 0);
    CHECK(status("/_runmirror/health", "evil.example") == 0);
    CHECK(status("/_runmirror/health", "junk@x") == 0);
    // Readiness, which holds no data either, is exempt too.
    CHECK(status("/_runmirror/ready", "runmirror:8787") == 0);
    // Only those two: neighbours and look-alikes are not exempt.
    CHECK(status("/_runmirror/healthz", "evil.example") == 421);
    CHECK(status("/_runmirror/health/x", "evil.example") == 421);
    CHECK(status("/_runmirror/ready/x", "evil.example") == 421);
    // The Origin rule still applies to it.
    CHECK(status("/_runmirror/health", "127.0.0.1", "https://evil.example") == 403);
}

TEST_CASE("the listen address and --allowed-host names are answered") {
    const site_policy wide = make_site_policy("0.0.0.0", {"mirror.lan", "[fd00::5]"});
    CHECK(status("/_runmirror/api/runs", "0.0.0.0:8787", std::nullopt, wide) == 0);
    CHECK(status("/_runmirror/api/runs", "mirror.lan:8787", std::nullopt, wide) == 0);
    CHECK(status("/_runmirror/api/runs", "MIRROR.LAN.", std::nullopt, wide) == 0);
    CHECK(status("/_runmirror/api/runs", "[fd00:0::5]:1", std::nullopt, wide) == 0);
    CHECK(status("/_runmirror/api/runs", "localhost", std::nullopt, wide) == 0);
    CHECK(status("/_runmirror/api/runs", "other.lan", std::nullopt, wide) == 421);
    CHECK(status("/_runmirror/api/runs", "127.0.0.1", "http://mirror.lan:3000", wide) == 0);

    const site_policy v6 = make_site_policy("::", {});
    CHECK(v6.extra_hosts == std::vector<std::string>{"[::]"});
    CHECK(status("/_runmirror/api/runs", "[::]:8787", std::nullopt, v6) == 0);
    // Names given twice (or equal to the listen address) are kept once.
    CHECK(make_site_policy("10.0.0.1", {"10.0.0.1", "a"}).extra_hosts ==
          std::vector<std::string>{"10.0.0.1", "a"});
}

TEST_CASE("Origin: same-site answered, cross-site refused except for the page's files") {
    struct row {
        std::string origin;
        int want;
    };
    const std::string host = "127.0.0.1:8787";
    for (const row& r : std::initializer_list<row>{
             {"http://127.0.0.1:8787", 0},
             {"http://localhost:8787", 0},
             {"http://LOCALHOST.:8787", 0},
             {"http://[::1]:8787", 0},
             {"https://127.0.0.1", 0},
             {"https://evil.example", 403},
             {"http://evil.example:8787", 403},
             {"http://127.0.0.1.evil.example", 403},
             {"null", 403},
             {"", 403},
             {"127.0.0.1:8787", 403},          // no scheme
             {"http://127.0.0.1:8787/", 403},  // an origin has no path
             {"http://user@127.0.0.1:8787", 403},
             {"chrome-extension://abcdef", 403},
             {"://127.0.0.1", 403},
             {"h t://127.0.0.1", 403},
         }) {
        CAPTURE(r.origin);
        CHECK(status("/_runmirror/api/runs", host, r.origin) == r.want);
        CHECK(status("/_runmirror/api/runs/r1", host, r.origin) == r.want);
        CHECK(status("/_runmirror/events", host, r.origin) == r.want);
        CHECK(status("/api/v1/extraction/runs", host, r.origin) == r.want);
        CHECK(status("/api/v1/extraction/jobs", host, r.origin) == r.want);
        // The web page's own files hold no data: any Origin may load them.
        CHECK(status("/_runmirror/ui/", host, r.origin) == 0);
        CHECK(status("/_runmirror/ui/app.js", host, r.origin) == 0);
        CHECK(status("/_runmirror/ui", host, r.origin) == 0);
        CHECK(status("/_runmirror/uix", host, r.origin) == r.want);
    }
    // Every Origin field counts, not only the first.
    CHECK(check_request_site("/_runmirror/api/runs",
                             {{"Host", host},
                              {"Origin", "http://127.0.0.1:8787"},
                              {"origin", "https://evil.example"}},
                             loopback)
              ->status == 403);
    // The page's files still need an allowed Host: a rebinding page gets nothing at all.
    CHECK(status("/_runmirror/ui/", "evil.example", "http://evil.example") == 421);
}

TEST_CASE("refusals say what to do") {
    CHECK(detail("/_runmirror/api/runs", {{"Host", "Evil.Example:8787"}}) ==
          "Host 'evil.example' is not allowed: runmirror answers only requests addressed to "
          "127.0.0.1, localhost or [::1], so that a web page cannot read it through DNS "
          "rebinding; use 127.0.0.1, or start runmirror with --allowed-host evil.example");
    CHECK(detail("/x", {{"Host", "a@b"}}) == "malformed Host header 'a@b'");
    CHECK(detail("/x", {{"Host", std::string(300, 'a') + "@"}}).size() < 140);
    CHECK(detail("/x", {{"Host", "127.0.0.1"}, {"Origin", "https://evil.example"}}) ==
          "cross-site request refused: Origin 'https://evil.example' is not allowed to read "
          "runmirror; open the page from runmirror itself (http://127.0.0.1:PORT/_runmirror/ui/), "
          "or start runmirror with --allowed-host evil.example");
    CHECK(detail("/x", {{"Host", "127.0.0.1"}, {"Origin", "null"}}) ==
          "cross-site request refused: Origin 'null' is not allowed to read runmirror (a "
          "sandboxed frame, a file:// page or a redirect sends 'null')");
    CHECK(detail("/x", {{"Host", "127.0.0.1"}, {"Origin", "http://x/y"}}) ==
          "cross-site request refused: Origin 'http://x/y' is not allowed to read runmirror "
          "(malformed)");
}
