#include "store/pg_migrations.hpp"

#include <string>

#include "util/logging.hpp"

namespace runmirror {
namespace {

// pg_advisory_xact_lock's key: any constant of runmirror's own (ASCII "rmschema").
constexpr const char* migration_lock = "SELECT pg_advisory_xact_lock(8245933064017669473)";

int version_in(pg::connection& db) {
    pg::result r = db.query("SELECT coalesce(max(version), 0) FROM schema_version");
    return static_cast<int>(r.int64(0, 0));
}

}  // namespace

int pg_schema_version(pg::connection& db) {
    pg::result exists = db.query("SELECT to_regclass('schema_version') IS NOT NULL");
    if (!exists.boolean(0, 0)) return 0;
    return version_in(db);
}

void apply_pg_migrations(pg::connection& db, std::span<const migration> migrations) {
    const int known = migrations.empty() ? 0 : migrations.back().version;
    int found = -1;  // the version the store had before this call's first step
    for (const migration& step : migrations) {
        pg::transaction tx(db);
        db.exec(migration_lock);
        // Under the lock: two daemons creating it at once would collide in the catalog.
        db.exec(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
        const int current = version_in(db);
        if (current > known) {
            throw store_error("store '" + db.display() + "' has schema version " +
                              std::to_string(current) + ", newer than this runmirror knows (" +
                              std::to_string(known) + "); refusing to open it");
        }
        if (found < 0) found = current;
        if (step.version <= current) continue;  // rolled back: nothing was written
        // Upgrading a store is news; creating one step by step is not.
        if (found > 0) log::info("store '{}': applying {}", db.display(), step.name);
        try {
            db.exec(std::string(step.sql));
        } catch (const store_error& e) {
            throw store_error("migration postgres/" + std::string(step.name) +
                              " failed: " + e.what());
        }
        db.query("INSERT INTO schema_version (version, name) VALUES ($1, $2)",
                 pg::params().int64(step.version).text(step.name));
        tx.commit();
    }
}

}  // namespace runmirror
