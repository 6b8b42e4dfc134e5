// `runmirror watches`: what the sync worker is watching, read straight from the store, so it
// works whether or not the daemon runs (WAL lets a reader in beside the daemon's writer).
// Every failure ends in one line on stderr: exit 2 for a bad command line or config, 1 when
// the store cannot be read.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "admin/watch_json.hpp"
#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "config/load_options.hpp"
#include "net/standalone_upstream.hpp"
#include "runmirror/store.hpp"
#include "sync/watch_wait.hpp"
#include "util/tenant_secret.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;

constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1'000'000;
// Table width when stdout is not a terminal and COLUMNS is not set.
constexpr std::size_t fallback_width = 120;
// Free-text columns never shrink below this, however narrow the terminal.
constexpr std::size_t min_text_width = 16;
// REASON is capped so that LAST ERROR, usually the more telling, keeps most of the room.
constexpr std::size_t max_reason_width = 40;

struct watches_args {
    std::optional<std::string> db;
    std::optional<std::string> config;
    bool all = false;
    bool json = false;
    bool ask_daemon = false;
    std::size_t limit = default_limit;
};

po::options_description describe(const std::string& default_db) {
    po::options_description desc("Options", 100, 40);
    desc.add_options()                                             //
        ("help,h", po::bool_switch(), "print this help and exit")  //
        ("db", po::value<std::string>()->value_name("PATH"),
         ("store to read: an SQLite file, never created, or a postgresql:// URI (default: as for "
          "serve: RUNMIRROR_DB, the config "
          "file's db, else under $RUNMIRROR_DATA_DIR, $XDG_DATA_HOME or $HOME; here: " +
          (default_db.empty() ? std::string("none, set --db") : default_db) + ")")
             .c_str())  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "the serve config file to take db from (default: RUNMIRROR_CONFIG)")  //
        ("all", po::bool_switch(),
         "also list ended watches (finished or given up) after the active ones, most recently "
         "ended first, with ENDED and REASON columns")  //
        ("json", po::bool_switch(),
         "print JSON Lines, one object per watch, times in ISO 8601 UTC, instead of a table")  //
        ("daemon", po::bool_switch(),
         "ask the running daemon why each watch waits (GET /_runmirror/api/watches at serve's "
         "listen address, with its admin token, from the same configuration): only it knows "
         "the keys it holds in memory, a 429's pause and the upstream's state")  //
        ("limit", po::value<std::string>()->value_name("N"),
         ("show at most N watches (default: " + std::to_string(default_limit) + ")").c_str());
    return desc;
}

std::string help_text(const std::string& default_db) {
    std::ostringstream out;
    out << "Usage: runmirror watches [options]\n"
           "\n"
           "Lists the runs and jobs the sync worker polls upstream until they are final, soonest\n"
           "poll first. Reads the store directly: works whether or not the daemon is running.\n"
           "The store is the one 'runmirror serve' would open with the same --db, --config and\n"
           "RUNMIRROR_* environment, which are checked the same way.\n"
           "\n"
           "Table columns: KIND (run or job), RUN, JOB, AGENT, NEXT POLL (\"in 3s\", \"due\"),\n"
           "ATTEMPTS (answers in a row without a change), LAST STATUS, WAITING (why it is not\n"
           "polled now, as far as the store tells), LAST ERROR (cut to fit the terminal, else\n"
           "$COLUMNS, else " +
               std::to_string(fallback_width) +
               " columns; --json has it whole).\n"
               "A due watch is polled at once by a daemon that holds a key for its tenant; which\n"
               "keys the daemon holds (in memory only) is not visible from the store, so WAITING\n"
               "says \"key not visible here\". With --daemon the running daemon says why each\n"
               "watch waits (as its GET /_runmirror/api/watches and web page do): no key for the\n"
               "tenant yet, upstream down, paused by 429, rate limited; if it cannot be asked,\n"
               "one line on stderr says why and the store's reasons are shown.\n"
               "\n"
        << describe(default_db);
    return out.str();
}

