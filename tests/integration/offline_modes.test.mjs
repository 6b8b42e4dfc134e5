// --offline and the client's Cache-Control: pages assembled from stored runs, only-if-cached,
// no-cache, and writes refused offline without changing anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

const RUNS = '/api/v1/extraction/runs';
const runPath = (id) => `${RUNS}/${id}`;
const listPath = (agent, skip, limit) => `${RUNS}?extraction_agent_id=${agent}&skip=${skip}&limit=${limit}`;

test('offline: list pages never fetched are assembled from stored runs, newest first, for the tenant only', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  // Store every agent-big run through two pages of 100.
  for (const skip of [0, 100]) assert.equal((await api(daemon, listPath('agent-big', skip, 100), { key: 'key-alpha' })).status, 200);
  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());

  const expected = up.listIds('agent-big');
  const ids = [];
  for (let skip = 0; skip < expected.length; skip += 40) {
    const res = await api(offline, listPath('agent-big', skip, 40), { key: 'key-alpha' });
    assert.equal(res.status, 200, `assembled page at skip=${skip}: ${bodyText(res)}`);
    assert.match(cacheStatus(res), /detail=assembled/, `page at skip=${skip}`);
    const page = JSON.parse(res.body);
    assert.deepEqual({ total: page.total, skip: page.skip, limit: page.limit }, { total: expected.length, skip, limit: 40 });
    for (const item of page.items) assert.ok(res.body.includes(up.runBytes(item.id)), `item ${item.id} is the upstream's bytes`);
    ids.push(...page.items.map((r) => r.id));
  }
  assert.deepEqual(ids, expected, 'assembled pages: every stored run once, newest first');

  // A key without a grant for p-alpha never sees them.
  const beta = await api(offline, listPath('agent-big', 0, 40), { key: 'key-beta' });
  assert.ok(
    [401, 403].includes(beta.status),
    `offline, no grant: want 401/403, got ${beta.status} (Cache-Status ${JSON.stringify(beta.headers['cache-status'])}): ${bodyText(beta)}`,
  );
  assert.ok(!beta.body.includes(Buffer.from('run-big-')), 'key-beta must not get p-alpha runs');
  jsonError(beta);
});

test('Cache-Control: only-if-cached answers a miss 504 without the upstream; no-cache forces it', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-success';
  assert.equal((await api(daemon, runPath(id), { key: 'key-alpha' })).status, 200);

  const hit = await api(daemon, runPath(id), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(hit.status, 200, bodyText(hit));
  assertSameBytes(hit.body, up.runBytes(id));

  const before = up.count();
  const miss = await api(daemon, runPath('run-alpha-error'), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(miss.status, 504, `only-if-cached miss: ${bodyText(miss)}`);
  jsonError(miss);
  cacheStatus(miss);
  assert.equal(up.count(), before, 'only-if-cached never contacts the upstream');

  const forced = await api(daemon, runPath(id), { key: 'key-alpha', headers: { 'cache-control': 'no-cache' } });
  assert.equal(forced.status, 200, bodyText(forced));
  assertSameBytes(forced.body, up.runBytes(id));
  assert.equal(up.count('GET', runPath(id)), 2, 'no-cache on a stored final run asks the upstream');
  assert.doesNotMatch(cacheStatus(forced), /detail=stale/);
});

test('offline: writes are refused and change nothing', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  const id = 'run-alpha-success';
  assert.equal((await api(daemon, runPath(id), { key: 'key-alpha' })).status, 200);
  await daemon.stop();
  up.clearLog();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());

  const del = await api(offline, runPath(id), { key: 'key-alpha', method: 'DELETE' });
  assert.ok(del.status >= 400, `offline DELETE must be refused, got ${del.status}: ${bodyText(del)}`);
  jsonError(del);
  const job = await api(offline, '/api/v1/extraction/jobs', {
    key: 'key-alpha',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"extraction_agent_id":"agent-alpha","file_id":"file-x"}',
  });
  assert.ok(job.status >= 400, `offline job creation must be refused, got ${job.status}: ${bodyText(job)}`);
  jsonError(job);

  const still = await api(offline, runPath(id), { key: 'key-alpha' });
  assert.equal(still.status, 200, `the run survives a refused offline DELETE: ${bodyText(still)}`);
  assertSameBytes(still.body, up.runBytes(id));
  assert.equal(up.count(), 0, 'the offline daemon never contacted the upstream');
});
