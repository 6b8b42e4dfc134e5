// `runmirror runs list|show|export`: browse the mirror from the shell. Reads the store directly,
// so it works whether or not the daemon runs (WAL lets a reader in beside the daemon's writer);
// the store is the one `runmirror serve` would open, found as `runmirror watches` finds it.
// Every failure ends in one line on stderr: exit 2 for a bad command line or config, 1 when the
// store cannot be read, a run is not there, or an export cannot be written.
//
// Export formats (the choices a user of the files needs to know are in the --help text too):
// - jsonl: one stored run per line, the upstream's bytes unchanged (but for ill-formed UTF-8,
//   as U+FFFD); only a body that holds a line break (the upstream pretty-printed it) is
//   compacted, numbers and member order kept (browse_json: json_line).
// - csv: RFC 4180 (CRLF line ends, fields with a comma, quote or line break quoted, quotes
//   doubled), UTF-8 with a byte order mark, so spreadsheet programs read non-ASCII text right
//   rather than guessing a legacy code page. Fixed columns (the last one the resource's error
//   message), then the union of the runs' top-level "data" keys in first-seen order (a key named
//   like a fixed column becomes "data.<key>"); array data gives one row per item (browse_json:
//   run_data_rows). Control characters other than tab and line breaks (which JSON escapes such
//   as \u0000 and \u0007 put in a string) are written as their Unicode "control pictures"
//   (U+2400 + code: NUL as U+2400, BEL as U+2407, DEL as U+2421): a spreadsheet shows them as a
//   visible symbol instead of dropping or choking on the raw byte (a NUL ends a C string). All
//   rows are held in memory until the columns are known; the memory is roughly the size of the
//   exported data.
// Either way the file appears whole or not at all: it is written to a temporary file beside
// --out, flushed to disk, then renamed over it. `--out -` writes to standard output instead, as
// it goes (a failure midway leaves what was already written).

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "admin/browse_json.hpp"
#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "config/load_options.hpp"
#include "runmirror/store.hpp"
#include "util/tenant_secret.hpp"
#include "util/utf8.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;

constexpr std::size_t default_limit = 50;
constexpr std::size_t max_limit = 1'000'000;
// Runs read per store call during an export: bounds memory for jsonl, keeps calls few.
constexpr std::size_t export_page = 1000;
// FILE is cut beyond this, so one long name does not push the table off the screen.
constexpr std::size_t max_file_width = 40;

// A failure after the command line was accepted: exit 1. (usage_error, from cli_args: exit 2.)
struct run_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//--------------------------------------------------------------------------------------------
// Command lines

enum class action { list, show, export_to_file, purge };

constexpr const char* usage =
    "Usage: runmirror runs ACTION [options]\n"
    "\n"
    "Browses the runs the mirror stores, offline. Reads the store directly: works whether or not\n"
    "the daemon is running. Deleted runs are never shown.\n"
    "\n"
    "Actions:\n"
    "  list      runs, newest first, as a table or JSON Lines\n"
    "  show      one stored run as JSON\n"
    "  export    runs to a JSON Lines or CSV file\n"
    "  purge     forget one run or job here (also 'runmirror purge ID')\n"
    "\n"
    "Run 'runmirror runs ACTION --help' for an action's options.\n";

po::options_description store_options_description(const std::string& default_db) {
    po::options_description desc("Store", 100, 40);
    desc.add_options()  //
        ("db", po::value<std::string>()->value_name("PATH"),
         ("store to read: an SQLite file, never created, or a postgresql:// URI (default: as for "
          "serve: RUNMIRROR_DB, the config "
          "file's db, else under $RUNMIRROR_DATA_DIR, $XDG_DATA_HOME or $HOME; here: " +
          (default_db.empty() ? std::string("none, set --db") : default_db) + ")")
             .c_str())  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "the serve config file to take db from (default: RUNMIRROR_CONFIG)");
    return desc;
}

