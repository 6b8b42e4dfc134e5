// The store over PostgreSQL (DESIGN.md "Beyond one machine"): the same behaviour as the SQLite
// store (store.hpp is the contract, sqlite_store.cpp the reference), for a database that
// several daemons may share. The schema is schema/postgres/*.sql (store/pg_migrations), the
// SQL wrapper store/pg_db, search store/search_terms.
//
// Connections: a small pool; each call borrows one for its whole transaction, so calls from
// different threads run in parallel. Every write transaction starts by bumping the one row of
// store_changes: its row lock makes writes one at a time across every daemon on the database,
// as SQLite's single writer does, so the read-then-write steps below (watch merging, put_run's
// comparison with the stored row) need no locking of their own, and under READ COMMITTED each
// statement after the bump sees every write committed before it. due_watches' claims are the
// one write that skips the bump (see there): they lock only the watch rows they take.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/tenant.hpp"

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "store/body_codec.hpp"
#include "store/created_at_bound.hpp"
#include "store/peer_notice.hpp"
#include "store/pg_db.hpp"
#include "store/pg_feed.hpp"
#include "store/pg_migrations.hpp"
#include "store/prune_stages.hpp"
#include "store/search_terms.hpp"
#include "store/write_health.hpp"

namespace runmirror {
namespace {

// Idle connections kept open; a burst beyond this opens and closes extra ones.
constexpr std::size_t max_idle_connections = 4;

// What other daemons' caches are told of a write (store_change).
store_change run_change(const run_fields& fields) {
    return {.what = store_change::scope::run,
            .key = store_key(*fields.kind, fields.id, fields.variant),
            .job_id = fields.job_id,
            .tenant = {}};
}

store_change resource_change(std::string_view key) {
    return {
        .what = store_change::scope::resource, .key = std::string(key), .job_id = {}, .tenant = {}};
}

#define RUN_COLUMNS                                                                \
    "id, body, body_compressed, project_id, extraction_agent_id, job_id, file_id," \
    " file_name, status, created_at, updated_at, fetched_at, deleted_at, kind, variant"

// RUN_COLUMNS with no body, for listings that do not show it.
#define RUN_COLUMNS_NO_BODY                                                                \
    "id, NULL::bytea, false, project_id, extraction_agent_id, job_id, file_id, file_name," \
    " status, created_at, updated_at, fetched_at, deleted_at, kind, variant"

// What browsing may show, and what the partial browse indexes hold.
#define RUN_LIVE "deleted_at IS NULL AND body IS NOT NULL"

#define WATCH_COLUMNS                                                                         \
    "id, kind, run_id, job_id, tenant, project_id, extraction_agent_id, created_at,"          \
    " next_poll_at, attempts, last_status, last_error, updated_at, finished_at, given_up_at," \
    " give_up_reason"

// The condition every query for active watches uses; it matches the partial index watches_due.
#define WATCH_ACTIVE "finished_at IS NULL AND given_up_at IS NULL"

// Ends a claim_watches claim (schema/postgres/002_watch_leases.sql): whoever polled the watch has
// recorded what the poll found.
#define RELEASE_CLAIM "claimed_by = NULL, claimed_until = NULL"

// A variant row ("key?variant") stands for its resource in browsing (plain_else_variant) when
// no row of the plain key exists and no live variant of it sorts before it: see
// VARIANT_STANDS_IN in sqlite_store.cpp. The plain key is the id up to its first '?'.
#define VARIANT_STANDS_IN                                                                   \
    "(NOT EXISTS (SELECT 1 FROM runs AS p WHERE p.id = split_part(runs.id, '?', 1))"        \
    " AND NOT EXISTS (SELECT 1 FROM runs AS v WHERE v.id > split_part(runs.id, '?', 1) || " \
    "'?' AND v.id < runs.id AND v.deleted_at IS NULL AND v.body IS NOT NULL))"

// The resource's own id, from its store key (resource_kind::store_prefix, the variant).
std::string id_of_key(const resource_kind& kind, std::string_view key, std::string_view variant) {
    if (key.starts_with(kind.store_prefix)) key.remove_prefix(kind.store_prefix.size());
    if (!variant.empty() && key.size() > variant.size()) key.remove_suffix(variant.size() + 1);
    return std::string(key);
}

// The plain resource a stored row is a representation of.
std::string_view plain_key(std::string_view key) {
    return key.substr(0, key.find('?'));
}

stored_run read_run(const pg::result& r, int row) {
    stored_run run;
    const std::string key = r.text(row, 0);
    run.fields.kind = &kind_of_store_key(key);
    run.fields.variant = r.text(row, 14);
    run.fields.id = id_of_key(*run.fields.kind, key, run.fields.variant);
    if (!r.is_null(row, 1)) run.body = unpack_body(r.bytes(row, 1), r.boolean(row, 2));
    run.fields.project_id = r.text(row, 3);
    run.fields.extraction_agent_id = r.text(row, 4);
    run.fields.job_id = r.text(row, 5);
    run.fields.file_id = r.text(row, 6);
    run.fields.file_name = r.text(row, 7);
    run.fields.status = r.text(row, 8);
    run.fields.created_at = r.text(row, 9);
    run.fields.updated_at = r.text(row, 10);
    run.fetched_at = from_unix_ms(r.int64(row, 11));
    if (!r.is_null(row, 12)) run.deleted_at = from_unix_ms(r.int64(row, 12));
    return run;
}

std::shared_ptr<const stored_run> first_run(const pg::result& r) {
    if (r.rows() == 0) return nullptr;
    return std::make_shared<const stored_run>(read_run(r, 0));
}

watch read_watch(const pg::result& r, int row) {
    watch w;
    w.id = r.int64(row, 0);
    w.kind = r.text(row, 1) == "job" ? watch_kind::job : watch_kind::run;
    w.run_id = r.text(row, 2);
    w.job_id = r.text(row, 3);
    w.tenant = r.text(row, 4);
    w.project_id = r.text(row, 5);
    w.extraction_agent_id = r.text(row, 6);
    w.created_at = from_unix_ms(r.int64(row, 7));
    w.next_poll_at = from_unix_ms(r.int64(row, 8));
    w.attempts = static_cast<std::uint32_t>(r.int64(row, 9));
    w.last_status = r.text(row, 10);
    w.last_error = r.text(row, 11);
    w.updated_at = from_unix_ms(r.int64(row, 12));
    if (!r.is_null(row, 13)) w.finished_at = from_unix_ms(r.int64(row, 13));
    if (!r.is_null(row, 14)) w.given_up_at = from_unix_ms(r.int64(row, 14));
    w.give_up_reason = r.text(row, 15);
    return w;
}

std::vector<watch> read_watches(const pg::result& r) {
    std::vector<watch> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i)
        out.push_back(read_watch(r, i));
    return out;
}

// Who claims watches through one store object: unique per open store, and readable in
// `SELECT claimed_by` (which host and process holds a watch).
std::string claim_owner_id() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown-host");
    std::random_device random;
    const std::uint64_t nonce = (std::uint64_t{random()} << 32) | random();
    char tail[17];
    std::snprintf(tail, sizeof tail, "%016llx", static_cast<unsigned long long>(nonce));
    return std::string(host) + ":" + std::to_string(getpid()) + ":" + tail;
}

