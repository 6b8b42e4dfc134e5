// The store over SQLite: runs, list pages, grants, watches and browsing. The search index's SQL
// is in store/search_index, the schema in schema/*.sql; the maintenance thread
// (store/maintenance) runs this file's indexing and checkpoint tasks.
//
// Connections: one writer, guarded by writer_mutex_, takes every write in a BEGIN IMMEDIATE
// transaction. Reads borrow a connection from a small pool; WAL lets them run alongside the
// writer and each other, each seeing the last committed state. A ":memory:" database exists
// only inside its one connection, so there everything goes through the writer and its mutex.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/logging.hpp"
#include "util/tenant.hpp"

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "store/body_codec.hpp"
#include "store/created_at_bound.hpp"
#include "store/group_commit.hpp"
#include "store/maintenance.hpp"
#include "store/migrations.hpp"
#include "store/page_ends.hpp"
#include "store/prune_stages.hpp"
#include "store/search_index.hpp"
#include "store/sqlite_db.hpp"
#include "store/write_health.hpp"

namespace runmirror {
namespace {

// Idle reader connections kept open; a burst beyond this opens and closes extra ones.
constexpr std::size_t max_idle_readers = 4;

// The search index is written in batches (schema/006, store/maintenance): at most this many
// runs a transaction (a write waiting for the writer waits for one such batch at most), as
// soon as that many wait or |index_delay| after the first of them. A search does not wait for
// the delay: it indexes what is pending first.
constexpr std::size_t index_batch = 500;
constexpr std::chrono::milliseconds index_delay{5000};

// The page size of a new store (see configure_writer).
constexpr int new_store_page_size = 1024;

// The maintenance thread checkpoints once the WAL holds this many bytes of pages (SQLite's
// default threshold: 1,000 pages), and SQLite then starts the WAL over, but the file stays as
// large as it ever grew (a batch of search indexing or a long reader can push it past that); it
// is cut back to wal_size_limit at each restart. Should that thread fall behind, the writer
// checkpoints itself, as SQLite would, past |checkpoint_backstop| times as much.
constexpr std::int64_t checkpoint_bytes = 4 << 20;
constexpr int checkpoint_backstop = 2;
constexpr int wal_size_limit = 4 << 20;

// fetched_at: a refresh that brought the same bytes is recorded in run_refreshed (schema/006).
#define RUN_FETCHED_AT \
    "coalesce((SELECT f.fetched_at FROM run_refreshed AS f WHERE f.seq = runs.seq), fetched_at)"

#define RUN_COLUMNS                                                                   \
    "id, body, project_id, extraction_agent_id, job_id, file_id, file_name, status, " \
    "created_at, updated_at, " RUN_FETCHED_AT ", deleted_at, kind, variant"

// Bodies are kept packed (store/body_codec): a BLOB is an LZ4 frame (zstd in older rows), TEXT
// the body itself.
std::string read_body(const sqlite::statement& row, int column) {
    return unpack_body(row.column_view(column), row.column_is_blob(column));
}

// The resource's own id, from its store key (resource_kind::store_prefix, the variant).
std::string id_of_key(const resource_kind& kind, std::string_view key, std::string_view variant) {
    if (key.starts_with(kind.store_prefix)) key.remove_prefix(kind.store_prefix.size());
    if (!variant.empty() && key.size() > variant.size()) {
        key.remove_suffix(variant.size() + 1);
    }
    return std::string(key);
}

stored_run read_run(const sqlite::statement& row) {
    stored_run run;
    run.fields.kind = &kind_of_store_key(row.column_view(0));
    run.fields.variant = row.column_text(13);
    run.fields.id = id_of_key(*run.fields.kind, row.column_view(0), run.fields.variant);
    run.body = read_body(row, 1);
    run.fields.project_id = row.column_text(2);
    run.fields.extraction_agent_id = row.column_text(3);
    run.fields.job_id = row.column_text(4);
    run.fields.file_id = row.column_text(5);
    run.fields.file_name = row.column_text(6);
    run.fields.status = row.column_text(7);
    run.fields.created_at = row.column_text(8);
    run.fields.updated_at = row.column_text(9);
    run.fetched_at = from_unix_ms(row.column_int64(10));
    if (!row.column_is_null(11)) {
        run.deleted_at = from_unix_ms(row.column_int64(11));
    }
    return run;
}

// The WHERE clause of list_runs. Filters are spliced in rather than written as
// "(?2 = '' OR ...)" so that SQLite can walk the (agent|project, created_at, id) indexes.
// Parameters: ?1 tenant, ?2 agent, ?3 project. |check_grants| false leaves out the test of each
// run's project against the tenant's grants; only for a tenant that holds every project the
// filters select (tenant_holds_every_project).
std::string list_runs_where(const run_query& q, bool check_grants) {
    std::string where = " FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL AND kind = 'run'";
    if (check_grants) {
        // With neither filter, "+project_id" keeps the planner off runs_browse_by_project (which
        // would sort every run of the tenant's projects) and on runs_browse, already in page
        // order with project_id in each entry.
        const bool unfiltered = q.extraction_agent_id.empty() && q.project_id.empty();
        where += unfiltered ? " AND +project_id IN" : " AND project_id IN";
        where += " (SELECT project_id FROM grants WHERE tenant = ?1)";
    }
    if (!q.extraction_agent_id.empty()) {
        where += " AND extraction_agent_id = ?2";
    }
    if (!q.project_id.empty()) {
        where += " AND project_id = ?3";
    }
    return where;
}

// True when every stored, not deleted run that |q|'s filters select is in a project the tenant
// holds a grant for: then a page needs no grant test per run. That test is one probe of the
// grant list per index entry walked, and a page at skip S walks S + limit entries; a tenant
// that mirrored an agent usually holds all of its projects. Decided from run_counts (kept by
// triggers, schema/004), whose rows are exactly those runs grouped by (agent, project, status),
// so it must be asked in the same read transaction as the page. Parameters as list_runs_where.
bool tenant_holds_every_project(sqlite::database& db, const run_query& q) {
    std::string sql =
        "SELECT NOT EXISTS (SELECT 1 FROM run_counts WHERE runs > 0"
        " AND project_id NOT IN (SELECT project_id FROM grants WHERE tenant = ?1)";
    if (!q.extraction_agent_id.empty()) sql += " AND extraction_agent_id = ?2";
    if (!q.project_id.empty()) sql += " AND project_id = ?3";
    sql += ")";
    sqlite::statement_use s(db, sql);
    s->bind_text(1, q.tenant);
    if (!q.extraction_agent_id.empty()) s->bind_text(2, q.extraction_agent_id);
    if (!q.project_id.empty()) s->bind_text(3, q.project_id);
    return s->step() && s->column_int64(0) == 1;
}

void bind_list_filters(sqlite::statement& s, const run_query& q) {
    s.bind_text(1, q.tenant);
    if (!q.extraction_agent_id.empty()) {
        s.bind_text(2, q.extraction_agent_id);
    }
    if (!q.project_id.empty()) {
        s.bind_text(3, q.project_id);
    }
}

// read_run's columns with an empty body, for listings that do not show it.
#define RUN_COLUMNS_NO_BODY                                                         \
    "id, '', project_id, extraction_agent_id, job_id, file_id, file_name, status, " \
    "created_at, updated_at, " RUN_FETCHED_AT ", deleted_at, kind, variant"

// A variant row ("key?variant", schema/008_kinds.sql) stands for its resource in browsing
// (browse_representation::plain_else_variant) when no row of the plain key exists (a tombstoned
// one means the resource was deleted) and no live variant of it sorts before it. Both are probes
// of the id index, made only for variant rows: the plain key is the id up to its "?", the
// variants before this one the ids between "key?" and this id.
#define VARIANT_STANDS_IN                                                      \
    "(NOT EXISTS (SELECT 1 FROM runs AS p"                                     \
    " WHERE p.id = substr(runs.id, 1, instr(runs.id, '?') - 1))"               \
    " AND NOT EXISTS (SELECT 1 FROM runs AS v"                                 \
    " WHERE v.id > substr(runs.id, 1, instr(runs.id, '?')) AND v.id < runs.id" \
    " AND v.deleted_at IS NULL AND v.body IS NOT NULL))"

// The count of list-changing writes (schema/005_run_changes.sql) in the caller's snapshot.
std::int64_t list_changes(sqlite::database& db) {
    sqlite::statement_use s(db, "SELECT changes FROM run_changes");
    return s->step() ? s->column_int64(0) : 0;
}

// page_ends' key for the position |skip| of the list |q|'s filters select, without the grant
// test (so whatever the tenant).
std::string page_end_key(const run_query& q, std::int64_t skip) {
    return q.extraction_agent_id + '\n' + q.project_id + '\n' + std::to_string(skip);
}

#define WATCH_COLUMNS                                                                         \
    "id, kind, run_id, job_id, tenant, project_id, extraction_agent_id, created_at,"          \
    " next_poll_at, attempts, last_status, last_error, updated_at, finished_at, given_up_at," \
    " give_up_reason"

// The condition every query for active watches uses; it matches the partial index watches_due.
#define WATCH_ACTIVE "finished_at IS NULL AND given_up_at IS NULL"

watch read_watch(const sqlite::statement& row) {
    watch w;
    w.id = row.column_int64(0);
    w.kind = row.column_text(1) == "job" ? watch_kind::job : watch_kind::run;
    w.run_id = row.column_text(2);
    w.job_id = row.column_text(3);
    w.tenant = row.column_text(4);
    w.project_id = row.column_text(5);
    w.extraction_agent_id = row.column_text(6);
    w.created_at = from_unix_ms(row.column_int64(7));
    w.next_poll_at = from_unix_ms(row.column_int64(8));
    w.attempts = static_cast<std::uint32_t>(row.column_int64(9));
    w.last_status = row.column_text(10);
    w.last_error = row.column_text(11);
    w.updated_at = from_unix_ms(row.column_int64(12));
    if (!row.column_is_null(13)) {
        w.finished_at = from_unix_ms(row.column_int64(13));
    }
    if (!row.column_is_null(14)) {
        w.given_up_at = from_unix_ms(row.column_int64(14));
    }
    w.give_up_reason = row.column_text(15);
    return w;
}

// " AND tenant IN (?N, ?N+1, ...)" for a tenant list, "" for any tenant.
std::string tenant_clause(const tenant_filter& f, int first_param) {
    if (f.any_tenant) {
        return "";
    }
    std::string clause = " AND tenant IN (";
    for (std::size_t i = 0; i < f.tenants.size(); ++i) {
        clause += (i == 0 ? "?" : ", ?") + std::to_string(first_param + static_cast<int>(i));
    }
    return clause + ")";
}

void bind_tenants(sqlite::statement& s, const tenant_filter& f, int first_param) {
    if (f.any_tenant) {
        return;
    }
    for (std::size_t i = 0; i < f.tenants.size(); ++i) {
        s.bind_text(first_param + static_cast<int>(i), f.tenants[i]);
    }
}

// Runs |fn| on a prepared |sql|. A text that varies with the length of a tenant list is
// prepared afresh each time rather than cached, so the statement cache stays bounded.
template <class Fn>
auto with_statement(sqlite::database& db, const std::string& sql, const tenant_filter& f, Fn&& fn) {
    if (f.any_tenant) {
        sqlite::statement_use s(db, sql);
        return fn(*s);
    }
    sqlite::statement s(db, sql);
    return fn(s);
}

std::int64_t sql_limit(std::size_t limit) {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

// The SQL functions migration 004 uses (see schema/004_compact_runs.sql).
sqlite::value sql_pack_body(sqlite::value_view body) {
    if (body.type == sqlite::value::kind::null) return {};
    if (body.type == sqlite::value::kind::blob) {  // already packed
        return {sqlite::value::kind::blob, std::string(body.bytes)};
    }
    packed_body packed = pack_body(body.bytes);
    return {packed.compressed ? sqlite::value::kind::blob : sqlite::value::kind::text,
            std::move(packed.bytes)};
}

sqlite::value sql_search_data(sqlite::value_view body) {
    if (body.type == sqlite::value::kind::null) return {};
    std::string text =
        search_data_text(unpack_body(body.bytes, body.type == sqlite::value::kind::blob));
    if (text.empty()) return {};
    return {sqlite::value::kind::text, std::move(text)};
}

// The SQL functions migration 009 uses (see schema/009_keyed_tenants.sql), with the secret
// installed in this process (util/tenant.hpp).
sqlite::value sql_rekey_tenant(sqlite::value_view tenant) {
    if (tenant.type != sqlite::value::kind::text) return {tenant.type, std::string(tenant.bytes)};
    if (!tenant_secret_installed()) {
        throw std::runtime_error(
            "its tenants need converting with the tenant secret, and there is none: start "
            "`runmirror serve` (or `runmirror mirror`) on this store once, which creates it");
    }
    auto rekeyed = rekey_tenant(tenant.bytes);
    return {sqlite::value::kind::text, rekeyed ? std::move(*rekeyed) : std::string(tenant.bytes)};
}

sqlite::value sql_secret_check(sqlite::value_view) {
    if (!tenant_secret_installed()) return {};
    return {sqlite::value::kind::text, tenant_secret_check()};
}

// Throws store_error when the store's tenants were made with another secret than the one
// installed in this process (the file was lost, replaced, or not copied along with the store):
// no key would match them. A store that holds no tenant takes the new secret (|writable|) or
// is left as it is. Without a secret (runs and watches before serve ever ran), nothing to check.
void check_tenant_secret(sqlite::database& db, const std::string& path, bool writable) {
    if (!tenant_secret_installed()) return;
    const std::string mine = tenant_secret_check();
    std::optional<std::string> recorded;
    {
        sqlite::statement_use s(db, "SELECT check_value FROM tenant_secret WHERE id = 1");
        if (s->step()) recorded = s->column_text(0);
    }
    if (recorded == mine) return;
    if (recorded) {
        sqlite::statement_use s(db,
                                "SELECT EXISTS (SELECT 1 FROM grants) OR EXISTS (SELECT 1 FROM"
                                " list_pages) OR EXISTS (SELECT 1 FROM watches)");
        if (s->step() && s->column_int64(0) != 0) {
            throw store_error("store '" + path +
                              "': its tenants were made with another tenant secret (a lost or "
                              "replaced secret file?): put the original back, or see \"Keys "
                              "at rest\" in the README to start over");
        }
    }
    if (!writable) return;
    sqlite::statement_use s(db,
                            "INSERT INTO tenant_secret (id, check_value) VALUES (1, ?1)"
                            " ON CONFLICT (id) DO UPDATE SET check_value = excluded.check_value");
    s->bind_text(1, mine);
    s->step();
}

// What the store holds for a run id, as far as writing it needs to know.
struct current_run {
    std::int64_t seq = 0;
    bool deleted = false;
    bool has_body = false;
    packed_body body;
    run_fields fields;  // id and the columns kept beside the body
};

std::optional<current_run> find_current(sqlite::database& db, std::string_view id) {
    sqlite::statement_use s(db,
                            "SELECT seq, deleted_at, body, file_name, project_id,"
                            " extraction_agent_id, job_id, file_id, status, created_at, updated_at"
                            " FROM runs WHERE id = ?1");
    s->bind_text(1, id);
    if (!s->step()) return std::nullopt;
    current_run run;
    run.seq = s->column_int64(0);
    run.deleted = !s->column_is_null(1);
    run.has_body = !s->column_is_null(2);
    run.body.compressed = s->column_is_blob(2);
    run.body.bytes = std::string(s->column_view(2));
    run.fields.kind = &kind_of_store_key(id);
    run.fields.id = std::string(id);  // the store key
    run.fields.file_name = s->column_text(3);
    run.fields.project_id = s->column_text(4);
    run.fields.extraction_agent_id = s->column_text(5);
    run.fields.job_id = s->column_text(6);
    run.fields.file_id = s->column_text(7);
    run.fields.status = s->column_text(8);
    run.fields.created_at = s->column_text(9);
    run.fields.updated_at = s->column_text(10);
    return run;
}

// |a| and |b| are of one store key: the id, kind and variant are the same.
bool same_columns(const run_fields& a, const run_fields& b) {
    return a.project_id == b.project_id && a.extraction_agent_id == b.extraction_agent_id &&
           a.job_id == b.job_id && a.file_id == b.file_id && a.file_name == b.file_name &&
           a.status == b.status && a.created_at == b.created_at && a.updated_at == b.updated_at;
}

// Removes a stored, not deleted run from the search index, if it is there.
void unindex(sqlite::database& db, const current_run& run) {
    if (run.deleted || !run.has_body) return;          // never indexed
    if (run.seq > search_indexed_through(db)) return;  // not indexed yet
    search_index_write(db, false, run.seq, *run.fields.kind, run.fields.file_name,
                       unpack_body(run.body.bytes, run.body.compressed));
}

// Deletes the resource |key| (a store key without a variant): its plain row, every variant,
// their search entries and refresh records, and its watches (a job watch looking for it by its
// job id too): forgotten, not ended. True when a row of it was stored.
bool erase_resource(sqlite::database& db, std::string_view key) {
    // The plain row and every variant ("key?variant": '?' sorts right before '@').
    std::vector<std::string> ids;
    {
        sqlite::statement_use s(
            db, "SELECT id FROM runs WHERE id = ?1 OR (id > ?1 || '?' AND id < ?1 || '@')");
        s->bind_text(1, key);
        while (s->step())
            ids.push_back(s->column_text(0));
    }
    std::string job_id;
    for (const std::string& id : ids) {
        std::optional<current_run> run = find_current(db, id);
        if (!run) continue;
        if (id == key) job_id = run->fields.job_id;
        unindex(db, *run);
        sqlite::statement_use refreshed(db, "DELETE FROM run_refreshed WHERE seq = ?1");
        refreshed->bind_int64(1, run->seq);
        refreshed->run();
        sqlite::statement_use row(db, "DELETE FROM runs WHERE seq = ?1");
        row->bind_int64(1, run->seq);
        row->run();
    }
    sqlite::statement_use watches(
        db, "DELETE FROM watches WHERE run_id = ?1 OR (run_id IS NULL AND job_id = ?2)");
    watches->bind_text(1, key);
    watches->bind_text(2, job_id.empty() ? std::string_view("\n") : std::string_view(job_id));
    watches->run();
    return !ids.empty();
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
    for (std::string_view status : statuses) {
        out += (out.empty() ? "'" : ", '") + std::string(status) + "'";
    }
    return out;
}

// The plain resource a stored row is a representation of.
std::string_view plain_key(std::string_view key) {
    return key.substr(0, key.find('?'));
}

class sqlite_store final : public store, private prune_steps {
  public:
    explicit sqlite_store(const std::string& path)
        : path_(path), in_memory_(path == ":memory:"), health_(path) {
        try {
            writer_ = open_writer();
        } catch (const sqlite::sqlite_error& e) {
            // A store that cannot be written (read-only file or directory, full disk during a
            // migration) may still be read: offline browsing and hits need nothing else.
            if (in_memory_ || !sqlite::is_storage_fault(e.code())) throw;
            open_for_reading(e.what());
        }
    }

    ~sqlite_store() override {
        maintenance_.stop();
        // What the indexer had not reached yet, so a short-lived process (runmirror mirror)
        // leaves a store whose index is complete. Failing here loses nothing: the next store
        // opened on the file, or the next search, indexes them.
        try {
            if (health_.snapshot().writable) index_all_pending();
        } catch (const std::exception&) {
        }
    }

    put_outcome put_run(const run_fields& fields, std::string_view body,
                        time_point fetched_at) override {
        put_outcome outcome;
        write([&](sqlite::database& db) { outcome = insert_run(db, fields, body, fetched_at); });
        maintenance_.runs_written(1);
        return outcome;
    }

    std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs,
        time_point fetched_at) override {
        std::vector<put_outcome> outcomes;
        if (runs.empty()) return outcomes;
        write([&](sqlite::database& db) {
            outcomes.clear();  // a write is applied once, but say so here rather than assume
            for (const auto& [fields, body] : runs)
                outcomes.push_back(insert_run(db, fields, body, fetched_at));
        });
        maintenance_.runs_written(runs.size());
        return outcomes;
    }

    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        return read([&](sqlite::database& db) -> std::shared_ptr<const stored_run> {
            sqlite::statement_use s(db, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1");
            s->bind_text(1, id);
            if (!s->step()) {
                return nullptr;
            }
            return std::make_shared<const stored_run>(read_run(*s));
        });
    }

    std::shared_ptr<const stored_run> find_run_or_variant(std::string_view key) override {
        if (auto run = find_run(key)) return run;
        return read([&](sqlite::database& db) -> std::shared_ptr<const stored_run> {
            // Its variants are the ids "key?..." (schema/008_kinds.sql): '@' follows '?'.
            sqlite::statement_use s(db, "SELECT " RUN_COLUMNS
                                        " FROM runs"
                                        " WHERE id > ?1 || '?' AND id < ?1 || '@'"
                                        " AND deleted_at IS NULL AND body IS NOT NULL"
                                        " ORDER BY id LIMIT 1");
            s->bind_text(1, key);
            if (!s->step()) return nullptr;
            return std::make_shared<const stored_run>(read_run(*s));
        });
    }

    std::shared_ptr<const stored_run> find_run_by_job(std::string_view job_id) override {
        if (job_id.empty()) {  // '' is what every row without a job holds
            return nullptr;
        }
        return read([&](sqlite::database& db) -> std::shared_ptr<const stored_run> {
            // The newest (created_at, then id, as list order) of the job's runs, picked here: a
            // job has one run, a retried one a few. "ORDER BY ... LIMIT 1" had SQLite build a
            // temporary b-tree for every lookup and copy each candidate row into it, body and
            // all: 40% of a get by job's instructions.
            sqlite::statement_use s(db, "SELECT " RUN_COLUMNS " FROM runs WHERE job_id = ?1");
            s->bind_text(1, job_id);
            std::optional<stored_run> newest;
            // Compared as SQLite compares TEXT (BINARY: bytewise), as ORDER BY would; each view
            // is used before the next column call, as column_view asks.
            auto newer_than_newest = [&] {
                if (!newest) return true;
                const int by_time = s->column_view(8).compare(newest->fields.created_at);
                if (by_time != 0) return by_time > 0;
                return s->column_view(0) > std::string_view(newest->fields.id);
            };
            while (s->step()) {
                if (newer_than_newest()) newest = read_run(*s);
            }
            if (!newest) return nullptr;
            return std::make_shared<const stored_run>(std::move(*newest));
        });
    }

    void tombstone_run(std::string_view id, time_point at) override {
        write([&](sqlite::database& db) {
            if (std::optional<current_run> run = find_current(db, id)) unindex(db, *run);
            {
                // The first deletion time is the one that counts.
                sqlite::statement_use s(db,
                                        "INSERT INTO runs (id, body, fetched_at, deleted_at, kind)"
                                        " VALUES (?1, NULL, ?2, ?2, ?3)"
                                        " ON CONFLICT (id) DO UPDATE SET deleted_at = ?2"
                                        " WHERE runs.deleted_at IS NULL");
                s->bind_text(1, id);
                s->bind_int64(2, to_unix_ms(at));
                s->bind_text(3, kind_of_store_key(id).name);
                s->run();
            }
            tombstone_variants(db, id, at);
            sqlite::statement_use pages(db, "DELETE FROM list_pages");
            pages->run();
            // No active watch of a deleted run: its watch, and a job watch still looking
            // for it by the job id the stored run names.
            sqlite::statement_use watches(
                db,
                "UPDATE watches SET finished_at = ?2, last_status = 'DELETED', last_error = '',"
                " updated_at = ?2"
                " WHERE " WATCH_ACTIVE
                " AND (run_id = ?1 OR (run_id IS NULL AND job_id ="
                " (SELECT NULLIF(job_id, '') FROM runs WHERE id = ?1)))");
            watches->bind_text(1, id);
            watches->bind_int64(2, to_unix_ms(at));
            watches->run();
        });
    }

    bool forget_run(std::string_view key) override {
        bool found = false;
        write([&](sqlite::database& db) {
            found = erase_resource(db, key);
            // A stored list page may hold it: the next list asks upstream again.
            if (found) {
                sqlite::statement_use pages(db, "DELETE FROM list_pages");
                pages->run();
            }
        });
        return found;
    }

    std::int64_t used_bytes() override {
        return read([](sqlite::database& db) {
            sqlite::statement_use s(db,
                                    "SELECT (page_count - freelist_count) * page_size"
                                    " FROM pragma_page_count, pragma_freelist_count,"
                                    " pragma_page_size");
            return s->step() ? s->column_int64(0) : std::int64_t{0};
        });
    }

    prune_batch prune_some(const prune_policy& policy, prune_cursor& cursor) override {
        return prune_in_stages(policy, cursor, *this);
    }

    run_page list_runs(const run_query& query) override {
        // The total from the counts the triggers keep (schema/004), not by counting the runs:
        // an agent may have hundreds of thousands.
        std::string count_sql =
            "SELECT coalesce(sum(runs), 0) FROM run_counts"
            " WHERE project_id IN (SELECT project_id FROM grants WHERE tenant = ?1)";
        if (!query.extraction_agent_id.empty()) count_sql += " AND extraction_agent_id = ?2";
        if (!query.project_id.empty()) count_sql += " AND project_id = ?3";
        return read([&](sqlite::database& db) {
            // One snapshot, so total, items and the grant decision agree.
            sqlite::transaction snapshot(db, sqlite::transaction::kind::deferred);
            run_page page;
            {
                sqlite::statement_use count(db, count_sql);
                bind_list_filters(*count, query);
                count->step();
                page.total = count->column_int64(0);
            }
            // No run to show, no page to walk (an unknown tenant, or none granted).
            if (page.total == 0) {
                snapshot.commit();
                return page;
            }
            const bool check_grants = !tenant_holds_every_project(db, query);
            const std::int64_t skip = std::max<std::int64_t>(query.skip, 0);
            // Without the grant test the walk is the same for every tenant, so where an earlier
            // page of these filters ended (page_ends) is where this one starts: a seek there
            // instead of walking |skip| index entries.
            std::optional<std::int64_t> changes;
            std::optional<list_position> from;
            if (!check_grants && query.limit > 0) {
                changes = list_changes(db);
                if (skip > 0) from = page_ends_.find(page_end_key(query, skip), *changes);
            }
            std::string page_sql = "SELECT " RUN_COLUMNS + list_runs_where(query, check_grants);
            // As browse_runs' keyset: the first half is an index range on created_at.
            page_sql += from ? " AND created_at <= ?6 AND (created_at < ?6 OR id < ?7)"
                               " ORDER BY created_at DESC, id DESC LIMIT ?4"
                             : " ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5";
            sqlite::statement_use items(db, page_sql);
            bind_list_filters(*items, query);
            items->bind_int64(4, std::max<std::int64_t>(query.limit, 0));
            items->bind_int64(5, skip);
            if (from) {
                items->bind_text(6, from->created_at);
                items->bind_text(7, from->id);
            }
            while (items->step()) {
                page.items.push_back(read_run(*items));
            }
            if (changes && !page.items.empty()) {
                const run_fields& last = page.items.back().fields;
                page_ends_.remember(
                    page_end_key(query, skip + static_cast<std::int64_t>(page.items.size())),
                    *changes, {last.created_at, last.id});
            }
            snapshot.commit();
            return page;
        });
    }

    run_browse_page browse_runs(const run_browse_query& query) override {
        std::optional<std::string> match;
        if (!query.search.empty()) {
            match = fts_query(query.search);
            if (match && match->empty()) return {};
        }
        if (query.limit == 0) return {};
        // A search sees every stored run, indexed in a batch or not yet.
        if (match) catch_up_search();

        // Filters are spliced in, as for list_runs, so the planner can walk the partial index
        // that fits (runs_browse*, schema/003_browse.sql), all in browse order, and stop after
        // limit + 1 rows. The WHERE repeats those indexes' condition word for word, which is
        // what lets SQLite use them. Unused parameter numbers are simply never bound.
        std::string sql = query.with_bodies ? "SELECT " RUN_COLUMNS : "SELECT " RUN_COLUMNS_NO_BODY;
        sql += " FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL";
        if (query.representation == browse_representation::plain_only) {
            sql += " AND variant = ''";
        } else {
            sql += " AND (variant = '' OR " VARIANT_STANDS_IN ")";
        }
        if (query.kind) sql += " AND kind = ?10";
        if (query.tenant)
            sql += " AND project_id IN (SELECT project_id FROM grants WHERE tenant = ?11)";
        if (!query.extraction_agent_id.empty()) sql += " AND extraction_agent_id = ?1";
        if (!query.project_id.empty()) sql += " AND project_id = ?2";
        // With an agent, "+status" keeps the planner on runs_browse_by_agent, whose entries end
        // with the status (schema/007), rather than on runs_browse_by_status, whose entries do
        // not name the agent: that would read the row of every run of the status.
        if (!query.status.empty()) {
            sql += query.extraction_agent_id.empty() ? " AND status = ?3" : " AND +status = ?3";
        }
        if (query.created_from) sql += " AND created_at >= ?4";
        if (query.created_before) sql += " AND created_at < ?5";
        // The keyset condition, written so its first half is an index range on created_at.
        if (query.after) sql += " AND created_at <= ?6 AND (created_at < ?6 OR id < ?7)";
        // "+id": the search is a membership test on the index walk above, never a lookup of
        // every match by id followed by a sort. A frequent word matches most runs; reading all
        // of their rows to sort them took 0.5 s at 100,000 runs, where walking the index stops
        // after limit + 1 hits. A rare word walks the whole filtered index, still only index
        // pages.
        if (match) {
            sql += " AND +seq IN (SELECT rowid FROM run_search WHERE run_search MATCH ?8)";
        }
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?9";

        // One row more than asked tells whether another page follows (the cap keeps the + 1
        // from overflowing).
        const std::size_t wanted = std::min<std::size_t>(query.limit, 1'000'000'000) + 1;
        return read([&](sqlite::database& db) {
            run_browse_page result;
            sqlite::statement_use s(db, sql);
            if (!query.extraction_agent_id.empty()) s->bind_text(1, query.extraction_agent_id);
            if (!query.project_id.empty()) s->bind_text(2, query.project_id);
            if (!query.status.empty()) s->bind_text(3, query.status);
            if (query.created_from) s->bind_text(4, created_at_bound(*query.created_from));
            if (query.created_before) s->bind_text(5, created_at_bound(*query.created_before));
            if (query.after) {
                s->bind_text(6, query.after->created_at);
                s->bind_text(7, query.after->id);
            }
            if (match) s->bind_text(8, *match);
            s->bind_int64(9, sql_limit(wanted));
            if (query.kind) s->bind_text(10, query.kind->name);
            if (query.tenant) s->bind_text(11, *query.tenant);
            while (s->step()) {
                result.items.push_back(read_run(*s));
            }
            if (result.items.size() == wanted) {
                result.items.pop_back();
                const run_fields& last = result.items.back().fields;
                // The row's own key: variants of one resource and other ids sort apart
                // ("v2/a5" < "v2/a?usage" but "v2/a" < "v2/a5").
                result.next = run_browse_cursor{last.created_at,
                                                store_key(*last.kind, last.id, last.variant)};
            }
            return result;
        });
    }

    std::vector<agent_summary> agent_summaries() override {
        std::vector<agent_summary> out = read([](sqlite::database& db) {
            std::vector<agent_summary> rows;
            // Rows arrive grouped by (agent, project), one per status. The counts and the newest
            // created_at of each are kept by triggers (run_counts, schema/004 and 007).
            sqlite::statement_use s(db,
                                    "SELECT extraction_agent_id, project_id, status, runs,"
                                    " latest_created_at FROM run_counts WHERE runs > 0"
                                    " ORDER BY extraction_agent_id, project_id, status");
            while (s->step()) {
                std::string agent = s->column_text(0);
                std::string project = s->column_text(1);
                if (rows.empty() || rows.back().extraction_agent_id != agent ||
                    rows.back().project_id != project) {
                    rows.push_back({std::move(agent), std::move(project), 0, {}, {}, {}});
                }
                agent_summary& summary = rows.back();
                const std::int64_t count = s->column_int64(3);
                summary.runs += count;
                summary.by_status[s->column_text(2)] += count;
                summary.latest_created_at = std::max(summary.latest_created_at, s->column_text(4));
            }
            // Names by (agent, project): a few rows per agent at most, so one pass over them
            // beats a join inside the grouping above.
            std::map<std::pair<std::string, std::string>, std::string> names;
            sqlite::statement_use n(
                db, "SELECT extraction_agent_id, project_id, name FROM agent_names");
            while (n->step())
                names[{n->column_text(0), n->column_text(1)}] = n->column_text(2);
            for (agent_summary& summary : rows) {
                auto it = names.find({summary.extraction_agent_id, summary.project_id});
                if (it != names.end()) summary.name = std::move(it->second);
            }
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
        write([&](sqlite::database& db) {
            sqlite::statement_use s(
                db,
                "INSERT INTO agent_names (extraction_agent_id, project_id, name, learned_at)"
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (extraction_agent_id, project_id) DO UPDATE"
                " SET name = excluded.name, learned_at = excluded.learned_at"
                " WHERE name IS NOT excluded.name");
            for (const agent_name& n : names) {
                if (n.extraction_agent_id.empty() || n.project_id.empty() || n.name.empty()) {
                    continue;
                }
                s->bind_text(1, n.extraction_agent_id);
                s->bind_text(2, n.project_id);
                s->bind_text(3, n.name);
                s->bind_int64(4, to_unix_ms(learned_at));
                s->run();
                s->reset();
            }
        });
    }

    void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                       time_point fetched_at) override {
        write([&](sqlite::database& db) {
            sqlite::statement_use s(
                db,
                "INSERT INTO list_pages (tenant, key, body, fetched_at) VALUES (?1, ?2, ?3, ?4)"
                " ON CONFLICT (tenant, key) DO UPDATE"
                " SET body = excluded.body, fetched_at = excluded.fetched_at");
            s->bind_text(1, tenant);
            s->bind_text(2, key);
            s->bind_text(3, body);
            s->bind_int64(4, to_unix_ms(fetched_at));
            s->run();
        });
    }

    std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) override {
        return read([&](sqlite::database& db) -> std::shared_ptr<const stored_list_page> {
            sqlite::statement_use s(
                db, "SELECT body, fetched_at FROM list_pages WHERE tenant = ?1 AND key = ?2");
            s->bind_text(1, tenant);
            s->bind_text(2, key);
            if (!s->step()) {
                return nullptr;
            }
            return std::make_shared<const stored_list_page>(
                stored_list_page{s->column_text(0), from_unix_ms(s->column_int64(1)), nullptr});
        });
    }

    void grant(std::string_view tenant, const std::vector<std::string>& project_ids) override {
        if (project_ids.empty()) {
            return;
        }
        // granted_at is bookkeeping for maintenance commands only, never compared against a
        // caller's |now|, so the store may read the clock itself here. It says when the grant
        // was last seen to within an hour: every miss grants its run's project again, and a
        // grant that changes no row costs its commit nothing, where rewriting granted_at each
        // time wrote the grant's two pages (row and key) per miss.
        std::int64_t now = to_unix_ms(clock_type::now());
        write([&](sqlite::database& db) {
            sqlite::statement_use s(
                db,
                "INSERT INTO grants (tenant, project_id, granted_at) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (tenant, project_id) DO UPDATE SET granted_at = excluded.granted_at"
                " WHERE excluded.granted_at - grants.granted_at >= 3600000");
            for (const std::string& project : project_ids) {
                if (project.empty()) {
                    continue;
                }
                s->bind_text(1, tenant);
                s->bind_text(2, project);
                s->bind_int64(3, now);
                s->run();
                s->reset();
            }
        });
    }

    bool has_grant(std::string_view tenant, std::string_view project_id) override {
        return read([&](sqlite::database& db) {
            sqlite::statement_use s(db,
                                    "SELECT 1 FROM grants WHERE tenant = ?1 AND project_id = ?2");
            s->bind_text(1, tenant);
            s->bind_text(2, project_id);
            return s->step();
        });
    }

    bool has_any_grant(std::string_view tenant) override {
        return read([&](sqlite::database& db) {
            sqlite::statement_use s(db, "SELECT 1 FROM grants WHERE tenant = ?1 LIMIT 1");
            s->bind_text(1, tenant);
            return s->step();
        });
    }

    void revoke_tenant(std::string_view tenant) override {
        write([&](sqlite::database& db) {
            for (const char* sql : {"DELETE FROM grants WHERE tenant = ?1",
                                    "DELETE FROM list_pages WHERE tenant = ?1"}) {
                sqlite::statement_use s(db, sql);
                s->bind_text(1, tenant);
                s->run();
            }
        });
    }

    std::optional<watch_id> watch_run(const run_fields& run, std::string_view tenant,
                                      time_point now, time_point first_poll_at) override {
        if (run.id.empty()) {
            throw std::invalid_argument("store: watch_run without a run id");
        }
        // A watch names the resource by its store key, which says its kind (v1 runs: the id).
        const std::string key = store_key(*run.kind, run.id);
        std::optional<watch_id> result;
        write([&](sqlite::database& db) {
            if (run_is_tombstoned(db, key)) {
                return;
            }
            std::optional<watch_id> by_run = watch_id_where(db, "run_id = ?1", key);
            std::optional<watch_id> by_job;
            if (!run.job_id.empty()) {
                by_job = watch_id_where(db, "job_id = ?1 AND run_id IS NULL", run.job_id);
            }
            if (!by_run && !by_job) {
                result = insert_watch(db, key, run.job_id, tenant, run.project_id,
                                      run.extraction_agent_id, now, first_poll_at);
                return;
            }
            watch_id id;
            if (by_run) {
                id = *by_run;
                if (by_job) {
                    // The job's watch was looking for this very run: one watch is enough, and
                    // the run's takes over the job id below.
                    delete_watch(db, *by_job);
                }
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
        if (job_id.empty()) {
            throw std::invalid_argument("store: watch_job without a job id");
        }
        watch_id result = 0;
        write([&](sqlite::database& db) {
            if (std::optional<watch_id> id = watch_id_where(db, "job_id = ?1", job_id)) {
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
        write([&](sqlite::database& db) {
            std::optional<std::string> bound;
            {
                sqlite::statement_use s(db, "SELECT run_id FROM watches WHERE id = ?1");
                s->bind_int64(1, id);
                if (!s->step()) {
                    return;
                }
                if (!s->column_is_null(0)) {
                    bound = s->column_text(0);
                }
            }
            if (bound && *bound != run_id) {
                throw std::invalid_argument("store: watch " + std::to_string(id) +
                                            " already watches run '" + *bound + "', not '" +
                                            std::string(run_id) + "'");
            }
            if (!bound) {
                if (std::optional<watch_id> other = watch_id_where(db, "run_id = ?1", run_id)) {
                    // The run was watched on its own as well (a client read it by id): the
                    // caller is polling this one, so this one stays and the other goes.
                    delete_watch(db, *other);
                }
                bind_run(db, id, run_id);
            }
            update_watch_details(db, id, {}, project_id, "", "", now);
            {
                sqlite::statement_use s(
                    db,
                    "UPDATE watches SET finished_at = ?2, last_status = 'DELETED',"
                    " last_error = '', updated_at = ?2"
                    " WHERE id = ?1 AND " WATCH_ACTIVE
                    " AND EXISTS (SELECT 1 FROM runs"
                    " WHERE runs.id = watches.run_id AND runs.deleted_at IS NOT NULL)");
                s->bind_int64(1, id);
                s->bind_int64(2, to_unix_ms(now));
                s->run();
            }
            sqlite::statement_use s(db, "SELECT 1 FROM watches WHERE id = ?1 AND " WATCH_ACTIVE);
            s->bind_int64(1, id);
            active = s->step();
        });
        return active;
    }

    std::vector<watch> due_watches(time_point now, std::size_t limit,
                                   const tenant_filter& tenants) override {
        if (limit == 0 || (!tenants.any_tenant && tenants.tenants.empty())) {
            return {};
        }
        std::string sql = "SELECT " WATCH_COLUMNS " FROM watches WHERE " WATCH_ACTIVE
                          " AND next_poll_at <= ?1" +
                          tenant_clause(tenants, 3) + " ORDER BY next_poll_at, id LIMIT ?2";
        return read([&](sqlite::database& db) {
            return with_statement(db, sql, tenants, [&](sqlite::statement& s) {
                s.bind_int64(1, to_unix_ms(now));
                s.bind_int64(2, sql_limit(limit));
                bind_tenants(s, tenants, 3);
                std::vector<watch> due;
                while (s.step()) {
                    due.push_back(read_watch(s));
                }
                return due;
            });
        });
    }

    std::optional<time_point> next_due_time(const tenant_filter& tenants) override {
        if (!tenants.any_tenant && tenants.tenants.empty()) {
            return std::nullopt;
        }
        // ORDER BY ... LIMIT 1 rather than min(): it walks watches_due and stops at the first
        // watch of a matching tenant.
        std::string sql = "SELECT next_poll_at FROM watches WHERE " WATCH_ACTIVE +
                          tenant_clause(tenants, 1) + " ORDER BY next_poll_at, id LIMIT 1";
        return read([&](sqlite::database& db) {
            return with_statement(db, sql, tenants,
                                  [&](sqlite::statement& s) -> std::optional<time_point> {
                                      bind_tenants(s, tenants, 1);
                                      if (!s.step()) {
                                          return std::nullopt;
                                      }
                                      return from_unix_ms(s.column_int64(0));
                                  });
        });
    }

    bool reschedule_watch(watch_id id, const poll_outcome& outcome, time_point now) override {
        return update_active_watch(
            "UPDATE watches SET next_poll_at = ?2, attempts = ?3, last_status = ?4,"
            " last_error = ?5, updated_at = ?6 WHERE id = ?1 AND " WATCH_ACTIVE,
            [&](sqlite::statement& s) {
                s.bind_int64(1, id);
                s.bind_int64(2, to_unix_ms(outcome.next_poll_at));
                s.bind_int64(3, outcome.attempts);
                s.bind_text(4, outcome.last_status);
                s.bind_text(5, outcome.last_error);
                s.bind_int64(6, to_unix_ms(now));
            });
    }

    bool finish_watch(watch_id id, std::string_view final_status, time_point now) override {
        return update_active_watch(
            "UPDATE watches SET finished_at = ?3, last_status = ?2, last_error = '',"
            " updated_at = ?3 WHERE id = ?1 AND " WATCH_ACTIVE,
            [&](sqlite::statement& s) {
                s.bind_int64(1, id);
                s.bind_text(2, final_status);
                s.bind_int64(3, to_unix_ms(now));
            });
    }

    bool give_up_watch(watch_id id, std::string_view reason, time_point now) override {
        return update_active_watch(
            "UPDATE watches SET given_up_at = ?3, give_up_reason = ?2, updated_at = ?3"
            " WHERE id = ?1 AND " WATCH_ACTIVE,
            [&](sqlite::statement& s) {
                s.bind_int64(1, id);
                s.bind_text(2, reason);
                s.bind_int64(3, to_unix_ms(now));
            });
    }

    std::optional<watch> find_watch(watch_id id) override {
        return read([&](sqlite::database& db) -> std::optional<watch> {
            sqlite::statement_use s(db, "SELECT " WATCH_COLUMNS " FROM watches WHERE id = ?1");
            s->bind_int64(1, id);
            if (!s->step()) {
                return std::nullopt;
            }
            return read_watch(*s);
        });
    }

    std::vector<watch> list_watches(watch_listing which, std::size_t limit) override {
        const char* sql = which == watch_listing::active
                              ? "SELECT " WATCH_COLUMNS " FROM watches WHERE " WATCH_ACTIVE
                                " ORDER BY next_poll_at, id LIMIT ?1"
                              : "SELECT " WATCH_COLUMNS
                                " FROM watches"
                                " ORDER BY (" WATCH_ACTIVE
                                ") DESC,"
                                " CASE WHEN " WATCH_ACTIVE
                                " THEN next_poll_at"
                                " ELSE -COALESCE(finished_at, given_up_at) END, id LIMIT ?1";
        return read([&](sqlite::database& db) {
            sqlite::statement_use s(db, sql);
            s->bind_int64(1, sql_limit(limit));
            std::vector<watch> out;
            while (s->step()) {
                out.push_back(read_watch(*s));
            }
            return out;
        });
    }

    store_counts counts() override {
        return read([](sqlite::database& db) {
            store_counts c;
            {
                sqlite::statement_use s(db,
                                        "SELECT kind, count(*) FROM runs"
                                        " WHERE deleted_at IS NULL AND body IS NOT NULL"
                                        " GROUP BY kind");
                while (s->step()) {
                    const std::string name = s->column_text(0);
                    const resource_kind* kind = find_kind(name);
                    c.rows_by_kind.emplace_back(kind ? std::string(kind->name) : name,
                                                s->column_int64(1));
                }
            }
            {
                // A watch names its resource by store key, whose prefix says the kind.
                sqlite::statement_use s(
                    db,
                    "SELECT coalesce(run_id, ''),"
                    " CASE WHEN finished_at IS NOT NULL THEN 'finished'"
                    " WHEN given_up_at IS NOT NULL THEN 'given_up' ELSE 'active' END, count(*)"
                    " FROM watches GROUP BY substr(coalesce(run_id, ''), 1,"
                    " instr(coalesce(run_id, ''), '/')), 2");
                while (s->step()) {
                    c.watches.emplace_back(std::string(kind_of_store_key(s->column_text(0)).name),
                                           s->column_text(1), s->column_int64(2));
                }
            }
            {
                sqlite::statement_use s(db,
                                        "SELECT min(next_poll_at) FROM watches"
                                        " WHERE finished_at IS NULL AND given_up_at IS NULL");
                if (s->step() && !s->column_is_null(0)) {
                    c.earliest_due = from_unix_ms(s->column_int64(0));
                }
            }
            {
                sqlite::statement_use s(
                    db, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
                if (s->step()) c.file_bytes = s->column_int64(0);
            }
            return c;
        });
    }

    int schema_version() override {
        return read([](sqlite::database& db) { return runmirror::schema_version(db); });
    }

    store_write_health write_health() override { return health_.snapshot(); }

    std::int64_t external_change_count() override {
        // data_version on the writer counts commits by every other connection; the readers
        // never write, so those are other processes'.
        std::lock_guard lock(writer_mutex_);
        sqlite::statement_use s(*writer_, "PRAGMA data_version");
        s->step();
        return s->column_int64(0);
    }

  private:
    // The writer connection, configured and migrated. Throws sqlite_error (SQLITE_READONLY)
    // when SQLite could only open the file read-only, rather than a connection every write on
    // which would fail.
    std::unique_ptr<sqlite::database> open_writer() {
        auto db = std::make_unique<sqlite::database>(path_);
        if (db->read_only()) {
            throw sqlite::sqlite_error("the database file is read-only", sqlite::readonly_code);
        }
        const int checkpoint_frames = configure_writer(*db);
        db->define_function("runmirror_pack_body", sql_pack_body);
        db->define_function("runmirror_search_data", sql_search_data);
        db->define_function("runmirror_rekey_tenant", sql_rekey_tenant);
        db->define_function("runmirror_secret_check", sql_secret_check);
        apply_migrations(*db, embedded_migrations());
        check_tenant_secret(*db, path_, true);
        if (!in_memory_) {
            // From here on the maintenance thread checkpoints, not the commit that crossed the
            // threshold (SQLite's automatic checkpoint did the migrations' ones).
            db->on_wal_commit([this, writer = db.get(), frames = checkpoint_frames](int in_wal) {
                if (in_wal >= checkpoint_backstop * frames) {
                    writer->checkpoint();
                } else if (in_wal >= frames) {
                    maintenance_.checkpoint_wanted();
                }
            });
        }
        return db;
    }

    // Opens the store for reading only, because writing it failed with |why|. Throws
    // store_error (one line: path and reason) when even that is not possible or would not do.
    void open_for_reading(const std::string& why) {
        std::unique_ptr<sqlite::database> db;
        int version = 0;
        bool empty = true;
        // read_only first: it shares the -shm, so writes by another process stay visible. In a
        // read-only directory without a -shm file, only an immutable open can read a WAL
        // database, and there nobody can be writing it (a writer would need that directory).
        for (sqlite::open_mode mode :
             {sqlite::open_mode::read_only, sqlite::open_mode::immutable}) {
            try {
                db = std::make_unique<sqlite::database>(path_, 5000, mode);
                version = runmirror::schema_version(*db);
                sqlite::statement_use pages(*db, "PRAGMA page_count");
                empty = !pages->step() || pages->column_int64(0) == 0;
                break;
            } catch (const sqlite::sqlite_error& e) {
                db.reset();
                if (mode == sqlite::open_mode::immutable) {
                    throw store_error("store '" + path_ +
                                      "' cannot be opened, not even for reading: " + e.what() +
                                      " (writing failed: " + why + ")");
                }
            }
        }
        const auto migrations = embedded_migrations();
        const int known = migrations.empty() ? 0 : migrations.back().version;
        if (empty) {
            throw store_error("store '" + path_ + "' cannot be created: " + why);
        }
        if (version > known) {
            throw store_error("store '" + path_ + "' has schema version " +
                              std::to_string(version) + ", newer than this runmirror knows (" +
                              std::to_string(known) + "); refusing to open it");
        }
        if (version < known) {
            throw store_error("store '" + path_ + "' needs its schema upgraded (version " +
                              std::to_string(version) + " to " + std::to_string(known) +
                              ") but cannot be written: " + why);
        }
        check_tenant_secret(*db, path_, false);
        writer_ = std::move(db);
        reader_mode_.store(writer_->mode());
        health_.start_unwritable(why, clock_type::now());
    }

    // Called before every write while the store is open for reading only: the fault may be
    // gone (a chmod, a remount), and a write needs a read-write connection to find out.
    // Throws sqlite_error when the store still cannot be written.
    void reopen_for_writing() {
        std::unique_ptr<sqlite::database> db;
        try {
            db = open_writer();
        } catch (const sqlite::sqlite_error& e) {
            throw sqlite::sqlite_error("store '" + path_ + "' is still not writable: " + e.what(),
                                       e.code());
        }
        writer_ = std::move(db);
        // Readers opened read-only (or immutable, blind to writes) are replaced as they come
        // back (give_back compares modes).
        reader_mode_.store(sqlite::open_mode::read_write);
        std::lock_guard lock(pool_mutex_);
        idle_readers_.clear();
    }

    // Returns the WAL frames (pages) past which to checkpoint.
    int configure_writer(sqlite::database& db) {
        // A new file gets 1 KiB pages. Every commit writes each page it changed to the WAL
        // whole, and storing a run changes several b-trees besides its row (its id, its job,
        // four browse indexes, counters), one page each: what a stored run costs the disk is
        // mostly the page size times the pages it touches (bench/write_cost.cpp --breakdown).
        // 10,000 generated runs, one commit each (schema 007): 4 KiB pages 92 KB a run, 1 KiB
        // 33 KB. A row larger than a page (a compressed run is about 2.5 KiB) spills into
        // overflow pages, which it fills, rather than leaving most of a 4 KiB page empty: the
        // file is smaller too (46 MB against 56 MB). The price is a run read as three or four
        // pages instead of one, and b-trees a level or two deeper, all cheap lookups in the
        // page cache. Only an empty database can still choose (the size is fixed once WAL is
        // on); an existing one keeps its own, since changing it means rewriting every page.
        bool empty = false;
        {
            sqlite::statement_use s(db, "PRAGMA page_count");
            empty = s->step() && s->column_int64(0) == 0;
        }  // reset: a statement still open would keep the page size from changing
        if (empty) db.exec("PRAGMA page_size = " + std::to_string(new_store_page_size));
        // journal_mode answers with the mode in force; anything but "wal" means readers would
        // block behind the writer, which the rest of the daemon does not expect.
        std::string mode;
        {
            sqlite::statement_use s(db, "PRAGMA journal_mode = WAL");
            mode = s->step() ? s->column_text(0) : "";
        }
        if (!in_memory_ && mode != "wal") {
            throw store_error("store '" + path_ + "': cannot enable WAL (journal_mode is '" + mode +
                              "')");
        }
        // NORMAL in WAL mode: a power loss may drop the last commits but never corrupts.
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA foreign_keys = ON");
        db.exec("PRAGMA cache_size = -1024");
        db.exec("PRAGMA journal_size_limit = " + std::to_string(wal_size_limit));
        // SQLite counts the checkpoint threshold in pages (1,000 by default); it is set in
        // bytes here, so that a store of small pages does not checkpoint four times as often.
        // A page changed by many commits between two checkpoints is copied into the file once.
        std::int64_t page_size = 4096;
        {
            sqlite::statement_use s(db, "PRAGMA page_size");
            if (s->step()) page_size = std::max<std::int64_t>(s->column_int64(0), 512);
        }
        const auto frames = static_cast<int>(checkpoint_bytes / page_size);
        db.exec("PRAGMA wal_autocheckpoint = " + std::to_string(frames));
        return frames;
    }

    // Every stored representation of the resource |key| (its "key?variant" rows,
    // schema/007_kinds.sql) goes with it.
    static void tombstone_variants(sqlite::database& db, std::string_view key, time_point at) {
        std::vector<current_run> variants;
        {
            sqlite::statement_use s(db,
                                    "SELECT id FROM runs WHERE id > ?1 || '?' AND id < ?1 || '@'"
                                    " AND deleted_at IS NULL");
            s->bind_text(1, key);
            std::vector<std::string> ids;
            while (s->step())
                ids.push_back(s->column_text(0));
            for (const std::string& variant_key : ids) {
                if (auto run = find_current(db, variant_key)) variants.push_back(std::move(*run));
            }
        }
        for (const current_run& run : variants) {
            unindex(db, run);
            sqlite::statement_use s(db, "UPDATE runs SET deleted_at = ?2 WHERE seq = ?1");
            s->bind_int64(1, run.seq);
            s->bind_int64(2, to_unix_ms(at));
            s->run();
        }
    }

    static put_outcome insert_run(sqlite::database& db, const run_fields& f, std::string_view body,
                                  time_point fetched_at) {
        if (f.id.empty()) {
            throw std::invalid_argument("store: put_run without a run id");
        }
        const std::string key = store_key(*f.kind, f.id, f.variant);
        const std::optional<current_run> old = find_current(db, key);
        if (!old) {
            // A new run is indexed later, in a batch (index_pending_runs).
            write_row(db, key, f, body, fetched_at, nullptr);
            return {};
        }
        put_outcome outcome{old->fields.status, false};
        // A tombstoned row is left exactly as it is: the run stays deleted, with the body it
        // had when it was deleted.
        if (old->deleted) return outcome;
        // Compared before packing: a list refresh brings mostly the bytes already stored, and
        // restoring those costs a fifth of compressing the new ones.
        const bool same_body =
            old->has_body && body_equals(old->body.bytes, old->body.compressed, body);
        if (same_body && same_columns(old->fields, f)) {
            // A refresh that brought the same bytes (a final run, or a list page re-fetched
            // while nothing changed): only when it was fetched is new, and that goes to the
            // narrow run_refreshed, not the run's row, whose page (and every index) it would
            // rewrite.
            sqlite::statement_use s(db,
                                    "INSERT INTO run_refreshed (seq, fetched_at) VALUES (?1, ?2)"
                                    " ON CONFLICT (seq) DO UPDATE SET fetched_at = ?2");
            s->bind_int64(1, old->seq);
            s->bind_int64(2, to_unix_ms(fetched_at));
            s->run();
            return outcome;
        }
        outcome.changed = true;
        {
            // The row takes the new fetched_at itself. Usually there is nothing to delete,
            // which writes nothing.
            sqlite::statement_use s(db, "DELETE FROM run_refreshed WHERE seq = ?1");
            s->bind_int64(1, old->seq);
            s->run();
        }
        // One not indexed yet is indexed later in a batch; an indexed one whose searchable
        // text may have changed is reindexed here, so the index never holds text the run no
        // longer has.
        const bool reindex = old->seq <= search_indexed_through(db) &&
                             (!same_body || old->fields.file_name != f.file_name);
        if (reindex) unindex(db, *old);
        const std::int64_t seq = write_row(db, key, f, body, fetched_at, &*old);
        if (reindex) search_index_write(db, true, seq, *f.kind, f.file_name, body);
        return outcome;
    }

    // Packs |body| and writes the row under |key|: a new one, or |old|'s in place. Its seq.
    static std::int64_t write_row(sqlite::database& db, const std::string& key, const run_fields& f,
                                  std::string_view body, time_point fetched_at,
                                  const current_run* old) {
        const packed_body packed = pack_body(body);
        sqlite::statement_use s(
            db, old ? "UPDATE runs SET body = ?2, project_id = ?3,"
                      " extraction_agent_id = ?4, job_id = ?5, file_id = ?6, file_name = ?7,"
                      " status = ?8, created_at = ?9, updated_at = ?10, fetched_at = ?11"
                      " WHERE seq = ?12 RETURNING seq"
                    : "INSERT INTO runs (id, body, project_id, extraction_agent_id, job_id,"
                      " file_id, file_name, status, created_at, updated_at, fetched_at, kind,"
                      " variant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?14)"
                      " RETURNING seq");
        s->bind_text(1, key);
        if (packed.compressed) {
            s->bind_blob(2, packed.bytes);
        } else {
            s->bind_text(2, packed.bytes);
        }
        s->bind_text(3, f.project_id);
        s->bind_text(4, f.extraction_agent_id);
        s->bind_text(5, f.job_id);
        s->bind_text(6, f.file_id);
        s->bind_text(7, f.file_name);
        s->bind_text(8, f.status);
        s->bind_text(9, f.created_at);
        s->bind_text(10, f.updated_at);
        s->bind_int64(11, to_unix_ms(fetched_at));
        if (old) {
            s->bind_int64(12, old->seq);
        } else {
            s->bind_text(13, f.kind->name);
            s->bind_text(14, f.variant);
        }
        if (!s->step()) throw store_error("store: writing run '" + key + "' returned no row");
        const std::int64_t seq = s->column_int64(0);
        s->run();  // RETURNING: the write completes when the statement does
        return seq;
    }

    // --- watch helpers; each runs inside the caller's write transaction ---------------------

    static bool run_is_tombstoned(sqlite::database& db, std::string_view run_id) {
        sqlite::statement_use s(db, "SELECT 1 FROM runs WHERE id = ?1 AND deleted_at IS NOT NULL");
        s->bind_text(1, run_id);
        return s->step();
    }

    // The watch matching |where| (a condition on ?1 = |value|); the unique indexes make it one.
    static std::optional<watch_id> watch_id_where(sqlite::database& db, const char* where,
                                                  std::string_view value) {
        sqlite::statement_use s(db, std::string("SELECT id FROM watches WHERE ") + where);
        s->bind_text(1, value);
        if (!s->step()) {
            return std::nullopt;
        }
        return s->column_int64(0);
    }

    // A new active watch: a run watch when |run_id| is set, else a job watch. The job id is
    // left out if another watch already holds it, which keeps watches_by_job unique.
    static watch_id insert_watch(sqlite::database& db, std::string_view run_id,
                                 std::string_view job_id, std::string_view tenant,
                                 std::string_view project_id, std::string_view agent_id,
                                 time_point now, time_point first_poll_at) {
        sqlite::statement_use s(
            db,
            "INSERT INTO watches (kind, run_id, job_id, tenant, project_id, extraction_agent_id,"
            " created_at, next_poll_at, updated_at)"
            " VALUES (CASE WHEN ?1 = '' THEN 'job' ELSE 'run' END, NULLIF(?1, ''),"
            " CASE WHEN ?2 <> '' AND NOT EXISTS (SELECT 1 FROM watches WHERE job_id = ?2)"
            " THEN ?2 END, ?3, ?4, ?5, ?6, ?7, ?6)"
            " RETURNING id");
        s->bind_text(1, run_id);
        s->bind_text(2, job_id);
        s->bind_text(3, tenant);
        s->bind_text(4, project_id);
        s->bind_text(5, agent_id);
        s->bind_int64(6, to_unix_ms(now));
        s->bind_int64(7, to_unix_ms(first_poll_at));
        if (!s->step()) {
            throw store_error("store: INSERT INTO watches returned no id");
        }
        watch_id id = s->column_int64(0);
        s->run();  // RETURNING: the insert completes when the statement does
        return id;
    }

    // A job watch becomes the watch of its run. The caller has made sure no other watch holds
    // |run_id|.
    static void bind_run(sqlite::database& db, watch_id id, std::string_view run_id) {
        sqlite::statement_use s(db, "UPDATE watches SET kind = 'run', run_id = ?2 WHERE id = ?1");
        s->bind_int64(1, id);
        s->bind_text(2, run_id);
        s->run();
    }

    static void delete_watch(sqlite::database& db, watch_id id) {
        sqlite::statement_use s(db, "DELETE FROM watches WHERE id = ?1");
        s->bind_int64(1, id);
        s->run();
    }

    // Takes over a non-empty |tenant| (empty: keep) and fills in ids the watch lacks. Never
    // touches the schedule.
    static void update_watch_details(sqlite::database& db, watch_id id, std::string_view tenant,
                                     std::string_view project_id, std::string_view agent_id,
                                     std::string_view job_id, time_point now) {
        sqlite::statement_use s(
            db,
            "UPDATE watches SET"
            " tenant = CASE WHEN ?2 <> '' THEN ?2 ELSE tenant END,"
            " project_id = CASE WHEN ?3 <> '' THEN ?3 ELSE project_id END,"
            " extraction_agent_id = CASE WHEN ?4 <> '' THEN ?4 ELSE extraction_agent_id END,"
            " job_id = CASE WHEN job_id IS NULL AND ?5 <> ''"
            " AND NOT EXISTS (SELECT 1 FROM watches AS w WHERE w.job_id = ?5)"
            " THEN ?5 ELSE job_id END,"
            " updated_at = ?6"
            " WHERE id = ?1");
        s->bind_int64(1, id);
        s->bind_text(2, tenant);
        s->bind_text(3, project_id);
        s->bind_text(4, agent_id);
        s->bind_text(5, job_id);
        s->bind_int64(6, to_unix_ms(now));
        s->run();
    }

    // Watching again what was finished or given up starts it over, unless its run is
    // tombstoned: a deleted run is never polled again.
    static void restart_if_ended(sqlite::database& db, watch_id id, time_point now,
                                 time_point first_poll_at) {
        sqlite::statement_use s(
            db,
            "UPDATE watches SET created_at = ?2, next_poll_at = ?3, attempts = 0,"
            " last_error = '', finished_at = NULL, given_up_at = NULL, give_up_reason = NULL,"
            " updated_at = ?2"
            " WHERE id = ?1 AND NOT (" WATCH_ACTIVE
            ") AND NOT EXISTS (SELECT 1 FROM runs"
            " WHERE runs.id = watches.run_id AND runs.deleted_at IS NOT NULL)");
        s->bind_int64(1, id);
        s->bind_int64(2, to_unix_ms(now));
        s->bind_int64(3, to_unix_ms(first_poll_at));
        s->run();
    }

    // One UPDATE of a single active watch, in its own transaction; true if it changed a row.
    template <class Bind>
    bool update_active_watch(const char* sql, Bind&& bind) {
        bool changed = false;
        write([&](sqlite::database& db) {
            sqlite::statement_use s(db, sql);
            bind(*s);
            s->run();
            changed = db.changes() > 0;
        });
        return changed;
    }

    // --- the search index, kept up to date off the write path (schema/006) ---------------

    // Indexes every run past the watermark, in batches of their own transactions, so a write
    // waiting for the writer lock waits for one batch at most.
    void index_all_pending() {
        for (;;) {
            std::size_t looked_at = 0;
            write([&](sqlite::database& db) { looked_at = index_pending_runs(db, index_batch); });
            if (looked_at < index_batch) return;
        }
    }

    // Before a search: index what is pending (written by this process or another one).
    void catch_up_search() {
        const bool behind = read([](sqlite::database& db) { return search_index_behind(db); });
        // A store that cannot be written searches what is indexed.
        if (!behind || !health_.snapshot().writable) return;
        try {
            index_all_pending();
        } catch (const store_error& e) {
            log::debug("store '{}': indexing for a search failed: {}", path_, e.what());
        }
    }

    // The maintenance thread's checkpoint task. The bulk of it on a connection of its own, so
    // that writes go on meanwhile (a PASSIVE checkpoint copies what was committed when it
    // started). But SQLite starts the WAL over only once every frame in it was copied, which a
    // writer appending all along would put off until the backstop: so a second pass, holding
    // the writer, copies the few frames written during the first, and the next write starts
    // the WAL over.
    void checkpoint_in_background() {
        if (!health_.snapshot().writable) return;
        try {
            if (!checkpointer_) checkpointer_ = std::make_unique<sqlite::database>(path_);
            checkpointer_->checkpoint();
        } catch (...) {
            checkpointer_.reset();  // opened afresh next time
            throw;
        }
        std::lock_guard lock(writer_mutex_);
        if (writer_->mode() == sqlite::open_mode::read_write) writer_->checkpoint();
    }

    // Stored resources not final and not fetched since |before|, found by one read (a scan of
    // the status index, on a reader: writes go on meanwhile). Each plain key once.
    // --- prune_steps: the SQL of prune_some's stages ----------------------------------------
    std::size_t delete_list_pages(std::int64_t limit) override {
        std::size_t rows = 0;
        write([&](sqlite::database& db) {
            sqlite::statement_use s(db,
                                    "DELETE FROM list_pages WHERE rowid IN (SELECT"
                                    " rowid FROM list_pages ORDER BY rowid LIMIT ?1)");
            s->bind_int64(1, limit);
            s->run();
            rows = static_cast<std::size_t>(db.changes());
        });
        return rows;
    }

    std::size_t delete_ended_watches(std::int64_t limit) override {
        std::size_t rows = 0;
        write([&](sqlite::database& db) {
            sqlite::statement_use s(
                db,
                "DELETE FROM watches WHERE id IN (SELECT id FROM watches WHERE"
                " finished_at IS NOT NULL OR given_up_at IS NOT NULL ORDER BY id"
                " LIMIT ?1)");
            s->bind_int64(1, limit);
            s->run();
            rows = static_cast<std::size_t>(db.changes());
        });
        return rows;
    }

    std::vector<std::string> stale_unfinished_keys(time_point before) override {
        static const std::string sql =
            "SELECT id, status FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL"
            " AND status NOT IN (" +
            final_status_list() + ") AND " RUN_FETCHED_AT " < ?1 LIMIT 100000";
        return read([&](sqlite::database& db) {
            std::vector<std::string> keys;
            sqlite::statement_use s(db, sql);
            s->bind_int64(1, to_unix_ms(before));
            while (s->step()) {
                const std::string id = s->column_text(0);
                if (kind_of_store_key(id).is_final(s->column_text(1))) continue;
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
        return read([&](sqlite::database& db) {
            std::vector<std::string> keys;
            // runs_browse (created_at, id) gives the order; status needs the row.
            sqlite::statement_use s(
                db,
                "SELECT created_at, id, status FROM runs WHERE deleted_at IS NULL"
                " AND body IS NOT NULL AND (created_at, id) > (?1, ?2)"
                " ORDER BY created_at, id LIMIT ?3");
            s->bind_text(1, cursor.created_at);
            s->bind_text(2, cursor.key);
            s->bind_int64(3, limit);
            bool any = false;
            while (s->step()) {
                any = true;
                cursor.created_at = s->column_text(0);
                cursor.key = s->column_text(1);
                if (!kind_of_store_key(cursor.key).is_final(s->column_text(2))) continue;
                std::string key(plain_key(cursor.key));
                if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                    keys.push_back(std::move(key));
                }
            }
            if (!any) cursor.key.clear();
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
        write([&](sqlite::database& db) {
            erased.clear();  // a retried batch starts again
            for (std::string& key : taken) {
                if (erase_resource(db, key)) erased.push_back(key);
            }
        });
        return erased;
    }

    // Runs |fn(db)| on the writer connection as one write: all of it commits or none of it.
    // Concurrent writes share a transaction (group_commit), each in a savepoint of its own;
    // this returns once the transaction holding |fn| has committed.
    // A storage fault (see sqlite::is_storage_fault) is recorded in write_health and thrown on.
    template <class Fn>
    void write(Fn&& fn) {
        commits_.run([&] { fn(*writer_); });
    }

    // group_commit's batch function: every write of |batch| in one BEGIN IMMEDIATE transaction.
    void commit_batch(const std::vector<group_commit::write*>& batch) {
        std::lock_guard lock(writer_mutex_);
        try {
            if (writer_->mode() != sqlite::open_mode::read_write) reopen_for_writing();
            sqlite::transaction tx(*writer_);
            for (group_commit::write* w : batch) {
                if (batch.size() == 1) {  // alone: its failure rolls back the transaction
                    w->apply();
                    continue;
                }
                writer_->exec("SAVEPOINT one_write");
                try {
                    w->apply();
                } catch (const sqlite::sqlite_error& e) {
                    // A fault of the storage fails the whole batch; anything else (a constraint,
                    // a bad argument) fails this write alone.
                    if (sqlite::is_storage_fault(e.code())) throw;
                    w->error = std::current_exception();
                    writer_->exec("ROLLBACK TO one_write");
                } catch (...) {
                    w->error = std::current_exception();
                    writer_->exec("ROLLBACK TO one_write");
                }
                writer_->exec("RELEASE one_write");
            }
            if (batch.size() == 1 && batch[0]->error) std::rethrow_exception(batch[0]->error);
            tx.commit();
        } catch (const sqlite::sqlite_error& e) {
            // The transaction has rolled back: what was committed before is untouched.
            if (sqlite::is_storage_fault(e.code()))
                health_.write_failed(e.what(), clock_type::now());
            throw;
        }
        health_.write_committed();
    }

    // Runs |fn(db)| on a connection of its own (the writer, for ":memory:").
    template <class Fn>
    std::invoke_result_t<Fn&, sqlite::database&> read(Fn&& fn) {
        if (in_memory_) {
            std::lock_guard lock(writer_mutex_);
            return fn(*writer_);
        }
        std::unique_ptr<sqlite::database> db = take_reader();
        auto result = fn(*db);
        // A connection that threw is dropped rather than reused: its state is unknown.
        give_back(std::move(db));
        return result;
    }

    std::unique_ptr<sqlite::database> take_reader() {
        {
            std::lock_guard lock(pool_mutex_);
            if (!idle_readers_.empty()) {
                auto db = std::move(idle_readers_.back());
                idle_readers_.pop_back();
                return db;
            }
        }
        auto db = std::make_unique<sqlite::database>(path_, 5000, reader_mode_.load());
        db->exec("PRAGMA query_only = ON");
        // Each reader keeps its own page cache (2 MB by default), a copy of what the kernel's
        // page cache holds anyway; hot answers are kept in the daemon's memory cache.
        db->exec("PRAGMA cache_size = -512");
        return db;
    }

    void give_back(std::unique_ptr<sqlite::database> db) {
        std::lock_guard lock(pool_mutex_);
        if (idle_readers_.size() < max_idle_readers && db->mode() == reader_mode_.load()) {
            idle_readers_.push_back(std::move(db));
        }
    }

    const std::string path_;
    const bool in_memory_;
    std::mutex writer_mutex_;
    std::unique_ptr<sqlite::database> writer_;
    group_commit commits_{
        [this](const std::vector<group_commit::write*>& batch) { commit_batch(batch); }};
    // Declared after the writer so the readers close first and the writer, closing last,
    // checkpoints the WAL and removes it.
    std::mutex pool_mutex_;
    std::vector<std::unique_ptr<sqlite::database>> idle_readers_;
    // How readers open the file: read_write normally, as the writer was opened while the store
    // cannot be written (open_for_reading).
    std::atomic<sqlite::open_mode> reader_mode_{sqlite::open_mode::read_write};
    write_health_tracker health_;
    // Used by the maintenance thread only; closes before the writer.
    std::unique_ptr<sqlite::database> checkpointer_;
    // Search indexing and checkpoints off the request path; declared after everything its
    // tasks use, so that it starts after them and stops before them.
    store_maintenance maintenance_{{[this] {
                                        if (health_.snapshot().writable) index_all_pending();
                                    },
                                    [this] { checkpoint_in_background(); }},
                                   {index_batch, index_delay, path_}};
    page_ends page_ends_;  // where list pages ended, for list_runs
};

}  // namespace

std::unique_ptr<store> open_sqlite_store(const std::string& path) {
    if (path.empty()) {
        throw store_error("store: empty database path");
    }
    if (path != ":memory:") {
        // SQLite's own message would be "unable to open database file"; say what is wrong.
        std::filesystem::path parent = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
            throw store_error("store '" + path + "': directory '" + parent.string() +
                              "' does not exist");
        }
        // Before SQLite sees it: a text file would fail with "file is not a database", and an
        // SQLite database of another program would get runmirror's tables added to it.
        check_sqlite_store_file(path);
    }
    return std::make_unique<sqlite_store>(path);
}

int latest_schema_version() {
    const auto all = embedded_migrations();
    return all.empty() ? 0 : all.back().version;
}

}  // namespace runmirror
