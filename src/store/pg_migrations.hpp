#pragma once
// Schema migrations for the PostgreSQL store (schema/postgres/*.sql). Private to src/store.

#include <span>

#include "store/migrations.hpp"
#include "store/pg_db.hpp"

namespace runmirror {

// Applies each migration above the database's version (the schema_version table, created
// here if missing), each in its own transaction that also records it, so a failure leaves the
// schema at a whole step. Each transaction first takes an advisory lock, so daemons opening
// the same database at once migrate one after the other; a step another one applied
// meanwhile is skipped. Throws store_error if a step fails (rolled back) or if the database is
// newer than |migrations| knows, in which case nothing is touched.
void apply_pg_migrations(pg::connection& db, std::span<const migration> migrations);

// The last migration applied; 0 for a database without the schema_version table.
int pg_schema_version(pg::connection& db);

}  // namespace runmirror