watches_args parse_args(const std::vector<std::string>& args, const std::string& default_db) {
    const po::options_description desc = describe(default_db);
    const po::variables_map vm = parse_command_args(args, desc);
    watches_args out;
    if (vm.count("db")) out.db = vm["db"].as<std::string>();
    if (vm.count("config")) out.config = vm["config"].as<std::string>();
    out.all = vm["all"].as<bool>();
    out.json = vm["json"].as<bool>();
    out.ask_daemon = vm["daemon"].as<bool>();
    if (vm.count("limit")) out.limit = parse_limit(vm["limit"].as<std::string>(), max_limit);
    return out;
}

// What serve would use (the store's path, the listen address, the admin token): handing --db
// and --config to serve's own loader keeps the two commands from ever disagreeing.
serve_options resolve_options(const watches_args& args, const std::vector<std::string>& env) {
    std::vector<std::pair<std::string, std::string>> flags;
    if (args.config) flags.emplace_back("--config", *args.config);
    if (args.db) flags.emplace_back("--db", *args.db);
    return serve_options_for(flags, env);
}

// Where a client reaches a daemon listening on |listen|: a wildcard address is reached on
// loopback.
std::string daemon_url(const listen_options& listen) {
    std::string host = listen.host;
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::" || host == "[::]") host = "[::1]";
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(listen.port);
}

// The running daemon's own account of why each watch waits; nullopt, with |why_not| set, when
// it cannot be had (nothing listens, a refusal, another answer). A daemon that does not answer
// within a few seconds is not waited for.
std::optional<std::vector<reported_wait>> ask_daemon(const serve_options& options, bool all,
                                                     std::size_t limit, std::string& why_not) {
    const std::string url = daemon_url(options.listen);
    upstream_options daemon;
    daemon.url = url;
    daemon.connect_timeout = millis(1'000);
    daemon.response_timeout = millis(3'000);
    daemon.total_timeout = millis(5'000);
    try {
        auto client = net::make_standalone_upstream(daemon, options.limits);
        request req;
        req.method = "GET";
        req.target =
            "/_runmirror/api/watches?limit=" + std::to_string(limit) + (all ? "&all=1" : "");
        req.headers.push_back({"Accept", "application/json"});
        if (!options.admin_token.empty()) {
            req.headers.push_back({"X-Runmirror-Token", options.admin_token});
        }
        const upstream_reply reply = net::send_and_wait(*client, std::move(req));
        if (reply.failure) {
            why_not = "no daemon answered at " + url + " (" + reply.failure.detail + ")";
            return std::nullopt;
        }
        if (reply.answer.status != 200) {
            why_not =
                "the daemon at " + url + " answered " + std::to_string(reply.answer.status) +
                (reply.answer.status == 401 ? " (its admin token is not in this configuration)"
                                            : "");
            return std::nullopt;
        }
        auto waits = parse_reported_waits(reply.answer.body);
        if (!waits) why_not = url + " did not answer with a list of watches";
        return waits;
    } catch (const std::exception& e) {
        why_not = "cannot ask the daemon at " + url + ": " + e.what();
        return std::nullopt;
    }
}

//--------------------------------------------------------------------------------------------
// The table

std::size_t terminal_width() {
    winsize size{};
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
        return size.ws_col;
    }
    if (const char* columns = std::getenv("COLUMNS")) {
        std::size_t n = 0;
        std::string_view text(columns);
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec == std::errc() && ptr == text.data() + text.size() && n > 0) return n;
    }
    return fallback_width;
}

// Upstream error texts may hold newlines or tabs, which would break the rows: each run of
// control characters and spaces becomes one space.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text) {
        const bool blank = static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
        if (!blank) {
            out += c;
        } else if (!out.empty() && out.back() != ' ') {
            out += ' ';
        }
    }
    return out;
}

