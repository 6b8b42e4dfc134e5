// Coalescing: concurrent identical misses (same tenant, same request) share one upstream request;
// a client that leaves does not cancel it for the others; different tenants never share one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, api, singleDaemonInFleet } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, bodyText } from '../support/checks.mjs';

singleDaemonInFleet('misses are coalesced within one process');

const UPSTREAM_DELAY_MS = 400; // long enough for every client to be waiting before the answer
const runPath = (id) => `/api/v1/extraction/runs/${id}`;

// `count` concurrent GETs of `path` with `key`, all started at once.
function concurrentGets(daemon, path, key, count) {
  return Promise.all(Array.from({ length: count }, () => api(daemon, path, { key, timeoutMs: 20_000 })));
}

function assertAllGot(responses, bytes, label) {
  responses.forEach((res, i) => {
    assert.equal(res.status, 200, `${label}client ${i}: ${bodyText(res)}`);
    assertSameBytes(res.body, bytes, `${label}client ${i}`);
    cacheStatus(res, `${label}client ${i}: `);
  });
}

test('200 concurrent identical misses with one key: one upstream request, 200 identical answers', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-success';
  up.setFault({ path: runPath(id), respond: 'normal', delayMs: UPSTREAM_DELAY_MS });

  const responses = await concurrentGets(daemon, runPath(id), 'key-alpha', 200);
  assertAllGot(responses, up.runBytes(id), '');
  assert.equal(up.count('GET', runPath(id)), 1, 'the 200 identical misses must share one upstream request');
  assert.equal(up.requests('GET', runPath(id))[0].answered, true);
});

test('concurrent misses with two keys: one upstream request per key, each with its own key', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-error'; // both keys may see p-alpha
  up.setFault({ path: runPath(id), respond: 'normal', delayMs: UPSTREAM_DELAY_MS });

  const [alpha, both] = await Promise.all([
    concurrentGets(daemon, runPath(id), 'key-alpha', 100),
    concurrentGets(daemon, runPath(id), 'key-both', 100),
  ]);
  assertAllGot(alpha, up.runBytes(id), 'key-alpha ');
  assertAllGot(both, up.runBytes(id), 'key-both ');
  const seen = up.requests('GET', runPath(id)).map((e) => e.headers.authorization).sort();
  assert.deepEqual(seen, ['Bearer key-alpha', 'Bearer key-both'], 'exactly one upstream request per tenant');
});

test('concurrent list misses with one key share one upstream request', async (t) => {
  const { daemon, up } = await startStack(t);
  const list = '/api/v1/extraction/runs?extraction_agent_id=agent-alpha&skip=0&limit=10';
  up.setFault({ path: '/api/v1/extraction/runs', respond: 'normal', delayMs: UPSTREAM_DELAY_MS });
  const responses = await concurrentGets(daemon, list, 'key-alpha', 50);
  for (const [i, res] of responses.entries()) {
    assert.equal(res.status, 200, `client ${i}: ${bodyText(res)}`);
    assertSameBytes(res.body, responses[0].body, `client ${i}`);
  }
  assert.deepEqual(JSON.parse(responses[0].body).items.map((r) => r.id), up.listIds('agent-alpha'));
  assert.equal(up.countRequest('GET', list), 1, 'the 50 identical list misses must share one upstream request');
});

test('a client that disconnects mid-wait does not cancel the shared request for the others', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-pages';
  up.setFault({ path: runPath(id), respond: 'normal', delayMs: 800 });

  // The first client causes the upstream request, then gives up after 200 ms.
  const leaver = api(daemon, runPath(id), { key: 'key-alpha', timeoutMs: 200 });
  await sleep(50);
  const stayers = concurrentGets(daemon, runPath(id), 'key-alpha', 5);
  await assert.rejects(leaver, /no complete answer within 200 ms/, 'the first client left before the answer');

  assertAllGot(await stayers, up.runBytes(id), 'staying ');
  assert.equal(up.count('GET', runPath(id)), 1, 'the leaving client must not cause a second upstream request');
  assert.equal(up.requests('GET', runPath(id))[0].answered, true, 'the upstream request ran to its end');

  // And the answer was stored: a final run is now served without the upstream.
  const later = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(later.status, 200);
  assert.match(cacheStatus(later), /\bhit\b/);
  assert.equal(up.count('GET', runPath(id)), 1);
});
