// (h) --offline: the store answers what it has; nothing reaches the upstream; a miss is a fast 503.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

const runPath = (id) => `/api/v1/extraction/runs/${id}`;

test('offline restart on the same db serves stored final runs and refuses misses fast', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  for (const id of ['run-alpha-success', 'run-alpha-pages']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
  }
  const exit = await daemon.stop();
  assert.equal(exit.code, 0, 'first daemon exits 0');
  up.clearLog();

  // The fake keeps running for now, so any contact would show in its log.
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());

  for (const id of ['run-alpha-success', 'run-alpha-pages']) {
    const res = await api(offline, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 200, `offline read of stored ${id}: ${bodyText(res)}`);
    cacheStatus(res);
    assertSameBytes(res.body, up.runBytes(id), `offline ${id}`);
  }

  const started = Date.now();
  const miss = await api(offline, runPath('run-alpha-error'), { key: 'key-alpha', timeoutMs: 10_000 });
  const ms = Date.now() - started;
  assert.equal(miss.status, 503, `offline miss: ${bodyText(miss)}`);
  assert.equal(miss.headers['x-should-retry'], 'false', 'an offline miss tells the SDK not to retry');
  jsonError(miss);
  cacheStatus(miss);
  assert.ok(ms < 2_000, `offline miss took ${ms} ms`);

  // DESIGN: without a grant, offline refuses with 401/403 JSON; never the stored run.
  const beta = await api(offline, runPath('run-alpha-success'), { key: 'key-beta' });
  assert.ok(!beta.body.includes(Buffer.from('"run-alpha-success"')), 'key-beta must never get the stored p-alpha run');
  assert.ok([401, 403].includes(beta.status), `offline, no grant: want 401/403, got ${beta.status}: ${bodyText(beta)}`);
  jsonError(beta);

  const pass = await api(offline, '/api/v1/echo');
  assert.notEqual(pass.status, 200, 'offline pass-through cannot be answered');
  assert.equal(up.count(), 0, `offline daemon contacted the upstream: ${up.requests().map((r) => `${r.method} ${r.url}`).join(', ')}`);

  // And with the upstream gone entirely.
  await up.stop();
  const res = await api(offline, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(res.status, 200, bodyText(res));
  assertSameBytes(res.body, up.runBytes('run-alpha-success'));
  const miss2 = await api(offline, runPath('run-alpha-spaced'), { key: 'key-alpha', timeoutMs: 10_000 });
  assert.equal(miss2.status, 503);
  assert.equal(miss2.headers['x-should-retry'], 'false');
});

test('offline list of a page that was fetched online is served from the store', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  const q = '/api/v1/extraction/runs?extraction_agent_id=agent-alpha&skip=0&limit=10';
  const online = await api(daemon, q, { key: 'key-alpha' });
  assert.equal(online.status, 200);
  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  const res = await api(offline, q, { key: 'key-alpha' });
  assert.equal(res.status, 200, bodyText(res));
  cacheStatus(res);
  const ids = JSON.parse(res.body).items.map((r) => r.id);
  assert.deepEqual(ids, up.listIds('agent-alpha'));
});