std::int64_t sql_limit(std::size_t limit) {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

// SQL text and its parameters built side by side, so each "$n" is the value added with it.
class statement_text {
  public:
    statement_text& operator+=(std::string_view sql) {
        sql_ += sql;
        return *this;
    }
    // Appends "$n" for |value| (viewed: it must outlive the statement's run).
    std::string arg(std::string_view value) {
        params_.text(value);
        return next();
    }
    std::string arg(std::string value) {
        params_.owned_text(std::move(value));
        return next();
    }
    std::string arg(std::int64_t value) {
        params_.int64(value);
        return next();
    }
    const std::string& sql() const { return sql_; }
    const pg::params& params() const { return params_; }

  private:
    std::string next() { return "$" + std::to_string(params_.size()); }
    std::string sql_;
    pg::params params_;
};

// " AND tenant IN ($n, ...)" for a tenant list, "" for any tenant.
void add_tenant_clause(statement_text& s, const tenant_filter& f) {
    if (f.any_tenant) return;
    std::string clause = " AND tenant IN (";
    for (std::size_t i = 0; i < f.tenants.size(); ++i)
        clause += (i == 0 ? "" : ", ") + s.arg(std::string_view(f.tenants[i]));
    s += clause + ")";
}

// The SQL list of every kind's final statuses, quoted: 'SUCCESS', 'ERROR', ...
std::string final_status_list() {
    std::vector<std::string_view> statuses;
    for (const resource_kind* kind : all_kinds()) {
        for (std::string_view status : kind->final_statuses) {
            if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
                statuses.push_back(status);
            }
        }
    }
    std::string out;
    for (std::string_view status : statuses)
        out += (out.empty() ? "'" : ", '") + std::string(status) + "'";
    return out;
}

// Failures that say the database could not be written as storage (connection lost, disk full,
// I/O error, a read-only standby, the server shutting down), as opposed to a constraint or an
// SQL error, which retrying the same write would repeat. "" is a connection that broke.
bool is_storage_fault(const std::string& sqlstate) {
    return sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("53") ||
           sqlstate.starts_with("57") || sqlstate.starts_with("58") || sqlstate == "25006";
}

// What the store holds for a store key, as writing it needs to know.
struct current_run {
    bool deleted = false;
    bool has_body = false;
    packed_body body;
    run_fields fields;
};

std::optional<current_run> find_current(pg::connection& db, std::string_view key) {
    const pg::result r =
        db.prepared("find_current",
                    "SELECT deleted_at IS NOT NULL, body, body_compressed, file_name, project_id,"
                    " extraction_agent_id, job_id, file_id, status, created_at, updated_at"
                    " FROM runs WHERE id = $1",
                    pg::params().text(key));
    if (r.rows() == 0) return std::nullopt;
    current_run run;
    run.deleted = r.boolean(0, 0);
    run.has_body = !r.is_null(0, 1);
    run.body.compressed = r.boolean(0, 2);
    run.body.bytes = std::string(r.bytes(0, 1));
    run.fields.file_name = r.text(0, 3);
    run.fields.project_id = r.text(0, 4);
    run.fields.extraction_agent_id = r.text(0, 5);
    run.fields.job_id = r.text(0, 6);
    run.fields.file_id = r.text(0, 7);
    run.fields.status = r.text(0, 8);
    run.fields.created_at = r.text(0, 9);
    run.fields.updated_at = r.text(0, 10);
    return run;
}

bool same_columns(const run_fields& a, const run_fields& b) {
    return a.project_id == b.project_id && a.extraction_agent_id == b.extraction_agent_id &&
           a.job_id == b.job_id && a.file_id == b.file_id && a.file_name == b.file_name &&
           a.status == b.status && a.created_at == b.created_at && a.updated_at == b.updated_at;
}

put_outcome insert_run(pg::connection& db, const run_fields& f, std::string_view body,
                       time_point fetched_at) {
    if (f.id.empty()) throw std::invalid_argument("store: put_run without a run id");
    const std::string key = store_key(*f.kind, f.id, f.variant);
    const std::optional<current_run> old = find_current(db, key);
    put_outcome outcome;
    if (old) {
        outcome = {old->fields.status, false};
        // A tombstoned row stays exactly as it is: deleted, with the body it had.
        if (old->deleted) return outcome;
        if (old->has_body && body_equals(old->body.bytes, old->body.compressed, body) &&
            same_columns(old->fields, f)) {
            db.prepared("refresh_run", "UPDATE runs SET fetched_at = $2 WHERE id = $1",
                        pg::params().text(key).int64(to_unix_ms(fetched_at)));
            return outcome;
        }
        outcome.changed = true;
    }
    const packed_body packed = pack_body(body);
    const std::string search =
        search_document(f.file_name, search_data_text(body, f.kind->searchable_member));
    pg::params p;
    p.text(key)
        .bytes(packed.bytes)
        .boolean(packed.compressed)
        .text(f.project_id)
        .text(f.extraction_agent_id)
        .text(f.job_id)
        .text(f.file_id)
        .text(f.file_name)
        .text(f.status)
        .text(f.created_at)
        .text(f.updated_at)
        .int64(to_unix_ms(fetched_at))
        .text(search)
        .text(f.kind->name)
        .text(f.variant);
    db.prepared("put_run",
                "INSERT INTO runs (id, body, body_compressed, project_id, extraction_agent_id,"
                " job_id, file_id, file_name, status, created_at, updated_at, fetched_at, search,"
                " kind, variant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
                " $14, $15)"
                " ON CONFLICT (id) DO UPDATE SET body = $2, body_compressed = $3,"
                " project_id = $4, extraction_agent_id = $5, job_id = $6, file_id = $7,"
                " file_name = $8, status = $9, created_at = $10, updated_at = $11,"
                " fetched_at = $12, search = $13",
                p);
    return outcome;
}

// Deletes the resource |key| (a store key without a variant): its plain row, every variant,
// and its watches (a job watch looking for it by its job id too): forgotten, not ended. True
// when a row of it was stored.
bool erase_resource(pg::connection& db, std::string_view key) {
    const pg::result gone =
        db.prepared("erase_resource",
                    "DELETE FROM runs WHERE id = $1"
                    " OR (id > $1::text || '?' AND id < $1::text || '@') RETURNING id, job_id",
                    pg::params().text(key));
    std::string job_id;
    for (int i = 0; i < gone.rows(); ++i)
        if (gone.text(i, 0) == key) job_id = gone.text(i, 1);
    db.prepared("erase_watches",
                "DELETE FROM watches WHERE run_id = $1 OR (run_id IS NULL AND job_id = $2)",
                pg::params().text(key).text(job_id.empty() ? std::string_view("\n")
                                                           : std::string_view(job_id)));
    return gone.rows() > 0;
}

// --- watch helpers; each runs inside the caller's write transaction -------------------------

bool run_is_tombstoned(pg::connection& db, std::string_view key) {
    return db.prepared("run_is_tombstoned",
                       "SELECT 1 FROM runs WHERE id = $1 AND deleted_at IS NOT NULL",
                       pg::params().text(key))
               .rows() > 0;
}

std::optional<watch_id> first_id(const pg::result& r) {
    if (r.rows() == 0) return std::nullopt;
    return r.int64(0, 0);
}

std::optional<watch_id> watch_of_run(pg::connection& db, std::string_view key) {
    return first_id(db.prepared("watch_of_run", "SELECT id FROM watches WHERE run_id = $1",
                                pg::params().text(key)));
}

