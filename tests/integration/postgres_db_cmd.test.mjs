// `runmirror db stats|check|vacuum|backup` on a PostgreSQL store (--db postgresql://...) that a
// daemon filled and keeps serving: the same report shapes and exit codes as on SQLite
// (db_cmd.test.mjs), sizes of the store's tables instead of a file's, check finding bodies
// damaged with SQL, nothing created in a database without a store, and backup refused in
// favour of pg_dump. Needs a server: RUNMIRROR_TEST_PG holds a libpq URI of a database it may
// empty (ctest integration_postgres starts a throwaway cluster: tests/support/pg_cluster.sh).
// Skipped without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { api, makeTempDir, removeDir, startStack } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';
import { runmirror, runmirrorAsync, oneLineError } from '../support/cli.mjs';
import { runPath } from '../support/sync_helpers.mjs';
import { PG, emptyDatabase, sql } from '../support/pg.mjs';
import { v2JobPath } from '../support/fake_v2.mjs';

const skip = !PG && 'RUNMIRROR_TEST_PG not set';

function ok(res) {
  assert.equal(res.status, 0, `exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
  assert.equal(res.stderr, '');
  return res;
}

// |statement| through psql on the test database; its unaligned, tuples-only output.
const psql = (statement) => sql(statement).join('\n');

const tablesInPublic = () => psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");

// A daemon on the emptied database; runs, v2 jobs and list pages read through it, so the store
// holds every kind of row.
async function filledStore(t) {
  emptyDatabase();
  const secretDir = await makeTempDir();
  t.after(() => removeDir(secretDir));
  const stack = await startStack(t, {
    daemon: { db: PG, extraArgs: ['--tenant-secret', path.join(secretDir, 'shared.tenant-secret')] },
  });
  const { daemon } = stack;
  for (const agent of ['agent-alpha', 'agent-beta']) {
    const res = await api(daemon, `/api/v1/extraction/runs?extraction_agent_id=${agent}&limit=100`, { key: 'key-both' });
    assert.equal(res.status, 200, bodyText(res));
  }
  for (const p of [v2JobPath('v2-alpha-completed'), `${v2JobPath('v2-alpha-completed')}?expand=usage`]) {
    const res = await api(daemon, p, { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
  }
  return stack;
}

test('db stats, check and vacuum on a PostgreSQL store in use, without a tenant secret', { skip }, async (t) => {
  const { daemon } = await filledStore(t);

  const stats = JSON.parse(ok(await runmirrorAsync(['db', 'stats', '--json', '--db', PG])).stdout);
  assert.equal(stats.backend, 'postgresql');
  assert.equal(stats.path, PG);
  assert.equal(stats.schema_version, 2);
  assert.equal(stats.known_schema_version, 2);
  // SQLite's file fields mean nothing here: left out, not faked.
  for (const absent of ['file_bytes', 'wal_bytes', 'page_size', 'page_count', 'freelist_pages', 'runs_awaiting_search_index']) {
    assert.equal(absent in stats, false, absent);
  }
  const group = (name) => stats.groups.find((g) => g.name === name);
  assert.ok(group('run').rows >= 5, JSON.stringify(stats));
  assert.ok(group('run').stored_bytes > 0);
  assert.ok(group('run').stored_bytes < group('run').body_bytes, 'runs are stored compressed, and their sizes read');
  assert.equal(group('v2_job').rows, 1);
  assert.equal(group('v2_job?expand').rows, 1);
  assert.ok(group('list_pages').rows >= 2);
  assert.equal(group('list_pages').stored_bytes, group('list_pages').body_bytes);
  assert.ok(stats.grants >= 2);
  const runsRows = Number(psql('SELECT count(*) FROM runs'));
  assert.equal(stats.groups.filter((g) => g.name !== 'list_pages').reduce((n, g) => n + g.rows, 0), runsRows);
  assert.deepEqual(stats.tables.map((x) => x.name).sort(),
    ['agent_names', 'grants', 'list_pages', 'runs', 'schema_version', 'store_changes', 'tenant_secret', 'watches']);
  const runsTable = stats.tables.find((x) => x.name === 'runs');
  assert.equal(runsTable.bytes, Number(psql("SELECT pg_total_relation_size('runs')")));
  assert.equal(stats.total_bytes, stats.tables.reduce((n, x) => n + x.bytes, 0));

  const table = ok(await runmirrorAsync(['db', 'stats', '--db', PG])).stdout;
  assert.match(table, /^store +postgresql:\/\/\S+\nschema +version 2 \(current\)\nsize +[\d.]+ [KM]iB in 8 tables with their indexes and TOAST \(pg_total_relation_size\):\n {8}\w+ [\d.]+ [KM]iB, /);
  assert.match(table, /\nv1 runs +\d+ +[\d.]+ KiB +[\d.]+ KiB\n/);
  assert.doesNotMatch(table, /WAL|pages of|search index/);

  const check = ok(await runmirrorAsync(['db', 'check', '--db', PG]));
  assert.match(check.stdout, /^ok: postgresql:\/\/\S+: schema ok, \d+ bodies and \d+ list pages checked\n$/);
  const [, bodies, pages] = check.stdout.match(/(\d+) bodies and (\d+) list pages/);
  assert.equal(Number(bodies), Number(psql('SELECT count(*) FROM runs WHERE body IS NOT NULL')));
  assert.equal(Number(pages), Number(psql('SELECT count(*) FROM list_pages')));

  // A password in the URI is never printed.
  const withPassword = PG.replace('postgresql://postgres@', 'postgresql://postgres:sekrit@');
  assert.notEqual(withPassword, PG);
  const hidden = ok(await runmirrorAsync(['db', 'check', '--db', withPassword]));
  assert.doesNotMatch(hidden.stdout, /sekrit/);
  assert.match(hidden.stdout, /postgres:\*\*\*@/);

  const vacuum = ok(await runmirrorAsync(['db', 'vacuum', '--db', PG]));
  assert.match(vacuum.stdout, /^vacuumed postgresql:\/\/\S+ \(VACUUM \(ANALYZE\) of its tables\): [\d.]+ [KM]iB before, [\d.]+ [KM]iB after/);
  assert.equal(psql("SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'runs'"), 't');
  const after = await api(daemon, runPath('run-alpha-success'), { key: 'key-both', headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(after.status, 200, bodyText(after));
  ok(await runmirrorAsync(['db', 'check', '--db', PG]));
});

test('db check on PostgreSQL exits 1 naming each damaged body and missing bookkeeping row', { skip }, async (t) => {
  const { daemon } = await filledStore(t);
  await daemon.stop();
  ok(runmirror(['db', 'check', '--db', PG]));

  // One byte of a compressed run's LZ4 data flipped (15 bytes of frame header and 4 of block
  // size come first); a v2 job's body replaced by text that is not JSON; a list page cut short.
  const damaged = psql(
    "UPDATE runs SET body = set_byte(body, 24, get_byte(body, 24) # 1) WHERE body_compressed AND id LIKE '%run-alpha-success' RETURNING id");
  assert.equal(damaged.split('\n').length, 1, `one run damaged: ${damaged}`);
  assert.equal(psql("UPDATE runs SET body = 'not json'::bytea, body_compressed = false WHERE kind = 'v2_job' AND variant = '' RETURNING kind"), 'v2_job');
  assert.equal(psql("UPDATE list_pages SET body = '{\"items\":['::bytea WHERE key = (SELECT min(key) FROM list_pages) RETURNING 1"), '1');

  const res = runmirror(['db', 'check', '--db', PG]);
  assert.equal(res.status, 1, res.stderr);
  assert.equal(res.stderr, '');
  const lines = res.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, res.stdout);
  assert.ok(lines.some((l) => /^v1 run run-alpha-success: its stored body does not decode: /.test(l)), res.stdout);
  assert.ok(lines.some((l) => /^v2 extract job v2-alpha-completed: its stored body is not JSON: /.test(l)), res.stdout);
  assert.ok(lines.some((l) => /^list page '[^']+' of tenant [0-9a-f]{12}: its stored body is not JSON: /.test(l)), res.stdout);
  assert.match(lines[3], /^3 problems found in postgresql:\/\/\S+ \(\d+ bodies and \d+ list pages checked\)$/);

  // The row every daemon's writes take turns on, gone: a problem of the database itself.
  psql('DELETE FROM store_changes');
  const bookkeeping = runmirror(['db', 'check', '--db', PG]);
  assert.equal(bookkeeping.status, 1);
  assert.match(bookkeeping.stdout, /^store postgresql:\/\/\S+: table store_changes lacks its one row/m);
  assert.match(bookkeeping.stdout, /\n4 problems found in /);
});

test('db on a PostgreSQL database without a store: one line, exit 1, nothing created; backup names pg_dump', { skip }, async (t) => {
  emptyDatabase();
  for (const action of ['stats', 'check', 'vacuum']) {
    oneLineError(runmirror(['db', action, '--db', PG]), 1, `runmirror db ${action}`,
      /store 'postgresql:\/\/\S+': no runmirror store in this database \(no schema_version table in schema public\)/);
  }
  assert.equal(tablesInPublic(), '0', 'db created nothing');

  const unreachable = 'postgresql://postgres@%2Fnonexistent-socket-dir/postgres';
  oneLineError(runmirror(['db', 'stats', '--db', unreachable]), 1, 'runmirror db stats', /cannot connect/);

  // Refused before anything is opened: also with the store present and the daemon gone.
  const { dir } = await filledStore(t);
  const file = path.join(dir, 'backup.db');
  oneLineError(runmirror(['db', 'backup', file, '--db', PG]), 1, 'runmirror db backup',
    /^runmirror db backup: --db postgresql:\/\/\S+ is a PostgreSQL database: back it up with pg_dump/);
  assert.equal(existsSync(file), false);
  assert.match(ok(runmirror(['db', 'backup', '--help'])).stdout, /pg_dump/);
  assert.match(ok(runmirror(['db', '--help'])).stdout, /postgresql:\/\//);
});
