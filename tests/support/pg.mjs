// The throwaway PostgreSQL cluster's side of the tests: RUNMIRROR_TEST_PG is the libpq URI
// tests/support/pg_cluster.sh sets (a database tests may empty), psql to run SQL on it, and a
// fresh database per test for the fleet mode of tests/support/daemon.mjs.

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
