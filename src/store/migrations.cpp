#include "store/migrations.hpp"

#include <chrono>
#include <string>

#include "util/logging.hpp"

#include "store/sqlite_db.hpp"

namespace runmirror {

int schema_version(sqlite::database& db) {
    sqlite::statement_use version(db, "PRAGMA user_version");
    return version->step() ? static_cast<int>(version->column_int64(0)) : 0;
}

void apply_migrations(sqlite::database& db, std::span<const migration> migrations) {
    int known = migrations.empty() ? 0 : migrations.back().version;
    int current = schema_version(db);
    if (current > known) {
        throw store_error("store '" + db.path() + "' has schema version " +
                          std::to_string(current) + ", newer than this runmirror knows (" +
                          std::to_string(known) + "); refusing to open it");
    }
    const bool upgrading = current > 0;  // not a store being created
    for (const migration& step : migrations) {
        if (step.version <= current) {
            continue;
        }
        sqlite::transaction tx(db);
        // Another process may have applied it between our read and our write lock.
        current = schema_version(db);
        if (step.version <= current) {
            continue;
        }
        // Upgrading a store that holds data: some steps rewrite every stored run (004 compresses
        // them, minutes for a million), so say what the wait is for.
        const auto started = std::chrono::steady_clock::now();
        if (upgrading) log::info("store '{}': applying {}", db.path(), step.name);
        try {
            db.exec(step.sql);
        } catch (const store_error& e) {
            throw store_error("migration " + std::string(step.name) + " failed: " + e.what());
        }
        db.exec("PRAGMA user_version = " + std::to_string(step.version));
        tx.commit();
        current = step.version;
        if (upgrading) {
            log::info("store '{}': {} applied in {} ms", db.path(), step.name,
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count());
        }
    }
}

}  // namespace runmirror
