#pragma once
// The store: runs, list pages and grants in domain terms. No HTTP, no SQL in these signatures,
// so a PostgreSQL backend can implement the same interface.
//
// Threading: every method may be called from any thread concurrently. Writes are serialised
// inside the store (one writer); reads run in parallel with each other and with the writer.
// Errors: a failure of the storage itself (disk full, corrupt file) throws store_error. Every
// write is one transaction: after a crash a write is either wholly there or wholly absent.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/clock.hpp"
#include "runmirror/run_record.hpp"

namespace runmirror {

class store_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class store {
  public:
    virtual ~store() = default;

    // --- runs -------------------------------------------------------------------------------
    // Inserts or replaces the run |fields.id| with |body| (the upstream's bytes). A run that
    // carries a tombstone keeps it: a deleted run is never resurrected by a late answer.
    virtual void put_run(const run_fields& fields, std::string_view body,
                         time_point fetched_at) = 0;
    // Several runs in one transaction (a list page's items).
    virtual void put_runs(const std::vector<std::pair<run_fields, std::string_view>>& runs,
                          time_point fetched_at) = 0;
    // The run, including tombstoned ones (check deleted_at).
    virtual std::optional<stored_run> find_run(std::string_view id) = 0;
    virtual std::optional<stored_run> find_run_by_job(std::string_view job_id) = 0;
    // Marks the run deleted (creating a bodiless row if it was never stored) and drops every
    // stored list page, since any of them may list it.
    virtual void tombstone_run(std::string_view id, time_point at) = 0;
    // Stored, not tombstoned runs the tenant holds a grant for, newest first.
    virtual run_page list_runs(const run_query& query) = 0;

    // --- list pages -------------------------------------------------------------------------
    virtual void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                               time_point fetched_at) = 0;
    virtual std::optional<stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) = 0;

    // --- grants: tenant x project, learned from successful upstream answers ----------------
    virtual void grant(std::string_view tenant, const std::vector<std::string>& project_ids) = 0;
    virtual bool has_grant(std::string_view tenant, std::string_view project_id) = 0;
    // Drops the tenant's grants and its stored list pages (upstream answered 401).
    virtual void revoke_tenant(std::string_view tenant) = 0;

    // --- maintenance ------------------------------------------------------------------------
    virtual int schema_version() = 0;
};

struct store_options;
// Opens (creating if needed) the SQLite store at |path| (":memory:" for tests), in WAL mode,
// applying pending migrations from the built-in schema. Throws store_error with a message
// naming the path when the file cannot be opened or migrated.
std::unique_ptr<store> open_sqlite_store(const std::string& path);

}  // namespace runmirror
