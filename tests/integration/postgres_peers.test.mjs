// Daemons sharing one PostgreSQL store hear of each other's writes (issue 16): a memory cache
// drops what another daemon changed, as it commits (LISTEN/NOTIFY), and /_runmirror/events on
// every daemon carries the status changes any of them polled.
// Needs a server: RUNMIRROR_TEST_PG (ctest integration_postgres starts a throwaway cluster:
// tests/support/pg_cluster.sh). Skipped without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { startDaemon, api, makeTempDir, removeDir, cleanupStack } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';
import { cacheStatus, bodyText } from '../support/checks.mjs';
import { PG, emptyDatabase } from '../support/pg.mjs';
import { syncArgs, subscribeEvents, runEvents, runPath, statusOf, waitForPoll, sleep } from '../support/sync_helpers.mjs';

const skip = !PG && 'RUNMIRROR_TEST_PG not set';

// Daemons A and B on one fresh database, each in front of an upstream of its own (the same
// fake data), so that one daemon's upstream can be stopped alone.
async function twoDaemons(t, { extraArgs = [] } = {}) {
  emptyDatabase();
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const args = ['--tenant-secret', path.join(dir, 'shared.tenant-secret'), ...extraArgs];
  const upA = await startFakeUpstream();
  defer(() => upA.stop());
  const upB = await startFakeUpstream();
  defer(() => upB.stop());
  const a = await startDaemon({ upstreamUrl: upA.url, db: PG, extraArgs: args });
  defer(() => a.stop());
  const b = await startDaemon({ upstreamUrl: upB.url, db: PG, extraArgs: args });
  defer(() => b.stop());
  return { a, b, upA, upB, defer };
}

// Reads |id| through |daemon| until |done(res)|, up to 5 s; returns how long it took.
async function msUntil(daemon, id, done) {
  const started = process.hrtime.bigint();
  for (;;) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha' });
    if (done(res)) return Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(process.hrtime.bigint() - started < 5_000_000_000n, `still ${res.status}: ${bodyText(res)}`);
  }
}

test('a run read through one daemon is a hit through the other', { skip }, async (t) => {
  const { a, b, upA, upB } = await twoDaemons(t);
  const id = 'run-alpha-success';
  const first = await api(a, runPath(id), { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  assert.equal(upA.count('GET', runPath(id)), 1);
  const second = await api(b, runPath(id), { key: 'key-alpha' });
  assert.equal(second.status, 200, bodyText(second));
  assert.match(cacheStatus(second), /\bhit\b/);
  assert.equal(upB.count(), 0, 'B asked its upstream for what A stored');
});

test('a delete through one daemon is never served by the other, whose cache held the run, upstream or not', { skip }, async (t) => {
  const { a, b, upA, upB } = await twoDaemons(t);
  const id = 'run-alpha-success';
  // A holds the run in its memory cache (a hit through A).
  assert.equal((await api(a, runPath(id), { key: 'key-alpha' })).status, 200);
  assert.match(cacheStatus(await api(a, runPath(id), { key: 'key-alpha' })), /\bhit\b/);

  await upA.stop(); // from here on A can only answer from what it holds and the store
  const del = await api(b, runPath(id), { key: 'key-alpha', method: 'DELETE' });
  assert.ok(del.status >= 200 && del.status < 300, `DELETE through B: ${del.status} ${bodyText(del)}`);
  assert.equal(upB.count('DELETE', runPath(id)), 1);

  const ms = await msUntil(a, id, (res) => res.status === 404);
  t.diagnostic(`A stopped serving the deleted run ${ms.toFixed(1)} ms after B's DELETE answered`);
  for (let i = 0; i < 20; ++i) {
    const res = await api(a, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 404, `read ${i} through A after the delete: ${res.status} ${bodyText(res)}`);
  }
  // Nor through B.
  assert.equal((await api(b, runPath(id), { key: 'key-alpha' })).status, 404);
});

test("a status change polled by one daemon is streamed by both, and replaces the copy the other held", { skip }, async (t) => {
  const { a, b, upA, upB } = await twoDaemons(t, { extraArgs: syncArgs() });
  const id = 'run-alpha-pending';
  // A holds the PENDING run in its memory cache; then its upstream goes, so that only B can poll.
  assert.equal(statusOf(await api(a, runPath(id), { key: 'key-alpha' })), 'PENDING');
  assert.match(cacheStatus(await api(a, runPath(id), { key: 'key-alpha' })), /\bhit\b/);
  await upA.stop();
  const subA = await subscribeEvents(a);
  const subB = await subscribeEvents(b);
  t.after(() => subA.close());
  t.after(() => subB.close());

  const readAt = Date.now();
  assert.equal(statusOf(await api(b, runPath(id), { key: 'key-alpha' })), 'PENDING');
  await waitForPoll(upB, { since: readAt, run: id });
  upB.finishRun(id, 'SUCCESS');

  // Polled by B, streamed by A (once), and A's next read is the new copy.
  const match = (e) => e.event === 'run' && e.json?.run_id === id && e.json.new_status === 'SUCCESS';
  const onA = await subA.waitFor(match, { timeoutMs: 5_000, label: 'A: ' });
  assert.equal(onA.json.old_status, 'PENDING');
  assert.equal(onA.json.kind, 'run');
  await subB.waitFor(match, { timeoutMs: 5_000, label: 'B: ' });
  const ms = await msUntil(a, id, (res) => statusOf(res) === 'SUCCESS');
  t.diagnostic(`A served SUCCESS ${ms.toFixed(1)} ms after its event stream carried it`);
  await sleep(300); // an event relayed back and forth would show as a second one by now
  for (const [name, sub] of [['A', subA], ['B', subB]]) {
    const finals = runEvents(sub, id).filter((e) => e.json.new_status === 'SUCCESS');
    assert.equal(finals.length, 1, `${name} streamed ${finals.length} SUCCESS events`);
  }
});
