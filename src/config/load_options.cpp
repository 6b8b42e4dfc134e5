// Builds serve_options from three sources: the config file, then RUNMIRROR_* environment
// variables, then command-line flags; a later source overrides an earlier one key by key.
//
// Every source is first reduced to a list of (key, value, label) settings in the order given; the
// settings are then applied one by one through the same typed parser, so a value is validated the
// same way wherever it came from, and an error names the key exactly as the user wrote it
// ("--listen", "environment RUNMIRROR_LISTEN", "config file conf/x.conf: listen"). A bad value
// is an error even when a later source overrides it: a broken config file should not lie dormant.
//
// Decisions worth knowing:
// - --upstream is a bare origin: a trailing "/" is stripped, any other path is refused, because
//   client paths are forwarded one-to-one (a base path would be silently dropped or doubled).
// - The config file is the one --config or $RUNMIRROR_CONFIG names, else the first that exists
//   on the search path (config_search_path), so serve, runs, watches, mirror, purge and db all
//   find the same file, and so the same store and upstream, from any working directory.
// - Relative paths in a config file (db, tenant-secret, upstream-ca, access-log) are relative to
//   the file's directory, for the same reason; on the command line and in the environment they
//   are relative to the working directory, as a shell user expects.
// - The default --db comes from the environment handed in, not from getenv(), so tests control it.
// - allowed-host is a list: one source's values (repeated, or comma-separated) replace an
//   earlier source's, like any other key, instead of adding to them, so the environment or a
//   flag can narrow what a config file opened.

#include "config/load_options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <boost/program_options.hpp>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/parse.hpp>

#include "http/request_site.hpp"
#include "runmirror/store.hpp"
#include "util/logging.hpp"
#include "util/tenant_secret.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;

constexpr std::string_view env_prefix = "RUNMIRROR_";

// RUNMIRROR_* variables that are not options, so they are not "unknown". The data directory is
// part of the --db default; the other two are set by tests/CMakeLists.txt for the test harness,
// which passes its environment on to the daemon it starts.
constexpr std::string_view non_option_variables[] = {
    "RUNMIRROR_DATA_DIR",
    "RUNMIRROR_BIN",
    "RUNMIRROR_CORPORA",
};

// Thrown by a value parser; the caller prefixes the label of the offending setting.
struct bad_value : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One key = value from one source. |label| is how errors name it.
struct setting {
    std::string key;
    std::string value;
    std::string label;
};

// Longest millisecond setting: one year. Bounded so that now + value cannot overflow a
// nanosecond time_point anywhere downstream.
constexpr std::uint64_t max_ms = 365ULL * 24 * 60 * 60 * 1000;

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::uint64_t parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t n = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, n);
    // from_chars accepts neither '+' nor spaces, so "digits only" is exactly ptr == end.
    if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
        throw bad_value(std::string(min > 0 ? "expected a positive integer, got "
                                            : "expected a non-negative integer, got ") +
                        in_quotes(text));
    }
    if (ec == std::errc::result_out_of_range || n < min || n > max) {
        throw bad_value("expected an integer from " + std::to_string(min) + " to " +
                        std::to_string(max) + ", got " + in_quotes(text));
    }
    return n;
}

millis parse_ms(std::string_view text, std::uint64_t min) {
    return millis(static_cast<millis::rep>(parse_uint(text, min, max_ms)));
}

std::string to_lower(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

bool parse_bool(std::string_view text) {
    const std::string lower = to_lower(text);
    for (std::string_view yes : {"true", "yes", "on", "1"}) {
        if (lower == yes) return true;
    }
    for (std::string_view no : {"false", "no", "off", "0"}) {
        if (lower == no) return false;
    }
    throw bad_value("expected true or false, got " + in_quotes(text));
}

// HOST:PORT, or [IPV6]:PORT. The host is stored without brackets, ready for address parsing.
void parse_listen(std::string_view text, listen_options& out) {
    const std::string form = "expected HOST:PORT or [IPV6]:PORT, got " + in_quotes(text);
    std::string_view host;
    std::string_view rest;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) throw bad_value(form);
        host = text.substr(1, close - 1);
        rest = text.substr(close + 1);
        if (!rest.starts_with(':')) throw bad_value(form);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad_value(form);
        host = text.substr(0, colon);
        rest = text.substr(colon);
        // An unbracketed IPv6 address ("::1:8787") is ambiguous: which colon starts the port?
        if (host.find(':') != std::string_view::npos) throw bad_value(form);
    }
    if (host.empty()) throw bad_value("empty host in " + in_quotes(text));
    std::string_view port = rest.substr(1);
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || n > 65535) {
        throw bad_value("expected a port from 0 to 65535 in " + in_quotes(text));
    }
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(n);
}

