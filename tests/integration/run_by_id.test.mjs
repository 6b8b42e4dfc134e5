// (b) GET /api/v1/extraction/runs/{id}: byte-identical mirror, final runs from the store, tenancy,
// and PENDING runs that finish upstream.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { FLEET_STALE_READS, startStack, api } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

// cache_options.pending_max_age defaults to 2 s; wait a little longer than that.
const PENDING_MAX_AGE_MS = 2_000;

const runPath = (id) => `/api/v1/extraction/runs/${id}`;

for (const id of ['run-alpha-success', 'run-alpha-error', 'run-alpha-pages', 'run-alpha-spaced']) {
  test(`final run ${id}: first read forwarded once and byte-identical, second read from the store`, async (t) => {
    const { daemon, up } = await startStack(t);
    const first = await api(daemon, runPath(id), { key: 'key-alpha' });
    assert.equal(first.status, 200, bodyText(first));
    cacheStatus(first);
    assertSameBytes(first.body, up.runBytes(id), `first read of ${id}`);
    assert.equal(up.count('GET', runPath(id)), 1, 'first read reaches the upstream exactly once');

    const second = await api(daemon, runPath(id), { key: 'key-alpha' });
    assert.equal(second.status, 200, bodyText(second));
    assertSameBytes(second.body, up.runBytes(id), `second read of ${id}`);
    assert.match(cacheStatus(second), /\bhit\b/, 'second read of a final run is a hit');
    assert.equal(up.count('GET', runPath(id)), 1, 'second read of a final run must not reach the upstream');
  });
}

test('a key without a grant for the project is forwarded and never gets the stored copy', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-success';
  const p = runPath(id);
  assert.equal((await api(daemon, p, { key: 'key-alpha' })).status, 200);
  assert.equal(up.count('GET', p), 1);

  // key-beta sees only p-beta: upstream says 404, and so must the daemon.
  const beta = await api(daemon, p, { key: 'key-beta' });
  assert.equal(up.count('GET', p), 2, 'key-beta\'s request must be forwarded');
  assert.equal(up.requests('GET', p)[1].headers.authorization, 'Bearer key-beta', 'forwarded with key-beta\'s own key');
  assert.equal(beta.status, 404, `key-beta must get the upstream's 404, got ${beta.status}: ${bodyText(beta)}`);
  assert.ok(!beta.body.includes(Buffer.from(id)), 'the 404 must not carry the stored run');
  jsonError(beta);
  cacheStatus(beta, 'key-beta 404: ');

  // An unknown key: forwarded, upstream says 401.
  const nobody = await api(daemon, p, { key: 'key-nobody' });
  assert.equal(up.count('GET', p), 3, 'an unknown key\'s request must be forwarded');
  assert.equal(nobody.status, 401, bodyText(nobody));
  assert.deepEqual(jsonError(nobody), { detail: 'Invalid API key' });

  // No key at all: 401 (from the upstream or the daemon), never the stored run.
  const anonymous = await api(daemon, p);
  assert.equal(anonymous.status, 401, bodyText(anonymous));
  assert.ok(!anonymous.body.includes(Buffer.from(id)));

  // key-both may see p-alpha, but upstream has not shown it a p-alpha run yet: forwarded.
  const before = up.count('GET', p);
  const both = await api(daemon, p, { key: 'key-both' });
  assert.equal(up.count('GET', p), before + 1, 'key-both has no grant yet: its first request must be forwarded');
  assert.equal(both.status, 200);
  assertSameBytes(both.body, up.runBytes(id));

  // key-alpha is still served from the store.
  const again = await api(daemon, p, { key: 'key-alpha' });
  assert.equal(again.status, 200);
  assert.match(cacheStatus(again), /\bhit\b/);
  assert.equal(up.count('GET', p), before + 1);
});

test('an unknown run is forwarded and its 404 relayed as JSON', async (t) => {
  const { daemon, up } = await startStack(t);
  const res = await api(daemon, runPath('run-does-not-exist'), { key: 'key-alpha' });
  assert.equal(res.status, 404, bodyText(res));
  jsonError(res);
  cacheStatus(res);
  assert.equal(up.count('GET', runPath('run-does-not-exist')), 1);
});

