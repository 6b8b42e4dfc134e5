// Keys at rest: no API key, and no unkeyed hash of one, is written anywhere. Tenants are
// HMAC-SHA-256(secret, SHA-256(key)) with a secret in its own file beside the store (0600,
// created on first start, reused after), so the db file alone confirms no key. A secret that is
// open to others, of the wrong size, or not the one the store's tenants were made with stops
// the start with one line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { chmod, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { RUNMIRROR_BIN, startStack, startDaemon, api, daemonEnv, waitFor, singleDaemonInFleet } from '../support/daemon.mjs';
import { KEYS } from '../support/fake_upstream.mjs';
import { bodyText } from '../support/checks.mjs';

singleDaemonInFleet('these tests read the store file and the secret file beside it');

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();

// A key the fake upstream accepts for p-alpha, unlike any other text in a store.
function addCanaryKey(t) {
  const key = `canary-${crypto.randomBytes(12).toString('hex')}`;
  KEYS[key] = ['p-alpha'];
  t.after(() => delete KEYS[key]);
  return key;
}

// Every file in |dir| (db, WAL, shm, the secret...), with its bytes.
async function filesIn(dir) {
  const out = [];
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    if ((await stat(file)).isFile()) out.push({ name, bytes: await readFile(file) });
  }
  return out;
}

function serveOnce(db, extra = []) {
  return spawnSync(RUNMIRROR_BIN, ['serve', '--listen', '127.0.0.1:0', '--db', db, ...extra], {
    env: daemonEnv(),
    encoding: 'utf8',
    timeout: 10_000,
  });
}

test('a canary key is nowhere at rest: not in the db, WAL or secret, nor its SHA-256', async (t) => {
  const { dir, daemon, up } = await startStack(t, { daemon: { pollIntervalMs: 60_000 } });
  const key = addCanaryKey(t);

  // Every route that writes something of a tenant: a grant (run by id, by job), a list page,
  // a watch (a pending run).
  for (const p of [
    '/api/v1/extraction/runs/run-alpha-success',
    '/api/v1/extraction/runs/by-job/job-alpha-error',
    '/api/v1/extraction/runs?extraction_agent_id=agent-alpha&limit=5',
    '/api/v1/extraction/runs/run-alpha-pending',
  ]) {
    const res = await api(daemon, p, { key });
    assert.equal(res.status, 200, `${p}: ${bodyText(res)}`);
  }
  // The pending run is watched under the canary's tenant.
  await waitFor(async () => {
    const res = await api(daemon, '/_runmirror/api/watches');
    return res.status === 200 && bodyText(res).includes('run-alpha-pending');
  });
  assert.ok(up.count() > 0);

  // The secret: beside the db, named after it, 32 bytes, owner-only.
  const secretFile = path.join(dir, 'rm.tenant-secret');
  const info = await stat(secretFile);
  assert.equal(info.mode & 0o777, 0o600, `secret mode ${(info.mode & 0o777).toString(8)}`);
  assert.equal(info.size, 32);
  const secret = await readFile(secretFile);

  assert.equal((await daemon.stop()).code, 0);

  const digest = sha256(key);
  const forbidden = [
    ['the key', Buffer.from(key)],
    ['SHA-256(key), hex', Buffer.from(digest.toString('hex'))],
    ['SHA-256(key), HEX', Buffer.from(digest.toString('hex').toUpperCase())],
    ['SHA-256(key), bytes', digest],
  ];
  const files = await filesIn(dir);
  assert.ok(files.some((f) => f.name === 'rm.db'), `files: ${files.map((f) => f.name)}`);
  for (const { name, bytes } of files) {
    for (const [what, needle] of forbidden) {
      assert.equal(bytes.indexOf(needle), -1, `${what} found in ${name}`);
    }
  }
  for (const [what, needle] of forbidden) {
    assert.ok(!daemon.output().includes(needle.toString('latin1')), `${what} in the log`);
  }

  // What the store does hold is the keyed tenant: the search above looks where tenants are.
  const tenant = crypto.createHmac('sha256', secret).update(digest).digest('hex');
  const all = Buffer.concat(files.filter((f) => f.name.startsWith('rm.db')).map((f) => f.bytes));
  assert.notEqual(all.indexOf(Buffer.from(tenant)), -1, 'the keyed tenant is in the store');

  // Restarted on the same db (offline): the same secret, and the canary's grant still holds.
  const again = await startDaemon({ upstreamUrl: up.url, db: path.join(dir, 'rm.db'), offline: true });
  t.after(() => again.stop());
  const hit = await api(again, '/api/v1/extraction/runs/run-alpha-success', { key });
  assert.equal(hit.status, 200, bodyText(hit));
  const other = await api(again, '/api/v1/extraction/runs/run-alpha-success', { key: 'key-beta' });
  assert.ok([401, 403].includes(other.status), `key-beta offline: ${other.status}`);
  assert.equal((await again.stop()).code, 0);
  assert.deepEqual(await readFile(secretFile), secret, 'the secret is reused, not replaced');
});

test('a secret open to others, of the wrong size, or not the store\'s stops the start', async (t) => {
  const { dir, daemon } = await startStack(t);
  const key = addCanaryKey(t);
  const res = await api(daemon, '/api/v1/extraction/runs/run-alpha-success', { key });
  assert.equal(res.status, 200, bodyText(res));
  assert.equal((await daemon.stop()).code, 0);
  const db = path.join(dir, 'rm.db');
  const secretFile = path.join(dir, 'rm.tenant-secret');
  const secret = await readFile(secretFile);

  await chmod(secretFile, 0o644);
  let run = serveOnce(db);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /^runmirror serve: tenant secret '.*rm\.tenant-secret' is open to group or others \(mode 0644\): chmod 600 .*\n$/);
  // runs and watches refuse it too: it is the store's secret, whatever reads it.
  const list = spawnSync(RUNMIRROR_BIN, ['runs', 'list', '--db', db], { env: daemonEnv(), encoding: 'utf8' });
  assert.equal(list.status, 1, list.stderr);
  assert.match(list.stderr, /chmod 600/);
  await chmod(secretFile, 0o600);

  await truncate(secretFile, 31);
  run = serveOnce(db);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /holds 31 bytes, not 32/);

  // Lost: a new secret would be created, but the store's tenants were made with the old one.
  await rm(secretFile);
  run = serveOnce(db);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /its tenants were made with another tenant secret/);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);

  // Put back, all is well again; --tenant-secret names a file elsewhere.
  const moved = path.join(dir, 'elsewhere.secret');
  await writeFile(moved, secret, { mode: 0o600 });
  const back = await startDaemon({ db, offline: true, extraArgs: ['--tenant-secret', moved] });
  t.after(() => back.stop());
  const hit = await api(back, '/api/v1/extraction/runs/run-alpha-success', { key });
  assert.equal(hit.status, 200, bodyText(hit));
  assert.equal((await back.stop()).code, 0);
});