// An http(s) origin. Returns it normalised: lower-case scheme, no trailing slash.
std::string parse_upstream(std::string_view text) {
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) throw bad_value("not a valid absolute URL: " + in_quotes(text));
    const boost::urls::url_view& url = *parsed;
    std::string scheme;
    switch (url.scheme_id()) {
        case boost::urls::scheme::http: scheme = "http"; break;
        case boost::urls::scheme::https: scheme = "https"; break;
        default: throw bad_value("expected an http:// or https:// URL, got " + in_quotes(text));
    }
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw bad_value("missing host in " + in_quotes(text));
    }
    // Not echoed: user info may hold a password.
    if (url.has_userinfo()) throw bad_value("user info (user@) is not allowed in the URL");
    if (url.has_query()) throw bad_value("a query is not allowed in " + in_quotes(text));
    if (url.encoded_path() != "" && url.encoded_path() != "/") {
        throw bad_value("a path is not allowed (requests keep their own paths), got " +
                        in_quotes(text));
    }
    if (url.has_port()) {
        std::string_view port = url.port();
        std::uint64_t n = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
        if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || n == 0 ||
            n > 65535) {
            throw bad_value("expected a port from 1 to 65535 in " + in_quotes(text));
        }
    }
    return scheme + "://" + std::string(url.encoded_host_and_port());
}

// Comma-separated host names or IP literals, without ports; empty items are skipped, so an
// empty value means "none". Appends them in canonical form (http/request_site.hpp).
void parse_allowed_hosts(std::string_view text, std::vector<std::string>& out) {
    while (!text.empty()) {
        const auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ')
            item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ')
            item.remove_suffix(1);
        if (!item.empty()) {
            auto name = canonical_host(item);
            if (!name) {
                throw bad_value("expected a host name or IP address without a port, got " +
                                in_quotes(item));
            }
            if (std::find(out.begin(), out.end(), *name) == out.end()) out.push_back(*name);
        }
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
}

// A size in bytes: digits with an optional unit, B, KB/MB/GB/TB (powers of 1000) or
// KiB/MiB/GiB/TiB (powers of 1024), case-insensitive ("2GiB", "500 MB"); 0 or "off": none.
std::uint64_t parse_size(std::string_view text) {
    const std::string lower = to_lower(text);
    if (lower == "off") return 0;
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(lower.data(), lower.data() + lower.size(), n);
    const std::string form = "expected a size such as 2GiB, 500MB or off, got " + in_quotes(text);
    if (ptr == lower.data() || ec != std::errc()) throw bad_value(form);
    std::string_view unit(ptr, static_cast<std::size_t>(lower.data() + lower.size() - ptr));
    while (unit.starts_with(' '))
        unit.remove_prefix(1);
    static const std::pair<std::string_view, std::uint64_t> units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1000},
        {"mb", 1000'000},
        {"gb", 1000'000'000},
        {"tb", 1000'000'000'000},
        {"kib", 1ULL << 10},
        {"mib", 1ULL << 20},
        {"gib", 1ULL << 30},
        {"tib", 1ULL << 40},
    };
    for (const auto& [name, factor] : units) {
        if (unit != name) continue;
        if (n > (1ULL << 50) / factor) throw bad_value("too large: " + in_quotes(text));
        return n * factor;
    }
    throw bad_value(form);
}

std::string parse_existing_file(std::string_view text) {
    std::string path(text);
    std::error_code ec;
    if (path.empty()) throw bad_value("expected a file name, got ''");
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw bad_value("no such file: " + in_quotes(path));
    }
    if (!std::ifstream(path)) throw bad_value("cannot read " + in_quotes(path));
    return path;
}

// The same rule setup_logging applies.
std::string parse_log_level(std::string_view text) {
    std::string level = to_lower(text);
    if (!is_log_level(level)) {
        throw bad_value("expected one of trace, debug, info, warn, error, critical, off, got " +
                        in_quotes(text));
    }
    return level;
}

//--------------------------------------------------------------------------------------------
// The option table: one row per key, shared by flags, the config file and the environment.

enum class where { everywhere, flags_and_env, flags_only };

struct option_spec {
    std::string name;
    std::string value_name;  // empty: a switch (flags only take no value; file/env take a bool)
    std::string help;
    where allowed = where::everywhere;
    std::function<void(serve_options&, std::string_view)> apply;  // throws bad_value
};

