// A PostgreSQL store seen from outside the daemon, for the tests and benchmarks that put
// several daemons on one database (tests/integration/postgres_leases.test.mjs,
// bench/sync_load.mjs): SQL through psql, a database of one's own, and the watch claims a
// daemon holds. The server is usually the throwaway cluster of tests/support/pg_cluster.sh
// (RUNMIRROR_TEST_PG).

import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

let psql;
// psql from the server's own directory first: the client on PATH may be missing or older.
function psqlBin() {
  psql ??= ['/usr/lib/postgresql/15/bin/psql', 'psql'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (!psql) throw new Error('psql not found (install postgresql-client-15)');
  return psql;
}

// One SQL script's rows, as text lines (fields separated by '|'). Async on purpose: a caller
// that stamps times in its own event loop (the fake upstream) must not be stalled by psql.
export async function sql(uri, statement) {
  try {
    const { stdout } = await run(psqlBin(), [uri, '-v', 'ON_ERROR_STOP=1', '-qAtc', statement], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout.split('\n').filter((l) => l !== '');
  } catch (err) {
    throw new Error(`psql: ${statement.slice(0, 200)}: ${err.stderr?.trim() || err.message}`);
  }
}

// `uri` with its database name and/or query parameters replaced (libpq URIs:
// postgresql://user@host/dbname?param=value; the host may be a percent-encoded socket directory).
export function withDatabase(uri, { dbname, params = {} } = {}) {
  const q = uri.indexOf('?');
  let base = q < 0 ? uri : uri.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : uri.slice(q + 1));
  const m = /^(postgres(?:ql)?:\/\/[^/]*)(\/.*)?$/.exec(base);
  if (!m) throw new Error(`not a postgresql:// URI: ${uri}`);
  if (dbname !== undefined) base = `${m[1]}/${encodeURIComponent(dbname)}`;
  for (const [k, v] of Object.entries(params)) query.set(k, v);
  const qs = query.toString();
  return qs ? `${base}?${qs}` : base;
}

// A new, empty database on the server of `uri`; returns its URI and drop() (which ends the
// connections still open to it).
export async function createDatabase(uri, name) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: use [a-z0-9_]`);
  await sql(uri, `CREATE DATABASE ${name}`);
  return {
    uri: withDatabase(uri, { dbname: name }),
    drop: () => sql(uri, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

// Empty the public schema of the database `uri` names (what a test that owns the database does).
export function emptyDatabase(uri) {
  return sql(uri, 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public');
}

// The active watches daemon `pid` holds claims on now (the owner id is host:pid:nonce), as
// { runId, claimedUntil (unix ms) }.
export async function claimedBy(uri, pid) {
  const rows = await sql(
    uri,
    `SELECT run_id, claimed_until FROM watches WHERE claimed_by LIKE '%:${Number(pid)}:%' ` +
      'AND finished_at IS NULL AND given_up_at IS NULL',
  );
  return rows.map((r) => {
    const [runId, until] = r.split('|');
    return { runId, claimedUntil: Number(until) };
  });
}