// The filters list and export share.
void add_filters(po::options_description& desc, bool search_and_since) {
    desc.add_options()  //
        ("kind", po::value<std::string>()->value_name("K")->default_value("run"),
         "which resources: run (v1 runs), v2_job (Extract v2 jobs), v1_job (v1 extraction "
         "jobs) or all")                                                                  //
        ("agent", po::value<std::string>()->value_name("ID"), "only runs of this agent")  //
        ("status", po::value<std::string>()->value_name("S"),
         "only runs in this status, one of the kind's (any case): run CREATED, PENDING, "
         "SUCCESS, ERROR; v2_job PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, THROTTLED; "
         "v1_job PENDING, SUCCESS, ERROR, PARTIAL_SUCCESS, CANCELLED");
    if (!search_and_since) return;
    desc.add_options()  //
        ("since", po::value<std::string>()->value_name("WHEN"),
         "only runs created at or after WHEN: an ISO 8601 date or date-time (UTC unless it "
         "names an offset), or a duration back from now: 45s, 30m, 12h, 7d, 2w")  //
        ("search", po::value<std::string>()->value_name("TEXT"),
         "only runs whose extracted data or file name hold every word of TEXT (case- and "
         "accent-insensitive, each word as a prefix)");
}

po::options_description describe(action which, const std::string& default_db) {
    po::options_description desc("Options", 100, 40);
    desc.add_options()("help,h", po::bool_switch(), "print this help and exit");
    switch (which) {
        case action::list:
            add_filters(desc, true);
            desc.add_options()  //
                ("limit", po::value<std::string>()->value_name("N"),
                 ("show at most N runs (default: " + std::to_string(default_limit) + ")")
                     .c_str())  //
                ("json", po::bool_switch(),
                 "print JSON Lines, one summary per run (as the browse API's items), instead of "
                 "a table");
            break;
        case action::show:
            desc.add_options()  //
                ("kind", po::value<std::string>()->value_name("K")->default_value("run"),
                 "what ID names: run (a v1 run), v2_job (an Extract v2 job) or v1_job (a v1 "
                 "extraction job)")  //
                ("data", po::bool_switch(), "print only the run's \"data\" member");
            break;
        case action::export_to_file:
            add_filters(desc, true);
            desc.add_options()  //
                ("format", po::value<std::string>()->value_name("jsonl|csv"),
                 "jsonl: the stored runs, one per line; csv: one row per run (per item when "
                 "data is an array), UTF-8 with a byte order mark (required)")  //
                ("out", po::value<std::string>()->value_name("FILE"),
                 "the file to write, replaced whole or left as it was; - for standard output "
                 "(required)");
            break;
        case action::purge:
            desc.add_options()  //
                ("kind", po::value<std::string>()->value_name("K"),
                 "what ID names: run, v2_job or v1_job (default: whichever the store holds)");
            break;
    }
    desc.add(store_options_description(default_db));
    return desc;
}

std::string help_text(action which, const std::string& default_db) {
    std::ostringstream out;
    switch (which) {
        case action::list:
            out << "Usage: runmirror runs list [options]\n\n"
                   "Lists stored runs, newest first. Table columns: ID, AGENT, STATUS, FILE,\n"
                   "CREATED (UTC), DURATION (updated_at - created_at, once final). Each resource\n"
                   "is listed once: a v2 job only ever read with ?expand= is listed by one of\n"
                   "those representations (--json: \"representation\": \"expand=...\").\n\n";
            break;
        case action::show:
            out << "Usage: runmirror runs show ID [options]\n\n"
                   "Prints the stored run, indented. Numbers are kept exactly as the upstream\n"
                   "wrote them; bytes that are not UTF-8 are shown as U+FFFD. A run the store\n"
                   "does not hold, or that was deleted, is an error.\n"
                   "A v2 job only ever read with ?expand= is shown as one of those\n"
                   "representations, named on stderr.\n\n";
            break;
        case action::export_to_file:
            out << "Usage: runmirror runs export --format jsonl|csv --out FILE [options]\n\n"
                   "Writes the matching runs, newest first. jsonl: one stored run per line, the\n"
                   "upstream's bytes (a pretty-printed body is compacted; bytes that are not\n"
                   "UTF-8 become U+FFFD, in csv too). csv: RFC 4180 with a\n"
                   "UTF-8 byte order mark; columns id, extraction_agent_id, status, file_name,\n"
                   "created_at, updated_at, error (the error message, when it has one), then\n"
                   "every top-level key of the runs' \"data\" in first-seen order (named\n"
                   "data.KEY when it clashes with a fixed column); nested values as compact JSON;\n"
                   "data that is an array gives one row per item; control characters other than\n"
                   "tab and line breaks as their Unicode control pictures (NUL as U+2400, BEL as\n"
                   "U+2407, DEL as U+2421). The file is written whole or not at all; --out -\n"
                   "writes to standard output as it goes. A v2 job only ever read with ?expand=\n"
                   "is written once, as one of those representations.\n\n";
            break;
        case action::purge:
            out << "Usage: runmirror purge ID [options]   (or: runmirror runs purge ID)\n\n"
                   "Forgets one run or job in this store only: every representation of it, its\n"
                   "watches, and the cached list pages; nothing is deleted upstream. The next\n"
                   "read of it through the daemon is a miss. Safe while the daemon runs (it\n"
                   "notices the change within 100 ms). An ID the store does not hold is an "
                   "error.\n\n";
            break;
    }
    out << describe(which, default_db);
    return out.str();
}

