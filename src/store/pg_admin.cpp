// `runmirror db` over PostgreSQL (runmirror/store_admin.hpp): what the store's tables hold and
// cost, every stored body checked, VACUUM (ANALYZE). Kept out of pg_store.cpp: one connection of
// its own, never the store's migrating open, so a store at any schema version is looked at as
// it is.
//
// The read-only actions run their session with default_transaction_read_only: the server then
// refuses any write, so stats and check cannot create or change anything whatever SQL they
// send. Long scans (check) read in batches by primary key, each batch a statement of its own, so
// no transaction stays open for the whole scan (it would hold back vacuum's cleanup of every
// table on the server); stats reads in one REPEATABLE READ transaction so its counts add up.
//
// Backups are refused: pg_dump is the tool for a database that other daemons keep writing, and
// the daemon binary does not run it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "runmirror/store_admin.hpp"
#include "store/admin_common.hpp"
#include "store/body_codec.hpp"
#include "store/migrations.hpp"
#include "store/pg_db.hpp"
#include "store/pg_migrations.hpp"

namespace runmirror {
namespace {

// The store's tables (schema/postgres/*.sql and pg_migrations' schema_version): the ones stats
// sizes and vacuum vacuums, and not whatever else shares their schema.
constexpr const char* store_tables[] = {"runs",          "list_pages",    "grants",
                                        "watches",       "agent_names",   "tenant_secret",
                                        "store_changes", "schema_version"};

// As a SQL list, for the catalog queries below (constants: nothing of the caller's goes in).
std::string table_list() {
    std::string out;
    for (const char* name : store_tables)
        out += std::string(out.empty() ? "" : ", ") + "'" + name + "'";
    return out;
}

// Rows per batch while checking: a few MB of bodies in one result.
constexpr std::int64_t check_batch = 200;
// Rows per batch while sizing bodies for stats (their first bytes only).
constexpr std::int64_t stats_batch = 5000;
// An LZ4 frame's header is at most 19 bytes, a zstd frame's 18: enough to read its content size
// (unpacked_body_size) without fetching the body.
constexpr int frame_header_bytes = 32;

// SQLSTATE lock_not_available: lock_timeout passed.
constexpr const char* lock_not_available = "55P03";

int known_version() {
    const auto migrations = embedded_postgres_migrations();
    return migrations.empty() ? 0 : migrations.back().version;
}

class pg_admin final : public store_admin {
  public:
    pg_admin(const std::string& uri, admin_access access)
        : display_(store_display_name(uri)), db_(uri, display_) {
        if (access == admin_access::read_only) db_.exec("SET default_transaction_read_only = on");
        // As SQLite's busy timeout: waiting on another session's lock (a migrating daemon's,
        // another vacuum's) ends in one line saying so, not a hang.
        db_.exec("SET lock_timeout = '5s'");
        version_ = pg_schema_version(db_);
        if (version_ == 0 || !has_table("runs")) {
            throw store_error("store '" + display_ + "': no runmirror store in this database (no " +
                              (version_ == 0 ? "schema_version" : "runs") + " table in schema " +
                              current_schema() + "); 'runmirror serve' creates one");
        }
    }

    store_stats stats() override {
        return saying_if_busy("stats", [&] { return read_stats(); });
    }

    store_check_summary check(
        const std::function<void(const store_problem&)>& on_problem) override {
        return saying_if_busy("check", [&] { return check_all(on_problem); });
    }

    vacuum_result vacuum() override {
        return saying_if_busy("vacuum", [&] { return vacuum_tables(); });
    }

    void backup_to(const std::string&, bool) override {
        throw store_error("store '" + display_ + "' is a PostgreSQL database: back it up with " +
                          "pg_dump; runmirror writes backups of SQLite stores only");
    }

  private:
    // Runs |fn|; a lock wait that outlasted lock_timeout becomes one sentence saying what to do.
    template <class Fn>
    std::invoke_result_t<Fn&> saying_if_busy(const char* what, Fn&& fn) {
        try {
            return fn();
        } catch (const pg::pg_error& e) {
            if (e.sqlstate() != lock_not_available) throw;
            throw store_error("store '" + display_ +
                              "' is busy: another session held a lock on its tables for 5 s (a "
                              "migrating daemon, a vacuum); try the " +
                              what + " again");
        }
    }

