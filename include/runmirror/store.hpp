#pragma once
// The store: runs, list pages, grants and watches in domain terms. No HTTP, no SQL in these
// signatures, so a PostgreSQL backend can implement the same interface.
//
// Threading: every method may be called from any thread concurrently. Writes are serialised
// inside the store (one writer); reads run in parallel with each other and with the writer.
// Errors: a failure of the storage itself (disk full, corrupt file) throws store_error. Every
// write is one transaction: after a crash a write is either wholly there or wholly absent.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "runmirror/browse.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/run_event.hpp"
#include "runmirror/run_record.hpp"
#include "runmirror/watch.hpp"

namespace runmirror {

class store_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Whether writes reach the disk. Reads keep working while they do not (disk full, EIO, a
// read-only file): the daemon then relays upstream answers without storing them.
struct store_write_health {
    bool writable = true;
    std::string last_error;           // what failed the latest write; empty while writable
    std::optional<time_point> since;  // when writes started failing; nullopt while writable
    std::uint64_t failed_writes = 0;  // since the store was opened
};

// store::counts(). Kinds by resource_kind::name; watch states "active", "finished", "given_up".
struct store_counts {
    std::vector<std::pair<std::string, std::int64_t>> rows_by_kind;           // not tombstoned
    std::vector<std::tuple<std::string, std::string, std::int64_t>> watches;  // kind, state, n
    std::optional<time_point> earliest_due;  // of the active watches
    std::int64_t file_bytes = 0;             // the database file's pages (not the WAL)
};

// What store::prune_some may remove (the retention pruner, store/retention.hpp).
struct prune_policy {
    std::size_t batch = 100;  // rows per write transaction: each one stays short
    // Resources not final whose last fetch is older than this are stale: polling gave up on
    // them (watch max age), and what they show is no longer true.
    time_point unfinished_fetched_before;
    bool final_resources = false;  // final ones too, oldest created first (--retain-final false)
};

// Where one pruning pass has got to: starts default, handed to each prune_some of the pass.
// The classes go in order: cached list pages, ended watches, stale unfinished resources, then
// (when the policy allows) final resources.
struct prune_cursor {
    enum class stage { list_pages, ended_watches, stale_unfinished, final_resources, done };
    stage at = stage::list_pages;
    std::vector<std::string> candidates;  // stale_unfinished: found by one scan, erased in batches
    bool scanned = false;
    std::string created_at, key;  // final_resources: the last one visited, in created order
};

struct prune_batch {
    prune_cursor::stage what = prune_cursor::stage::done;  // the class the rows were of
    std::size_t rows = 0;                                  // resources, pages or watches
    std::vector<std::string> erased;  // the store keys of the resources removed, if any
};

// A write another daemon sharing the store committed, as a cache in front of the store must
// take it (store::follow_peers).
struct store_change {
    enum class scope {
        run,         // the row |key| (a store key) was written; |job_id| is its job's id, if any
        resource,    // every representation of |key| is gone or tombstoned (a delete, a prune)
        list_page,   // |tenant|'s list page |key|
        tenant,      // |tenant|'s grants were revoked, and its list pages with them
        everything,  // more than can be told one by one: anything held may be stale
    };
    scope what = scope::everything;
    std::string key;
    std::string job_id;
    std::string tenant;
};

// Told, on a thread of the store's own, what other daemons sharing the store commit and
// publish. Calls come one at a time and must not block long.
class peer_follower {
  public:
    virtual ~peer_follower() = default;
    virtual void peer_changed(const store_change& change) = 0;
    // Whether changes are being told (live) or may go untold (the feed's connection broke).
    // Either way, what was committed meanwhile is unknown: anything held may be stale.
    virtual void peer_feed(bool live) = 0;
    virtual void peer_event(const run_event& event) = 0;
};

// Until destroyed, its follower is told; once destroyed, it is not (and no call is running).
class peer_subscription {
  public:
    virtual ~peer_subscription() = default;
};

// The schema version this build's SQLite store writes (its last migration).
int latest_schema_version();

class store {
  public:
    virtual ~store() = default;

    // --- runs -------------------------------------------------------------------------------
    // Inserts or replaces the run |fields.id| with |body| (the upstream's bytes). A run that
    // carries a tombstone keeps it: a deleted run is never resurrected by a late answer.
    virtual put_outcome put_run(const run_fields& fields, std::string_view body,
                                time_point fetched_at) = 0;
    // Several runs in one transaction (a list page's items); one outcome per run, in order.
    virtual std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs,
        time_point fetched_at) = 0;
    // The run, including tombstoned ones (check deleted_at); null when not stored. Shared and
    // immutable, so that a cache in front of the store hands out the bytes it holds uncopied.
    virtual std::shared_ptr<const stored_run> find_run(std::string_view id) = 0;
    virtual std::shared_ptr<const stored_run> find_run_by_job(std::string_view job_id) = 0;
    // The resource |key| (a plain store key: store_key without a variant) as browsing shows it:
    // as find_run when a row for |key| is stored (tombstoned or not); else its first stored, not
    // tombstoned variant by variant text (fields.variant says which); null when there is
    // neither.
    virtual std::shared_ptr<const stored_run> find_run_or_variant(std::string_view key) = 0;
    // Marks the run deleted (creating a bodiless row if it was never stored) and drops every
    // stored list page, since any of them may list it. Finishes the run's active watch (and an
    // active job watch for the run's stored job id) with last_status "DELETED".
    virtual void tombstone_run(std::string_view id, time_point at) = 0;
    // Forgets the resource stored under |key| (store_key) here only, as if it had never been
    // read: every representation of it, its watches, its search entry, and the cached list
    // pages (which may hold it). Unlike tombstone_run nothing remembers it: the next read is a
    // miss. A tombstoned resource is forgotten too (it may be read again). Returns whether
    // anything was stored under |key|.
    virtual bool forget_run(std::string_view key) = 0;
    // Stored, not tombstoned runs the tenant holds a grant for, newest first.
    virtual run_page list_runs(const run_query& query) = 0;

    // --- browsing (runmirror/browse.hpp): the browse API and `runmirror runs` -----------------
    // Stored, not tombstoned runs matching |query|, created_at descending then id descending,
    // at most |query.limit|, with a cursor when more follow. Every tenant's runs (see
    // browse.hpp). Runs written between two pages appear on none of the later pages if newer
    // than the cursor, and in their place otherwise.
    virtual run_browse_page browse_runs(const run_browse_query& query) = 0;
    // One summary per (extraction agent, project) with at least one stored, not tombstoned run:
    // most recently created first, then by agent id and project id.
    virtual std::vector<agent_summary> agent_summaries() = 0;
    // Records what upstream calls these agents (agent_summary::name), replacing earlier names
    // of the same (agent, project); entries with an empty agent id, project id or name are
    // skipped. One transaction.
    virtual void put_agent_names(const std::vector<agent_name>& names, time_point learned_at) = 0;

    // --- list pages -------------------------------------------------------------------------
    virtual void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                               time_point fetched_at) = 0;
    virtual std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                                   std::string_view key) = 0;

    // --- grants: tenant x project, learned from successful upstream answers ----------------
    virtual void grant(std::string_view tenant, const std::vector<std::string>& project_ids) = 0;
    virtual bool has_grant(std::string_view tenant, std::string_view project_id) = 0;
    // Whether upstream ever showed the tenant anything (it holds at least one grant).
    virtual bool has_any_grant(std::string_view tenant) = 0;
    // Drops the tenant's grants and its stored list pages (upstream answered 401).
    virtual void revoke_tenant(std::string_view tenant) = 0;

    // --- watches: what the sync worker polls until final (runmirror/watch.hpp) --------------
    // Invariants: at most one watch per run id and one per job id; no active watch of a
    // tombstoned run. Ended watches are kept (for the CLI and browse API) until pruned.
    // Methods taking a watch_id do nothing and return false when that watch does not exist
    // (it may have been merged into another one meanwhile).

    // Watches |run|, seen CREATED or PENDING upstream, for |tenant|; the first poll is due at
    // |first_poll_at|. Idempotent: if the run is already watched, that watch keeps its
    // schedule and attempts, its tenant becomes |tenant| if not empty (the latest key known
    // to see the run), and missing project, agent and job ids are filled in. An ended watch of the
    // run starts over (created_at = |now|, attempts 0, reason cleared). A job watch that has not
    // found its run yet and whose job is |run.job_id| becomes this run's watch; if the run
    // already had one, the job watch is merged into it (and disappears). Returns the active
    // watch's id, or nullopt (changing nothing) when the run is tombstoned. Throws
    // std::invalid_argument when |run.id| is empty.
    virtual std::optional<watch_id> watch_run(const run_fields& run, std::string_view tenant,
                                              time_point now, time_point first_poll_at) = 0;
    // Watches a job created through the daemon, for |tenant|, until its run is final. Same
    // idempotency as watch_run, keyed by |job_id|. Returns the watch's id; it is active unless
    // the job's run was already found and then tombstoned. Throws std::invalid_argument when
    // |job_id| is empty.
    virtual watch_id watch_job(std::string_view job_id, std::string_view extraction_agent_id,
                               std::string_view tenant, time_point now,
                               time_point first_poll_at) = 0;
    // A job watch's poll found its run: the watch becomes a run watch for |run_id| (same id,
    // same schedule; an empty |project_id| keeps the known one). If |run_id| already had a
    // watch, that one is merged into this one and disappears. Idempotent for the same run;
    // throws std::invalid_argument if the watch is already bound to another run. A tombstoned
    // run finishes the watch ("DELETED"). Returns true when the watch is active afterwards.
    virtual bool job_watch_found_run(watch_id id, std::string_view run_id,
                                     std::string_view project_id, time_point now) = 0;

    // Active watches of |tenants| with next_poll_at <= |now|, soonest first (then by id), at
    // most |limit|. Claims nothing.
    //
    // Several daemons on one store (PostgreSQL): a watch another store object has claimed is
    // left out until its claim ends; this object's own claims are not (the worker keeps those
    // in flight apart). claim_watches claims the ones the worker is about to poll.
    // SQLite: one daemon per store file, so nothing is claimed.
    virtual std::vector<watch> due_watches(time_point now, std::size_t limit,
                                           const tenant_filter& tenants) = 0;
    // The earliest next_poll_at among active watches of |tenants| (possibly in the past), or
    // nullopt when there are none, so the worker sleeps exactly until then (or until it is
    // told of a new watch or a returning tenant). On PostgreSQL a watch another store object
    // has claimed counts from the end of its claim at the earliest, so that a daemon does not
    // wake again and again for watches it will not be given.
    virtual std::optional<time_point> next_due_time(const tenant_filter& tenants) = 0;
    // Claims those of |ids| still due and not claimed by another store object (or being
    // claimed by one right now) for this one until |now| + the lease (postgres_store_options);
    // returns the ids claimed, in no order. Until the claim ends, no other store object's
    // due_watches or claim_watches returns the watch: reschedule_watch, finish_watch or
    // give_up_watch release it, and a claim never released (its daemon died) expires, so the
    // watch is polled again one lease later at most. SQLite: nothing to claim, |ids| returned.
    virtual std::vector<watch_id> claim_watches(const std::vector<watch_id>& ids,
                                                time_point /*now*/) {
        return ids;
    }
    // Ends every claim this store object holds, so that other daemons poll those watches now
    // rather than one lease later: for a daemon that stops, its polls abandoned. No-op where
    // nothing is claimed (SQLite).
    virtual void release_claims() {}

    // reschedule_watch, finish_watch and give_up_watch release the watch's claim, whoever holds
    // it, and so does a tombstone that ends it; job_watch_found_run does not: the poll it is
    // part of goes on, and another daemon must not start one meanwhile.
    //
    // Records a poll that did not end the watch. Only an active watch is changed: a watch that
    // ended meanwhile (finished by a tombstone, given up) stays ended and this returns false.
    virtual bool reschedule_watch(watch_id id, const poll_outcome& outcome, time_point now) = 0;
    // The watched run reached |final_status| (SUCCESS or ERROR): the watch ends, finished at
    // |now|. False when it was not active. (A 404 needs no call: tombstone_run finishes it.)
    virtual bool finish_watch(watch_id id, std::string_view final_status, time_point now) = 0;
    // The worker stops trying (e.g. the maximum age passed); |reason| is shown to users. False
    // when it was not active.
    virtual bool give_up_watch(watch_id id, std::string_view reason, time_point now) = 0;

    virtual std::optional<watch> find_watch(watch_id id) = 0;
    // For the CLI and the browse API: active watches soonest first, then (with
    // watch_listing::all) ended ones, most recently ended first; at most |limit|.
    virtual std::vector<watch> list_watches(watch_listing which, std::size_t limit) = 0;

    // --- maintenance ------------------------------------------------------------------------
    virtual int schema_version() = 0;
    // The schema version this build writes to this kind of store (its last migration): each
    // backend has its own migrations. latest_schema_version() for SQLite.
    virtual int known_schema_version() { return latest_schema_version(); }
    // What the store holds, for metrics: a few indexed counts, no scan of bodies.
    virtual store_counts counts() = 0;
    // Every write updates it: a failed write starts (or continues) an episode, the next write
    // that commits ends it. Cheap: no I/O.
    virtual store_write_health write_health() { return {}; }
    // Changes whenever another process (e.g. `runmirror mirror`) committed to the store since
    // the last call; writes through this object do not change it. Lets a cache in front of
    // the store notice writes it did not see.
    virtual std::int64_t external_change_count() = 0;

    // --- daemons sharing the store -------------------------------------------------------------
    // A store that other daemons share (PostgreSQL) tells |follower| of their writes as they
    // commit, and of the events they publish; null for one that tells nothing (SQLite: then
    // external_change_count is the only sign). The follower starts out not live.
    virtual std::unique_ptr<peer_subscription> follow_peers(peer_follower& /*follower*/) {
        return nullptr;
    }
    // Tells the other daemons' followers of |event|, after every write before it. Never
    // blocks, never throws: an event that cannot be sent is lost (its write is not).
    virtual void tell_peers(const run_event& /*event*/) {}

    // --- retention --------------------------------------------------------------------------
    // Bytes the store's pages hold, free pages not counted: what pruning lowers (the file
    // keeps its size, and new writes reuse the pages freed).
    virtual std::int64_t used_bytes() = 0;
    // Removes up to |policy.batch| rows of the class |cursor| is at, in one write transaction,
    // and moves |cursor| on; a resource goes with every representation and watch of it, as
    // forget_run. Returns what it removed; what == done when nothing more may go.
    virtual prune_batch prune_some(const prune_policy& policy, prune_cursor& cursor) = 0;
};