// At most |width| cells, ending in "..." when cut; never splits a UTF-8 sequence.
std::string truncate(const std::string& text, std::size_t width) {
    if (display_width(text) <= width) return text;
    const std::size_t keep = width > 3 ? width - 3 : 0;
    std::size_t cells = 0;
    std::size_t end = 0;
    for (; end < text.size(); ++end) {
        const bool starts_code_point = (static_cast<unsigned char>(text[end]) & 0xC0) != 0x80;
        if (starts_code_point && cells++ == keep) break;
    }
    return text.substr(0, end) + "...";
}

// "3s", "5m", "2h", "4d": one unit is enough to see whether the worker keeps up.
std::string duration_text(millis d) {
    const std::int64_t s = std::max<std::int64_t>(0, d.count() / 1000);
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m";
    if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

std::string next_poll_text(const watch& w, time_point now) {
    if (!w.active()) return "-";
    if (w.next_poll_at <= now) return "due";
    // Rounded up, so a poll still ahead never reads "in 0s".
    const auto ahead = std::chrono::ceil<std::chrono::seconds>(w.next_poll_at - now);
    return "in " + duration_text(ahead);
}

std::string ended_text(const watch& w, time_point now) {
    const auto since = [&](time_point t) {
        return duration_text(std::chrono::duration_cast<millis>(now - t)) + " ago";
    };
    if (w.finished_at) return "finished " + since(*w.finished_at);
    if (w.given_up_at) return "gave up " + since(*w.given_up_at);
    return "-";
}

std::string or_dash(std::string_view text) {
    return text.empty() ? "-" : one_line(text);
}

// The WAITING column: short, since NEXT POLL, ENDED and REASON tell the rest.
std::string_view waiting_text(watch_wait wait) {
    switch (wait) {
        case watch_wait::finished:
        case watch_wait::given_up:
        case watch_wait::scheduled: return "-";
        case watch_wait::offline: return "daemon offline";
        case watch_wait::polling: return "polling now";
        case watch_wait::no_key: return "no key for its tenant yet";
        case watch_wait::upstream_down: return "upstream down";
        case watch_wait::paused_by_429: return "paused by 429";
        case watch_wait::rate_limited: return "rate limited";
        case watch_wait::no_free_slot: return "no free poll slot";
        case watch_wait::due: return "-";
        case watch_wait::due_key_unknown: return "key not visible here";
    }
    return "-";
}

using reason_fn = std::function<watch_wait_reason(const watch&)>;

std::string render_table(const std::vector<watch>& watches, bool all, time_point now,
                         std::size_t width, const reason_fn& reason_of) {
    std::vector<std::string> header = {"KIND",      "RUN",      "JOB",         "AGENT",
                                       "NEXT POLL", "ATTEMPTS", "LAST STATUS", "WAITING"};
    if (all) header.insert(header.end(), {"ENDED", "REASON"});
    header.push_back("LAST ERROR");

    std::vector<std::vector<std::string>> rows = {header};
    for (const watch& w : watches) {
        std::vector<std::string> row = {std::string(to_string(w.kind)),
                                        or_dash(w.run_id),
                                        or_dash(w.job_id),
                                        or_dash(w.extraction_agent_id),
                                        next_poll_text(w, now),
                                        std::to_string(w.attempts),
                                        or_dash(w.last_status),
                                        std::string(waiting_text(reason_of(w).wait))};
        if (all) {
            row.push_back(ended_text(w, now));
            row.push_back(truncate(or_dash(w.give_up_reason), max_reason_width));
        }
        row.push_back(or_dash(w.last_error));
        rows.push_back(std::move(row));
    }

    // Every column but the last is as wide as its widest cell; LAST ERROR gets what is left.
    const std::size_t last = header.size() - 1;
    std::vector<std::size_t> widths(header.size(), 0);
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < last; ++i) {
            widths[i] = std::max(widths[i], display_width(row[i]));
        }
    }
    std::size_t used = 0;
    for (std::size_t i = 0; i < last; ++i)
        used += widths[i] + 2;
    const std::size_t error_width = width > used + min_text_width ? width - used : min_text_width;

    std::string out;
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < last; ++i) {
            out += row[i];
            out.append(widths[i] - display_width(row[i]) + 2, ' ');
        }
        out += truncate(row[last], error_width);
        out += '\n';
    }
    return out;
}

}  // namespace