std::string env_name(std::string_view option) {
    std::string name(env_prefix);
    for (char c : option) {
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name;
}

std::string ms_default(millis value) {
    return " (default: " + std::to_string(value.count()) + ")";
}

std::vector<option_spec> option_table(const std::string& default_db) {
    const serve_options d;  // defaults, so the help text cannot drift from options.hpp
    auto no_op = [](serve_options&, std::string_view) {};
    return {
        {"help", "", "print this help and exit (also -h)", where::flags_only, no_op},
        {"version", "", "print the version and exit", where::flags_only, no_op},
        {"config", "FILE",
         "read settings from FILE (key = value, keys as the long flags; /dev/null: none) "
         "(default: $XDG_CONFIG_HOME/runmirror/runmirror.conf or "
         "~/.config/runmirror/runmirror.conf, then /etc/runmirror/runmirror.conf, the first "
         "that exists)",
         where::flags_and_env, no_op},
        {"listen", "HOST:PORT",
         "address to listen on; [::1]:PORT for IPv6, port 0 picks a free port; an address "
         "beyond loopback needs admin-token (default: " +
             d.listen.host + ":" + std::to_string(d.listen.port) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) { parse_listen(v, o.listen); }},
        {"allowed-host", "NAME",
         "also answer requests whose Host or Origin names NAME (any port); others are refused, "
         "so that web pages cannot read the mirror. Always allowed: localhost, 127.0.0.1, [::1] "
         "and the listen address. Repeatable, or comma-separated (default: none)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             parse_allowed_hosts(v, o.listen.allowed_hosts);
         }},
        {"upstream", "URL",
         "LlamaCloud origin, http:// or https://, no path (default: " + d.upstream.url + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.url = parse_upstream(v); }},
        {"upstream-ca", "FILE", "extra CA certificate (PEM) trusted for the upstream",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.ca_file = parse_existing_file(v); }},
        {"db", "PATH",
         "SQLite database file, or a postgresql:// URI for a store several daemons share "
         "(default: $RUNMIRROR_DATA_DIR, $XDG_DATA_HOME/runmirror or "
         "$HOME/.local/share/runmirror, then /runmirror.db; here: " +
             (default_db.empty() ? std::string("none, set --db") : default_db) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             if (v.empty()) throw bad_value("expected a path, got ''");
             o.store.path = std::string(v);
         }},
        {"tenant-secret", "FILE",
         "the secret tenants (hashed API keys) are keyed with, 32 bytes, mode 0600, created "
         "when missing; keep it out of copies of the db (default: beside the db, its name "
         "with .tenant-secret for its extension)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             if (v.empty()) throw bad_value("expected a file name, got ''");
             o.store.tenant_secret_path = std::string(v);
         }},
        {"memory-cache-mb", "N",
         "memory kept for hot runs and list pages in front of the store, 0 to read every hit "
         "from SQLite (default: " +
             std::to_string(d.store.memory_cache_bytes >> 20) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.store.memory_cache_bytes = parse_uint(v, 0, 1 << 20) << 20;
         }},
        {"store-body-limit-mb", "N",
         "upstream answers larger than this are relayed but not stored, from a temporary file "
         "beside the store rather than from memory (default: " +
             std::to_string(d.limits.store_body_limit >> 20) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.limits.store_body_limit = parse_uint(v, 1, 1 << 20) << 20;
         }},
        {"offline", "",
         "serve only from the store, never contact the upstream (file/env: true or false)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.cache.mode = parse_bool(v) ? serve_mode::offline : serve_mode::online;
         }},
        {"poll-interval-ms", "N",
         "sync worker: first poll of a pending run or job; x1.5 per unchanged answer" +
             ms_default(d.sync.poll_interval),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.sync.poll_interval = parse_ms(v, 1); }},
        {"watch-lease-ms", "N",
         "sync worker, PostgreSQL store only: how long a due watch stays claimed by the daemon "
         "polling it, and so how long a dead daemon's watches wait; longer than any poll" +
             ms_default(d.store.watch_lease),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.store.watch_lease = parse_ms(v, 1); }},
        {"poll-cap-ms", "N",
         "sync worker: the poll interval grows up to this" + ms_default(d.sync.poll_cap),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.sync.poll_cap = parse_ms(v, 1); }},
        {"sync-concurrency", "N",
         "sync worker: polls in flight at once (default: " + std::to_string(d.sync.concurrency) +
             ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.sync.concurrency = static_cast<unsigned>(parse_uint(v, 1, 1024));
         }},
        {"sync-rate", "N",
         "sync worker: upstream polls per second at most, per daemon (default: " +
             std::to_string(static_cast<int>(d.sync.rate)) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.sync.rate = static_cast<double>(parse_uint(v, 1, 10'000));
         }},
        {"watch-max-age-ms", "N",
         "sync worker: give up on a run not final after this long" + ms_default(d.sync.max_age),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.sync.max_age = parse_ms(v, 1); }},
        {"max-db-size", "SIZE",
         "keep the store under SIZE (2GiB, 500MB; off: no cap): over it, the daemon prunes in "
         "small batches cached list pages, ended watches, then unfinished resources not fetched "
         "for watch-max-age-ms, and final ones only with retain-final false (default: off)",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.retention.max_db_bytes = parse_size(v); }},
        {"retain-final", "true|false",
         "keep final resources whatever max-db-size says (the mirror keeps history); false: "
         "they may be pruned too, oldest created first (default: true)",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.retention.retain_final = parse_bool(v); }},
        {"threads", "N",
         "worker threads, 0 for one per CPU the process may use (affinity mask, cgroup v2 CPU "
         "quota) (default: " +
             std::to_string(d.listen.threads) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.listen.threads = static_cast<unsigned>(parse_uint(v, 0, 1024));
         }},
        {"max-connections", "N",
         "client connections served at once; past it a new connection gets 503 with "
         "Retry-After, and from 80% of it connections without a complete request head "
         "(idle, slow senders) get 1 s instead of the usual timeouts (default: " +
             std::to_string(d.listen.max_connections) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.listen.max_connections = static_cast<std::size_t>(parse_uint(v, 1, 1'000'000));
         }},
        {"admin-token", "TOKEN",
         "bearer token required by /_runmirror/*, and to listen beyond loopback (default: none, "
         "the admin API is open)",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.admin_token = std::string(v); }},
        {"browse-scope", "all|tenant",
         "what the browse API, events and page show without the admin token: every tenant's "
         "resources, or only those the caller's API key was shown upstream (default: all)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             if (v == "all") {
                 o.scope = browse_scope::all;
             } else if (v == "tenant") {
                 o.scope = browse_scope::tenant;
             } else {
                 throw bad_value("expected all or tenant, got '" + std::string(v) + "'");
             }
         }},
        {"log-level", "LEVEL",
         "trace, debug, info, warn, error, critical or off (default: " + d.log_level + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.log_level = parse_log_level(v); }},
        {"log-format", "text|json",
         "the log's and the access log's lines: text, or one JSON object per line (default: "
         "text)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             if (v != "text" && v != "json") {
                 throw bad_value("expected text or json, got '" + std::string(v) + "'");
             }
             o.log_json = v == "json";
         }},
        {"access-log", "FILE|off",
         "append one line per request to FILE: time, method, path without query, status, "
         "cache result, kind, duration, upstream duration, bytes, tenant prefix; never a key "
         "(default: off)",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             if (v.empty()) throw bad_value("expected a file or off, got ''");
             o.access_log = v == "off" ? std::string() : std::string(v);
         }},
        {"request-log-size", "N",
         "requests kept in memory for /_runmirror/api/requests and the page's Requests view, 0 "
         "for none (default: " +
             std::to_string(d.request_log_size) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.request_log_size = static_cast<std::size_t>(parse_uint(v, 0, 1'000'000));
         }},
        {"connect-timeout-ms", "N",
         "upstream TCP connect deadline" + ms_default(d.upstream.connect_timeout),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.connect_timeout = parse_ms(v, 1); }},
        {"tls-timeout-ms", "N",
         "upstream TLS handshake deadline" + ms_default(d.upstream.tls_timeout), where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.tls_timeout = parse_ms(v, 1); }},
        {"upstream-max-idle", "N",
         "idle keep-alive connections kept open to the upstream for reuse (default: " +
             std::to_string(d.upstream.max_idle_per_host) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.upstream.max_idle_per_host = parse_uint(v, 0, 4096);
         }},
        {"upstream-failure-threshold", "N",
         "consecutive upstream failures that mark it down (answers come from the store at "
         "once) (default: " +
             std::to_string(d.upstream.failure_threshold) + ")",
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.upstream.failure_threshold = static_cast<unsigned>(parse_uint(v, 1, 1'000'000));
         }},
        {"upstream-cooldown-ms", "N",
         "first wait before a down upstream is tried again; doubles per failed try up to 60 s" +
             ms_default(d.upstream.cooldown),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.cooldown = parse_ms(v, 1); }},
        {"response-timeout-ms", "N",
         "deadline for the upstream's response header" + ms_default(d.upstream.response_timeout),
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.upstream.response_timeout = parse_ms(v, 1);
         }},
        {"total-timeout-ms", "N",
         "deadline for a whole upstream exchange" + ms_default(d.upstream.total_timeout),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.upstream.total_timeout = parse_ms(v, 1); }},
        {"pending-max-age-ms", "N",
         "serve a CREATED/PENDING run from the store this long" +
             ms_default(d.cache.pending_max_age),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.cache.pending_max_age = parse_ms(v, 0); }},
        {"list-max-age-ms", "N",
         "serve a list page from the store this long" + ms_default(d.cache.list_max_age),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.cache.list_max_age = parse_ms(v, 0); }},
        {"stale-while-revalidate-ms", "N",
         "past its max age, serve a stored CREATED/PENDING run or list page at once for this "
         "long while one background request refreshes it (0: wait for the refresh)" +
             ms_default(d.cache.stale_while_revalidate),
         where::everywhere,
         [](serve_options& o, std::string_view v) {
             o.cache.stale_while_revalidate = parse_ms(v, 0);
         }},
        {"shutdown-grace-ms", "N",
         "on SIGTERM, let in-flight requests finish this long" +
             ms_default(d.limits.shutdown_grace),
         where::everywhere,
         [](serve_options& o, std::string_view v) { o.limits.shutdown_grace = parse_ms(v, 0); }},
    };
}