    store_stats read_stats() {
        store_stats out;
        out.backend = store_backend::postgresql;
        out.schema_version = version_;
        out.known_schema_version = known_version();

        // One snapshot for all the counts, so they add up with each other.
        pg::transaction snapshot(db_, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        resource_groups(out.groups);
        {
            const pg::result r = db_.query(
                "SELECT count(*), coalesce(sum(octet_length(body)), 0)::bigint"
                " FROM list_pages");
            // List pages are kept as received: stored and received sizes are the same.
            out.groups.push_back(
                {"list_pages", "cached list pages", r.int64(0, 0), r.int64(0, 1), r.int64(0, 1)});
        }
        out.grants = db_.query("SELECT count(*) FROM grants").int64(0, 0);
        {
            // Grouped by the store key's prefix, which says the kind, as sqlite_admin does.
            const pg::result r = db_.query(
                "SELECT min(coalesce(run_id, job_id, '')),"
                " CASE WHEN finished_at IS NOT NULL THEN 'finished'"
                " WHEN given_up_at IS NOT NULL THEN 'given_up' ELSE 'active' END AS state,"
                " count(*) FROM watches"
                " GROUP BY substr(coalesce(run_id, job_id, ''), 1,"
                " strpos(coalesce(run_id, job_id, ''), '/')), state ORDER BY 1, 2");
            for (int i = 0; i < r.rows(); ++i) {
                out.watches.emplace_back(std::string(kind_of_store_key(r.text(i, 0)).name),
                                         r.text(i, 1), r.int64(i, 2));
            }
        }
        {
            const pg::result r = db_.query(
                "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class AS c"
                " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN (" +
                table_list() + ") ORDER BY 2 DESC, 1");
            for (int i = 0; i < r.rows(); ++i)
                out.tables.push_back({r.text(i, 0), r.int64(i, 1)});
        }
        snapshot.commit();
        return out;
    }

    store_check_summary check_all(const std::function<void(const store_problem&)>& on_problem) {
        store_check_summary summary;
        body_checker checker(summary, on_problem);
        check_schema(checker);

        // Every stored body: it must decode and be one JSON object.
        in_batches(
            "SELECT id, kind, variant, deleted_at IS NOT NULL, body, body_compressed FROM runs"
            " WHERE body IS NOT NULL",
            "id", 1, [&](const pg::result& r, int i) {
                const std::string key = r.text(i, 0);
                const std::string kind = r.text(i, 1);
                const std::string variant = r.text(i, 2);
                checker.resource(
                    {key, kind, variant, r.boolean(i, 3), r.bytes(i, 4), r.boolean(i, 5)});
            });
        in_batches("SELECT tenant, key, body FROM list_pages", "tenant, key", 2,
                   [&](const pg::result& r, int i) {
                       checker.list_page(r.text(i, 0), r.text(i, 1), r.bytes(i, 2));
                   });
        return summary;
    }

    vacuum_result vacuum_tables() {
        std::string names;
        {
            const pg::result r = db_.query(
                "SELECT c.relname::text,"
                " pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE')"
                " OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " JOIN pg_database AS d ON d.datname = current_database()"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN (" +
                table_list() + ") ORDER BY 1");
            // VACUUM skips a table its caller does not own with a warning, not an error: it
            // would report a vacuum that did not happen.
            std::string refused;
            for (int i = 0; i < r.rows(); ++i) {
                const std::string name = r.text(i, 0);
                if (!r.boolean(i, 1)) refused += (refused.empty() ? "" : ", ") + name;
                names += (names.empty() ? "\"" : ", \"") + name + "\"";
            }
            if (!refused.empty()) {
                throw store_error("store '" + display_ + "': only the owner of its tables (or " +
                                  "the database's owner, or a superuser) can vacuum them; " +
                                  "this user does not own " + refused);
            }
        }
        vacuum_result out;
        out.bytes_before = tables_bytes();
        // Not in a transaction (VACUUM refuses one): one statement of its own.
        db_.exec("VACUUM (ANALYZE) " + names);
        out.bytes_after = tables_bytes();
        return out;
    }

    bool has_table(const char* name) {
        return db_
            .query("SELECT to_regclass(quote_ident(current_schema()) || '.' || $1) IS NOT NULL",
                   pg::params().text(name))
            .boolean(0, 0);
    }

    bool has_column(const char* table, const char* column) {
        return db_
            .query(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE"
                " table_schema = current_schema() AND table_name = $1 AND column_name = $2)",
                pg::params().text(table).text(column))
            .boolean(0, 0);
    }

    std::string current_schema() { return db_.query("SELECT current_schema()::text").text(0, 0); }

    std::int64_t tables_bytes() {
        return db_
            .query(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint"
                " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN (" +
                table_list() + ")")
            .int64(0, 0);
    }

    // What SQLite's integrity check is to a file, for a database that keeps its own pages: the
    // schema the recorded version promises, and the rows the daemons rely on being there.
    void check_schema(body_checker& checker) {
        const std::string subject = "store " + display_;
        // Every step recorded once, in order (a gap means a step applied by hand or a row lost).
        {
            const pg::result r =
                db_.query("SELECT version, name FROM schema_version ORDER BY version");
            const auto migrations = embedded_postgres_migrations();
            for (int i = 0; i < r.rows(); ++i) {
                const std::int64_t version = r.int64(i, 0);
                if (version != i + 1) {
                    checker.report(subject, "schema_version records step " +
                                                std::to_string(version) + " where step " +
                                                std::to_string(i + 1) + " was expected");
                    break;
                }
                const std::string name = r.text(i, 1);
                if (static_cast<std::size_t>(i) < migrations.size() &&
                    name != migrations[static_cast<std::size_t>(i)].name) {
                    checker.report(
                        subject, "schema_version step " + std::to_string(version) + " is '" + name +
                                     "', this runmirror's is '" +
                                     std::string(migrations[static_cast<std::size_t>(i)].name) +
                                     "'");
                }
            }
        }
        for (const char* table : store_tables) {
            if (!has_table(table)) {
                checker.report(subject, std::string("table ") + table +
                                            " is missing (schema version " +
                                            std::to_string(version_) + " has it)");
            }
        }
        if (version_ >= 2 && has_table("watches") && !has_column("watches", "claimed_by")) {
            checker.report(subject, "table watches lacks the column claimed_by (schema version " +
                                        std::to_string(version_) + " has it)");
        }
        // Every write transaction of every daemon updates this one row first: without it their
        // writes would no longer take turns.
        if (has_table("store_changes")) {
            const std::int64_t rows =
                db_.query("SELECT count(*) FROM store_changes WHERE id = 1").int64(0, 0);
            if (rows != 1) {
                checker.report(subject,
                               "table store_changes lacks its one row (id 1), which "
                               "every daemon's writes take turns on");
            }
        }
        // An index a failed CREATE INDEX CONCURRENTLY or REINDEX left behind: kept up to date
        // but never used, or not even kept up to date.
        {
            const pg::result r = db_.query(
                "SELECT c.relname::text FROM pg_index AS i"
                " JOIN pg_class AS c ON c.oid = i.indexrelid"
                " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)"
                " ORDER BY 1");
            for (int i = 0; i < r.rows(); ++i) {
                checker.report(subject,
                               "index " + r.text(i, 0) + " is invalid (REINDEX INDEX rebuilds it)");
            }
        }
    }

    // Calls |fn| for every row of |select| (no ORDER BY or LIMIT), in batches ordered by
    // |order|, the table's primary key of |key_columns| text columns, each batch a statement of
    // its own that starts after the last row of the one before.
    template <class Fn>
    void in_batches(const std::string& select, const std::string& order, int key_columns, Fn&& fn) {
        const bool filtered = select.find(" WHERE ") != std::string::npos;
        const std::string tail = " ORDER BY " + order + " LIMIT " + std::to_string(check_batch);
        const std::string after = key_columns == 1 ? "$1" : "$1, $2";
        const std::string first_sql = select + tail;
        const std::string next_sql =
            select + (filtered ? " AND (" : " WHERE (") + order + ") > (" + after + ")" + tail;
        std::vector<std::string> last;  // the last row's key, decoded
        for (bool first = true;; first = false) {
            pg::params p;
            for (const std::string& k : last)
                p.text(k);
            const pg::result r = first ? db_.query(first_sql) : db_.query(next_sql, p);
            for (int i = 0; i < r.rows(); ++i)
                fn(r, i);
            if (r.rows() < check_batch) return;
            last.clear();
            for (int k = 0; k < key_columns; ++k)
                last.push_back(r.text(r.rows() - 1, k));
        }
    }

    // The resources' rows, grouped as sqlite_admin groups them. A compressed body's size as
    // received is in its frame header: only those first bytes are read.
    void resource_groups(std::vector<stored_group>& out) {
        group_tally tally;
        const std::string sql_head =
            "SELECT id, kind, variant, deleted_at IS NOT NULL, body IS NULL,"
            " coalesce(octet_length(body), 0), body_compressed,"
            " CASE WHEN body_compressed THEN substring(body FROM 1 FOR " +
            std::to_string(frame_header_bytes) + ") END FROM runs";
        const std::string tail = " ORDER BY id LIMIT " + std::to_string(stats_batch);
        std::string last;
        for (bool first = true;; first = false) {
            const pg::result r =
                first ? db_.query(sql_head + tail)
                      : db_.query(sql_head + " WHERE id > $1" + tail, pg::params().text(last));
            for (int i = 0; i < r.rows(); ++i) {
                const bool bodiless = r.boolean(i, 4);
                const std::int64_t stored = r.int64(i, 5);
                std::int64_t received = 0;
                if (!bodiless) {
                    // A damaged header counts nothing here; check says what is wrong with it.
                    const auto size = r.boolean(i, 6) ? unpacked_body_size(r.bytes(i, 7), true)
                                                      : std::optional<std::size_t>(stored);
                    received = size ? static_cast<std::int64_t>(*size) : 0;
                }
                tally.add(r.text(i, 1), r.text(i, 2), r.boolean(i, 3), bodiless, 1,
                          bodiless ? 0 : stored, received);
            }
            if (r.rows() < stats_batch) break;
            last = r.text(r.rows() - 1, 0);
        }
        for (stored_group& g : tally.take())
            out.push_back(std::move(g));
    }

    std::string display_;
    pg::connection db_;
    int version_ = 0;
};

}  // namespace

std::unique_ptr<store_admin> open_postgres_store_admin(const std::string& uri,
                                                       admin_access access) {
    if (!is_postgres_uri(uri)) {
        throw store_error("store '" + store_display_name(uri) +
                          "': not a PostgreSQL URI (postgresql://...)");
    }
    return std::make_unique<pg_admin>(uri, access);
}

}  // namespace runmirror
