// Reconciliation: a run that upstream now answers 404 for (deleted by another client, not through
// the daemon) is tombstoned: 404 from then on, also offline, and gone from stored list pages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { FLEET_STALE_READS, startStack, startDaemon, api, flagArgs } from '../support/daemon.mjs';
import { cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

const PENDING_MAX_AGE_MS = 200;
const RUNS = '/api/v1/extraction/runs';
const runPath = (id) => `${RUNS}/${id}`;
const LIST_PAGE = `${RUNS}?extraction_agent_id=agent-alpha&skip=0&limit=10`;
const NO_CACHE = { 'cache-control': 'no-cache' };

const DAEMON = {
  pollIntervalMs: 60_000, // no sync-worker polls during the test
  extraArgs: flagArgs({ 'list-max-age-ms': 600_000, 'pending-max-age-ms': PENDING_MAX_AGE_MS }),
};

// A 404 JSON answer that carries no stored run, without asking the upstream.
async function expectGoneLocally(daemon, up, path, label) {
  const before = up.count();
  const res = await api(daemon, path, { key: 'key-alpha' });
  assert.equal(res.status, 404, `${label}: want 404, got ${res.status}: ${bodyText(res)}`);
  assert.ok(!res.body.includes(Buffer.from('"status"')), `${label}: the 404 must not carry the stored run`);
  jsonError(res, `${label}: `);
  cacheStatus(res, `${label}: `);
  assert.equal(up.count(), before, `${label}: a tombstoned run is answered without the upstream`);
}

function listIds(res, label) {
  assert.equal(res.status, 200, `${label}: ${bodyText(res)}`);
  cacheStatus(res, `${label}: `);
  return JSON.parse(res.body).items.map((r) => r.id);
}

test('a run deleted behind the daemon is tombstoned: 404 after, offline too, gone from list pages', { skip: FLEET_STALE_READS }, async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: DAEMON });
  const gone = 'run-alpha-success';
  const listed = listIds(await api(daemon, LIST_PAGE, { key: 'key-alpha' }), 'list page online');
  assert.deepEqual(listed, up.listIds('agent-alpha'));
  assert.ok(listed.includes(gone));
  assert.equal((await api(daemon, runPath(gone), { key: 'key-alpha' })).status, 200, 'the run is stored');

  up.markDeleted(gone);

  // A forced revalidation learns of the deletion...
  const forced = await api(daemon, runPath(gone), { key: 'key-alpha', headers: NO_CACHE });
  assert.equal(forced.status, 404, `no-cache after the upstream deletion: ${bodyText(forced)}`);
  jsonError(forced);
  assert.equal(up.count('GET', runPath(gone)), 1, 'no-cache asked the upstream once');

  // ...and from then on the daemon answers 404 itself.
  await expectGoneLocally(daemon, up, runPath(gone), 'GET after the 404');
  await expectGoneLocally(daemon, up, `${RUNS}/by-job/job-alpha-success`, 'GET by job after the 404');

  // The list page as the daemon has it (stored, or assembled if it dropped the page), not as the
  // upstream now lists it: asked with the upstream refusing.
  await up.stop();
  const stored = listIds(await api(daemon, LIST_PAGE, { key: 'key-alpha' }), 'list page, upstream refusing');
  assert.deepEqual(stored, listed.filter((id) => id !== gone), 'the tombstoned run left the stored list page');

  // Offline, on the same db, with the fake running again so any contact shows in its log.
  await daemon.stop();
  await up.start();
  up.clearLog();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  await expectGoneLocally(offline, up, runPath(gone), 'offline GET');
  await expectGoneLocally(offline, up, `${RUNS}/by-job/job-alpha-success`, 'offline GET by job');
  const offlinePage = listIds(await api(offline, LIST_PAGE, { key: 'key-alpha' }), 'offline stored list page');
  assert.ok(!offlinePage.includes(gone), `offline stored list page still lists ${gone}: ${offlinePage}`);
  const assembledRes = await api(offline, `${RUNS}?extraction_agent_id=agent-alpha&skip=0&limit=3`, { key: 'key-alpha' });
  const assembled = listIds(assembledRes, 'offline assembled page');
  assert.match(cacheStatus(assembledRes), /detail=assembled/);
  assert.deepEqual(assembled, listed.filter((id) => id !== gone).slice(0, 3), 'the assembled page leaves the tombstoned run out');
  const { total, skip, limit } = JSON.parse(assembledRes.body);
  assert.deepEqual({ total, skip, limit }, { total: listed.length - 1, skip: 0, limit: 3 }, 'assembled page total/skip/limit');
  assert.equal(up.count(), 0, 'the offline daemon never contacted the upstream');
});

test('a stale PENDING run that upstream now answers 404 for is tombstoned', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: DAEMON });
  const gone = 'run-alpha-pending';
  const first = await api(daemon, runPath(gone), { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));

  up.markDeleted(gone);
  await sleep(PENDING_MAX_AGE_MS + 100);
  const refreshed = await api(daemon, runPath(gone), { key: 'key-alpha' });
  assert.equal(refreshed.status, 404, `a stale PENDING run deleted upstream: ${bodyText(refreshed)}`);
  jsonError(refreshed);
  assert.equal(up.count('GET', runPath(gone)), 2);

  await sleep(PENDING_MAX_AGE_MS + 100);
  await expectGoneLocally(daemon, up, runPath(gone), 'GET after the 404');

  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  await expectGoneLocally(offline, up, runPath(gone), 'offline GET');
});