// A setting's effective value as text, in the form its config file line would take; nullopt
// for the keys that are not settings (help, version, config). A unit test checks that every
// other key of the table has a form here.
std::optional<std::string> shown_value(const serve_options& o, std::string_view key) {
    auto ms = [](millis v) { return std::to_string(v.count()); };
    auto n = [](auto v) { return std::to_string(v); };
    auto listen = [&] {
        const bool v6 = o.listen.host.find(':') != std::string::npos;
        return (v6 ? "[" + o.listen.host + "]" : o.listen.host) + ":" + n(o.listen.port);
    };
    auto joined = [](const std::vector<std::string>& items) {
        std::string out;
        for (const auto& item : items)
            out += (out.empty() ? "" : ", ") + item;
        return out;
    };
    const std::pair<std::string_view, std::function<std::string()>> forms[] = {
        {"listen", listen},
        {"allowed-host", [&] { return joined(o.listen.allowed_hosts); }},
        {"upstream", [&] { return o.upstream.url; }},
        {"upstream-ca", [&] { return o.upstream.ca_file; }},
        {"db", [&] { return store_display_name(o.store.path); }},
        {"tenant-secret", [&] { return o.store.tenant_secret_path; }},
        {"memory-cache-mb", [&] { return n(o.store.memory_cache_bytes >> 20); }},
        {"store-body-limit-mb", [&] { return n(o.limits.store_body_limit >> 20); }},
        {"offline",
         [&] { return std::string(o.cache.mode == serve_mode::offline ? "true" : "false"); }},
        {"poll-interval-ms", [&] { return ms(o.sync.poll_interval); }},
        {"watch-lease-ms", [&] { return ms(o.store.watch_lease); }},
        {"poll-cap-ms", [&] { return ms(o.sync.poll_cap); }},
        {"sync-concurrency", [&] { return n(o.sync.concurrency); }},
        {"sync-rate", [&] { return n(static_cast<long long>(o.sync.rate)); }},
        {"watch-max-age-ms", [&] { return ms(o.sync.max_age); }},
        {"max-db-size",
         [&] {
             return o.retention.max_db_bytes == 0 ? std::string("off")
                                                  : n(o.retention.max_db_bytes);
         }},
        {"retain-final", [&] { return std::string(o.retention.retain_final ? "true" : "false"); }},
        {"threads", [&] { return n(o.listen.threads); }},
        {"max-connections", [&] { return n(o.listen.max_connections); }},
        {"admin-token", [&] { return o.admin_token.empty() ? "" : std::string("<redacted>"); }},
        {"browse-scope",
         [&] { return std::string(o.scope == browse_scope::all ? "all" : "tenant"); }},
        {"log-level", [&] { return o.log_level; }},
        {"log-format", [&] { return std::string(o.log_json ? "json" : "text"); }},
        {"access-log", [&] { return o.access_log.empty() ? std::string("off") : o.access_log; }},
        {"request-log-size", [&] { return n(o.request_log_size); }},
        {"connect-timeout-ms", [&] { return ms(o.upstream.connect_timeout); }},
        {"tls-timeout-ms", [&] { return ms(o.upstream.tls_timeout); }},
        {"upstream-max-idle", [&] { return n(o.upstream.max_idle_per_host); }},
        {"upstream-failure-threshold", [&] { return n(o.upstream.failure_threshold); }},
        {"upstream-cooldown-ms", [&] { return ms(o.upstream.cooldown); }},
        {"response-timeout-ms", [&] { return ms(o.upstream.response_timeout); }},
        {"total-timeout-ms", [&] { return ms(o.upstream.total_timeout); }},
        {"pending-max-age-ms", [&] { return ms(o.cache.pending_max_age); }},
        {"list-max-age-ms", [&] { return ms(o.cache.list_max_age); }},
        {"stale-while-revalidate-ms", [&] { return ms(o.cache.stale_while_revalidate); }},
        {"shutdown-grace-ms", [&] { return ms(o.limits.shutdown_grace); }},
    };
    for (const auto& [name, form] : forms) {
        if (name == key) return form();
    }
    return std::nullopt;
}

