-- Keyed tenants (src/util/tenant.hpp). Applied once, in one transaction, by
-- src/store/migrations.cpp; later changes go in new numbered files, never here.
--
-- A tenant was the bare SHA-256 of an API key, so anyone holding this file could confirm a
-- guessed or leaked key. It is now HMAC-SHA-256(secret, SHA-256(key)), the secret being a file
-- of its own outside the store (util/tenant_secret.hpp). The old value is exactly the inner
-- SHA-256, so each one converts in place without its key: runmirror_rekey_tenant, defined by
-- store/sqlite_store.cpp with the secret of the process that opens the store (a value that is
-- not 64 hex digits never came from a key and is left as it is). Every column that holds a
-- tenant: grants, list_pages (part of their primary keys) and watches.
--
-- secure_delete: the cells the old values leave behind (index entries above all) are zeroed,
-- not left in free space for anyone reading the file. Debian's SQLite has it on by default; it
-- stays on for this connection, as there.
PRAGMA secure_delete = ON;
UPDATE grants SET tenant = runmirror_rekey_tenant(tenant);
UPDATE list_pages SET tenant = runmirror_rekey_tenant(tenant);
UPDATE watches SET tenant = runmirror_rekey_tenant(tenant);

-- At most one row: tenant_secret_check() of the secret the tenants were made with, so that a
-- store opened with another secret (a file lost, replaced or not copied along) says so instead
-- of silently matching no key. Written here with the converted tenants (runmirror_secret_check
-- is NULL when the process has no secret, which it then needed for no tenant), else by the
-- first process that opens the store with a secret.
CREATE TABLE tenant_secret (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    check_value TEXT NOT NULL
);
INSERT INTO tenant_secret (id, check_value)
    SELECT 1, check_value FROM (SELECT runmirror_secret_check(1) AS check_value)
    WHERE check_value IS NOT NULL;
