// `runmirror db stats|check|vacuum|backup FILE`: looking after the store itself
// (runmirror/store_admin.hpp), an SQLite file or a PostgreSQL database. The store is the one
// `runmirror serve` would open with the same --db, --config and RUNMIRROR_* environment, found
// as `runmirror runs` finds it; it is never created and never migrated here. stats, check and
// backup open it read-only; vacuum writes. All four are safe while the daemon runs (SQLite's
// locking, WAL snapshots; PostgreSQL's MVCC). On PostgreSQL, backup refuses: that is pg_dump's.
// Exit codes: 0 done (check: no problem found), 1 a problem found or a failure, 2 a bad
// command line.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "config/load_options.hpp"
#include "http/json_error.hpp"
#include "runmirror/store.hpp"
#include "runmirror/store_admin.hpp"
#include "util/tenant_secret.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

// A failure after the command line was accepted: exit 1. (usage_error, from cli_args: exit 2.)
struct db_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class action { stats, check, vacuum, backup };

constexpr const char* usage =
    "Usage: runmirror db ACTION [options]\n"
    "\n"
    "Looks after the store: the one 'runmirror serve' uses with the same --db, --config and\n"
    "RUNMIRROR_* environment, an SQLite file or a PostgreSQL database (--db postgresql://...;\n"
    "no tenant secret needed). Never creates a store and never upgrades its schema. Safe while\n"
    "the daemon is running.\n"
    "\n"
    "Actions:\n"
    "  stats        rows and bytes by kind of resource, schema version, and the file and page\n"
    "               sizes (PostgreSQL: the size of each of the store's tables)\n"
    "  check        the database's integrity check (PostgreSQL: its schema and bookkeeping\n"
    "               rows), and every stored body decoded and parsed\n"
    "  vacuum       rewrite the file compactly, returning unused space to the file system\n"
    "               (PostgreSQL: VACUUM (ANALYZE) of the store's tables)\n"
    "  backup FILE  write a consistent copy of the store to FILE, while it is in use\n"
    "               (SQLite only: back up a PostgreSQL store with pg_dump)\n"
    "\n"
    "Run 'runmirror db ACTION --help' for an action's options.\n";

po::options_description describe(action which, const std::string& default_db) {
    po::options_description desc("Options", 100, 40);
    desc.add_options()("help,h", po::bool_switch(), "print this help and exit");
    switch (which) {
        case action::stats:
            desc.add_options()("json", po::bool_switch(),
                               "print one JSON object instead of a table");
            break;
        case action::backup:
            desc.add_options()  //
                ("force", po::bool_switch(),
                 "replace FILE (and with --with-secret its secret file) if it exists")  //
                ("with-secret", po::bool_switch(),
                 "also copy the store's tenant secret beside FILE (FILE's name with the extension "
                 ".tenant-secret, mode 0600), which restoring the backup needs");
            break;
        case action::check:
        case action::vacuum: break;
    }
    desc.add_options()  //
        ("db", po::value<std::string>()->value_name("PATH|URI"),
         ("the store, a file or postgresql://...; never created (default: as for serve: "
          "RUNMIRROR_DB, the config file's db, else under $RUNMIRROR_DATA_DIR, $XDG_DATA_HOME "
          "or $HOME; here: " +
          (default_db.empty() ? std::string("none, set --db") : default_db) + ")")
             .c_str())  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "the serve config file to take db (and tenant-secret) from (default: RUNMIRROR_CONFIG)");
    return desc;
}