std::vector<effective_setting> effective_settings(
    const std::vector<option_spec>& table, const serve_options& options,
    const std::map<std::string, std::string, std::less<>>& winners) {
    std::vector<effective_setting> out;
    for (const auto& spec : table) {
        if (spec.allowed == where::flags_only || spec.name == "config") continue;
        effective_setting e{spec.name, shown_value(options, spec.name).value_or("?"), "default",
                            spec.name == "admin-token"};
        if (auto won = winners.find(spec.name); won != winners.end()) {
            e.source = won->second;
        } else if (spec.name == "db") {
            e.source = "default (the data directory: see --help)";
        } else if (spec.name == "tenant-secret") {
            e.source = is_postgres_uri(options.store.path)
                           ? "none (a PostgreSQL db needs one set: see --tenant-secret)"
                           : "default (beside the db)";
        }
        out.push_back(std::move(e));
    }
    return out;
}

const option_spec* find_spec(const std::vector<option_spec>& table, std::string_view name) {
    for (const auto& spec : table) {
        if (spec.name == name) return &spec;
    }
    return nullptr;
}

// |for_file|: every value-taking key as a plain string (switches take "true"/"false" there).
po::options_description describe(const std::vector<option_spec>& table, bool for_file) {
    po::options_description desc("Options", 100, 40);
    for (const auto& spec : table) {
        if (for_file && spec.allowed != where::everywhere) continue;
        if (spec.value_name.empty() && !for_file) {
            desc.add_options()(spec.name.c_str(), po::bool_switch(), spec.help.c_str());
        } else {
            desc.add_options()(spec.name.c_str(),
                               po::value<std::string>()->value_name(
                                   spec.value_name.empty() ? "BOOL" : spec.value_name),
                               spec.help.c_str());
        }
    }
    return desc;
}

