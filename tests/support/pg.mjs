// The throwaway PostgreSQL cluster's side of the tests and benchmarks: RUNMIRROR_TEST_PG is the
// libpq URI tests/support/pg_cluster.sh sets (a database tests may empty), psql to run SQL on
// it, a fresh database per test for the fleet mode of tests/support/daemon.mjs, and the watch
// claims a daemon holds. The sync forms are for tests; the async ones for callers that stamp
// times in their own event loop (a fake upstream in the same process), which psql must not
// stall (bench/sync_load.mjs).

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

export const PG = process.env.RUNMIRROR_TEST_PG;

let psqlPath;
export function psqlBin() {
  psqlPath ??= ['/usr/lib/postgresql/15/bin/psql', 'psql'].find((p) => spawnSync(p, ['--version']).status === 0) ?? null;
  assert.ok(psqlPath, 'psql not found');
  return psqlPath;
}

// One SQL statement (or several, `;`-separated) on `uri`; its rows as text lines.
export function sql(statement, uri = PG) {
  const res = spawnSync(psqlBin(), [uri, '-v', 'ON_ERROR_STOP=1', '-qAtc', statement], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  return res.stdout.split('\n').filter((l) => l !== '');
}

// RUNMIRROR_TEST_PG's database emptied: the public schema dropped and created again.
export function emptyDatabase(uri = PG) {
  sql('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public', uri);
}

const run = promisify(execFile);
let databases = 0;

// The URI of database `name` on the cluster of `uri` (the path is the database).
export function databaseUri(name, uri = PG) {
  const u = /^([^?]*\/)[^/?]*(\?.*)?$/.exec(uri);
  assert.ok(u, `not a libpq URI with a database: ${uri}`);
  return `${u[1]}${name}${u[2] ?? ''}`;
}

// A new, empty database on the cluster: { name, uri, drop() }. drop() ends the sessions still
// on it (a daemon a test left running) and is idempotent. Asynchronous: the fake upstream runs in
// this process and keeps answering meanwhile.
export async function createDatabase(prefix = 'rm_fleet') {
  assert.ok(PG, 'RUNMIRROR_TEST_PG not set');
  databases += 1;
  const name = `${prefix}_${process.pid}_${databases}`;
  await run(psqlBin(), [PG, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`]);
  let dropped = false;
  return {
    name,
    uri: databaseUri(name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await run(psqlBin(), [PG, '-v', 'ON_ERROR_STOP=1', '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    },
  };
}

// One SQL script's rows, as text lines (fields separated by '|'). Async on purpose: a caller
// that stamps times in its own event loop (the fake upstream) must not be stalled by psql.
export async function sqlAsync(uri, statement) {
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
export async function createNamedDatabase(uri, name) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: use [a-z0-9_]`);
  await sqlAsync(uri, `CREATE DATABASE ${name}`);
  return {
    uri: withDatabase(uri, { dbname: name }),
    drop: () => sqlAsync(uri, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

// The active watches daemon `pid` holds claims on now (the owner id is host:pid:nonce), as
// { runId, claimedUntil (unix ms) }.
export async function claimedBy(uri, pid) {
  const rows = await sqlAsync(
    uri,
    `SELECT run_id, claimed_until FROM watches WHERE claimed_by LIKE '%:${Number(pid)}:%' ` +
      'AND finished_at IS NULL AND given_up_at IS NULL',
  );
  return rows.map((r) => {
    const [runId, until] = r.split('|');
    return { runId, claimedUntil: Number(until) };
  });
}