std::string help_text(action which, const std::string& default_db) {
    std::ostringstream out;
    switch (which) {
        case action::stats:
            out << "Usage: runmirror db stats [options]\n\n"
                   "Prints what the store holds: rows by kind of resource (each kind's plain\n"
                   "representations, its other representations, tombstones of deleted ones,\n"
                   "cached list pages) with their bytes as stored (compressed) and as received,\n"
                   "grants, watches by state, the schema version, and the file: its size, page\n"
                   "size, unused pages (what a vacuum returns) and its WAL. Reads every stored\n"
                   "body (its size is read from its frame header): 3.5 s for 430 MiB here.\n"
                   "On PostgreSQL the file figures give way to each of the store's tables with\n"
                   "its indexes and TOAST (pg_total_relation_size); the counts come from one\n"
                   "snapshot, and only each compressed body's frame header is read.\n\n";
            break;
        case action::check:
            out << "Usage: runmirror db check [options]\n\n"
                   "Runs SQLite's integrity check, then decodes every stored body (compression\n"
                   "checksums verified) and parses it as JSON. Prints one line per problem,\n"
                   "naming the resource (kind and id) or list page, and exits 1 when there is\n"
                   "any; otherwise one line of summary and exit 0. Reads the whole file.\n"
                   "On PostgreSQL, which keeps its own pages, it checks instead that the schema\n"
                   "is the one its recorded version promises (every step recorded in order, the\n"
                   "tables and columns there, no invalid index) and that the row every daemon's\n"
                   "writes take turns on (store_changes) is present; then every body as above,\n"
                   "in batches, holding no transaction open across the scan.\n\n";
            break;
        case action::vacuum:
            out << "Usage: runmirror db vacuum [options]\n\n"
                   "Rewrites the store compactly (SQLite VACUUM) and prints its size before and\n"
                   "after. Waits up to 5 s for the write lock when the daemon is writing, and\n"
                   "fails saying the store is busy if it does not get it. Needs free disk space\n"
                   "of about twice the store's size while it runs.\n"
                   "On PostgreSQL: VACUUM (ANALYZE) of the store's tables, beside the daemons'\n"
                   "reads and writes. It makes deleted rows' space reusable and refreshes the\n"
                   "planner's statistics; the tables shrink only by empty pages at their ends\n"
                   "(VACUUM FULL, which locks the daemons out, is not run), and a table's first\n"
                   "vacuum adds its free space and visibility maps, so a small store may grow.\n"
                   "Needs the tables' owner (or the database's, or a superuser); waits up to 5 s\n"
                   "for a lock another session holds.\n\n";
            break;
        case action::backup:
            out << "Usage: runmirror db backup FILE [options]\n\n"
                   "Writes a consistent snapshot of the store to FILE (SQLite VACUUM INTO), also\n"
                   "while the daemon is serving and writing: every commit up to the start of the\n"
                   "backup, none after. FILE appears whole or not at all, and an existing FILE is\n"
                   "refused unless --force. The backup is a store: 'runmirror serve --db FILE'\n"
                   "opens it. Restoring it needs the store's tenant secret too (a file of its "
                   "own,\n"
                   "kept out of the store on purpose): copy it beside FILE, or use "
                   "--with-secret.\n"
                   "A PostgreSQL store is refused (exit 1, nothing written): back it up with\n"
                   "PostgreSQL's pg_dump (pg_dump --format=custom --file FILE DBNAME), which\n"
                   "takes a consistent snapshot while the daemons keep writing.\n\n";
            break;
    }
    out << describe(which, default_db);
    return out.str();
}