// --since: an ISO 8601 time, or a duration back from |now| ("7d").
calendar_time parse_since(const std::string& text, time_point now) {
    using namespace std::chrono;
    std::string why;
    if (std::optional<calendar_time> t = parse_iso_time(text, &why)) return *t;
    std::int64_t n = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec == std::errc() && ptr + 1 == end && n >= 0 && n <= 100'000) {
        const calendar_time at = floor<microseconds>(now);
        switch (*ptr) {
            case 's': return at - seconds(n);
            case 'm': return at - minutes(n);
            case 'h': return at - hours(n);
            case 'd': return at - days(n);
            case 'w': return at - weeks(n);
        }
    }
    // A date-like text gets the date parser's reason ("out of range: ...", "no such date").
    if (text.size() > 4 && text.find_first_not_of("0123456789") == 4 && text[4] == '-') {
        throw usage_error("--since: " + why + ", got '" + text + "'");
    }
    throw usage_error("--since: expected an ISO 8601 date or date-time, or a duration like 7d, " +
                      std::string("got '") + text + "'");
}

std::string upper(std::string text) {
    for (char& c : text)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

std::string text_option(const po::variables_map& vm, const char* name) {
    return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

// --status: one of the statuses of |kind| (every kind's when null), in any case: the upstream
// writes them all in upper case, so the upper-cased text names at most one. A status the kind
// never takes would only ever list nothing, which reads as "no such runs": refused instead.
std::string parse_status(const std::string& text, const resource_kind* kind) {
    const std::string status = upper(text);
    std::vector<std::string_view> valid;
    for (const resource_kind* k : all_kinds()) {
        if (kind != nullptr && k != kind) continue;
        for (std::string_view s : k->statuses)
            if (std::find(valid.begin(), valid.end(), s) == valid.end()) valid.push_back(s);
    }
    if (std::find(valid.begin(), valid.end(), status) != valid.end()) return status;
    std::string names;
    for (std::string_view s : valid)
        names += (names.empty() ? "" : ", ") + std::string(s);
    throw usage_error("--status: expected one of " + names + " (any case) for --kind " +
                      (kind ? std::string(kind->name) : std::string("all")) + ", got '" + text +
                      "'");
}

run_browse_query filters_from(const po::variables_map& vm, time_point now) {
    run_browse_query query;
    const std::string kind_text = text_option(vm, "kind");
    const auto kind = parse_kind_filter(kind_text);
    if (!kind)
        throw run_error("--kind: expected run, v2_job, v1_job or all, got '" + kind_text + "'");
    query.kind = *kind;
    query.extraction_agent_id = text_option(vm, "agent");
    if (vm.count("status")) query.status = parse_status(text_option(vm, "status"), *kind);
    if (vm.count("since")) query.created_from = parse_since(vm["since"].as<std::string>(), now);
    query.search = text_option(vm, "search");
    return query;
}

// The store serve would open with the same --db, --config and environment.
std::unique_ptr<store> open_store(const po::variables_map& vm,
                                  const std::vector<std::string>& env) {
    std::vector<std::pair<std::string, std::string>> flags;
    if (vm.count("config")) flags.emplace_back("--config", text_option(vm, "config"));
    if (vm.count("db")) flags.emplace_back("--db", text_option(vm, "db"));
    const store_options options = serve_options_for(flags, env).store;
    const std::string& path = options.path;
    // open_sqlite_store would create a missing file: a typo in --db must be reported, not
    // leave a fresh empty store behind. (A PostgreSQL database that does not exist is refused
    // by the server.)
    if (!is_postgres_uri(path) && !store_exists(path)) throw run_error("no store at " + path);
    // Only for a store whose tenants need converting: reading computes no tenant, and this
    // command never creates the secret (serve does).
    // (A PostgreSQL store names its secret explicitly or has none here: no default location.)
    try {
        if (!is_postgres_uri(path) || !options.tenant_secret_path.empty()) {
            install_store_tenant_secret(path, options.tenant_secret_path, secret_use::existing);
        }
    } catch (const tenant_secret_error& e) {
        throw run_error(e.what());
    }
    return runmirror::open_store(path);
}

//--------------------------------------------------------------------------------------------
// list

// A cell on one line: each run of control characters and spaces becomes one space; at most
// |width| cells, ending in "..." when cut, never splitting a UTF-8 sequence.
std::string cell(std::string_view text, std::size_t width = std::string::npos) {
    std::string out;
    for (char c : text) {
        if (static_cast<unsigned char>(c) > 0x20 && c != 0x7F) {
            out += c;
        } else if (!out.empty() && out.back() != ' ') {
            out += ' ';
        }
    }
    if (out.empty()) return "-";
    if (display_width(out) <= width) return out;
    const std::size_t keep = width > 3 ? width - 3 : 0;
    std::size_t cells = 0;
    std::size_t end = 0;
    for (; end < out.size(); ++end) {
        const bool starts_code_point = (static_cast<unsigned char>(out[end]) & 0xC0) != 0x80;
        if (starts_code_point && cells++ == keep) break;
    }
    return out.substr(0, end) + "...";
}

// "2025-01-15 08:00:00": the upstream's UTC text, to the second, readable.
std::string created_text(const std::string& created_at) {
    const std::optional<calendar_time> t = parse_iso_time(created_at);
    if (!t) return cell(created_at);
    const std::string iso = iso_utc(*t);  // 2025-01-15T08:00:00.123Z
    return iso.substr(0, 10) + " " + iso.substr(11, 8);
}

// How long a final run took upstream: "45s", "3m12s", "1h05m", "2d03h".
std::string duration_text(const run_fields& f) {
    if (!f.kind->is_final(f.status)) return "-";
    const std::optional<calendar_time> created = parse_iso_time(f.created_at);
    const std::optional<calendar_time> updated = parse_iso_time(f.updated_at);
    if (!created || !updated || *updated < *created) return "-";
    const std::int64_t s =
        std::chrono::duration_cast<std::chrono::seconds>(*updated - *created).count();
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                      static_cast<long long>(s % 60));
    } else if (s < 86400) {
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                      static_cast<long long>(s % 3600 / 60));
    } else {
        std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                      static_cast<long long>(s % 86400 / 3600));
    }
    return buf;
}

