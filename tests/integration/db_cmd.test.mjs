// `runmirror db stats|check|vacuum|backup FILE` on a store the daemon is using, and what every
// command does with a --db that is not a store, or a port that is taken: one line, exit 1, and
// nothing created or changed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { api, startDaemon, startStack, singleDaemonInFleet } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';
import { runmirror, runmirrorAsync, oneLineError } from '../support/cli.mjs';
import { runPath } from '../support/sync_helpers.mjs';
import { v2JobPath } from '../support/fake_v2.mjs';

singleDaemonInFleet('runmirror db looks after SQLite store files, which these tests make and open');

function ok(res) {
  assert.equal(res.status, 0, `exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
  return res;
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

// Runs and v2 jobs read through the daemon, so the store holds every kind of row.
async function fillStore(daemon) {
  for (const agent of ['agent-alpha', 'agent-beta']) {
    const res = await api(daemon, `/api/v1/extraction/runs?extraction_agent_id=${agent}&limit=100`, { key: 'key-both' });
    assert.equal(res.status, 200, bodyText(res));
  }
  for (const p of [v2JobPath('v2-alpha-completed'), `${v2JobPath('v2-alpha-completed')}?expand=usage`]) {
    const res = await api(daemon, p, { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
  }
}

test('db stats and check on a store in use; --json; a missing store is one line, never created', async (t) => {
  const { daemon, dir } = await startStack(t);
  await fillStore(daemon);
  const db = daemon.db;

  const stats = JSON.parse(ok(await runmirrorAsync(['db', 'stats', '--json', '--db', db])).stdout);
  assert.equal(stats.schema_version, stats.known_schema_version);
  assert.ok(stats.page_size > 0 && stats.page_count > 0);
  const group = (name) => stats.groups.find((g) => g.name === name);
  assert.ok(group('run').rows >= 5, JSON.stringify(stats));
  assert.ok(group('run').stored_bytes < group('run').body_bytes, 'runs are stored compressed');
  assert.equal(group('v2_job').rows, 1);
  assert.equal(group('v2_job?expand').rows, 1);
  assert.ok(group('list_pages').rows >= 2);
  assert.ok(stats.grants >= 2);

  const table = ok(await runmirrorAsync(['db', 'stats', '--db', db])).stdout;
  assert.match(table, /^store +.+rm\.db\nschema +version \d+ \(current\)\nsize +[\d.]+ KiB in [\d,]+ pages of 1,024 bytes, \d+ unused \([^)]*\); on disk [\d.]+ [KM]?i?B and WAL [\d.]+ [KM]?i?B\n\n/);
  assert.match(table, /\nv1 runs +\d+ +[\d.]+ KiB +[\d.]+ KiB\n/);

  const check = ok(await runmirrorAsync(['db', 'check', '--db', db]));
  assert.match(check.stdout, /^ok: .+rm\.db: database integrity ok, \d+ bodies and \d+ list pages checked\n$/);

  const missing = path.join(dir, 'missing.db');
  for (const action of ['stats', 'check', 'vacuum']) {
    oneLineError(runmirror(['db', action, '--db', missing]), 1, `runmirror db ${action}`, /no store at .+missing\.db/);
  }
  oneLineError(runmirror(['db', 'backup', path.join(dir, 'b.db'), '--db', missing]), 1, 'runmirror db backup', /no store at/);
  assert.equal(existsSync(missing), false);
  assert.equal(existsSync(path.join(dir, 'b.db')), false);

  oneLineError(runmirror(['db', 'backup', '--db', db]), 2, 'runmirror db backup', /missing the backup FILE/);
  oneLineError(runmirror(['db', 'stats', '--force', '--db', db]), 2, 'runmirror db stats', /--force: unknown option/);
  assert.equal(runmirror(['db', 'nope']).status, 2);
  assert.match(ok(runmirror(['db', 'backup', '--help'])).stdout, /tenant secret/);
  assert.match(ok(runmirror(['--help'])).stdout, /\n {2}db +/);
});

test('db check exits 1 and names the resource whose stored body was damaged', async (t) => {
  const { daemon } = await startStack(t);
  // One run alone, read by id: the only compressed body (an LZ4 frame) in the file.
  const res = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(res.status, 200, bodyText(res));
  await daemon.stop(); // the WAL is folded into the file and removed
  const db = daemon.db;
  assert.equal(existsSync(`${db}-wal`), false);
  ok(runmirror(['db', 'check', '--db', db]));

  const bytes = readFileSync(db);
  const magic = Buffer.from([0x04, 0x22, 0x4d, 0x18]);
  const at = bytes.indexOf(magic);
  assert.ok(at > 0, 'an LZ4 frame in the file');
  assert.equal(bytes.indexOf(magic, at + 1), -1, 'exactly one');
  // 15 bytes of frame header and 4 of block size, then the compressed data: change one byte of
  // it, on the same 1 KiB page as the frame's start.
  const target = at + 24;
  assert.equal(Math.floor(target / 1024), Math.floor(at / 1024));
  bytes[target] ^= 0x01;
  await writeFile(db, bytes);

  const damaged = runmirror(['db', 'check', '--db', db]);
  assert.equal(damaged.status, 1, damaged.stderr);
  const lines = damaged.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2, damaged.stdout);
  assert.match(lines[0], /^v1 run run-alpha-success: its stored body does not decode: /);
  assert.match(lines[1], /^1 problem found in .+rm\.db \(1 bodies and 0 list pages checked\)$/);
});

test('db backup under load restores to a store that serves the same answers', async (t) => {
  const { daemon, dir } = await startStack(t);
  await fillStore(daemon);
  const listed = ok(runmirror(['runs', 'list', '--kind', 'all', '--json', '--limit', '1000', '--db', daemon.db]));
  const stored = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(stored.length >= 5);
  const pathOf = (r) => (r.kind === 'v2_job' ? v2JobPath(r.id) : runPath(r.id));

  // Clients reading (hits) and writing (revalidations store each answer again, list pages too)
  // through the daemon for as long as the backup runs.
  let loading = true;
  let requests = 0;
  const client = async (i) => {
    while (loading) {
      const r = stored[(requests + i) % stored.length];
      const headers = requests % 2 ? { 'cache-control': 'no-cache' } : {};
      const res = await api(daemon, pathOf(r), { key: 'key-both', headers });
      assert.equal(res.status, 200, bodyText(res));
      const list = await api(daemon, '/api/v1/extraction/runs?extraction_agent_id=agent-alpha&limit=100', {
        key: 'key-both', headers: { 'cache-control': 'no-cache' },
      });
      assert.equal(list.status, 200, bodyText(list));
      requests += 2;
    }
  };
  const clients = [0, 1, 2, 3].map(client);
  while (requests < 20) await new Promise((r) => setTimeout(r, 10));
  const before = requests;
  const backup = path.join(dir, 'backup', 'rm-backup.db');
  await mkdir(path.dirname(backup));
  const made = ok(await runmirrorAsync(['db', 'backup', backup, '--with-secret', '--db', daemon.db]));
  const during = requests - before;
  loading = false;
  await Promise.all(clients);
  assert.ok(during > 0, 'clients were served while the backup ran');
  assert.match(made.stdout, /^backed up .+rm\.db to .+rm-backup\.db \([\d.]+ KiB, schema version \d+\)\n/);
  assert.match(made.stdout, /copied its tenant secret .+rm\.tenant-secret to .+rm-backup\.tenant-secret\n$/);
  assert.equal(statSync(backup.replace(/\.db$/, '.tenant-secret')).mode & 0o777, 0o600);
  assert.deepEqual((await readdir(path.dirname(backup))).sort(), ['rm-backup.db', 'rm-backup.tenant-secret']);

  // An existing backup is never replaced without --force.
  const again = runmirror(['db', 'backup', backup, '--db', daemon.db]);
  oneLineError(again, 1, 'runmirror db backup', /rm-backup\.db exists; not replacing it \(--force replaces it\)/);
  ok(runmirror(['db', 'check', '--db', backup]));

  // The backup, served offline: every stored resource answers as the live daemon's store does.
  const restored = await startDaemon({ db: backup, offline: true });
  t.after(() => restored.stop());
  for (const r of stored) {
    const live = await api(daemon, pathOf(r), { key: 'key-both', headers: { 'cache-control': 'only-if-cached' } });
    const copy = await api(restored, pathOf(r), { key: 'key-both' });
    assert.equal(copy.status, live.status, `${r.id}: ${bodyText(copy)}`);
    assert.equal(copy.status, 200, `${r.id}: ${bodyText(copy)}`);
    assert.ok(copy.body.equals(live.body), `${r.id}: same bytes`);
  }
  const list = '/api/v1/extraction/runs?extraction_agent_id=agent-beta&limit=100';
  const liveList = await api(daemon, list, { key: 'key-both', headers: { 'cache-control': 'only-if-cached' } });
  const copyList = await api(restored, list, { key: 'key-both' });
  assert.equal(copyList.status, 200, bodyText(copyList));
  assert.deepEqual(JSON.parse(copyList.body).items.map((r) => r.id), JSON.parse(liveList.body).items.map((r) => r.id));
});

test('db vacuum while the daemon serves: sizes before and after; the daemon keeps answering', async (t) => {
  const { daemon } = await startStack(t);
  await fillStore(daemon);
  const res = ok(await runmirrorAsync(['db', 'vacuum', '--db', daemon.db]));
  assert.match(res.stdout, /^vacuumed .+rm\.db: [\d.]+ [KM]iB before, [\d.]+ [KM]iB after \(file and WAL\)/);
  const after = await api(daemon, runPath('run-alpha-success'), { key: 'key-both', headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(after.status, 200, bodyText(after));
  ok(await runmirrorAsync(['db', 'check', '--db', daemon.db]));
});

test('db vacuum while another process holds the write lock: one line saying the store is busy, exit 1', async (t) => {
  // The sqlite3 shell holds the lock; without it there is no other way to take it from here.
  if (spawnSync('sqlite3', ['-version']).status !== 0) {
    t.skip('no sqlite3 shell');
    return;
  }
  const { daemon } = await startStack(t);
  await fillStore(daemon);
  const shell = spawn('sqlite3', [daemon.db], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => shell.kill());
  const locked = new Promise((resolve) => shell.stdout.once('data', resolve));
  shell.stdin.write('BEGIN IMMEDIATE;\nSELECT 1;\n');
  await locked;
  const started = Date.now();
  const res = await runmirrorAsync(['db', 'vacuum', '--db', daemon.db]);
  oneLineError(res, 1, 'runmirror db vacuum', /store .+rm\.db is busy: another process held its write lock for 5 s; try the vacuum again/);
  assert.ok(Date.now() - started >= 4_500, 'it waited for the lock first');
  shell.stdin.end('ROLLBACK;\n');
  ok(await runmirrorAsync(['db', 'check', '--db', daemon.db]));
});

test('a --db that is not a store: one line naming it, exit 1, the file unchanged, for every command', async (t) => {
  const { dir, up } = await startStack(t);
  const files = {
    'notes.txt': 'these are my notes, not a store\n',
    'random.bin': randomBytes(4096),
  };
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await writeFile(file, content);
    const before = sha256(file);
    const commands = [
      [['serve', '--listen', '127.0.0.1:0', '--db', file], 'runmirror serve'],
      [['runs', 'list', '--db', file], 'runmirror runs list'],
      [['purge', 'run-1', '--db', file], 'runmirror runs purge'],
      [['watches', '--db', file], 'runmirror watches'],
      [['mirror', '--all', '--upstream', up.url, '--db', file], 'runmirror mirror'],
      [['db', 'stats', '--db', file], 'runmirror db stats'],
      [['db', 'check', '--db', file], 'runmirror db check'],
      [['db', 'vacuum', '--db', file], 'runmirror db vacuum'],
      [['db', 'backup', path.join(dir, 'b.db'), '--db', file], 'runmirror db backup'],
    ];
    for (const [args, prefix] of commands) {
      const res = runmirror(args, { LLAMA_CLOUD_API_KEY: 'key-alpha' });
      const quoted = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      oneLineError(res, 1, prefix, new RegExp(`${quoted} is not a runmirror store \\(not an SQLite database\\)`));
      assert.equal(sha256(file), before, `${args.join(' ')}: ${name} unchanged`);
    }
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith(path.parse(name).name)), [name], 'nothing created beside it');
  }
  assert.equal(existsSync(path.join(dir, 'b.db')), false);
});

test('serve on a port in use: one line, exit 1, and no store, secret or directory left behind', async (t) => {
  const { dir, daemon } = await startStack(t);
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = blocker.address().port;

  const fresh = path.join(dir, 'fresh', 'rm.db');
  const res = runmirror(['serve', '--listen', `127.0.0.1:${port}`, '--db', fresh]);
  oneLineError(res, 1, 'runmirror serve', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
  assert.equal(existsSync(path.dirname(fresh)), false, 'no directory, store or secret created');

  // An existing store (here the running daemon's, stopped first so its files are at rest) is
  // left byte for byte as it was.
  await daemon.stop();
  const before = sha256(daemon.db);
  const names = (await readdir(dir)).sort();
  oneLineError(runmirror(['serve', '--listen', `127.0.0.1:${port}`, '--db', daemon.db]), 1, 'runmirror serve', /cannot listen/);
  assert.equal(sha256(daemon.db), before);
  assert.deepEqual((await readdir(dir)).sort(), names);
});