std::optional<watch_id> watch_of_job(pg::connection& db, std::string_view job_id) {
    return first_id(db.prepared("watch_of_job", "SELECT id FROM watches WHERE job_id = $1",
                                pg::params().text(job_id)));
}

// A new active watch: a run watch when |run_id| is set, else a job watch. The job id is left
// out if another watch already holds it, which keeps watches_by_job unique.
watch_id insert_watch(pg::connection& db, std::string_view run_id, std::string_view job_id,
                      std::string_view tenant, std::string_view project_id,
                      std::string_view agent_id, time_point now, time_point first_poll_at) {
    const pg::result r = db.prepared(
        "insert_watch",
        "INSERT INTO watches (kind, run_id, job_id, tenant, project_id, extraction_agent_id,"
        " created_at, next_poll_at, updated_at)"
        " VALUES (CASE WHEN $1::text = '' THEN 'job' ELSE 'run' END, NULLIF($1::text, ''),"
        " CASE WHEN $2::text <> '' AND NOT EXISTS (SELECT 1 FROM watches WHERE job_id = $2)"
        " THEN $2 END, $3, $4, $5, $6, $7, $6)"
        " RETURNING id",
        pg::params()
            .text(run_id)
            .text(job_id)
            .text(tenant)
            .text(project_id)
            .text(agent_id)
            .int64(to_unix_ms(now))
            .int64(to_unix_ms(first_poll_at)));
    return r.int64(0, 0);
}

// A job watch becomes the watch of its run. The caller has made sure no other watch holds
// |run_id|.
void bind_run(pg::connection& db, watch_id id, std::string_view run_id) {
    db.prepared("bind_run", "UPDATE watches SET kind = 'run', run_id = $2 WHERE id = $1",
                pg::params().int64(id).text(run_id));
}

void delete_watch(pg::connection& db, watch_id id) {
    db.prepared("delete_watch", "DELETE FROM watches WHERE id = $1", pg::params().int64(id));
}

// Takes over a non-empty |tenant| (empty: keep) and fills in ids the watch lacks. Never touches
// the schedule.
void update_watch_details(pg::connection& db, watch_id id, std::string_view tenant,
                          std::string_view project_id, std::string_view agent_id,
                          std::string_view job_id, time_point now) {
    db.prepared("update_watch_details",
                "UPDATE watches SET"
                " tenant = CASE WHEN $2::text <> '' THEN $2 ELSE tenant END,"
                " project_id = CASE WHEN $3::text <> '' THEN $3 ELSE project_id END,"
                " extraction_agent_id = CASE WHEN $4::text <> '' THEN $4"
                " ELSE extraction_agent_id END,"
                " job_id = CASE WHEN job_id IS NULL AND $5::text <> ''"
                " AND NOT EXISTS (SELECT 1 FROM watches AS w WHERE w.job_id = $5)"
                " THEN $5 ELSE job_id END,"
                " updated_at = $6"
                " WHERE id = $1",
                pg::params()
                    .int64(id)
                    .text(tenant)
                    .text(project_id)
                    .text(agent_id)
                    .text(job_id)
                    .int64(to_unix_ms(now)));
}

// Watching again what was finished or given up starts it over, unless its run is tombstoned.
void restart_if_ended(pg::connection& db, watch_id id, time_point now, time_point first_poll_at) {
    db.prepared("restart_if_ended",
                "UPDATE watches SET created_at = $2, next_poll_at = $3, attempts = 0,"
                " last_error = '', finished_at = NULL, given_up_at = NULL,"
                " give_up_reason = NULL, updated_at = $2, " RELEASE_CLAIM
                " WHERE id = $1 AND NOT (" WATCH_ACTIVE
                ") AND NOT EXISTS (SELECT 1 FROM runs"
                " WHERE runs.id = watches.run_id AND runs.deleted_at IS NOT NULL)",
                pg::params().int64(id).int64(to_unix_ms(now)).int64(to_unix_ms(first_poll_at)));
}

class pg_store final : public store, private prune_steps {
  public:
    pg_store(const std::string& uri, const postgres_store_options& options)
        : conninfo_(uri),
          display_(store_display_name(uri)),
          owner_(claim_owner_id()),
          lease_(options.watch_lease),
          health_(display_) {
        auto db = connect();
        // Text is stored as UTF-8 (pg::encode_text); a database of another encoding would
        // refuse most of it, or store it converted.
        const std::string encoding =
            db->query("SELECT current_setting('server_encoding')").text(0, 0);
        if (encoding != "UTF8" && encoding != "SQL_ASCII") {
            throw store_error("store '" + display_ + "': the database's encoding is " + encoding +
                              "; runmirror needs a UTF8 database (CREATE DATABASE ... ENCODING "
                              "'UTF8' TEMPLATE template0)");
        }
        apply_pg_migrations(*db, embedded_postgres_migrations());
        check_tenant_secret(*db);
        give_back(std::move(db));
    }

    put_outcome put_run(const run_fields& fields, std::string_view body,
                        time_point fetched_at) override {
        put_outcome outcome;
        std::vector<store_change> told;
        write(
            [&](pg::connection& db) {
                outcome = insert_run(db, fields, body, fetched_at);
                if (outcome.changed) told = {run_change(fields)};
            },
            told);
        return outcome;
    }