std::string render_table(const std::vector<stored_run>& runs) {
    std::vector<std::vector<std::string>> rows = {
        {"ID", "AGENT", "STATUS", "FILE", "CREATED", "DURATION"}};
    for (const stored_run& run : runs) {
        const run_fields& f = run.fields;
        rows.push_back({cell(f.id), cell(f.extraction_agent_id), cell(f.status),
                        cell(f.file_name, max_file_width), created_text(f.created_at),
                        duration_text(f)});
    }
    std::vector<std::size_t> widths(rows.front().size(), 0);
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], display_width(row[i]));
    }
    std::string out;
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size()) out.append(widths[i] - display_width(row[i]) + 2, ' ');
        }
        out += '\n';
    }
    return out;
}

int list_runs(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    const po::options_description desc = describe(action::list, default_db_path(env));
    const po::variables_map vm = parse_command_args(args, desc);
    run_browse_query query = filters_from(vm, clock_type::now());
    query.limit =
        vm.count("limit") ? parse_limit(vm["limit"].as<std::string>(), max_limit) : default_limit;
    const run_browse_page page = open_store(vm, env)->browse_runs(query);
    if (vm["json"].as<bool>()) {
        for (const stored_run& run : page.items)
            std::cout << run_summary_to_json(run) << "\n";
    } else if (page.items.empty()) {
        std::cout << "no runs\n";
    } else {
        std::cout << render_table(page.items);
    }
    if (page.next) {
        // On stderr, so a script reading stdout (JSON Lines above all) sees only runs.
        std::cerr << "runmirror runs list: showing the first " << query.limit
                  << "; use --limit N for more\n";
    }
    return 0;
}