std::string text_option(const po::variables_map& vm, const char* name) {
    return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

// serve's store options for the same --db, --config and environment.
store_options store_for(const po::variables_map& vm, const std::vector<std::string>& env) {
    std::vector<std::pair<std::string, std::string>> flags;
    if (vm.count("config")) flags.emplace_back("--config", text_option(vm, "config"));
    if (vm.count("db")) flags.emplace_back("--db", text_option(vm, "db"));
    return serve_options_for(flags, env).store;
}

std::unique_ptr<store_admin> open_admin(const store_options& store, admin_access access) {
    if (store.path == ":memory:") throw db_error("--db :memory: holds nothing to look after");
    // Needs no tenant secret: nothing here computes a tenant.
    if (is_postgres_uri(store.path)) return open_postgres_store_admin(store.path, access);
    // Said here rather than by the store, which would name it less plainly.
    if (!store_exists(store.path)) throw db_error("no store at " + store.path);
    return open_sqlite_store_admin(store.path, access);
}

// "1,234,567"
std::string grouped(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

// "512 B", "14.1 KiB", "3.20 MiB": three significant digits.
std::string human_bytes(std::int64_t n) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(n);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    char buf[32];
    if (unit == 0) {
        std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
    } else {
        std::snprintf(buf, sizeof buf,
                      value < 10    ? "%.2f %s"
                      : value < 100 ? "%.1f %s"
                                    : "%.0f %s",
                      value, units[unit]);
    }
    return buf;
}

std::string schema_text(const store_stats& s) {
    std::string text = "version " + std::to_string(s.schema_version);
    if (s.schema_version == s.known_schema_version) return text + " (current)";
    if (s.schema_version < s.known_schema_version) {
        return text + " (older than this runmirror's " + std::to_string(s.known_schema_version) +
               ": serve upgrades it when it next opens it)";
    }
    return text + " (newer than this runmirror's " + std::to_string(s.known_schema_version) +
           ": written by a later version; these figures may miss what it added)";
}

std::int64_t tables_total(const store_stats& s) {
    std::int64_t total = 0;
    for (const stored_table& t : s.tables)
        total += t.bytes;
    return total;
}

std::string stats_table(const std::string& name, const store_stats& s) {
    std::ostringstream out;
    out << "store   " << name << "\n";
    out << "schema  " << schema_text(s) << "\n";
    if (s.backend == store_backend::postgresql) {
        // The server's files hold other databases too: the store's tables are what it costs.
        out << "size    " << human_bytes(tables_total(s)) << " in " << s.tables.size()
            << " tables with their indexes and TOAST (pg_total_relation_size):\n";
        std::string line = "       ";
        for (std::size_t i = 0; i < s.tables.size(); ++i) {
            const std::string item = " " + s.tables[i].name + " " + human_bytes(s.tables[i].bytes) +
                                     (i + 1 < s.tables.size() ? "," : "");
            if (line.size() + item.size() > 96) {
                out << line << "\n";
                line = "       ";
            }
            line += item;
        }
        out << line << "\n\n";
    } else {
        // The pages are the database as committed; the file may lag behind it by what the WAL
        // holds.
        out << "size    " << human_bytes(s.page_count * s.page_size) << " in "
            << grouped(s.page_count) << " pages of " << grouped(s.page_size) << " bytes, "
            << grouped(s.freelist_pages) << " unused ("
            << human_bytes(s.freelist_pages * s.page_size) << "); on disk "
            << human_bytes(s.file_bytes) << " and WAL " << human_bytes(s.wal_bytes) << "\n\n";
    }

    std::vector<std::vector<std::string>> rows = {{"", "ROWS", "STORED", "AS RECEIVED"}};
    for (const stored_group& g : s.groups) {
        rows.push_back(
            {g.label, grouped(g.rows), human_bytes(g.stored_bytes), human_bytes(g.body_bytes)});
    }
    rows.push_back({"grants (tenant x project)", grouped(s.grants), "", ""});
    for (const auto& [kind, state, n] : s.watches) {
        const resource_kind* k = find_kind(kind);
        rows.push_back(
            {"watches of " + std::string(k ? k->label : kind) + "s, " + state, grouped(n), "", ""});
    }
    std::vector<std::size_t> widths(4, 0);
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    for (const auto& row : rows) {
        std::string line = row[0] + std::string(widths[0] - display_width(row[0]), ' ');
        for (std::size_t i = 1; i < row.size(); ++i) {  // numbers right-aligned
            line += std::string(widths[i] - display_width(row[i]) + 2, ' ') + row[i];
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out << line << "\n";
    }
    if (s.runs_awaiting_search_index > 0) {
        out << "\n"
            << grouped(s.runs_awaiting_search_index)
            << " stored resource(s) not yet in the search index (the daemon adds them within "
               "seconds; a search adds them first)\n";
    }
    return out.str();
}

// The SQLite and PostgreSQL reports differ only in their size fields: each gives those that
// mean something for it, and "backend" says which set to expect.
std::string stats_json(const std::string& name, const store_stats& s) {
    const bool postgres = s.backend == store_backend::postgresql;
    std::ostringstream out;
    out << "{\"backend\":" << (postgres ? "\"postgresql\"" : "\"sqlite\"")
        << ",\"path\":" << json_quote(name) << ",\"schema_version\":" << s.schema_version
        << ",\"known_schema_version\":" << s.known_schema_version;
    if (postgres) {
        out << ",\"total_bytes\":" << tables_total(s) << ",\"tables\":[";
        for (std::size_t i = 0; i < s.tables.size(); ++i) {
            out << (i ? "," : "") << "{\"name\":" << json_quote(s.tables[i].name)
                << ",\"bytes\":" << s.tables[i].bytes << "}";
        }
        out << "]";
    } else {
        out << ",\"file_bytes\":" << s.file_bytes << ",\"wal_bytes\":" << s.wal_bytes
            << ",\"page_size\":" << s.page_size << ",\"page_count\":" << s.page_count
            << ",\"freelist_pages\":" << s.freelist_pages;
    }
    out << ",\"groups\":[";
    for (std::size_t i = 0; i < s.groups.size(); ++i) {
        const stored_group& g = s.groups[i];
        out << (i ? "," : "") << "{\"name\":" << json_quote(g.name)
            << ",\"label\":" << json_quote(g.label) << ",\"rows\":" << g.rows
            << ",\"stored_bytes\":" << g.stored_bytes << ",\"body_bytes\":" << g.body_bytes << "}";
    }
    out << "],\"grants\":" << s.grants << ",\"watches\":[";
    for (std::size_t i = 0; i < s.watches.size(); ++i) {
        const auto& [kind, state, n] = s.watches[i];
        out << (i ? "," : "") << "{\"kind\":" << json_quote(kind)
            << ",\"state\":" << json_quote(state) << ",\"count\":" << n << "}";
    }
    out << "]";
    // PostgreSQL's search column is written with the row: nothing ever waits for it.
    if (!postgres) out << ",\"runs_awaiting_search_index\":" << s.runs_awaiting_search_index;
    out << "}\n";
    return out.str();
}

int run_stats(const po::variables_map& vm, const store_options& store) {
    const store_stats s = open_admin(store, admin_access::read_only)->stats();
    const std::string name = store_display_name(store.path);  // a URI without its password
    std::cout << (vm["json"].as<bool>() ? stats_json(name, s) : stats_table(name, s));
    return 0;
}

int run_check(const store_options& store) {
    const std::string name = store_display_name(store.path);
    const auto admin = open_admin(store, admin_access::read_only);
    const store_check_summary summary = admin->check([](const store_problem& p) {
        std::cout << p.subject << ": " << p.problem << "\n" << std::flush;
    });
    const std::string checked = grouped(summary.bodies_checked) + " bodies and " +
                                grouped(summary.list_pages_checked) + " list pages checked";
    if (summary.problems == 0) {
        // Said for what was checked: PostgreSQL's own pages are its business, not ours.
        std::cout << "ok: " << name << ": "
                  << (is_postgres_uri(store.path) ? "schema ok" : "database integrity ok") << ", "
                  << checked << "\n";
        return 0;
    }
    std::cout << grouped(summary.problems) << (summary.problems == 1 ? " problem" : " problems")
              << " found in " << name << " (" << checked << ")\n";
    return 1;
}

int run_vacuum(const store_options& store) {
    const vacuum_result r = open_admin(store, admin_access::read_write)->vacuum();
    if (is_postgres_uri(store.path)) {
        std::cout << "vacuumed " << store_display_name(store.path)
                  << " (VACUUM (ANALYZE) of its tables): " << human_bytes(r.bytes_before)
                  << " before, " << human_bytes(r.bytes_after)
                  << " after (its tables with their indexes); the space of deleted rows is "
                     "reused by new ones\n";
        return 0;
    }
    std::cout << "vacuumed " << store.path << ": " << human_bytes(r.bytes_before) << " before, "
              << human_bytes(r.bytes_after) << " after (file and WAL)";
    if (!r.wal_truncated) {
        std::cout << "; the WAL shrinks once the daemon's readers finish (its next checkpoint)";
    }
    std::cout << "\n";
    return 0;
}

// Copies the secret file |from| to |to|, mode 0600, synced; refuses to replace |to| unless
// |replace|.
void copy_secret(const std::string& from, const std::string& to, bool replace) {
    std::optional<tenant_secret> secret;
    try {
        secret = read_tenant_secret(from);  // checks its size and mode too
    } catch (const tenant_secret_error& e) {
        throw db_error(e.what());
    }
    if (!secret) throw db_error("no tenant secret at " + from + " to copy");
    const int flags = O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL);
    const int fd = ::open(to.c_str(), flags, 0600);
    if (fd < 0) {
        if (errno == EEXIST) throw db_error(to + " exists; not replacing it (--force replaces it)");
        throw db_error("cannot write " + to + ": " + std::strerror(errno));
    }
    const bool written =
        ::fchmod(fd, 0600) == 0 &&
        ::write(fd, secret->data(), secret->size()) == static_cast<ssize_t>(secret->size()) &&
        ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!written) throw db_error("cannot write " + to + ": " + std::strerror(saved));
}