    std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs,
        time_point fetched_at) override {
        std::vector<put_outcome> outcomes;
        if (runs.empty()) return outcomes;
        std::vector<store_change> told;
        write(
            [&](pg::connection& db) {
                outcomes.clear();  // a retried write starts again
                told.clear();
                for (const auto& [fields, body] : runs) {
                    outcomes.push_back(insert_run(db, fields, body, fetched_at));
                    // Unchanged rows only have a newer fetch time: a copy held elsewhere is
                    // older, so taken for staler than it is, never for fresher.
                    if (outcomes.back().changed) told.push_back(run_change(fields));
                }
            },
            told);
        return outcomes;
    }

    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        return read([&](pg::connection& db) {
            return first_run(db.prepared("find_run",
                                         "SELECT " RUN_COLUMNS " FROM runs WHERE id = $1",
                                         pg::params().text(id)));
        });
    }

    std::shared_ptr<const stored_run> find_run_or_variant(std::string_view key) override {
        return read([&](pg::connection& db) {
            if (auto run = first_run(db.prepared("find_run",
                                                 "SELECT " RUN_COLUMNS " FROM runs WHERE id = $1",
                                                 pg::params().text(key)))) {
                return run;
            }
            // Its variants are the ids "key?...": '@' follows '?'.
            return first_run(db.prepared("find_first_variant",
                                         "SELECT " RUN_COLUMNS " FROM runs"
                                         " WHERE id > $1::text || '?' AND id < $1::text || '@'"
                                         " AND " RUN_LIVE " ORDER BY id LIMIT 1",
                                         pg::params().text(key)));
        });
    }

    std::shared_ptr<const stored_run> find_run_by_job(std::string_view job_id) override {
        if (job_id.empty()) return nullptr;  // '' is what every row without a job holds
        return read([&](pg::connection& db) {
            // The newest of the job's runs (a job has one run, a retried one a few).
            return first_run(db.prepared("find_run_by_job",
                                         "SELECT " RUN_COLUMNS " FROM runs WHERE job_id = $1"
                                         " ORDER BY created_at DESC, id DESC LIMIT 1",
                                         pg::params().text(job_id)));
        });
    }

    void tombstone_run(std::string_view id, time_point at) override {
        const std::int64_t ms = to_unix_ms(at);
        const std::vector<store_change> told = {resource_change(id)};
        write(
            [&](pg::connection& db) {
                // The first deletion time is the one that counts.
                db.prepared("tombstone",
                            "INSERT INTO runs (id, body, fetched_at, deleted_at, kind)"
                            " VALUES ($1, NULL, $2, $2, $3)"
                            " ON CONFLICT (id) DO UPDATE SET deleted_at = $2, search = NULL"
                            " WHERE runs.deleted_at IS NULL",
                            pg::params().text(id).int64(ms).text(kind_of_store_key(id).name));
                // Every stored representation of it goes with it.
                db.prepared("tombstone_variants",
                            "UPDATE runs SET deleted_at = $2, search = NULL"
                            " WHERE id > $1::text || '?' AND id < $1::text || '@'"
                            " AND deleted_at IS NULL",
                            pg::params().text(id).int64(ms));
                db.prepared("drop_list_pages", "DELETE FROM list_pages");
                // No active watch of a deleted run: its watch, and a job watch still looking for it
                // by the job id the stored run names.
                db.prepared("finish_deleted_watches",
                            "UPDATE watches SET finished_at = $2, last_status = 'DELETED',"
                            " last_error = '', updated_at = $2, " RELEASE_CLAIM
                            " WHERE " WATCH_ACTIVE
                            " AND (run_id = $1 OR (run_id IS NULL AND job_id ="
                            " (SELECT NULLIF(job_id, '') FROM runs WHERE id = $1)))",
                            pg::params().text(id).int64(ms));
            },
            told);
    }

    bool forget_run(std::string_view key) override {
        bool found = false;
        std::vector<store_change> told;
        write(
            [&](pg::connection& db) {
                found = erase_resource(db, key);
                // A stored list page may hold it: the next list asks upstream again.
                if (found) db.prepared("drop_list_pages", "DELETE FROM list_pages");
                if (found) told = {resource_change(key)};
            },
            told);
        return found;
    }

    run_page list_runs(const run_query& query) override {
        auto filtered = [&](statement_text& s) {
            s += " FROM runs WHERE kind = 'run' AND " RUN_LIVE;
            s += " AND project_id IN (SELECT project_id FROM grants WHERE tenant = " +
                 s.arg(std::string_view(query.tenant)) + ")";
            if (!query.extraction_agent_id.empty()) {
                s += " AND extraction_agent_id = " +
                     s.arg(std::string_view(query.extraction_agent_id));
            }
            if (!query.project_id.empty()) {
                s += " AND project_id = " + s.arg(std::string_view(query.project_id));
            }
        };
        statement_text count;
        count += "SELECT count(*)";
        filtered(count);
        statement_text items;
        items += "SELECT " RUN_COLUMNS;
        filtered(items);
        items += " ORDER BY created_at DESC, id DESC LIMIT " +
                 items.arg(std::max<std::int64_t>(query.limit, 0)) + " OFFSET " +
                 items.arg(std::max<std::int64_t>(query.skip, 0));
        return read([&](pg::connection& db) {
            // One snapshot, so the total and the items agree.
            pg::transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            run_page page;
            page.total = db.query(count.sql(), count.params()).int64(0, 0);
            if (page.total > 0) {
                const pg::result r = db.query(items.sql(), items.params());
                for (int i = 0; i < r.rows(); ++i)
                    page.items.push_back(read_run(r, i));
            }
            snapshot.commit();
            return page;
        });
    }

    run_browse_page browse_runs(const run_browse_query& query) override {
        std::optional<std::vector<std::string>> patterns;
        if (!query.search.empty()) {
            patterns = search_patterns(query.search);
            if (patterns && patterns->empty()) return {};
        }
        if (query.limit == 0) return {};
        statement_text s;
        s += query.with_bodies ? "SELECT " RUN_COLUMNS : "SELECT " RUN_COLUMNS_NO_BODY;
        s += " FROM runs WHERE " RUN_LIVE;
        s += query.representation == browse_representation::plain_only
                 ? " AND variant = ''"
                 : " AND (variant = '' OR " VARIANT_STANDS_IN ")";
        if (query.kind) s += " AND kind = " + s.arg(query.kind->name);
        if (query.tenant) {
            s += " AND project_id IN (SELECT project_id FROM grants WHERE tenant = " +
                 s.arg(std::string_view(*query.tenant)) + ")";
        }
        if (!query.extraction_agent_id.empty()) {
            s += " AND extraction_agent_id = " + s.arg(std::string_view(query.extraction_agent_id));
        }
        if (!query.project_id.empty()) {
            s += " AND project_id = " + s.arg(std::string_view(query.project_id));
        }
        if (!query.status.empty()) s += " AND status = " + s.arg(std::string_view(query.status));
        if (query.created_from) {
            s += " AND created_at >= " + s.arg(created_at_bound(*query.created_from));
        }
        if (query.created_before) {
            s += " AND created_at < " + s.arg(created_at_bound(*query.created_before));
        }
        // Keyset: strictly after the cursor in browse order. Row comparison over C-collated
        // columns is bytewise, as SQLite compares them.
        if (query.after) {
            const std::string created = s.arg(std::string_view(query.after->created_at));
            s += " AND (created_at, id) < (" + created + ", " +
                 s.arg(std::string_view(query.after->id)) + ")";
        }
        if (patterns) {
            for (std::string& pattern : *patterns)
                s += " AND search LIKE " + s.arg(std::move(pattern));
        }
        // One row more than asked tells whether another page follows (the cap keeps the + 1
        // from overflowing).
        const std::size_t wanted = std::min<std::size_t>(query.limit, 1'000'000'000) + 1;
        s += " ORDER BY created_at DESC, id DESC LIMIT " + s.arg(sql_limit(wanted));
        return read([&](pg::connection& db) {
            run_browse_page page;
            const pg::result r = db.query(s.sql(), s.params());
            for (int i = 0; i < r.rows(); ++i)
                page.items.push_back(read_run(r, i));
            if (page.items.size() == wanted) {
                page.items.pop_back();
                const run_fields& last = page.items.back().fields;
                // The row's own key: variants of one resource and other ids sort apart.
                page.next = run_browse_cursor{last.created_at,
                                              store_key(*last.kind, last.id, last.variant)};
            }
            return page;
        });
    }

    std::vector<agent_summary> agent_summaries() override {
        std::vector<agent_summary> out = read([](pg::connection& db) {
            pg::transaction snapshot(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            std::vector<agent_summary> rows;
            // Counted here rather than kept by triggers as the SQLite store does (run_counts):
            // an index-only count per (agent, project, status) is enough until stores of
            // millions of runs live here.
            const pg::result r = db.prepared(
                "agent_counts",
                "SELECT extraction_agent_id, project_id, status, count(*), max(created_at)"
                " FROM runs WHERE kind = 'run' AND " RUN_LIVE
                " GROUP BY extraction_agent_id, project_id, status"
                " ORDER BY extraction_agent_id, project_id, status");
            for (int i = 0; i < r.rows(); ++i) {
                std::string agent = r.text(i, 0);
                std::string project = r.text(i, 1);
                if (rows.empty() || rows.back().extraction_agent_id != agent ||
                    rows.back().project_id != project) {
                    rows.push_back({std::move(agent), std::move(project), 0, {}, {}, {}});
                }
                agent_summary& summary = rows.back();
                const std::int64_t count = r.int64(i, 3);
                summary.runs += count;
                summary.by_status[r.text(i, 2)] += count;
                summary.latest_created_at = std::max(summary.latest_created_at, r.text(i, 4));
            }
            std::map<std::pair<std::string, std::string>, std::string> names;
            const pg::result n = db.prepared(
                "agent_names", "SELECT extraction_agent_id, project_id, name FROM agent_names");
            for (int i = 0; i < n.rows(); ++i)
                names[{n.text(i, 0), n.text(i, 1)}] = n.text(i, 2);
            for (agent_summary& summary : rows) {
                auto it = names.find({summary.extraction_agent_id, summary.project_id});
                if (it != names.end()) summary.name = std::move(it->second);
            }
            snapshot.commit();
            return rows;
        });
        // Most recently active first: what a user returning to the mirror looks for.
        std::stable_sort(out.begin(), out.end(),
                         [](const agent_summary& a, const agent_summary& b) {
                             return a.latest_created_at > b.latest_created_at;
                         });
        return out;
    }

    void put_agent_names(const std::vector<agent_name>& names, time_point learned_at) override {
        if (names.empty()) return;
        write([&](pg::connection& db) {
            for (const agent_name& n : names) {
                if (n.extraction_agent_id.empty() || n.project_id.empty() || n.name.empty()) {
                    continue;
                }
                db.prepared("put_agent_name",
                            "INSERT INTO agent_names (extraction_agent_id, project_id, name,"
                            " learned_at) VALUES ($1, $2, $3, $4)"
                            " ON CONFLICT (extraction_agent_id, project_id) DO UPDATE"
                            " SET name = excluded.name, learned_at = excluded.learned_at"
                            " WHERE agent_names.name IS DISTINCT FROM excluded.name",
                            pg::params()
                                .text(n.extraction_agent_id)
                                .text(n.project_id)
                                .text(n.name)
                                .int64(to_unix_ms(learned_at)));
            }
        });
    }

    void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                       time_point fetched_at) override {
        const std::vector<store_change> told = {{.what = store_change::scope::list_page,
                                                 .key = std::string(key),
                                                 .job_id = {},
                                                 .tenant = std::string(tenant)}};
        write(
            [&](pg::connection& db) {
                db.prepared(
                    "put_list_page",
                    "INSERT INTO list_pages (tenant, key, body, fetched_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, key) DO UPDATE"
                    " SET body = excluded.body, fetched_at = excluded.fetched_at",
                    pg::params().text(tenant).text(key).bytes(body).int64(to_unix_ms(fetched_at)));
            },
            told);
    }

    std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) override {
        return read([&](pg::connection& db) -> std::shared_ptr<const stored_list_page> {
            const pg::result r = db.prepared(
                "find_list_page",
                "SELECT body, fetched_at FROM list_pages WHERE tenant = $1 AND key = $2",
                pg::params().text(tenant).text(key));
            if (r.rows() == 0) return nullptr;
            return std::make_shared<const stored_list_page>(
                stored_list_page{std::string(r.bytes(0, 0)), from_unix_ms(r.int64(0, 1)), nullptr});
        });
    }

    void grant(std::string_view tenant, const std::vector<std::string>& project_ids) override {
        if (std::all_of(project_ids.begin(), project_ids.end(),
                        [](const std::string& p) { return p.empty(); })) {
            return;
        }
        // granted_at says when the grant was last seen to within an hour (see the SQLite
        // store). Every miss grants its run's project again, nearly always one seen within the
        // hour: a read tells so, where a write transaction would cost a commit (its bump of
        // store_changes is a row written) for nothing.
        const std::int64_t now = to_unix_ms(clock_type::now());
        const bool all_fresh = read([&](pg::connection& db) {
            for (const std::string& project : project_ids) {
                if (project.empty()) continue;
                if (db.prepared("grant_is_fresh",
                                "SELECT 1 FROM grants WHERE tenant = $1 AND project_id = $2"
                                " AND $3 - granted_at < 3600000",
                                pg::params().text(tenant).text(project).int64(now))
                        .rows() == 0) {
                    return false;
                }
            }
            return true;
        });
        if (all_fresh) return;
        write([&](pg::connection& db) {
            for (const std::string& project : project_ids) {
                if (project.empty()) continue;
                db.prepared(
                    "grant",
                    "INSERT INTO grants (tenant, project_id, granted_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (tenant, project_id) DO UPDATE"
                    " SET granted_at = excluded.granted_at"
                    " WHERE excluded.granted_at - grants.granted_at >= 3600000",
                    pg::params().text(tenant).text(project).int64(now));
            }
        });
    }

    bool has_grant(std::string_view tenant, std::string_view project_id) override {
        return read([&](pg::connection& db) {
            return db.prepared("has_grant",
                               "SELECT 1 FROM grants WHERE tenant = $1 AND project_id = $2",
                               pg::params().text(tenant).text(project_id))
                       .rows() > 0;
        });
    }

    bool has_any_grant(std::string_view tenant) override {
        return read([&](pg::connection& db) {
            return db.prepared("has_any_grant", "SELECT 1 FROM grants WHERE tenant = $1 LIMIT 1",
                               pg::params().text(tenant))
                       .rows() > 0;
        });
    }

    void revoke_tenant(std::string_view tenant) override {
        const std::vector<store_change> told = {{.what = store_change::scope::tenant,
                                                 .key = {},
                                                 .job_id = {},
                                                 .tenant = std::string(tenant)}};
        write(
            [&](pg::connection& db) {
                db.prepared("revoke_grants", "DELETE FROM grants WHERE tenant = $1",
                            pg::params().text(tenant));
                db.prepared("revoke_pages", "DELETE FROM list_pages WHERE tenant = $1",
                            pg::params().text(tenant));
            },
            told);
    }

    std::optional<watch_id> watch_run(const run_fields& run, std::string_view tenant,
                                      time_point now, time_point first_poll_at) override {
        if (run.id.empty()) throw std::invalid_argument("store: watch_run without a run id");
        // A watch names the resource by its store key, which says its kind.
        const std::string key = store_key(*run.kind, run.id);
        std::optional<watch_id> result;
        write([&](pg::connection& db) {
            result.reset();
            if (run_is_tombstoned(db, key)) return;
            const std::optional<watch_id> by_run = watch_of_run(db, key);
            std::optional<watch_id> by_job;
            if (!run.job_id.empty()) {
                by_job = first_id(
                    db.prepared("unbound_watch_of_job",
                                "SELECT id FROM watches WHERE job_id = $1 AND run_id IS NULL",
                                pg::params().text(run.job_id)));
            }
            if (!by_run && !by_job) {
                result = insert_watch(db, key, run.job_id, tenant, run.project_id,
                                      run.extraction_agent_id, now, first_poll_at);
                return;
            }
            watch_id id;
            if (by_run) {
                id = *by_run;
                // The job's watch was looking for this very run: one watch is enough, and the
                // run's takes over the job id below.
                if (by_job) delete_watch(db, *by_job);
            } else {
                id = *by_job;
                bind_run(db, id, key);
            }
            update_watch_details(db, id, tenant, run.project_id, run.extraction_agent_id,
                                 run.job_id, now);
            restart_if_ended(db, id, now, first_poll_at);
            result = id;
        });
        return result;
    }

    watch_id watch_job(std::string_view job_id, std::string_view extraction_agent_id,
                       std::string_view tenant, time_point now, time_point first_poll_at) override {
        if (job_id.empty()) throw std::invalid_argument("store: watch_job without a job id");
        watch_id result = 0;
        write([&](pg::connection& db) {
            if (std::optional<watch_id> id = watch_of_job(db, job_id)) {
                update_watch_details(db, *id, tenant, "", extraction_agent_id, "", now);
                restart_if_ended(db, *id, now, first_poll_at);
                result = *id;
            } else {
                result = insert_watch(db, "", job_id, tenant, "", extraction_agent_id, now,
                                      first_poll_at);
            }
        });
        return result;
    }

    bool job_watch_found_run(watch_id id, std::string_view run_id, std::string_view project_id,
                             time_point now) override {
        if (run_id.empty()) {
            throw std::invalid_argument("store: job_watch_found_run without a run id");
        }
        bool active = false;
        write([&](pg::connection& db) {
            active = false;
            const pg::result found = db.prepared(
                "watch_run_id", "SELECT run_id FROM watches WHERE id = $1", pg::params().int64(id));
            if (found.rows() == 0) return;
            const bool bound = !found.is_null(0, 0);
            if (bound && found.text(0, 0) != run_id) {
                throw std::invalid_argument("store: watch " + std::to_string(id) +
                                            " already watches run '" + found.text(0, 0) +
                                            "', not '" + std::string(run_id) + "'");
            }
            if (!bound) {
                // The run was watched on its own as well: the caller is polling this one, so
                // this one stays and the other goes.
                if (std::optional<watch_id> other = watch_of_run(db, run_id)) {
                    delete_watch(db, *other);
                }
                bind_run(db, id, run_id);
            }
            update_watch_details(db, id, {}, project_id, "", "", now);
            db.prepared("finish_if_tombstoned",
                        "UPDATE watches SET finished_at = $2, last_status = 'DELETED',"
                        " last_error = '', updated_at = $2, " RELEASE_CLAIM
                        " WHERE id = $1 AND " WATCH_ACTIVE
                        " AND EXISTS (SELECT 1 FROM runs"
                        " WHERE runs.id = watches.run_id AND runs.deleted_at IS NOT NULL)",
                        pg::params().int64(id).int64(to_unix_ms(now)));
            active = db.prepared("watch_is_active",
                                 "SELECT 1 FROM watches WHERE id = $1 AND " WATCH_ACTIVE,
                                 pg::params().int64(id))
                         .rows() > 0;
        });
        return active;
    }

    std::vector<watch> due_watches(time_point now, std::size_t limit,
                                   const tenant_filter& tenants) override {
        if (limit == 0 || (!tenants.any_tenant && tenants.tenants.empty())) return {};
        const std::int64_t at = to_unix_ms(now);
        statement_text s;
        // Its own claims too: those the worker has in flight, which it keeps apart itself.
        s += "SELECT " WATCH_COLUMNS " FROM watches WHERE " WATCH_ACTIVE " AND next_poll_at <= " +
             s.arg(at);
        s += " AND (claimed_by IS NULL OR claimed_until <= " + s.arg(at) +
             " OR claimed_by = " + s.arg(std::string_view(owner_)) + ")";
        add_tenant_clause(s, tenants);
        s += " ORDER BY next_poll_at, id LIMIT " + s.arg(sql_limit(limit));
        return read(
            [&](pg::connection& db) { return read_watches(db.query(s.sql(), s.params())); });
    }

    std::vector<watch_id> claim_watches(const std::vector<watch_id>& ids, time_point now) override {
        if (ids.empty()) return {};
        const std::int64_t at = to_unix_ms(now);
        std::string array = "{";
        for (const watch_id id : ids)
            array += (array.size() > 1 ? "," : "") + std::to_string(id);
        array += '}';
        // Still due and claimable when locked: another daemon may have polled one meanwhile.
        // Locked in id order, skipping rows another daemon is claiming or writing right now
        // (theirs for now), so that two daemons claiming at once neither wait nor deadlock.
        // No bump of store_changes: a claim changes nothing any cache shows, and it must not
        // wait behind every other daemon's writes.
        std::vector<watch_id> claimed;
        try {
            const pg::result r = read([&](pg::connection& db) {
                return db.prepared(
                    "claim_watches",
                    "WITH picked AS MATERIALIZED (SELECT id FROM watches"
                    " WHERE id = ANY($1::bigint[]) AND " WATCH_ACTIVE
                    " AND next_poll_at <= $2"
                    " AND (claimed_by IS NULL OR claimed_until <= $2 OR claimed_by = $3)"
                    " ORDER BY id FOR UPDATE SKIP LOCKED)"
                    " UPDATE watches SET claimed_by = $3, claimed_until = $2 + $4"
                    " WHERE id IN (SELECT id FROM picked) RETURNING id",
                    pg::params().text(array).int64(at).text(owner_).int64(lease_.count()));
            });
            for (int i = 0; i < r.rows(); ++i)
                claimed.push_back(r.int64(i, 0));
        } catch (const pg::pg_error& e) {
            if (is_storage_fault(e.sqlstate())) health_.write_failed(e.what(), clock_type::now());
            throw;
        }
        return claimed;
    }

    void release_claims() override {
        // Like a claim, no bump of store_changes: no cache shows claims.
        read([&](pg::connection& db) {
            db.prepared("release_claims",
                        "UPDATE watches SET " RELEASE_CLAIM " WHERE claimed_by = $1",
                        pg::params().text(owner_));
        });
    }

    std::optional<time_point> next_due_time(const tenant_filter& tenants) override {
        if (!tenants.any_tenant && tenants.tenants.empty()) return std::nullopt;
        statement_text s;
        // Another daemon's claim makes its watch due here no sooner than the claim's end: when
        // that daemon died, or left it due without answering.
        s += "SELECT min(CASE WHEN claimed_by IS NULL OR claimed_by = " +
             s.arg(std::string_view(owner_)) +
             " THEN next_poll_at ELSE greatest(next_poll_at, claimed_until) END)"
             " FROM watches WHERE " WATCH_ACTIVE;
        add_tenant_clause(s, tenants);
        return read([&](pg::connection& db) -> std::optional<time_point> {
            const pg::result r = db.query(s.sql(), s.params());
            if (r.is_null(0, 0)) return std::nullopt;
            return from_unix_ms(r.int64(0, 0));
        });
    }

    bool reschedule_watch(watch_id id, const poll_outcome& outcome, time_point now) override {
        return update_active_watch(
            "reschedule_watch",
            "UPDATE watches SET next_poll_at = $2, attempts = $3, last_status = $4,"
            " last_error = $5, updated_at = $6, " RELEASE_CLAIM " WHERE id = $1 AND " WATCH_ACTIVE,
            pg::params()
                .int64(id)
                .int64(to_unix_ms(outcome.next_poll_at))
                .int64(outcome.attempts)
                .text(outcome.last_status)
                .text(outcome.last_error)
                .int64(to_unix_ms(now)));
    }

    bool finish_watch(watch_id id, std::string_view final_status, time_point now) override {
        return update_active_watch(
            "finish_watch",
            "UPDATE watches SET finished_at = $3, last_status = $2, last_error = '',"
            " updated_at = $3, " RELEASE_CLAIM " WHERE id = $1 AND " WATCH_ACTIVE,
            pg::params().int64(id).text(final_status).int64(to_unix_ms(now)));
    }

    bool give_up_watch(watch_id id, std::string_view reason, time_point now) override {
        return update_active_watch("give_up_watch",
                                   "UPDATE watches SET given_up_at = $3, give_up_reason = $2, "
                                   "updated_at = $3, " RELEASE_CLAIM
                                   " WHERE id = $1 AND " WATCH_ACTIVE,
                                   pg::params().int64(id).text(reason).int64(to_unix_ms(now)));
    }

    std::optional<watch> find_watch(watch_id id) override {
        return read([&](pg::connection& db) -> std::optional<watch> {
            const pg::result r =
                db.prepared("find_watch", "SELECT " WATCH_COLUMNS " FROM watches WHERE id = $1",
                            pg::params().int64(id));
            if (r.rows() == 0) return std::nullopt;
            return read_watch(r, 0);
        });
    }

    std::vector<watch> list_watches(watch_listing which, std::size_t limit) override {
        return read([&](pg::connection& db) {
            pg::params p;
            p.int64(sql_limit(limit));
            if (which == watch_listing::active) {
                return read_watches(db.prepared("list_active_watches",
                                                "SELECT " WATCH_COLUMNS
                                                " FROM watches WHERE " WATCH_ACTIVE
                                                " ORDER BY next_poll_at, id LIMIT $1",
                                                p));
            }
            return read_watches(db.prepared(
                "list_all_watches",
                "SELECT " WATCH_COLUMNS " FROM watches ORDER BY (" WATCH_ACTIVE
                ") DESC, CASE WHEN " WATCH_ACTIVE
                " THEN next_poll_at ELSE -COALESCE(finished_at, given_up_at) END, id LIMIT $1",
                p));
        });
    }

    int schema_version() override {
        return read([](pg::connection& db) { return pg_schema_version(db); });
    }

    int known_schema_version() override {
        const auto migrations = embedded_postgres_migrations();
        return migrations.empty() ? 0 : migrations.back().version;
    }

    store_counts counts() override {
        return read([](pg::connection& db) {
            store_counts c;
            const pg::result kinds =
                db.prepared("count_kinds", "SELECT kind, count(*) FROM runs WHERE " RUN_LIVE
                                           " GROUP BY kind ORDER BY kind");
            for (int i = 0; i < kinds.rows(); ++i) {
                const std::string name = kinds.text(i, 0);
                const resource_kind* kind = find_kind(name);
                c.rows_by_kind.emplace_back(kind ? std::string(kind->name) : name,
                                            kinds.int64(i, 1));
            }
            // A watch names its resource by store key, whose prefix says the kind.
            const pg::result watches = db.prepared(
                "count_watches",
                "SELECT substr(coalesce(run_id, ''), 1, strpos(coalesce(run_id, ''), '/')),"
                " CASE WHEN finished_at IS NOT NULL THEN 'finished'"
                " WHEN given_up_at IS NOT NULL THEN 'given_up' ELSE 'active' END, count(*)"
                " FROM watches GROUP BY 1, 2 ORDER BY 1, 2");
            for (int i = 0; i < watches.rows(); ++i) {
                c.watches.emplace_back(std::string(kind_of_store_key(watches.text(i, 0)).name),
                                       watches.text(i, 1), watches.int64(i, 2));
            }
            const pg::result due = db.prepared(
                "earliest_due", "SELECT min(next_poll_at) FROM watches WHERE " WATCH_ACTIVE);
            if (!due.is_null(0, 0)) c.earliest_due = from_unix_ms(due.int64(0, 0));
            c.file_bytes = relation_bytes(db);
            return c;
        });
    }

    store_write_health write_health() override { return health_.snapshot(); }

    std::unique_ptr<peer_subscription> follow_peers(peer_follower& follower) override {
        return feed_.follow(follower);
    }

    void tell_peers(const run_event& event) override {
        try {
            feed_.send_event(event);
        } catch (const std::exception&) {
            // The feed could not start (no eventfd): the event stays this daemon's.
        }
    }

    std::int64_t external_change_count() override {
        // Every write commits an increment of store_changes; this daemon's own are counted as
        // they commit, so the difference is the others'. The lock keeps a commit and its count
        // from straddling the read.
        // A cache polls this only while the feed is down (pg_feed.hpp).
        std::unique_lock lock(commit_mutex_);
        const std::int64_t all = read([](pg::connection& db) {
            return db.prepared("read_changes", "SELECT changes FROM store_changes WHERE id = 1")
                .int64(0, 0);
        });
        return all - own_writes_.load();
    }

    std::int64_t used_bytes() override {
        return read([](pg::connection& db) { return relation_bytes(db); });
    }

    prune_batch prune_some(const prune_policy& policy, prune_cursor& cursor) override {
        return prune_in_stages(policy, cursor, *this);
    }

  private:
    // The bytes the store's tables take, their indexes and TOAST included: what pruning lowers
    // (once autovacuum has reused the space).
    static std::int64_t relation_bytes(pg::connection& db) {
        return db
            .prepared("relation_bytes",
                      "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint"
                      " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                      " WHERE n.nspname = current_schema() AND c.relkind = 'r'")
            .int64(0, 0);
    }

    // Throws store_error when the store's tenants were made with another tenant secret than
    // the one installed in this process (see the SQLite store's check_tenant_secret); a store
    // holding no tenant takes this one.
    void check_tenant_secret(pg::connection& db) {
        if (!tenant_secret_installed()) return;
        const std::string mine = tenant_secret_check();
        const pg::result recorded = db.query("SELECT check_value FROM tenant_secret WHERE id = 1");
        if (recorded.rows() > 0 && recorded.text(0, 0) == mine) return;
        if (recorded.rows() > 0) {
            const pg::result held = db.query(
                "SELECT EXISTS (SELECT 1 FROM grants) OR EXISTS (SELECT 1 FROM list_pages)"
                " OR EXISTS (SELECT 1 FROM watches)");
            if (held.boolean(0, 0)) {
                throw store_error("store '" + display_ +
                                  "': its tenants were made with another tenant secret (a "
                                  "different secret file on this daemon?): use the same secret "
                                  "on every daemon sharing the database");
            }
        }
        db.query(
            "INSERT INTO tenant_secret (id, check_value) VALUES (1, $1)"
            " ON CONFLICT (id) DO UPDATE SET check_value = excluded.check_value",
            pg::params().text(mine));
    }

    // Stored resources not final and not fetched since |before|, each plain key once.
    // --- prune_steps: the SQL of prune_some's stages ----------------------------------------
    std::size_t delete_list_pages(std::int64_t limit) override {
        std::size_t rows = 0;
        write([&](pg::connection& db) {
            rows = static_cast<std::size_t>(
                db.prepared("prune_list_pages",
                            "DELETE FROM list_pages WHERE seq IN"
                            " (SELECT seq FROM list_pages ORDER BY seq LIMIT $1)",
                            pg::params().int64(limit))
                    .affected());
        });
        return rows;
    }

    std::size_t delete_ended_watches(std::int64_t limit) override {
        std::size_t rows = 0;
        write([&](pg::connection& db) {
            rows = static_cast<std::size_t>(
                db.prepared("prune_ended_watches",
                            "DELETE FROM watches WHERE id IN (SELECT id FROM watches"
                            " WHERE NOT (" WATCH_ACTIVE ") ORDER BY id LIMIT $1)",
                            pg::params().int64(limit))
                    .affected());
        });
        return rows;
    }

    std::vector<std::string> stale_unfinished_keys(time_point before) override {
        static const std::string sql = "SELECT id, status FROM runs WHERE " RUN_LIVE
                                       " AND status NOT IN (" +
                                       final_status_list() + ") AND fetched_at < $1 LIMIT 100000";
        return read([&](pg::connection& db) {
            std::vector<std::string> keys;
            const pg::result r = db.query(sql, pg::params().int64(to_unix_ms(before)));
            for (int i = 0; i < r.rows(); ++i) {
                const std::string id = r.text(i, 0);
                if (kind_of_store_key(id).is_final(r.text(i, 1))) continue;
                std::string key(plain_key(id));
                if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                    keys.push_back(std::move(key));
                }
            }
            return keys;
        });
    }

    // The final resources among the next |limit| stored ones in created order after
    // |cursor|'s, which moves past them (its key is emptied when there are none left).
    std::vector<std::string> next_final_keys(prune_cursor& cursor, std::int64_t limit) override {
        return read([&](pg::connection& db) {
            std::vector<std::string> keys;
            const pg::result r =
                db.prepared("next_final_keys",
                            "SELECT created_at, id, status FROM runs WHERE " RUN_LIVE
                            " AND (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3",
                            pg::params().text(cursor.created_at).text(cursor.key).int64(limit));
            for (int i = 0; i < r.rows(); ++i) {
                cursor.created_at = r.text(i, 0);
                cursor.key = r.text(i, 1);
                if (!kind_of_store_key(cursor.key).is_final(r.text(i, 2))) continue;
                std::string key(plain_key(cursor.key));
                if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                    keys.push_back(std::move(key));
                }
            }
            if (r.rows() == 0) cursor.key.clear();
            return keys;
        });
    }

    // Erases up to |count| resources from the back of |keys| (removing them from it) in one
    // write; returns those that were stored.
    std::vector<std::string> erase_some(std::vector<std::string>& keys,
                                        std::size_t count) override {
        std::vector<std::string> taken;
        while (!keys.empty() && taken.size() < count) {
            taken.push_back(std::move(keys.back()));
            keys.pop_back();
        }
        std::vector<std::string> erased;
        if (taken.empty()) return erased;
        std::vector<store_change> told;
        write(
            [&](pg::connection& db) {
                erased.clear();  // a retried write starts again
                told.clear();
                for (std::string& key : taken) {
                    if (!erase_resource(db, key)) continue;
                    erased.push_back(key);
                    told.push_back(resource_change(key));
                }
            },
            told);
        return erased;
    }

    // One UPDATE of a single active watch, in its own transaction; true if it changed a row.
    bool update_active_watch(const char* name, const char* sql, const pg::params& p) {
        bool changed = false;
        write([&](pg::connection& db) { changed = db.prepared(name, sql, p).affected() > 0; });
        return changed;
    }

    // --- connections -----------------------------------------------------------------------

    std::unique_ptr<pg::connection> connect() {
        return std::make_unique<pg::connection>(conninfo_, display_);
    }

    // Runs |fn(connection)| on a connection of the pool. A connection that broke (the server
    // restarted, an idle connection was cut) fails the call only if it was a fresh one: a
    // pooled one is replaced and the call made once more, as long as |fn| had not got past
    // its first statement (|retryable| says so; a write clears it once it has begun).
    template <class Fn>
    std::invoke_result_t<Fn&, pg::connection&, bool&> with_connection(Fn&& fn) {
        for (int attempt = 0;; ++attempt) {
            std::unique_ptr<pg::connection> db;
            bool reused = false;
            {
                std::lock_guard lock(pool_mutex_);
                if (!idle_.empty()) {
                    db = std::move(idle_.back());
                    idle_.pop_back();
                    reused = true;
                }
            }
            if (!db) db = connect();
            bool retryable = true;
            try {
                if constexpr (std::is_void_v<std::invoke_result_t<Fn&, pg::connection&, bool&>>) {
                    fn(*db, retryable);
                    give_back(std::move(db));
                    return;
                } else {
                    auto result = fn(*db, retryable);
                    give_back(std::move(db));
                    return result;
                }
            } catch (const pg::pg_error& e) {
                const bool broken = !db->reusable() && is_storage_fault(e.sqlstate());
                if (broken && reused && retryable && attempt == 0) continue;
                if (!broken) give_back(std::move(db));
                throw;
            } catch (...) {
                give_back(std::move(db));  // kept only if it is still usable
                throw;
            }
        }
    }

    template <class Fn>
    std::invoke_result_t<Fn&, pg::connection&> read(Fn&& fn) {
        return with_connection([&](pg::connection& db, bool&) { return fn(db); });
    }

    // Runs |fn(connection)| as one write transaction: all of it commits or none of it. A
    // failure of the storage (see is_storage_fault) is recorded in write_health and thrown on.
    // What |told| holds once |fn| has run is NOTIFYed to the other daemons (pg_feed.hpp), in
    // the transaction: they hear of the write when it commits, and only if it does.
    template <class Fn>
    void write(Fn&& fn, const std::vector<store_change>& told = {}) {
        try {
            with_connection([&](pg::connection& db, bool& retryable) {
                pg::transaction tx(db);
                // First: the row lock that makes writes one at a time (see the top of the file).
                db.prepared("bump_changes",
                            "UPDATE store_changes SET changes = changes + 1 WHERE id = 1");
                retryable = false;
                fn(db);
                if (!told.empty()) {
                    const std::string notice =
                        encode_notice({.origin = owner_, .changes = told, .event = {}});
                    db.prepared("notify", "SELECT pg_notify($1, $2)",
                                pg::params().text(pg_feed::channel).text(notice));
                }
                std::shared_lock lock(commit_mutex_);
                tx.commit();
                own_writes_.fetch_add(1);
            });
        } catch (const pg::pg_error& e) {
            if (is_storage_fault(e.sqlstate())) health_.write_failed(e.what(), clock_type::now());
            throw;
        }
        health_.write_committed();
    }

    void give_back(std::unique_ptr<pg::connection> db) {
        if (!db->reusable()) return;
        std::lock_guard lock(pool_mutex_);
        if (idle_.size() < max_idle_connections) idle_.push_back(std::move(db));
    }

    const std::string conninfo_;
    const std::string display_;
    const std::string owner_;  // claimed_by of this object's claims
    const millis lease_;
    std::mutex pool_mutex_;
    std::vector<std::unique_ptr<pg::connection>> idle_;
    // Held shared by a write from its COMMIT until own_writes_ counts it, exclusively by
    // external_change_count.
    std::shared_mutex commit_mutex_;
    std::atomic<std::int64_t> own_writes_{0};
    write_health_tracker health_;
    pg_feed feed_{conninfo_, display_, owner_};  // after owner_: made from it
};

}  // namespace

std::unique_ptr<store> open_postgres_store(const std::string& uri,
                                           const postgres_store_options& options) {
    if (options.watch_lease <= millis(0)) {
        throw store_error("store '" + store_display_name(uri) +
                          "': the watch lease must be positive");
    }
    if (!is_postgres_uri(uri)) {
        throw store_error("store '" + store_display_name(uri) +
                          "': not a PostgreSQL URI (postgresql://...)");
    }
    return std::make_unique<pg_store>(uri, options);
}

std::unique_ptr<store> open_store(const std::string& db, const postgres_store_options& options) {
    if (is_postgres_uri(db)) return open_postgres_store(db, options);
    return open_sqlite_store(db);
}

}  // namespace runmirror