std::string help_text(const std::vector<option_spec>& table) {
    std::ostringstream out;
    out << "Usage: runmirror serve [options]\n"
           "\n"
           "Runs the caching proxy. Settings come from the config file, then RUNMIRROR_*\n"
           "environment variables (RUNMIRROR_ plus the flag name upper-cased, dashes as\n"
           "underscores, e.g. RUNMIRROR_POLL_INTERVAL_MS), then flags; a later source wins.\n"
           "Every runmirror command reads the same config file (see --config); relative paths\n"
           "in it are relative to its directory. `runmirror config` shows what is in effect.\n"
           "\n"
        << describe(table, false);
    return out.str();
}

std::optional<std::string> env_value(const std::vector<std::string>& environment,
                                     std::string_view name) {
    std::optional<std::string> found;
    for (const auto& entry : environment) {
        if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
            found = entry.substr(name.size() + 1);  // the last one wins, as in a shell
        }
    }
    return found;
}

std::vector<setting> parse_flags(const std::vector<std::string>& args,
                                 const std::vector<option_spec>& table) {
    namespace style = po::command_line_style;
    po::parsed_options parsed(nullptr);
    try {
        // No guessing: "--list" must not silently mean --list-max-age-ms.
        parsed = po::command_line_parser(args)
                     .options(describe(table, false))
                     .style(style::default_style & ~style::allow_guessing)
                     .run();
    } catch (const po::unknown_option& e) {
        throw bad_value(e.get_option_name() + ": unknown option");
    } catch (const po::invalid_command_line_syntax& e) {
        if (e.kind() == po::invalid_syntax::missing_parameter ||
            e.kind() == po::invalid_syntax::empty_adjacent_parameter) {
            throw bad_value(e.get_option_name() + ": missing value");
        }
        if (e.kind() == po::invalid_syntax::extra_parameter) {
            throw bad_value(e.get_option_name() + ": takes no value");
        }
        throw bad_value(e.what());
    } catch (const po::error& e) {
        throw bad_value(e.what());
    }
    std::vector<setting> out;
    for (const auto& option : parsed.options) {
        if (option.string_key.empty()) {
            throw bad_value("unexpected argument " + in_quotes(option.value.front()));
        }
        // A switch carries no token; "true" is what a file or the environment would say.
        out.push_back({option.string_key, option.value.empty() ? "true" : option.value.front(),
                       "--" + option.string_key});
    }
    return out;
}