int run_backup(const std::string& file, const po::variables_map& vm, const store_options& store) {
    // Refused before anything is opened or written: a copy of a database that other daemons
    // keep writing is pg_dump's job (a snapshot, restorable by pg_restore), and this binary does
    // not run other programs.
    if (is_postgres_uri(store.path)) {
        throw db_error("--db " + store_display_name(store.path) +
                       " is a PostgreSQL database: back it up with pg_dump (pg_dump "
                       "--format=custom --file FILE DBNAME); runmirror db backup copies SQLite "
                       "stores only");
    }
    const bool force = vm["force"].as<bool>();
    const bool with_secret = vm["with-secret"].as<bool>();
    const std::string secret_from = store.tenant_secret_path.empty()
                                        ? default_tenant_secret_path(store.path)
                                        : store.tenant_secret_path;
    const std::string secret_to = default_tenant_secret_path(file);
    std::error_code ec;
    // Before writing anything: a refusal should leave nothing half done.
    if (!force && fs::exists(fs::symlink_status(file, ec))) {
        throw db_error(file + " exists; not replacing it (--force replaces it)");
    }
    if (with_secret && !force && fs::exists(fs::symlink_status(secret_to, ec))) {
        throw db_error(secret_to + " exists; not replacing it (--force replaces it)");
    }
    if (fs::exists(file, ec) && fs::exists(store.path, ec) &&
        fs::equivalent(file, store.path, ec)) {
        throw db_error(file + " is the store itself");
    }
    const bool has_secret = fs::exists(secret_from, ec);
    if (with_secret && !has_secret) {
        throw db_error("no tenant secret at " + secret_from +
                       " to copy (a store never served has none; leave out --with-secret)");
    }

    open_admin(store, admin_access::read_only)->backup_to(file, force);
    // The backup must open as a store; reading its schema version proves that much cheaply.
    const int version =
        open_sqlite_store_admin(file, admin_access::read_only)->stats().schema_version;
    std::cout << "backed up " << store.path << " to " << file << " ("
              << human_bytes(static_cast<std::int64_t>(fs::file_size(file, ec)))
              << ", schema version " << version << ")\n";
    if (with_secret) {
        copy_secret(secret_from, secret_to, force);
        std::cout << "copied its tenant secret " << secret_from << " to " << secret_to << "\n";
    } else if (has_secret) {
        std::cout << "restoring it needs the tenant secret too: copy " << secret_from
                  << " beside it as " << secret_to << " (or back up with --with-secret)\n";
    }
    return 0;
}

}  // namespace