//--------------------------------------------------------------------------------------------
// show

// The ID comes first ("runs show ID [options]"): the shared parser takes no bare words.
int show_run(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    if (args.empty() || args.front().empty() || args.front().front() == '-') {
        throw usage_error("missing the run ID: runmirror runs show ID [options]");
    }
    const std::string& id = args.front();
    const po::options_description desc = describe(action::show, default_db_path(env));
    const po::variables_map vm =
        parse_command_args(std::vector<std::string>(args.begin() + 1, args.end()), desc);
    const bool data_only = vm["data"].as<bool>();

    const std::string kind_text = text_option(vm, "kind");
    const resource_kind* kind = find_kind(kind_text);
    if (!kind) throw usage_error("--kind: expected run or v2_job, got '" + kind_text + "'");

    const auto run = open_store(vm, env)->find_run_or_variant(store_key(*kind, id));
    if (run && run->deleted_at) throw run_error("run " + id + " was deleted");
    if (!run || run->body.empty()) throw run_error("no run " + id + " in the store");
    if (!run->fields.variant.empty()) {
        // On stderr, so stdout stays the stored JSON.
        std::cerr << "runmirror runs show: " << id << " is stored only as "
                  << representation_text(*kind, run->fields.variant) << "; showing that\n";
    }
    if (std::optional<std::string> pretty = pretty_json(run->body, data_only)) {
        std::cout << *pretty << "\n";
    } else if (!data_only) {
        // Not JSON (never seen from the upstream): the bytes are still what it sent.
        std::cout << run->body << "\n";
    } else {
        throw run_error("run " + id + ": the stored body is not JSON");
    }
    return 0;
}

//--------------------------------------------------------------------------------------------
// purge

int purge_run(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    if (args.empty() || args.front().empty() || args.front().front() == '-') {
        throw usage_error("missing the ID: runmirror purge ID [options]");
    }
    const std::string& id = args.front();
    const po::options_description desc = describe(action::purge, default_db_path(env));
    const po::variables_map vm =
        parse_command_args(std::vector<std::string>(args.begin() + 1, args.end()), desc);
    std::vector<const resource_kind*> kinds(all_kinds().begin(), all_kinds().end());
    if (vm.count("kind")) {
        const std::string kind_text = text_option(vm, "kind");
        const resource_kind* kind = find_kind(kind_text);
        if (!kind) {
            throw usage_error("--kind: expected run, v2_job or v1_job, got '" + kind_text + "'");
        }
        kinds = {kind};
    }
    const std::unique_ptr<store> db = open_store(vm, env);
    std::vector<std::string> forgotten;
    for (const resource_kind* kind : kinds) {
        if (db->forget_run(store_key(*kind, id))) forgotten.emplace_back(kind->label);
    }
    if (forgotten.empty()) throw run_error("nothing stored under " + id);
    for (const std::string& label : forgotten)
        std::cout << "forgot " << label << " " << id << "\n";
    return 0;
}

//--------------------------------------------------------------------------------------------
// export

// A file that appears at |path| whole or not at all: written to a temporary file in the same
// directory (so rename is atomic), flushed to disk by commit(), then renamed over |path|. The
// temporary file is removed unless committed.
class atomic_file {
  public:
    explicit atomic_file(const std::string& path) : path_(path) {
        temp_ = path + ".tmp-XXXXXX";
        const int fd = mkstemp(temp_.data());
        if (fd < 0) throw run_error("cannot write " + path + ": " + std::strerror(errno));
        // mkstemp makes it 0600; an export should get the permissions of any new file.
        const mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
        file_ = fdopen(fd, "wb");
        if (file_ == nullptr) {
            ::close(fd);
            std::remove(temp_.c_str());
            throw run_error("cannot write " + path + ": " + std::strerror(errno));
        }
    }
    ~atomic_file() {
        if (file_ != nullptr) std::fclose(file_);
        if (!committed_) std::remove(temp_.c_str());
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;

    void write(std::string_view bytes) {
        if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) fail();
    }