int watches_command(const std::vector<std::string>& args) {
    const std::vector<std::string> env = process_environment();
    const std::string default_db = default_db_path(env);

    // --help wins over mistakes elsewhere on the line, as for serve.
    if (wants_help(args)) {
        std::cout << help_text(default_db);
        return 0;
    }

    watches_args parsed;
    serve_options options;
    try {
        parsed = parse_args(args, default_db);
        options = resolve_options(parsed, env);
    } catch (const usage_error& e) {
        std::cerr << "runmirror watches: " << e.what() << "\n";
        return 2;
    }

    // open_sqlite_store would create a missing file (and migrate an empty one into a store):
    // a typo in --db must be reported, not leave a fresh empty store behind.
    if (!is_postgres_uri(options.store.path) && !store_exists(options.store.path)) {
        std::cerr << "runmirror watches: no store at " << options.store.path << "\n";
        return 1;
    }

    std::vector<watch> watches;
    try {
        // Reading computes no tenant; the secret is for opening a store whose tenants need
        // converting (serve creates it; this command never does).
        // (A PostgreSQL store names its secret explicitly or has none here: no default.)
        if (!is_postgres_uri(options.store.path) || !options.store.tenant_secret_path.empty()) {
            install_store_tenant_secret(options.store.path, options.store.tenant_secret_path,
                                        secret_use::existing);
        }
        // One more than asked, to know whether the listing was cut.
        watches = open_store(options.store.path)
                      ->list_watches(parsed.all ? watch_listing::all : watch_listing::active,
                                     parsed.limit + 1);
    } catch (const std::runtime_error& e) {  // store_error, tenant_secret_error
        std::cerr << "runmirror watches: " << e.what() << "\n";
        return 1;
    }
    const bool cut = watches.size() > parsed.limit;
    if (cut) watches.resize(parsed.limit);

    // Why each waits: the daemon's word when asked (for the watches it reports under the same
    // id and resource, so that another store's daemon is never believed), else the store's.
    std::map<watch_id, watch_wait_reason> from_daemon;
    if (parsed.ask_daemon) {
        std::string why_not;
        if (auto waits = ask_daemon(options, parsed.all, parsed.limit + 1, why_not)) {
            for (reported_wait& r : *waits) {
                auto same = std::find_if(watches.begin(), watches.end(), [&](const watch& w) {
                    return w.id == r.id && w.run_id == r.run_id && w.job_id == r.job_id;
                });
                if (same != watches.end()) from_daemon[r.id] = std::move(r.why);
            }
        } else {
            std::cerr << "runmirror watches: " << why_not << "; reasons from the store alone\n";
        }
    }
    const time_point now = clock_type::now();
    const reason_fn reason_of = [&](const watch& w) {
        auto it = from_daemon.find(w.id);
        return it != from_daemon.end() ? it->second : explain_watch(w, watch_wait_context{}, now);
    };
    if (parsed.json) {
        for (const watch& w : watches)
            std::cout << watch_to_json(w, reason_of(w)) << "\n";
    } else if (watches.empty()) {
        std::cout << (parsed.all ? "no watches\n" : "no active watches\n");
    } else {
        std::cout << render_table(watches, parsed.all, now, terminal_width(), reason_of);
    }
    if (cut) {
        // On stderr, so a script reading stdout (JSON Lines above all) sees only watches.
        std::cerr << "runmirror watches: showing the first " << parsed.limit
                  << "; use --limit N for more\n";
    }
    return 0;
}

}  // namespace runmirror