std::vector<setting> parse_environment(const std::vector<std::string>& environment,
                                       const std::vector<option_spec>& table) {
    std::vector<setting> out;
    for (const auto& entry : environment) {
        auto eq = entry.find('=');
        std::string name = entry.substr(0, eq);
        if (!name.starts_with(env_prefix)) continue;  // not ours
        if (std::find(std::begin(non_option_variables), std::end(non_option_variables), name) !=
            std::end(non_option_variables)) {
            continue;
        }
        const option_spec* spec = nullptr;
        for (const auto& candidate : table) {
            if (candidate.allowed != where::flags_only && env_name(candidate.name) == name) {
                spec = &candidate;
            }
        }
        if (spec == nullptr) throw bad_value("environment " + name + ": unknown variable");
        out.push_back({spec->name, eq == std::string::npos ? "" : entry.substr(eq + 1),
                       "environment " + name});
    }
    return out;
}

// The keys whose value is a path, resolved against the config file's directory when relative.
// Values that are not paths (":memory:", "off") are left alone.
bool is_path_key(std::string_view key) {
    return key == "db" || key == "tenant-secret" || key == "upstream-ca" || key == "access-log";
}

std::string relative_to_file(const std::string& file, const std::string& key, std::string value) {
    namespace fs = std::filesystem;
    if (!is_path_key(key) || value.empty() || fs::path(value).is_absolute()) return value;
    if ((key == "db" && (value == ":memory:" || is_postgres_uri(value))) ||
        (key == "access-log" && value == "off")) {
        return value;
    }
    const fs::path dir = fs::path(file).parent_path();
    return dir.empty() ? value : (dir / value).lexically_normal().string();
}

std::vector<setting> parse_file(const std::string& path, const std::string& path_label,
                                const std::vector<option_spec>& table) {
    std::ifstream in(path);
    if (!in) throw bad_value(path_label + ": cannot read " + in_quotes(path));
    const std::string source = "config file " + path;
    po::parsed_options parsed(nullptr);
    try {
        parsed = po::parse_config_file(in, describe(table, true), false);
    } catch (const po::unknown_option& e) {
        throw bad_value(source + ": unknown option " + in_quotes(e.get_option_name()));
    } catch (const po::error& e) {
        throw bad_value(source + ": " + e.what());
    }
    std::vector<setting> out;
    for (const auto& option : parsed.options) {
        std::string value = option.value.empty() ? "" : option.value.front();
        out.push_back({option.string_key, relative_to_file(path, option.string_key, value),
                       source + ": " + option.string_key});
    }
    return out;
}

bool has_arg(const std::vector<std::string>& args, std::initializer_list<std::string_view> names) {
    return std::any_of(args.begin(), args.end(), [&](const std::string& arg) {
        return std::find(names.begin(), names.end(), arg) != names.end();
    });
}

}  // namespace