    void commit() {
        // fsync before rename: otherwise a crash could leave the new name on an empty file.
        if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0) fail();
        const int closed = std::fclose(file_);
        file_ = nullptr;
        if (closed != 0) fail();
        if (std::rename(temp_.c_str(), path_.c_str()) != 0) fail();
        committed_ = true;
    }

  private:
    [[noreturn]] void fail() {
        throw run_error("cannot write " + path_ + ": " + std::strerror(errno));
    }

    std::string path_;
    std::string temp_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

// A control character other than tab and line breaks as its Unicode control picture (U+2400 +
// its code, DEL U+2421), three bytes of UTF-8; other bytes as they are.
void append_visible(std::string& out, char c) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 0x20 && byte != 0x7F) || c == '\t' || c == '\n' || c == '\r') {
        out += c;
        return;
    }
    const unsigned picture = byte == 0x7F ? 0x2421 : 0x2400 + byte;
    out += static_cast<char>(0xE0 | (picture >> 12));
    out += static_cast<char>(0x80 | ((picture >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (picture & 0x3F));
}

// `--out -`: standard output, written as the export goes. A failed write (a closed pipe, a full
// disk behind a redirect) is an error like a failed file write.
class stdout_sink {
  public:
    void write(std::string_view bytes) {
        if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) fail();
    }
    void commit() {
        if (std::fflush(stdout) != 0) fail();
    }

  private:
    [[noreturn]] static void fail() {
        throw run_error(std::string("cannot write to standard output: ") + std::strerror(errno));
    }
};

// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
// The file says it is UTF-8 (its byte order mark): ill-formed bytes become U+FFFD. Control
// characters become visible (append_visible).
std::string csv_field(std::string_view raw) {
    std::string text;
    for (char c : valid_utf8(raw))
        append_visible(text, c);
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

// The resource's error message (its kind's error_member): a string as it is, another value
// (an object of details) as compact JSON, "" when null or absent or the body is not JSON.
std::string error_text(const stored_run& run) {
    const resource_kind& kind = run.fields.kind ? *run.fields.kind : kinds::v1_run;
    if (kind.error_member.empty()) return {};
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(run.body.data(), run.body.size());
    if (doc.HasParseError() || !doc.IsObject()) return {};
    const auto member =
        doc.FindMember(rapidjson::StringRef(kind.error_member.data(), kind.error_member.size()));
    if (member == doc.MemberEnd() || member->value.IsNull()) return {};
    if (member->value.IsString()) {
        return std::string(member->value.GetString(), member->value.GetStringLength());
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    member->value.Accept(writer);
    return std::string(buffer.GetString(), buffer.GetSize());
}

// The columns and rows of a CSV export, built run by run; rows are sparse until the columns are
// all known.
class csv_table {
  public:
    csv_table() {
        for (const char* name : fixed_)
            column(name);
    }

    // False when the run's body is not JSON.
    bool add(const stored_run& run) {
        const std::optional<std::vector<data_cells>> data = run_data_rows(run.body);
        if (!data) return false;
        const run_fields& f = run.fields;
        const std::string error = error_text(run);
        for (const data_cells& cells : *data) {
            std::vector<std::pair<std::size_t, std::string>> row = {
                {0, f.id},         {1, f.extraction_agent_id}, {2, f.status}, {3, f.file_name},
                {4, f.created_at}, {5, f.updated_at},          {6, error}};
            for (const auto& [key, text] : cells) {
                row.emplace_back(column(is_fixed(key) ? "data." + key : key), text);
            }
            rows_.push_back(std::move(row));
        }
        return true;
    }

    std::size_t rows() const { return rows_.size(); }

    template <class Out>
    void write(Out& out) const {
        out.write("\xEF\xBB\xBF");  // UTF-8 byte order mark, for spreadsheet programs
        std::vector<std::string> dense(names_.size());
        write_row(out, names_);
        for (const auto& row : rows_) {
            std::fill(dense.begin(), dense.end(), std::string());
            for (const auto& [index, text] : row)
                dense[index] = text;  // a key given twice: the last wins, as in JSON.parse
            write_row(out, dense);
        }
    }

  private:
    static constexpr const char* fixed_[] = {
        "id", "extraction_agent_id", "status", "file_name", "created_at", "updated_at", "error"};

    static bool is_fixed(std::string_view key) {
        return std::find(std::begin(fixed_), std::end(fixed_), key) != std::end(fixed_);
    }

    std::size_t column(const std::string& name) {
        auto [it, added] = index_.try_emplace(name, names_.size());
        if (added) names_.push_back(name);
        return it->second;
    }

    template <class Out>
    static void write_row(Out& out, const std::vector<std::string>& cells) {
        std::string line;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (i > 0) line += ',';
            line += csv_field(cells[i]);
        }
        line += "\r\n";
        out.write(line);
    }

    std::vector<std::string> names_;
    std::map<std::string, std::size_t> index_;
    std::vector<std::vector<std::pair<std::size_t, std::string>>> rows_;
};

int export_runs(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    const po::options_description desc = describe(action::export_to_file, default_db_path(env));
    const po::variables_map vm = parse_command_args(args, desc);
    const std::string format = text_option(vm, "format");
    if (format.empty()) throw usage_error("--format jsonl|csv is required");
    if (format != "jsonl" && format != "csv") {
        throw usage_error("--format: expected jsonl or csv, got '" + format + "'");
    }
    const std::string out_path = text_option(vm, "out");
    if (out_path.empty()) throw usage_error("--out FILE is required");
    run_browse_query query = filters_from(vm, clock_type::now());
    query.limit = export_page;
    query.with_bodies = true;
    const std::unique_ptr<store> db = open_store(vm, env);
    const bool to_stdout = out_path == "-";
    // The file only when there is one: opening it creates its temporary file beside --out.
    std::optional<atomic_file> file;
    stdout_sink standard_output;
    if (!to_stdout) file.emplace(out_path);
    auto write = [&](std::string_view bytes) {
        if (file) {
            file->write(bytes);
        } else {
            standard_output.write(bytes);
        }
    };
    csv_table table;
    std::size_t runs = 0;
    // Page by page along the keyset cursor: every run at most once, newest first, even while
    // the daemon stores more.
    for (;;) {
        const run_browse_page page = db->browse_runs(query);
        for (const stored_run& run : page.items) {
            ++runs;
            if (format == "csv") {
                if (!table.add(run)) throw run_error("run " + run.fields.id + ": body is not JSON");
                continue;
            }
            const std::optional<std::string> line = json_line(run.body);
            if (!line) throw run_error("run " + run.fields.id + ": body is not JSON");
            write(*line);
            write("\n");
        }
        if (!page.next) break;
        query.after = page.next;
    }
    if (format == "csv") {
        if (file) {
            table.write(*file);
        } else {
            table.write(standard_output);
        }
    }
    if (file) {
        file->commit();
    } else {
        standard_output.commit();
    }
    std::cerr << "runmirror runs export: " << runs << (runs == 1 ? " run" : " runs");
    if (format == "csv")
        std::cerr << ", " << table.rows() << (table.rows() == 1 ? " row" : " rows");
    std::cerr << " written to " << (to_stdout ? "standard output" : out_path) << "\n";
    return 0;
}

}  // namespace

int runs_command(const std::vector<std::string>& args) {
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
    if (name == "list") {
        which = action::list;
    } else if (name == "show") {
        which = action::show;
    } else if (name == "export") {
        which = action::export_to_file;
    } else if (name == "purge") {
        which = action::purge;
    } else {
        std::cerr << "runmirror runs: unknown action '" << name
                  << "' (try 'runmirror runs --help')\n";
        return 2;
    }
    const std::string prefix = "runmirror runs " + name + ": ";
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    const std::vector<std::string> env = process_environment();

    // --help wins over mistakes elsewhere on the line, as for serve.
    if (wants_help(rest)) {
        std::cout << help_text(which, default_db_path(env));
        return 0;
    }
    try {
        switch (which) {
            case action::list: return list_runs(rest, env);
            case action::show: return show_run(rest, env);
            case action::export_to_file: return export_runs(rest, env);
            case action::purge: return purge_run(rest, env);
        }
    } catch (const usage_error& e) {
        std::cerr << prefix << e.what() << "\n";
        return 2;
    } catch (const run_error& e) {
        std::cerr << prefix << e.what() << "\n";
        return 1;
    } catch (const store_error& e) {
        std::cerr << prefix << e.what() << "\n";
        return 1;
    }
    return 1;
}

}  // namespace runmirror
