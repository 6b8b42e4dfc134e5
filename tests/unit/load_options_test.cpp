#include <doctest/doctest.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/load_options.hpp"

using namespace runmirror;
using strings = std::vector<std::string>;

namespace {

// A config file that removes itself; unique per test so parallel runs do not collide.
struct temp_file {
    std::filesystem::path path;

    explicit temp_file(const std::string& contents) {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("runmirror-load-options-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++) + ".conf");
        std::ofstream(path) << contents;
    }
    ~temp_file() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    std::string str() const { return path.string(); }
};

const strings home_env = {"HOME=/home/u", "PATH=/usr/bin"};

load_result load(const strings& args, const strings& env = home_env) {
    return load_serve_options(args, env);
}

serve_options load_ok(const strings& args, const strings& env = home_env) {
    load_result r = load(args, env);
    INFO("error: " << r.error);
    REQUIRE(r.error.empty());
    return r.options;
}

std::string load_error(const strings& args, const strings& env = home_env) {
    load_result r = load(args, env);
    CHECK_FALSE(r.error.empty());
    return r.error;
}

}  // namespace

TEST_CASE("defaults") {
    serve_options o = load_ok({});
    CHECK(o.listen.host == "127.0.0.1");
    CHECK(o.listen.port == 8787);
    CHECK(o.upstream.url == "https://api.cloud.llamaindex.ai");
    CHECK(o.store.path == "/home/u/.local/share/runmirror/runmirror.db");
    CHECK(o.cache.mode == serve_mode::online);
    CHECK(o.sync.poll_interval == millis(1000));
    CHECK(o.log_level == "info");
    CHECK(o.admin_token.empty());
    CHECK(o.upstream.ca_file.empty());
}

TEST_CASE("default db location") {
    SUBCASE("RUNMIRROR_DATA_DIR first") {
        auto o = load_ok({}, {"RUNMIRROR_DATA_DIR=/srv/rm", "XDG_DATA_HOME=/xdg", "HOME=/home/u"});
        CHECK(o.store.path == "/srv/rm/runmirror.db");
    }
    SUBCASE("then XDG_DATA_HOME") {
        auto o = load_ok({}, {"XDG_DATA_HOME=/xdg", "HOME=/home/u"});
        CHECK(o.store.path == "/xdg/runmirror/runmirror.db");
    }
    SUBCASE("a relative XDG_DATA_HOME is ignored, as the XDG spec says") {
        auto o = load_ok({}, {"XDG_DATA_HOME=rel", "HOME=/home/u"});
        CHECK(o.store.path == "/home/u/.local/share/runmirror/runmirror.db");
    }
    SUBCASE("--db overrides every default") {
        auto o = load_ok({"--db", "x/y.db"}, {"RUNMIRROR_DATA_DIR=/srv/rm"});
        CHECK(o.store.path == "x/y.db");
    }
    SUBCASE("no default at all names --db") {
        std::string e = load_error({}, {"PATH=/bin"});
        CHECK(e.starts_with("--db: "));
        CHECK(load_ok({"--db", "a.db"}, {}).store.path == "a.db");
    }
    SUBCASE("empty --db") {
        CHECK(load_error({"--db", ""}) == "--db: expected a path, got ''");
        CHECK(load_error({"--db="}) == "--db: missing value");
    }
}

TEST_CASE("listen parsing") {
    SUBCASE("host and port") {
        auto o = load_ok({"--listen", "0.0.0.0:9000"});
        CHECK(o.listen.host == "0.0.0.0");
        CHECK(o.listen.port == 9000);
    }
    SUBCASE("port 0 and the upper bound") {
        CHECK(load_ok({"--listen=localhost:0"}).listen.port == 0);
        CHECK(load_ok({"--listen=localhost:65535"}).listen.port == 65535);
    }
    SUBCASE("bracketed IPv6, stored without brackets") {
        auto o = load_ok({"--listen", "[::1]:8787"});
        CHECK(o.listen.host == "::1");
        CHECK(o.listen.port == 8787);
    }
    SUBCASE("rejected forms name the key") {
        for (std::string bad : {"localhost", ":8787", "host:", "host:65536", "host:-1", "host:12a",
                                "host: 80", "::1:8787", "[::1]8787", "[::1", "[]:80", ""}) {
            CAPTURE(bad);
            std::string e = load_error({"--listen", bad});
            CHECK(e.starts_with("--listen: "));
        }
        CHECK(load_error({"--listen", "host:70000"}) ==
              "--listen: expected a port from 0 to 65535 in 'host:70000'");
    }
}

TEST_CASE("upstream validation") {
    CHECK(load_ok({"--upstream", "http://127.0.0.1:9001"}).upstream.url == "http://127.0.0.1:9001");
    CHECK(load_ok({"--upstream", "https://example.com/"}).upstream.url == "https://example.com");
    CHECK(load_ok({"--upstream", "HTTPS://example.com"}).upstream.url == "https://example.com");
    CHECK(load_ok({"--upstream", "http://[::1]:8080"}).upstream.url == "http://[::1]:8080");
    for (std::string bad : {"ftp://example.com", "example.com", "https://example.com/api/v1",
                            "https://example.com?x=1", "https://example.com/#frag", "https://",
                            "http://example.com:99999", "https://user:pw@example.com", ""}) {
        CAPTURE(bad);
        CHECK(load_error({"--upstream", bad}).starts_with("--upstream: "));
    }
    // User info may be a password: it must not appear in the message.
    CHECK(load_error({"--upstream", "https://user:secret@example.com"}).find("secret") ==
          std::string::npos);
}

TEST_CASE("upstream-ca must exist") {
    temp_file ca("-----BEGIN CERTIFICATE-----\n");
    CHECK(load_ok({"--upstream-ca", ca.str()}).upstream.ca_file == ca.str());
    CHECK(load_error({"--upstream-ca", "/nonexistent/ca.pem"}) ==
          "--upstream-ca: no such file: '/nonexistent/ca.pem'");
}

TEST_CASE("every key reaches its field") {
    temp_file ca("pem");
    auto o = load_ok({"--listen=h:1",
                      "--upstream=http://u:2",
                      "--upstream-ca",
                      ca.str(),
                      "--db=d.db",
                      "--offline",
                      "--poll-interval-ms=250",
                      "--threads=3",
                      "--admin-token=tok",
                      "--log-level=debug",
                      "--connect-timeout-ms=11",
                      "--response-timeout-ms=12",
                      "--total-timeout-ms=13",
                      "--pending-max-age-ms=0",
                      "--list-max-age-ms=15",
                      "--max-connections=16",
                      "--shutdown-grace-ms=17",
                      "--memory-cache-mb=18",
                      "--upstream-max-idle=19",
                      "--watch-lease-ms=20"});
    CHECK(o.listen.host == "h");
    CHECK(o.listen.port == 1);
    CHECK(o.upstream.url == "http://u:2");
    CHECK(o.upstream.ca_file == ca.str());
    CHECK(o.store.path == "d.db");
    CHECK(o.cache.mode == serve_mode::offline);
    CHECK(o.sync.poll_interval == millis(250));
    CHECK(o.listen.threads == 3);
    CHECK(o.admin_token == "tok");
    CHECK(o.log_level == "debug");
    CHECK(o.upstream.connect_timeout == millis(11));
    CHECK(o.upstream.response_timeout == millis(12));
    CHECK(o.upstream.total_timeout == millis(13));
    CHECK(o.cache.pending_max_age == millis(0));
    CHECK(o.cache.list_max_age == millis(15));
    CHECK(o.listen.max_connections == 16);
    CHECK(o.limits.shutdown_grace == millis(17));
    CHECK(o.store.memory_cache_bytes == 18u << 20);
    CHECK(o.upstream.max_idle_per_host == 19);
    CHECK(o.store.watch_lease == millis(20));
}

TEST_CASE("integer values") {
    CHECK(load_error({"--poll-interval-ms", "abc"}) ==
          "--poll-interval-ms: expected a positive integer, got 'abc'");
    CHECK(load_error({"--poll-interval-ms", "0"}) ==
          "--poll-interval-ms: expected an integer from 1 to 31536000000, got '0'");
    CHECK(load_error({"--poll-interval-ms", "-5"}).starts_with("--poll-interval-ms: "));
    CHECK(load_error({"--poll-interval-ms", "+5"}).starts_with("--poll-interval-ms: "));
    CHECK(load_error({"--poll-interval-ms", "99999999999999999999999"})
              .starts_with("--poll-interval-ms: expected an integer from 1 to"));
    CHECK(load_error({"--shutdown-grace-ms", "x"}) ==
          "--shutdown-grace-ms: expected a non-negative integer, got 'x'");
    CHECK(load_ok({"--threads", "0"}).listen.threads == 0);
    CHECK(load_ok({"--memory-cache-mb", "0"}).store.memory_cache_bytes == 0);  // off
    CHECK(load_error({"--memory-cache-mb", "2000000"}).starts_with("--memory-cache-mb: "));
    CHECK(load_error({"--max-connections", "0"}).starts_with("--max-connections: "));
    CHECK(load_error({"--connect-timeout-ms", "0"}).starts_with("--connect-timeout-ms: "));
    CHECK(load_ok({}).store.watch_lease == millis(60'000));
    CHECK(load_error({"--watch-lease-ms", "0"}).starts_with("--watch-lease-ms: "));
}

TEST_CASE("log level") {
    CHECK(load_ok({"--log-level", "WARN"}).log_level == "warn");
    CHECK(load_ok({"--log-level", "off"}).log_level == "off");
    CHECK(load_error({"--log-level", "loud"}).starts_with("--log-level: expected one of"));
}

TEST_CASE("precedence: file < environment < flags") {
    temp_file conf(
        "# comment\n"
        "listen = 10.0.0.1:1111\n"
        "poll-interval-ms = 100\n"
        "threads = 2\n"
        "log-level = debug\n");
    const std::string config = "--config=" + conf.str();

    SUBCASE("file alone") {
        auto o = load_ok({config});
        CHECK(o.listen.host == "10.0.0.1");
        CHECK(o.listen.port == 1111);
        CHECK(o.sync.poll_interval == millis(100));
        CHECK(o.listen.threads == 2);
    }
    SUBCASE("environment over file; other file keys survive") {
        auto o = load_ok({config}, {"HOME=/h", "RUNMIRROR_LISTEN=10.0.0.2:2222",
                                    "RUNMIRROR_POLL_INTERVAL_MS=200"});
        CHECK(o.listen.host == "10.0.0.2");
        CHECK(o.sync.poll_interval == millis(200));
        CHECK(o.listen.threads == 2);
        CHECK(o.log_level == "debug");
    }
    SUBCASE("flag over environment and file, wherever the flag sits") {
        auto o = load_ok({"--listen", "10.0.0.3:3333", config},
                         {"HOME=/h", "RUNMIRROR_LISTEN=10.0.0.2:2222", "RUNMIRROR_THREADS=4"});
        CHECK(o.listen.host == "10.0.0.3");
        CHECK(o.listen.port == 3333);
        CHECK(o.listen.threads == 4);
        CHECK(o.sync.poll_interval == millis(100));
    }
    SUBCASE("a repeated flag: the last wins") {
        CHECK(load_ok({"--threads=5", "--threads=6"}).listen.threads == 6);
    }
    SUBCASE("RUNMIRROR_CONFIG names the file; --config overrides it") {
        temp_file other("threads = 9\n");
        CHECK(load_ok({}, {"HOME=/h", "RUNMIRROR_CONFIG=" + conf.str()}).listen.threads == 2);
        CHECK(load_ok({"--config", other.str()}, {"HOME=/h", "RUNMIRROR_CONFIG=" + conf.str()})
                  .listen.threads == 9);
    }
    SUBCASE("offline from the environment, not undone by an absent flag") {
        temp_file off("offline = yes\n");
        CHECK(load_ok({"--config", off.str()}).cache.mode == serve_mode::offline);
        CHECK(load_ok({"--config", off.str()}, {"HOME=/h", "RUNMIRROR_OFFLINE=false"}).cache.mode ==
              serve_mode::online);
        CHECK(load_ok({}, {"HOME=/h", "RUNMIRROR_OFFLINE=1"}).cache.mode == serve_mode::offline);
    }
}

TEST_CASE("config file errors name the file and the key") {
    SUBCASE("unknown key") {
        temp_file conf("lisen = 1.2.3.4:5\n");
        CHECK(load_error({"--config", conf.str()}) ==
              "config file " + conf.str() + ": unknown option 'lisen'");
    }
    SUBCASE("bad value") {
        temp_file conf("listen = 1.2.3.4:5\npoll-interval-ms = abc\n");
        CHECK(load_error({"--config", conf.str()}) ==
              "config file " + conf.str() +
                  ": poll-interval-ms: expected a positive integer, got 'abc'");
    }
    SUBCASE("a bad value is an error even when a flag overrides it") {
        temp_file conf("poll-interval-ms = abc\n");
        CHECK(load_error({"--config", conf.str(), "--poll-interval-ms=5"})
                  .starts_with("config file " + conf.str() + ": poll-interval-ms: "));
    }
    SUBCASE("flags-only keys are unknown in a file") {
        temp_file conf("config = other.conf\n");
        CHECK(load_error({"--config", conf.str()}) ==
              "config file " + conf.str() + ": unknown option 'config'");
    }
    SUBCASE("a switch needs a boolean in a file") {
        temp_file conf("offline = maybe\n");
        CHECK(load_error({"--config", conf.str()}) ==
              "config file " + conf.str() + ": offline: expected true or false, got 'maybe'");
    }
    SUBCASE("a line without '='") {
        temp_file conf("listen\n");
        CHECK(load_error({"--config", conf.str()}).starts_with("config file " + conf.str()));
    }
    SUBCASE("missing file, named by flag or environment") {
        CHECK(load_error({"--config", "/nonexistent.conf"}) ==
              "--config: cannot read '/nonexistent.conf'");
        CHECK(load_error({}, {"RUNMIRROR_CONFIG=/nonexistent.conf"}) ==
              "environment RUNMIRROR_CONFIG: cannot read '/nonexistent.conf'");
    }
}

TEST_CASE("environment") {
    SUBCASE("unrelated variables are ignored") {
        auto o = load_ok(
            {}, {"HOME=/h", "LISTEN=1.1.1.1:1", "RUNMIRRORLISTEN=x", "TERM=xterm", "MALFORMED"});
        CHECK(o.listen.host == "127.0.0.1");
    }
    SUBCASE("an unknown RUNMIRROR_ variable is named") {
        CHECK(load_error({}, {"HOME=/h", "RUNMIRROR_LISEN=1.2.3.4:5"}) ==
              "environment RUNMIRROR_LISEN: unknown variable");
        // Only the upper-case spelling is an option's name.
        CHECK(load_error({}, {"HOME=/h", "RUNMIRROR_listen=1.2.3.4:5"}).find("RUNMIRROR_listen") !=
              std::string::npos);
        // Flag-only keys have no variable.
        CHECK(load_error({}, {"HOME=/h", "RUNMIRROR_HELP=1"}) ==
              "environment RUNMIRROR_HELP: unknown variable");
    }
    SUBCASE("non-option RUNMIRROR_ variables are not unknown") {
        CHECK(load({}, {"HOME=/h", "RUNMIRROR_BIN=/x", "RUNMIRROR_CORPORA=/y"}).error.empty());
    }
    SUBCASE("bad values name the variable") {
        CHECK(load_error({}, {"HOME=/h", "RUNMIRROR_POLL_INTERVAL_MS=abc"}) ==
              "environment RUNMIRROR_POLL_INTERVAL_MS: expected a positive integer, got 'abc'");
    }
    SUBCASE("multi-word names") {
        auto o = load_ok({}, {"HOME=/h", "RUNMIRROR_ADMIN_TOKEN=t", "RUNMIRROR_MAX_CONNECTIONS=7",
                              "RUNMIRROR_LIST_MAX_AGE_MS=8"});
        CHECK(o.admin_token == "t");
        CHECK(o.listen.max_connections == 7);
        CHECK(o.cache.list_max_age == millis(8));
    }
}

TEST_CASE("command-line errors") {
    CHECK(load_error({"--lisen", "x"}) == "--lisen: unknown option");
    // No abbreviations: a prefix is not silently expanded.
    CHECK(load_error({"--list", "5"}) == "--list: unknown option");
    CHECK(load_error({"--listen"}) == "--listen: missing value");
    CHECK(load_error({"extra"}) == "unexpected argument 'extra'");
    CHECK(load_error({"--offline=true"}) == "--offline: takes no value");
}

TEST_CASE("help and version") {
    SUBCASE("help shows the flags and the real defaults") {
        load_result r = load({"--help"});
        CHECK(r.help);
        CHECK(r.error.empty());
        for (std::string text :
             {"--listen HOST:PORT", "127.0.0.1:8787", "https://api.cloud.llamaindex.ai",
              "/home/u/.local/share/runmirror/runmirror.db", "--poll-interval-ms", "1000",
              "RUNMIRROR_POLL_INTERVAL_MS", "--offline", "--shutdown-grace-ms", "10000"}) {
            CAPTURE(text);
            CHECK(r.help_text.find(text) != std::string::npos);
        }
    }
    SUBCASE("help wins over a broken command line") {
        CHECK(load({"--lisen", "-h"}).help);
    }
    SUBCASE("version") {
        load_result r = load({"--version"});
        CHECK(r.version);
        CHECK_FALSE(r.help);
        CHECK(r.error.empty());
    }
}

TEST_CASE("allowed-host: a list, canonical, replaced by a later source") {
    using hosts = std::vector<std::string>;
    CHECK(load_ok({}).listen.allowed_hosts.empty());
    SUBCASE("repeated and comma-separated flags add up, in canonical form") {
        CHECK(load_ok({"--allowed-host", "Mirror.LAN.", "--allowed-host=a, b,,[FD00::1],::2,a"})
                  .listen.allowed_hosts == hosts{"mirror.lan", "a", "b", "[fd00::1]", "[::2]"});
    }
    SUBCASE("environment, comma-separated") {
        CHECK(load_ok({}, {"HOME=/h", "RUNMIRROR_ALLOWED_HOST=x.lan,y.lan"}).listen.allowed_hosts ==
              hosts{"x.lan", "y.lan"});
    }
    SUBCASE("a later source replaces an earlier one's list; an empty value clears it") {
        temp_file conf("allowed-host = f1\nallowed-host = f2\n");
        const std::string config = "--config=" + conf.str();
        CHECK(load_ok({config}).listen.allowed_hosts == hosts{"f1", "f2"});
        CHECK(load_ok({config}, {"HOME=/h", "RUNMIRROR_ALLOWED_HOST=e1"}).listen.allowed_hosts ==
              hosts{"e1"});
        CHECK(load_ok({config, "--allowed-host", "g1", "--allowed-host", "g2"},
                      {"HOME=/h", "RUNMIRROR_ALLOWED_HOST=e1"})
                  .listen.allowed_hosts == hosts{"g1", "g2"});
        CHECK(
            load_ok({config}, {"HOME=/h", "RUNMIRROR_ALLOWED_HOST="}).listen.allowed_hosts.empty());
    }
    SUBCASE("a port, a URL or junk is an error that names the key") {
        CHECK(load_error({"--allowed-host", "a,localhost:8787"}) ==
              "--allowed-host: expected a host name or IP address without a port, got "
              "'localhost:8787'");
        for (std::string bad : {"http://a", "u@a", "a b", "*", "[::1"}) {
            CAPTURE(bad);
            CHECK(load_error({"--allowed-host", bad}).starts_with("--allowed-host: expected"));
        }
        CHECK(load_error({}, {"HOME=/h", "RUNMIRROR_ALLOWED_HOST=a/b"})
                  .starts_with("environment RUNMIRROR_ALLOWED_HOST: expected"));
    }
    SUBCASE("help names it") {
        CHECK(load({"--help"}).help_text.find("--allowed-host NAME") != std::string::npos);
    }
}

TEST_CASE("listen_refusal: beyond loopback only with an admin token") {
    auto refusal = [](const strings& args) { return listen_refusal(load_ok(args)); };
    CHECK(refusal({}) == "");
    CHECK(refusal({"--listen", "127.0.0.1:0"}) == "");
    CHECK(refusal({"--listen", "127.0.0.2:9000"}) == "");
    CHECK(refusal({"--listen", "[::1]:8787"}) == "");
    CHECK(refusal({"--listen", "0.0.0.0:8787"}) ==
          "refusing to listen on 0.0.0.0:8787 without an admin token: anyone who can reach this "
          "port could read every stored run; set admin-token (--admin-token or "
          "RUNMIRROR_ADMIN_TOKEN) to listen beyond loopback");
    CHECK(refusal({"--listen", "[::]:0"}).starts_with("refusing to listen on [::]:0 without"));
    CHECK(refusal({"--listen", "192.168.1.5:8787"}).starts_with("refusing"));
    CHECK(refusal({"--listen", "[fe80::1%eth0]:8787"}).starts_with("refusing"));
    CHECK(refusal({"--listen", "[::ffff:10.0.0.1]:8787"}).starts_with("refusing"));
    CHECK(refusal({"--listen", "0.0.0.0:8787", "--admin-token", "t"}) == "");
    // A name is no address: binding refuses it with its own message.
    CHECK(refusal({"--listen", "localhost:8787"}) == "");
}

namespace {

// A directory tree that removes itself: $XDG_CONFIG_HOME or $HOME for the search path.
struct temp_dir {
    std::filesystem::path path;

    temp_dir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("runmirror-config-home-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    // Writes |contents| to |relative| under the directory, creating its parents.
    std::string write(const std::string& relative, const std::string& contents) const {
        const auto file = path / relative;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file) << contents;
        return file.string();
    }
    std::string str() const { return path.string(); }
};

const effective_setting& setting_of(const load_result& r, const std::string& key) {
    for (const auto& s : r.settings) {
        if (s.key == key) return s;
    }
    FAIL("no setting " << key);
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("the config file is found on the search path when none is named") {
    temp_dir home;
    SUBCASE("$XDG_CONFIG_HOME/runmirror/runmirror.conf") {
        const auto file = home.write("xdg/runmirror/runmirror.conf", "threads = 3\n");
        load_result r = load({}, {"HOME=/h", "XDG_CONFIG_HOME=" + home.str() + "/xdg"});
        REQUIRE(r.error.empty());
        CHECK(r.options.listen.threads == 3);
        CHECK(r.config_file == file);
        CHECK(r.config_found_by == "search path");
        CHECK(setting_of(r, "threads").source == "config file " + file + ": threads");
    }
    SUBCASE("~/.config/runmirror/runmirror.conf without XDG_CONFIG_HOME (or a relative one)") {
        home.write(".config/runmirror/runmirror.conf", "threads = 4\n");
        CHECK(load_ok({}, {"HOME=" + home.str()}).listen.threads == 4);
        CHECK(load_ok({}, {"HOME=" + home.str(), "XDG_CONFIG_HOME=rel"}).listen.threads == 4);
    }
    SUBCASE("a named file wins over the search path; /dev/null reads nothing") {
        home.write(".config/runmirror/runmirror.conf", "threads = 4\n");
        temp_file named("threads = 7\n");
        const strings env = {"HOME=" + home.str()};
        CHECK(load_ok({"--config", named.str()}, env).listen.threads == 7);
        strings with_var = env;
        with_var.push_back("RUNMIRROR_CONFIG=/dev/null");
        load_result r = load({}, with_var);
        REQUIRE(r.error.empty());
        CHECK(r.options.listen.threads == 0);
        CHECK(r.config_file == "/dev/null");
        CHECK(r.config_found_by == "environment RUNMIRROR_CONFIG");
    }
    SUBCASE("nothing on the search path: defaults, no error") {
        load_result r = load({}, {"HOME=" + home.str()});
        REQUIRE(r.error.empty());
        CHECK(r.config_file.empty());
        CHECK(config_search_path({"HOME=" + home.str()}).front() ==
              home.str() + "/.config/runmirror/runmirror.conf");
        CHECK(config_search_path({}).back() == "/etc/runmirror/runmirror.conf");
    }
}

TEST_CASE("relative paths in a config file are relative to the file") {
    temp_dir home;
    const auto file = home.write("etc/rm.conf",
                                 "db = data/r.db\n"
                                 "access-log = ../logs/access.log\n");
    auto o = load_ok({"--config", file});
    CHECK(o.store.path == home.str() + "/etc/data/r.db");
    CHECK(o.access_log == home.str() + "/logs/access.log");
    CHECK(o.store.tenant_secret_path == home.str() + "/etc/data/r.tenant-secret");
    SUBCASE("on the command line and in the environment, relative to the working directory") {
        CHECK(load_ok({"--config", file, "--db", "here.db"}).store.path == "here.db");
        CHECK(load_ok({"--config", file}, {"HOME=/h", "RUNMIRROR_DB=rel/x.db"}).store.path ==
              "rel/x.db");
    }
    SUBCASE("values that are not paths stay as written") {
        const auto other = home.write("m.conf", "db = :memory:\naccess-log = off\n");
        auto m = load_ok({"--config", other});
        CHECK(m.store.path == ":memory:");
        CHECK(m.access_log.empty());
    }
}

TEST_CASE("the effective settings say where each came from; secrets are redacted") {
    temp_file conf("threads = 2\nlisten = 127.0.0.1:9\nadmin-token = file-secret\n");
    load_result r = load({"--config", conf.str(), "--listen", "127.0.0.1:10"},
                         {"HOME=/h", "RUNMIRROR_THREADS=5", "LLAMA_CLOUD_API_KEY=llx-secret"});
    REQUIRE(r.error.empty());
    CHECK(setting_of(r, "listen").value == "127.0.0.1:10");
    CHECK(setting_of(r, "listen").source == "--listen");
    CHECK(setting_of(r, "threads").value == "5");
    CHECK(setting_of(r, "threads").source == "environment RUNMIRROR_THREADS");
    CHECK(setting_of(r, "poll-interval-ms").value == "1000");
    CHECK(setting_of(r, "poll-interval-ms").source == "default");
    CHECK(setting_of(r, "db").value == "/h/.local/share/runmirror/runmirror.db");
    CHECK(setting_of(r, "admin-token").source == "config file " + conf.str() + ": admin-token");
    CHECK(setting_of(r, "admin-token").secret);
    CHECK(setting_of(r, "LLAMA_CLOUD_API_KEY").secret);
    for (const auto& s : r.settings) {
        INFO(s.key);
        CHECK(s.value != "?");  // every option has a printed form
        CHECK(s.value.find("file-secret") == std::string::npos);
        CHECK(s.value.find("llx-secret") == std::string::npos);
    }
    CHECK(r.settings.size() >= 30);
}

TEST_CASE("a postgresql:// db: no secret beside it, its password never shown, not a path") {
    temp_dir home;
    const std::string uri = "postgresql://mirror:s3cret@db.internal/runmirror";
    const auto file = home.write("etc/rm.conf", "db = " + uri + "\n");
    load_result r = load({"--config", file});
    REQUIRE(r.error.empty());
    // Not made relative to the config file, as a path would be.
    CHECK(r.options.store.path == uri);
    // No "beside the db": the secret must be named (serve and mirror refuse to start without).
    CHECK(r.options.store.tenant_secret_path.empty());
    CHECK(postgres_secret_missing(r.options.store)
              .starts_with("--db is a PostgreSQL database: set --tenant-secret FILE"));
    CHECK(setting_of(r, "db").value == "postgresql://mirror:***@db.internal/runmirror");
    CHECK(setting_of(r, "tenant-secret").source.starts_with("none"));
    CHECK(r.options.limits.spill_dir == std::filesystem::temp_directory_path().string());

    const serve_options named = load_ok({"--db", uri, "--tenant-secret", "/run/secrets/rm"});
    CHECK(named.store.tenant_secret_path == "/run/secrets/rm");
    CHECK(postgres_secret_missing(named.store).empty());
    // An SQLite file keeps its default beside it.
    CHECK(postgres_secret_missing(load_ok({"--db", "/var/lib/rm/r.db"}).store).empty());
}