load_result load_serve_options(const std::vector<std::string>& args,
                               const std::vector<std::string>& environment) {
    load_result result;
    const std::string default_db = default_db_path(environment);
    const auto table = option_table(default_db);

    // --help and --version win over everything else, even over mistakes elsewhere on the line:
    // someone asking for help is likely to have a broken command line.
    if (has_arg(args, {"--help", "-h"})) {
        result.help = true;
        result.help_text = help_text(table);
        return result;
    }
    if (has_arg(args, {"--version"})) {
        result.version = true;
        return result;
    }

    std::map<std::string, std::string, std::less<>> winners;  // key -> label of its source
    try {
        auto flags = parse_flags(args, table);
        auto env = parse_environment(environment, table);

        // The config file is named by the environment or a flag (the flag wins), else found on
        // the search path. Only a named file must exist.
        std::vector<setting> file;
        std::optional<setting> config;
        for (const auto* source : {&env, &flags}) {
            for (const auto& s : *source) {
                if (s.key == "config") config = s;
            }
        }
        if (config) {
            result.config_file = config->value;
            result.config_found_by = config->label;
        } else {
            for (const auto& candidate : config_search_path(environment)) {
                std::error_code ec;
                if (std::filesystem::is_regular_file(candidate, ec)) {
                    result.config_file = candidate;
                    result.config_found_by = "search path";
                    break;
                }
            }
        }
        if (!result.config_file.empty()) {
            file = parse_file(result.config_file,
                              config ? config->label : "config file " + result.config_file, table);
        }

        for (const auto* source : {&file, &env, &flags}) {
            bool hosts_replaced = false;
            for (const auto& s : *source) {
                if (s.key == "allowed-host" && !std::exchange(hosts_replaced, true)) {
                    result.options.listen.allowed_hosts.clear();
                }
                // Every key was checked against the table while parsing its source.
                const option_spec* spec = find_spec(table, s.key);
                try {
                    spec->apply(result.options, s.value);
                } catch (const bad_value& e) {
                    throw bad_value(s.label + ": " + e.what());
                }
                winners[s.key] = s.label;
            }
        }
    } catch (const bad_value& e) {
        result.error = e.what();
        return result;
    }

    // The SDKs' own variable: the sync worker's service key. Memory only, never logged.
    if (auto key = env_value(environment, "LLAMA_CLOUD_API_KEY"); key && !key->empty()) {
        result.options.sync.service_key = *key;
    }

    if (result.options.store.path.empty()) {
        if (default_db.empty()) {
            result.error =
                "--db: no default location (none of RUNMIRROR_DATA_DIR, XDG_DATA_HOME, HOME is "
                "set); pass --db PATH";
            return result;
        }
        result.options.store.path = default_db;
    }
    const bool on_postgres = is_postgres_uri(result.options.store.path);
    // Answers too large to store are kept on disk next to the store while they are relayed (a
    // store without a file of its own: in the temporary directory).
    const std::filesystem::path db(result.options.store.path);
    std::error_code no_temp;
    result.options.limits.spill_dir = result.options.store.path == ":memory:" || on_postgres
                                          ? std::filesystem::temp_directory_path(no_temp).string()
                                      : db.has_parent_path() ? db.parent_path().string()
                                                             : std::string(".");
    // A database that several daemons share has no "beside the db" on any of them, and each
    // must key tenants with the same secret: which file holds it is for the operator to say
    // (postgres_secret_missing; the store refuses a daemon whose secret differs once it holds
    // tenants). So a PostgreSQL store gets no default.
    if (result.options.store.tenant_secret_path.empty() && !on_postgres) {
        result.options.store.tenant_secret_path =
            default_tenant_secret_path(result.options.store.path);
    }
    result.settings = effective_settings(table, result.options, winners);
    result.settings.push_back({"LLAMA_CLOUD_API_KEY",
                               result.options.sync.service_key.empty() ? "" : "<redacted>",
                               "environment LLAMA_CLOUD_API_KEY", true});
    return result;
}

std::string listen_refusal(const serve_options& options) {
    const std::string& host = options.listen.host;
    // A name is not an address: binding fails on it and says so. Any colon means IPv6 (the
    // listen parser lets none into a name), with or without a scope ("fe80::1%eth0").
    const bool address =
        boost::urls::parse_ipv4_address(host) || host.find(':') != std::string::npos;
    if (!options.admin_token.empty() || !address || is_loopback_ip(host)) return {};
    const std::string shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
    return "refusing to listen on " + shown + ":" + std::to_string(options.listen.port) +
           " without an admin token: anyone who can reach this port could read every stored "
           "run; set admin-token (--admin-token or RUNMIRROR_ADMIN_TOKEN) to listen beyond "
           "loopback";
}

std::vector<std::string> config_search_path(const std::vector<std::string>& environment) {
    namespace fs = std::filesystem;
    std::vector<std::string> out;
    if (auto xdg = env_value(environment, "XDG_CONFIG_HOME"); xdg && fs::path(*xdg).is_absolute()) {
        out.push_back((fs::path(*xdg) / "runmirror" / "runmirror.conf").string());
    } else if (auto home = env_value(environment, "HOME"); home && !home->empty()) {
        out.push_back((fs::path(*home) / ".config" / "runmirror" / "runmirror.conf").string());
    }
    out.push_back("/etc/runmirror/runmirror.conf");
    return out;
}

// Public (load_options.hpp) so other commands find the same store; env_value is above.
// Empty when no candidate directory is set. XDG_DATA_HOME must be absolute per the XDG spec.
std::string postgres_secret_missing(const store_options& store) {
    if (!is_postgres_uri(store.path) || !store.tenant_secret_path.empty()) return {};
    return "--db is a PostgreSQL database: set --tenant-secret FILE, the same secret file on "
           "every daemon that shares it (the first serve creates it when missing)";
}

std::string default_db_path(const std::vector<std::string>& environment) {
    namespace fs = std::filesystem;
    if (auto dir = env_value(environment, "RUNMIRROR_DATA_DIR"); dir && !dir->empty()) {
        return (fs::path(*dir) / "runmirror.db").string();
    }
    if (auto xdg = env_value(environment, "XDG_DATA_HOME"); xdg && fs::path(*xdg).is_absolute()) {
        return (fs::path(*xdg) / "runmirror" / "runmirror.db").string();
    }
    if (auto home = env_value(environment, "HOME"); home && !home->empty()) {
        return (fs::path(*home) / ".local" / "share" / "runmirror" / "runmirror.db").string();
    }
    return {};
}

}  // namespace runmirror
