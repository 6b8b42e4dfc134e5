// Purge: forget one resource in the store only (Varnish's ban, requests-cache's delete), through
// DELETE /_runmirror/api/runs/{id} or `runmirror purge ID`, while the daemon runs: the next read
// is a miss, upstream is never asked to delete anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { FLEET_STALE_READS, RUNMIRROR_BIN, startStack, api, waitFor } from '../support/daemon.mjs';
import { cacheStatus, bodyText } from '../support/checks.mjs';
import { runPath } from '../support/sync_helpers.mjs';
import { v2JobPath } from '../support/fake_v2.mjs';

function purge(args) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RUNMIRROR_')) env[k] = v;
  env.RUNMIRROR_CONFIG = '/dev/null'; // no config file from the search path
  const res = spawnSync(RUNMIRROR_BIN, ['purge', ...args], { env, encoding: 'utf8', timeout: 20_000 });
  if (res.error) throw res.error;
  return res;
}

const cached = (daemon, path, key = 'key-alpha') => api(daemon, path, { key, headers: { 'cache-control': 'only-if-cached' } });

test('DELETE /_runmirror/api/runs/{id}: forgotten here, not upstream; the next read is a miss', { skip: FLEET_STALE_READS }, async (t) => {
  const { daemon, up } = await startStack(t);
  const p = runPath('run-alpha-success');
  await api(daemon, p, { key: 'key-alpha' });
  assert.match(cacheStatus(await api(daemon, p, { key: 'key-alpha' })), /\bhit\b/);

  const del = await api(daemon, '/_runmirror/api/runs/run-alpha-success', { method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  assert.deepEqual(JSON.parse(del.body), { id: 'run-alpha-success', forgotten: ['run'] });
  assert.equal(up.count('DELETE', p), 0, 'nothing deleted upstream');
  assert.equal((await cached(daemon, p)).status, 504, 'no stored copy any more');
  assert.equal((await api(daemon, '/_runmirror/api/runs/run-alpha-success')).status, 404, 'not browsable');
  const before = up.count('GET', p);
  const again = await api(daemon, p, { key: 'key-alpha' });
  assert.equal(again.status, 200);
  assert.match(cacheStatus(again), /fwd=miss/);
  assert.equal(up.count('GET', p), before + 1);

  const none = await api(daemon, '/_runmirror/api/runs/never-stored', { method: 'DELETE' });
  assert.equal(none.status, 404);
  assert.ok(JSON.parse(none.body).detail);
});

test('runmirror purge ID while the daemon runs: the daemon stops serving it within 100 ms', async (t) => {
  const { daemon } = await startStack(t);
  const p = v2JobPath('v2-alpha-completed');
  await api(daemon, p, { key: 'key-alpha' });
  await api(daemon, `${p}?expand=usage`, { key: 'key-alpha' });
  assert.equal((await cached(daemon, p)).status, 200);

  const res = purge(['v2-alpha-completed', '--db', daemon.db]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^forgot .+ v2-alpha-completed\n$/);
  // The daemon's memory cache looks for other processes' writes at most every 100 ms.
  for (const path of [p, `${p}?expand=usage`]) {
    const gone = await waitFor(async () => (await cached(daemon, path)).status === 504, { timeoutMs: 2_000, intervalMs: 50 });
    assert.ok(gone, `${path}: every representation forgotten`);
  }

  const unknown = purge(['never-stored', '--db', daemon.db]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^runmirror runs purge: nothing stored under never-stored\n$/);
  const badKind = purge(['x', '--kind', 'nope', '--db', daemon.db]);
  assert.equal(badKind.status, 2);
  assert.match(badKind.stderr, /--kind: expected run, v2_job or v1_job/);
});

test('purge needs a viewer that sees every tenant: a key under --browse-scope tenant is refused', async (t) => {
  const { daemon } = await startStack(t, { daemon: { extraArgs: ['--browse-scope', 'tenant', '--admin-token', 'tok'] } });
  await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  const byKey = await api(daemon, '/_runmirror/api/runs/run-alpha-success', { method: 'DELETE', key: 'key-alpha' });
  assert.equal(byKey.status, 403);
  assert.equal((await cached(daemon, runPath('run-alpha-success'))).status, 200, 'still stored');
  const byAdmin = await api(daemon, '/_runmirror/api/runs/run-alpha-success', { method: 'DELETE', key: 'tok' });
  assert.equal(byAdmin.status, 200);
});
