// (d) DELETE /api/v1/extraction/runs/{id}: forwarded once, then the run is tombstoned for good.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api } from '../support/daemon.mjs';
import { cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

const runPath = (id) => `/api/v1/extraction/runs/${id}`;

async function expectTombstone(daemon, up, id, label) {
  const before = up.count('GET', runPath(id));
  const res = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(up.count('GET', runPath(id)), before, `${label}: GET of a deleted run must not reach the upstream`);
  assert.equal(res.status, 404, `${label}: deleted run must be 404, got ${res.status}: ${bodyText(res)}`);
  assert.ok(!res.body.includes(Buffer.from('"status"')), `${label}: 404 must not carry the stored run`);
  jsonError(res, `${label}: `);
  cacheStatus(res, `${label}: `);
}

test('a deleted run is never served again, not even with the upstream down or after a restart', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  const id = 'run-alpha-error';
  const got = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(got.status, 200);
  assert.equal(up.count('GET', runPath(id)), 1);

  const del = await api(daemon, runPath(id), { key: 'key-alpha', method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  assert.equal(up.count('DELETE', runPath(id)), 1, 'DELETE is forwarded exactly once');

  await expectTombstone(daemon, up, id, 'after delete');

  await up.stop();
  await expectTombstone(daemon, up, id, 'upstream stopped');

  const exit = await daemon.stop();
  assert.equal(exit.code, 0);
  const again = await startDaemon({ upstreamUrl: up.url, db: daemon.db });
  defer(() => again.stop());
  await expectTombstone(again, up, id, 'after a daemon restart, upstream stopped');
});

test('deleting a run the daemon never stored still tombstones it', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-pages';
  const del = await api(daemon, runPath(id), { key: 'key-alpha', method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  assert.equal(up.count('DELETE', runPath(id)), 1);
  await expectTombstone(daemon, up, id, 'after delete');
});

test('a DELETE the upstream refuses does not tombstone the run', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-success';
  assert.equal((await api(daemon, runPath(id), { key: 'key-alpha' })).status, 200);
  const del = await api(daemon, runPath(id), { key: 'key-beta', method: 'DELETE' });
  assert.equal(del.status, 404, 'key-beta may not delete a p-alpha run');
  assert.equal(up.count('DELETE', runPath(id)), 1);
  const res = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(res.status, 200, `a refused DELETE must leave the run alone, got ${res.status}: ${bodyText(res)}`);
});
