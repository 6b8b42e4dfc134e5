// The daemon on a PostgreSQL store (--db postgresql://...): runs read through one daemon are
// served by another, offline, from the same database; the CLI reads it too. Needs a server:
// RUNMIRROR_TEST_PG holds a libpq URI of a database it may empty (ctest integration_postgres
// starts a throwaway cluster: tests/support/pg_cluster.sh). Skipped without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { RUNMIRROR_BIN, startStack, startDaemon, api, makeTempDir, removeDir } from '../support/daemon.mjs';
import { assertSameBytes, bodyText } from '../support/checks.mjs';
import { PG, emptyDatabase } from '../support/pg.mjs';

const runPath = (id) => `/api/v1/extraction/runs/${id}`;

// `runmirror ARGS` without the harness's RUNMIRROR_* variables.
function cli(args) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RUNMIRROR_')) env[k] = v;
  env.RUNMIRROR_CONFIG = '/dev/null';
  const res = spawnSync(RUNMIRROR_BIN, args, { env, encoding: 'utf8', timeout: 30_000 });
  if (res.error) throw res.error;
  return res;
}

test('a PostgreSQL store: one daemon stores, another serves offline, the CLI reads', { skip: !PG && 'RUNMIRROR_TEST_PG not set' }, async (t) => {
  emptyDatabase();
  const dir = await makeTempDir();
  t.after(() => removeDir(dir));
  const secret = path.join(dir, 'shared.tenant-secret');
  const daemonArgs = ['--tenant-secret', secret];

  const { daemon, up } = await startStack(t, { daemon: { db: PG, extraArgs: daemonArgs } });
  for (const id of ['run-alpha-success', 'run-alpha-pages']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
  }
  const health = await api(daemon, '/_runmirror/ready');
  assert.equal(health.status, 200, bodyText(health));
  assert.match(bodyText(health), /"schema":\{"version":2,"expected":2\}/);

  // A second daemon on the same database, offline, with the same secret: the stored runs,
  // byte for byte, for the key that was shown them; never for another key.
  const offline = await startDaemon({ upstreamUrl: up.url, db: PG, offline: true, extraArgs: daemonArgs });
  t.after(() => offline.stop());
  up.clearLog();
  for (const id of ['run-alpha-success', 'run-alpha-pages']) {
    const res = await api(offline, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 200, `offline read of ${id}: ${bodyText(res)}`);
    assertSameBytes(res.body, up.runBytes(id), `offline ${id}`);
  }
  const beta = await api(offline, runPath('run-alpha-success'), { key: 'key-beta' });
  assert.ok([401, 403].includes(beta.status), `no grant: ${beta.status} ${bodyText(beta)}`);
  assert.equal(up.count(), 0, 'the offline daemon contacted the upstream');

  const list = cli(['runs', 'list', '--db', PG, '--json']);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /run-alpha-success/);
  assert.match(list.stdout, /run-alpha-pages/);

  // Another secret is refused while the database holds tenants: it would match no key.
  const other = cli(['serve', '--db', PG, '--tenant-secret', path.join(dir, 'other.tenant-secret'), '--listen', '127.0.0.1:0']);
  assert.equal(other.status, 1);
  assert.match(other.stderr, /^runmirror serve: store 'postgresql:[^\n]*another tenant secret[^\n]*\n$/);
});

test('a PostgreSQL store needs its tenant secret named; runmirror db backup refuses it', { skip: !PG && 'RUNMIRROR_TEST_PG not set' }, () => {
  const serve = cli(['serve', '--db', PG, '--listen', '127.0.0.1:0']);
  assert.equal(serve.status, 2);
  assert.match(serve.stderr, /^runmirror serve: --db is a PostgreSQL database: set --tenant-secret FILE[^\n]*\n$/);
  const capped = cli(['serve', '--db', PG, '--tenant-secret', '/nonexistent/secret', '--max-db-size', '100MB', '--listen', '127.0.0.1:0']);
  assert.equal(capped.status, 2);
  assert.match(capped.stderr, /^runmirror serve: --max-db-size is for SQLite stores[^\n]*\n$/);
  // The rest of `runmirror db` works here (postgres_db_cmd.test.mjs); a backup is pg_dump's.
  const backup = cli(['db', 'backup', '/nonexistent/backup.db', '--db', PG]);
  assert.equal(backup.status, 1);
  assert.match(backup.stderr, /^runmirror db backup: --db postgresql:[^\n]* is a PostgreSQL database: back it up with pg_dump[^\n]*\n$/);
});