int db_command(const std::vector<std::string>& args) {
    if (args.empty()) {
        std::cerr << usage;
        return 2;
    }
    const std::string& name = args.front();
    if (name == "--help" || name == "-h" || name == "help") {
        std::cout << usage;
        return 0;
    }
    action which;
    if (name == "stats") {
        which = action::stats;
    } else if (name == "check") {
        which = action::check;
    } else if (name == "vacuum") {
        which = action::vacuum;
    } else if (name == "backup") {
        which = action::backup;
    } else {
        std::cerr << "runmirror db: unknown action '" << name << "' (try 'runmirror db --help')\n";
        return 2;
    }
    const std::string prefix = "runmirror db " + name + ": ";
    std::vector<std::string> rest(args.begin() + 1, args.end());
    const std::vector<std::string> env = process_environment();
    // --help wins over mistakes elsewhere on the line, as for serve.
    if (wants_help(rest)) {
        std::cout << help_text(which, default_db_path(env));
        return 0;
    }
    try {
        std::string file;
        if (which == action::backup) {
            // FILE comes first ("db backup FILE [options]"): the shared parser takes no bare words.
            if (rest.empty() || rest.front().empty() || rest.front().front() == '-') {
                throw usage_error("missing the backup FILE: runmirror db backup FILE [options]");
            }
            file = rest.front();
            rest.erase(rest.begin());
        }
        const po::variables_map vm =
            parse_command_args(rest, describe(which, default_db_path(env)));
        const store_options store = store_for(vm, env);
        switch (which) {
            case action::stats: return run_stats(vm, store);
            case action::check: return run_check(store);
            case action::vacuum: return run_vacuum(store);
            case action::backup: return run_backup(file, vm, store);
        }
    } catch (const usage_error& e) {
        std::cerr << prefix << e.what() << "\n";
        return 2;
    } catch (const std::runtime_error& e) {  // db_error, store_error
        std::cerr << prefix << e.what() << "\n";
        return 1;
    }
    return 1;
}

}  // namespace runmirror