test('a PENDING run is refreshed after it finishes upstream and its max age has passed', async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-pending';
  const first = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  cacheStatus(first);
  assertSameBytes(first.body, up.runBytes(id), 'PENDING run');
  assert.equal(JSON.parse(first.body).status, 'PENDING');

  // Within the max age the daemon may answer from the store or forward; either way still PENDING.
  const soon = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(soon.status, 200);
  cacheStatus(soon);
  assert.equal(JSON.parse(soon.body).status, 'PENDING');

  up.finishRun(id, 'SUCCESS');
  await sleep(PENDING_MAX_AGE_MS + 700);
  const later = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(later.status, 200, bodyText(later));
  cacheStatus(later);
  assert.equal(JSON.parse(later.body).status, 'SUCCESS', 'a finished run must not be served as PENDING past the max age');
  assertSameBytes(later.body, up.runBytes(id), 'finished run');

  // Now final: served from the store.
  const before = up.count('GET', runPath(id));
  const final = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.equal(final.status, 200);
  assert.match(cacheStatus(final), /\bhit\b/);
  assertSameBytes(final.body, up.runBytes(id));
  assert.equal(up.count('GET', runPath(id)), before, 'the finished run is final now: no upstream request');
});

test('GET by job id: forwarded once, then a final run is served from the store', async (t) => {
  const { daemon, up } = await startStack(t);
  const p = '/api/v1/extraction/runs/by-job/job-alpha-success';
  const first = await api(daemon, p, { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  cacheStatus(first);
  assertSameBytes(first.body, up.runBytes('run-alpha-success'));
  assert.equal(up.count('GET', p), 1);

  const second = await api(daemon, p, { key: 'key-alpha' });
  assert.equal(second.status, 200);
  assert.match(cacheStatus(second), /\bhit\b/);
  assertSameBytes(second.body, up.runBytes('run-alpha-success'));
  assert.equal(up.count('GET', p), 1, 'a final run by job id must not reach the upstream again');

  // The run stored through by-job also answers GET by id without the upstream.
  const byId = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(byId.status, 200);
  assertSameBytes(byId.body, up.runBytes('run-alpha-success'));
  assert.equal(up.count('GET', runPath('run-alpha-success')), 0);

  const beta = await api(daemon, p, { key: 'key-beta' });
  assert.equal(beta.status, 404, 'key-beta has no grant for p-alpha');
  assert.equal(up.count('GET', p), 2);
});

test('no-cache on a stored final run: the same bytes are relayed, bytes changed at the same length replace the copy', { skip: FLEET_STALE_READS }, async (t) => {
  const { daemon, up } = await startStack(t);
  const id = 'run-alpha-success';
  const NO_CACHE = { 'cache-control': 'no-cache' };
  const before = up.runBytes(id);
  assert.equal((await api(daemon, runPath(id), { key: 'key-alpha' })).status, 200);

  const same = await api(daemon, runPath(id), { key: 'key-alpha', headers: NO_CACHE });
  assert.equal(same.status, 200, bodyText(same));
  assertSameBytes(same.body, before, 'unchanged revalidation');
  assert.equal(cacheStatus(same), 'runmirror; fwd=request; fwd-status=200; stored');

  // The daemon compares an answer of the stored length as it arrives: a change in the middle
  // (updated_at) must still be seen, relayed and stored.
  up.finishRun(id, 'SUCCESS');
  const after = up.runBytes(id);
  assert.equal(after.length, before.length, 'precondition: the same length');
  assert.notDeepEqual(after, before, 'precondition: other bytes');
  const changed = await api(daemon, runPath(id), { key: 'key-alpha', headers: NO_CACHE });
  assert.equal(changed.status, 200, bodyText(changed));
  assertSameBytes(changed.body, after, 'changed revalidation');
  const stored = await api(daemon, runPath(id), { key: 'key-alpha' });
  assert.match(cacheStatus(stored), /\bhit\b/);
  assertSameBytes(stored.body, after, 'the changed run is what the store serves now');
  assert.equal(up.count('GET', runPath(id)), 3);
});

test('an answer about another run than the one asked for is relayed, said not-stored, and stored under neither id', async (t) => {
  const { daemon, up } = await startStack(t);
  const asked = 'run-alpha-error';
  const other = 'run-alpha-success';
  up.setFault({ method: 'GET', path: runPath(asked), status: 200, body: up.runBytes(other).toString(), times: 1 });

  const r = await api(daemon, runPath(asked), { key: 'key-alpha' });
  assert.equal(r.status, 200, bodyText(r));
  assertSameBytes(r.body, up.runBytes(other), 'the upstream\'s answer, as it was');
  const cs = cacheStatus(r);
  assert.match(cs, /detail=not-stored/, cs);
  assert.doesNotMatch(cs, /; stored/, cs);
  for (const id of [asked, other]) {
    const cached = await api(daemon, runPath(id), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
    assert.equal(cached.status, 504, `${id} must not be in the store: ${cached.status}`);
  }
  // The next read of the asked run is a miss that stores the right one.
  const again = await api(daemon, runPath(asked), { key: 'key-alpha' });
  assertSameBytes(again.body, up.runBytes(asked), 'the right run');
  assert.match(cacheStatus(again), /; stored/);
});