// Stores |body|, the result of the resource |id| of |kind| (resource_kind::result_suffix), as
// its representation result_variant, with the resource's fields as |db| holds them: a result
// names neither its job nor the job's status (only |id| when the job is not stored; then the
// result is not final either). Returns false, storing nothing, when |body| is not one JSON
// object.
bool store_result(store& db, const resource_kind& kind, std::string_view id, std::string_view body,
                  time_point now);

struct store_options;
// Opens (creating if needed) the SQLite store at |path| (":memory:" for tests), in WAL mode,
// applying pending migrations from the built-in schema. A store that exists but cannot be
// written (read-only file or directory, a file system full or failing) opens for reading, with
// write_health() not writable from the start; each later write first tries to reopen it for
// writing, so a chmod or remount needs no restart. Throws store_error with a one-line message
// naming the path when the file cannot be opened at all, created, or migrated (a read-only
// store with migrations pending).
std::unique_ptr<store> open_sqlite_store(const std::string& path);

// Opens the PostgreSQL store at |uri| (postgresql://... or postgres://...; PG* environment
// variables fill in what it leaves out, as libpq does), applying pending migrations from the
// built-in schema/postgres. Several daemons may share one database. Throws store_error with a
// one-line message naming the URI (its password hidden) when it cannot connect or migrate, or
// when |options| are out of range.
// Options of a PostgreSQL store (SQLite needs none of them).
struct postgres_store_options {
    // How long a watch claim_watches claimed stays claimed by that store object: it must exceed
    // the longest a poll can take (upstream timeout included), or a slow poll's watch may be
    // polled by another daemon as well; and it is how long a dead daemon's watches wait.
    millis watch_lease{60'000};
};

std::unique_ptr<store> open_postgres_store(const std::string& uri,
                                           const postgres_store_options& options = {});

// The store |db| names: PostgreSQL for a postgresql:// or postgres:// URI, else the SQLite
// file (or ":memory:") at that path.
// |options| apply to a PostgreSQL store only.
std::unique_ptr<store> open_store(const std::string& db,
                                  const postgres_store_options& options = {});

// Whether |db| (a --db value) names a PostgreSQL database: a postgresql:// or postgres:// URI.
bool is_postgres_uri(std::string_view db);

// |db| as logs, messages and `runmirror config` show it: a URI's password (in its user info or
// a password= parameter) replaced by "***"; a path as it is.
std::string store_display_name(std::string_view db);

// Throws store_error, one sentence naming |path|, when the file there is not a runmirror store:
// not an SQLite database at all, or an SQLite database of something else. A missing or empty
// file passes (opening creates a store there), and so does a file it cannot tell about (opening
// then says what is wrong). Only reads the file. open_sqlite_store calls it; commands that
// create files beside the store (the tenant secret) call it before they do.
void check_sqlite_store_file(const std::string& path);

}  // namespace runmirror
