// The store over SQLite. All of runmirror's SQL lives in this file.
//
// Connections: one writer, guarded by writer_mutex_, takes every write in a BEGIN IMMEDIATE
// transaction. Reads borrow a connection from a small pool; WAL lets them run alongside the
// writer and each other, each seeing the last committed state. A ":memory:" database exists
// only inside its one connection, so there everything goes through the writer and its mutex.

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "runmirror/store.hpp"
#include "store/migrations.hpp"
#include "store/sqlite_db.hpp"

namespace runmirror {
namespace {

// Idle reader connections kept open; a burst beyond this opens and closes extra ones.
constexpr std::size_t max_idle_readers = 8;

#define RUN_COLUMNS                                                                   \
    "id, body, project_id, extraction_agent_id, job_id, file_id, file_name, status, " \
    "created_at, updated_at, fetched_at, deleted_at"

stored_run read_run(const sqlite::statement& row) {
    stored_run run;
    run.fields.id = row.column_text(0);
    run.body = row.column_text(1);
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
// Parameters: ?1 tenant, ?2 agent, ?3 project.
std::string list_runs_where(const run_query& q) {
    std::string where =
        " FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL"
        " AND project_id IN (SELECT project_id FROM grants WHERE tenant = ?1)";
    if (!q.extraction_agent_id.empty()) {
        where += " AND extraction_agent_id = ?2";
    }
    if (!q.project_id.empty()) {
        where += " AND project_id = ?3";
    }
    return where;
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

class sqlite_store final : public store {
  public:
    explicit sqlite_store(const std::string& path) : path_(path), in_memory_(path == ":memory:") {
        writer_ = std::make_unique<sqlite::database>(path);
        configure_writer();
        apply_migrations(*writer_, embedded_migrations());
    }

    void put_run(const run_fields& fields, std::string_view body, time_point fetched_at) override {
        write([&](sqlite::database& db) { insert_run(db, fields, body, fetched_at); });
    }

    void put_runs(const std::vector<std::pair<run_fields, std::string_view>>& runs,
                  time_point fetched_at) override {
        if (runs.empty()) {
            return;
        }
        write([&](sqlite::database& db) {
            for (const auto& [fields, body] : runs) {
                insert_run(db, fields, body, fetched_at);
            }
        });
    }

    std::optional<stored_run> find_run(std::string_view id) override {
        return read([&](sqlite::database& db) -> std::optional<stored_run> {
            sqlite::statement_use s(db, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1");
            s->bind_text(1, id);
            if (!s->step()) {
                return std::nullopt;
            }
            return read_run(*s);
        });
    }

    std::optional<stored_run> find_run_by_job(std::string_view job_id) override {
        if (job_id.empty()) {  // '' is what every row without a job holds
            return std::nullopt;
        }
        return read([&](sqlite::database& db) -> std::optional<stored_run> {
            sqlite::statement_use s(db, "SELECT " RUN_COLUMNS
                                        " FROM runs WHERE job_id = ?1"
                                        " ORDER BY created_at DESC, id DESC LIMIT 1");
            s->bind_text(1, job_id);
            if (!s->step()) {
                return std::nullopt;
            }
            return read_run(*s);
        });
    }

    void tombstone_run(std::string_view id, time_point at) override {
        write([&](sqlite::database& db) {
            {
                // The first deletion time is the one that counts.
                sqlite::statement_use s(
                    db,
                    "INSERT INTO runs (id, body, fetched_at, deleted_at) VALUES (?1, NULL, ?2, ?2)"
                    " ON CONFLICT (id) DO UPDATE SET deleted_at = ?2"
                    " WHERE runs.deleted_at IS NULL");
                s->bind_text(1, id);
                s->bind_int64(2, to_unix_ms(at));
                s->run();
            }
            sqlite::statement_use pages(db, "DELETE FROM list_pages");
            pages->run();
        });
    }

    run_page list_runs(const run_query& query) override {
        std::string where = list_runs_where(query);
        std::string count_sql = "SELECT count(*)" + where;
        std::string page_sql =
            "SELECT " RUN_COLUMNS + where + " ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5";
        return read([&](sqlite::database& db) {
            // One snapshot, so total and items agree.
            sqlite::transaction snapshot(db, sqlite::transaction::kind::deferred);
            run_page page;
            {
                sqlite::statement_use count(db, count_sql);
                bind_list_filters(*count, query);
                count->step();
                page.total = count->column_int64(0);
            }
            sqlite::statement_use items(db, page_sql);
            bind_list_filters(*items, query);
            items->bind_int64(4, std::max<std::int64_t>(query.limit, 0));
            items->bind_int64(5, std::max<std::int64_t>(query.skip, 0));
            while (items->step()) {
                page.items.push_back(read_run(*items));
            }
            snapshot.commit();
            return page;
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

    std::optional<stored_list_page> find_list_page(std::string_view tenant,
                                                   std::string_view key) override {
        return read([&](sqlite::database& db) -> std::optional<stored_list_page> {
            sqlite::statement_use s(
                db, "SELECT body, fetched_at FROM list_pages WHERE tenant = ?1 AND key = ?2");
            s->bind_text(1, tenant);
            s->bind_text(2, key);
            if (!s->step()) {
                return std::nullopt;
            }
            return stored_list_page{s->column_text(0), from_unix_ms(s->column_int64(1))};
        });
    }

    void grant(std::string_view tenant, const std::vector<std::string>& project_ids) override {
        if (project_ids.empty()) {
            return;
        }
        // granted_at is bookkeeping for maintenance commands only, never compared against a
        // caller's |now|, so the store may read the clock itself here.
        std::int64_t now = to_unix_ms(clock_type::now());
        write([&](sqlite::database& db) {
            sqlite::statement_use s(
                db,
                "INSERT INTO grants (tenant, project_id, granted_at) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (tenant, project_id) DO UPDATE SET granted_at = excluded.granted_at");
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

    int schema_version() override {
        return read([](sqlite::database& db) { return runmirror::schema_version(db); });
    }

  private:
    void configure_writer() {
        // journal_mode answers with the mode in force; anything but "wal" means readers would
        // block behind the writer, which the rest of the daemon does not expect.
        std::string mode;
        {
            sqlite::statement_use s(*writer_, "PRAGMA journal_mode = WAL");
            mode = s->step() ? s->column_text(0) : "";
        }
        if (!in_memory_ && mode != "wal") {
            throw store_error("store '" + path_ + "': cannot enable WAL (journal_mode is '" + mode +
                              "')");
        }
        // NORMAL in WAL mode: a power loss may drop the last commits but never corrupts.
        writer_->exec("PRAGMA synchronous = NORMAL");
        writer_->exec("PRAGMA foreign_keys = ON");
    }

    static void insert_run(sqlite::database& db, const run_fields& f, std::string_view body,
                           time_point fetched_at) {
        if (f.id.empty()) {
            throw std::invalid_argument("store: put_run without a run id");
        }
        // A tombstoned row is left exactly as it is: the run stays deleted, with the body it
        // had when it was deleted.
        sqlite::statement_use s(
            db,
            "INSERT INTO runs (id, body, project_id, extraction_agent_id, job_id, file_id,"
            " file_name, status, created_at, updated_at, fetched_at)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            " ON CONFLICT (id) DO UPDATE SET body = excluded.body,"
            " project_id = excluded.project_id, extraction_agent_id = excluded.extraction_agent_id,"
            " job_id = excluded.job_id, file_id = excluded.file_id, file_name = excluded.file_name,"
            " status = excluded.status, created_at = excluded.created_at,"
            " updated_at = excluded.updated_at, fetched_at = excluded.fetched_at"
            " WHERE runs.deleted_at IS NULL");
        s->bind_text(1, f.id);
        s->bind_text(2, body);
        s->bind_text(3, f.project_id);
        s->bind_text(4, f.extraction_agent_id);
        s->bind_text(5, f.job_id);
        s->bind_text(6, f.file_id);
        s->bind_text(7, f.file_name);
        s->bind_text(8, f.status);
        s->bind_text(9, f.created_at);
        s->bind_text(10, f.updated_at);
        s->bind_int64(11, to_unix_ms(fetched_at));
        s->run();
    }

    // Runs |fn(db)| in one write transaction on the writer connection.
    template <class Fn>
    void write(Fn&& fn) {
        std::lock_guard lock(writer_mutex_);
        sqlite::transaction tx(*writer_);
        fn(*writer_);
        tx.commit();
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
        auto db = std::make_unique<sqlite::database>(path_);
        db->exec("PRAGMA query_only = ON");
        return db;
    }

    void give_back(std::unique_ptr<sqlite::database> db) {
        std::lock_guard lock(pool_mutex_);
        if (idle_readers_.size() < max_idle_readers) {
            idle_readers_.push_back(std::move(db));
        }
    }

    const std::string path_;
    const bool in_memory_;
    std::mutex writer_mutex_;
    std::unique_ptr<sqlite::database> writer_;
    // Declared after the writer so the readers close first and the writer, closing last,
    // checkpoints the WAL and removes it.
    std::mutex pool_mutex_;
    std::vector<std::unique_ptr<sqlite::database>> idle_readers_;
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
    }
    return std::make_unique<sqlite_store>(path);
}

}  // namespace runmirror
