// Upstream health: after N consecutive failures the daemon stops trying for a cool-down, answers
// from the store at once, probes in the background and reports the state at /_runmirror/health.
// Also: --offline answers a miss at once, with the upstream stopped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, startDaemon, api, flagArgs, health, waitFor, singleDaemonInFleet } from '../support/daemon.mjs';
import { assertSameBytes, assertStaleIfError, assertWithin, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

singleDaemonInFleet('the upstream\'s health and the breaker are one process\'s');

const THRESHOLD = 3;
const COOLDOWN_MS = 500;
const PENDING_MAX_AGE_MS = 100;
const AT_ONCE_MS = 150; // "at once": no upstream attempt, no timeout waited for
const BACK_UP_WITHIN_MS = 2_500; // cool-down 500 ms, plus room for one doubled cool-down

const runPath = (id) => `/api/v1/extraction/runs/${id}`;
const NO_CACHE = { 'cache-control': 'no-cache' };

function stackFlags({ connectMs }) {
  return {
    pollIntervalMs: 60_000, // no sync-worker polls during a test
    extraArgs: flagArgs({
      'upstream-failure-threshold': THRESHOLD,
      'upstream-cooldown-ms': COOLDOWN_MS,
      'connect-timeout-ms': connectMs,
      'response-timeout-ms': 2_000,
      'total-timeout-ms': 4_000,
      'pending-max-age-ms': PENDING_MAX_AGE_MS,
    }),
  };
}

// The "upstream" object of /_runmirror/health, its shape checked.
async function upstreamHealth(daemon, label = '') {
  const h = await health(daemon);
  assert.equal(h.status, 200, `${label}health status`);
  assert.equal(h.json?.status, 'ok', `${label}health: ${JSON.stringify(h.json)}`);
  const u = h.json.upstream;
  assert.ok(u && typeof u === 'object', `${label}health.upstream must be an object: ${JSON.stringify(h.json)}`);
  assert.ok(['up', 'down'].includes(u.state), `${label}health.upstream.state: ${JSON.stringify(u)}`);
  assert.equal(typeof u.consecutive_failures, 'number', `${label}health.upstream.consecutive_failures: ${JSON.stringify(u)}`);
  assert.equal(typeof u.retry_in_ms, 'number', `${label}health.upstream.retry_in_ms: ${JSON.stringify(u)}`);
  return u;
}

// Store what the down-state checks serve: a PENDING run (stale after PENDING_MAX_AGE_MS) and a
// final run.
async function storeCopies(daemon, up) {
  for (const id of ['run-alpha-pending', 'run-alpha-success']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
    assertSameBytes(res.body, up.runBytes(id), `storing ${id}`);
  }
}

// While the circuit is open: stored copies come at once; a request with nothing stored (a miss,
// a pass-through) is still sent, and fails as the upstream makes it fail, within |failWithinMs|
// and with status |failStatus|; the daemon adds no wait (no Retry-After) of its own.
async function assertServesFromStoreAtOnce(daemon, up, label, { failStatus, failWithinMs }) {
  await sleep(PENDING_MAX_AGE_MS + 50); // the PENDING copy is stale: it would be forwarded
  const pending = await api(daemon, runPath('run-alpha-pending'), { key: 'key-alpha' });
  assertWithin(pending, AT_ONCE_MS, `${label}stale PENDING copy: `);
  assertStaleIfError(pending, up.runBytes('run-alpha-pending'), { label: `${label}stale PENDING copy: ` });

  const forced = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha', headers: NO_CACHE });
  assertWithin(forced, AT_ONCE_MS, `${label}final copy with no-cache: `);
  assertStaleIfError(forced, up.runBytes('run-alpha-success'), { label: `${label}final copy with no-cache: ` });

  const miss = await api(daemon, runPath('run-big-010'), { key: 'key-alpha', timeoutMs: 10_000 });
  assertWithin(miss, failWithinMs, `${label}miss: `);
  assert.equal(miss.status, failStatus, `${label}miss while down is tried: ${bodyText(miss)}`);
  jsonError(miss, `${label}miss: `);
  cacheStatus(miss, `${label}miss: `);
  assert.equal(miss.headers['retry-after'], undefined, `${label}the daemon adds no Retry-After of its own`);

  const pass = await api(daemon, '/api/v1/echo', { timeoutMs: 10_000 });
  assertWithin(pass, failWithinMs, `${label}pass-through: `);
  assert.equal(pass.status, failStatus, `${label}pass-through while down is tried: ${bodyText(pass)}`);
  jsonError(pass, `${label}pass-through: `);
  assert.equal(pass.headers['retry-after'], undefined, `${label}pass-through: no Retry-After`);
}

// Health goes back to "up" once the upstream answers again; returns how long that took.
async function assertBackUp(t, daemon, label) {
  const started = Date.now();
  const back = await waitFor(async () => (await upstreamHealth(daemon)).state === 'up', { timeoutMs: BACK_UP_WITHIN_MS, intervalMs: 50 });
  const ms = Date.now() - started;
  t.diagnostic(`${label}health "up" again ${ms} ms after the upstream came back`);
  assert.ok(back, `${label}health still "down" ${BACK_UP_WITHIN_MS} ms after the upstream came back`);
  const u = await upstreamHealth(daemon);
  assert.equal(u.consecutive_failures, 0, `${label}failures reset once up: ${JSON.stringify(u)}`);
}

test('upstream stopped: after 3 failures health is "down", copies come at once, misses are still tried; back "up" after a restart', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: stackFlags({ connectMs: 1_000 }) });
  await storeCopies(daemon, up);
  const h = await health(daemon);
  assert.equal(h.json?.mode, 'online');
  assert.equal(h.json?.upstream?.url, up.url, `health names the upstream: ${JSON.stringify(h.json)}`);
  const initial = await upstreamHealth(daemon);
  assert.equal(initial.state, 'up');
  assert.equal(initial.consecutive_failures, 0);

  await up.stop();
  for (const id of ['run-big-000', 'run-big-001', 'run-big-002']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha', timeoutMs: 10_000 });
    assert.equal(res.status, 502, `${id} with the upstream refusing: ${bodyText(res)}`);
  }
  const down = await upstreamHealth(daemon, 'after 3 failures: ');
  assert.equal(down.state, 'down', `after ${THRESHOLD} failures: ${JSON.stringify(down)}`);
  assert.ok(down.consecutive_failures >= THRESHOLD, JSON.stringify(down));
  assert.ok(down.retry_in_ms >= 0 && down.retry_in_ms <= COOLDOWN_MS, `first cool-down is ${COOLDOWN_MS} ms: ${JSON.stringify(down)}`);

  await assertServesFromStoreAtOnce(daemon, up, 'down: ', { failStatus: 502, failWithinMs: AT_ONCE_MS });

  await up.start();
  await assertBackUp(t, daemon, '');
  const miss = await api(daemon, runPath('run-big-010'), { key: 'key-alpha' });
  assert.equal(miss.status, 200, `a miss once up again: ${bodyText(miss)}`);
  assertSameBytes(miss.body, up.runBytes('run-big-010'));
  assert.equal(up.count('GET', runPath('run-big-010')), 1, 'the miss was forwarded');
});

test('upstream blackholed: once down, copies come at once instead of after the connect timeout', async (t) => {
  const CONNECT_MS = 1_500;
  const { daemon, up } = await startStack(t, { daemon: stackFlags({ connectMs: CONNECT_MS }) });
  await storeCopies(daemon, up);

  await up.setMode('blackhole');
  for (const id of ['run-big-000', 'run-big-001', 'run-big-002']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha', timeoutMs: 10_000 });
    assert.equal(res.status, 504, `${id} with the connect never completing: ${bodyText(res)}`);
    assertWithin(res, CONNECT_MS * 1.1, `${id}: `);
  }
  const down = await upstreamHealth(daemon);
  assert.equal(down.state, 'down', JSON.stringify(down));

  await assertServesFromStoreAtOnce(daemon, up, 'down (blackhole): ', { failStatus: 504, failWithinMs: CONNECT_MS * 1.1 });

  // Back: the next request with nothing stored is sent, and its success closes the circuit at
  // once, without waiting for a background probe.
  await up.setMode('serving');
  const miss = await api(daemon, runPath('run-big-011'), { key: 'key-alpha' });
  assert.equal(miss.status, 200, bodyText(miss));
  assert.equal(up.count('GET', runPath('run-big-011')), 1, 'the miss was forwarded');
  const u = await upstreamHealth(daemon);
  assert.equal(u.state, 'up', `one success closes the circuit: ${JSON.stringify(u)}`);
});

test('429 is not a health failure; 503s are', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: stackFlags({ connectMs: 1_000 }) });
  const runs = /^\/api\/v1\/extraction\/runs\//;

  up.setFault({ path: runs, status: 429, body: '{"detail":"rate limited"}', headers: { 'retry-after': '30' }, times: THRESHOLD + 2 });
  for (let i = 0; i < THRESHOLD + 2; i += 1) {
    const res = await api(daemon, runPath(`run-big-02${i}`), { key: 'key-alpha', timeoutMs: 10_000 });
    assert.ok([429, 502].includes(res.status), `429 from upstream: ${res.status} ${bodyText(res)}`);
  }
  const after429 = await upstreamHealth(daemon);
  assert.equal(after429.state, 'up', `${THRESHOLD + 2} answers of 429 must not mark the upstream down: ${JSON.stringify(after429)}`);
  assert.equal(after429.consecutive_failures, 0, JSON.stringify(after429));

  up.clearFaults();
  up.setFault({ path: runs, status: 503, body: '{"detail":"overloaded"}' });
  for (let i = 0; i < THRESHOLD; i += 1) {
    const res = await api(daemon, runPath(`run-big-03${i}`), { key: 'key-alpha', timeoutMs: 10_000 });
    assert.ok([503, 502].includes(res.status), `503 from upstream: ${res.status} ${bodyText(res)}`);
  }
  const after503 = await upstreamHealth(daemon);
  assert.equal(after503.state, 'down', `${THRESHOLD} answers of 503 mark the upstream down: ${JSON.stringify(after503)}`);

  up.clearFaults();
  await assertBackUp(t, daemon, '503s: ');
});

test('--offline with the upstream stopped: a miss is a 503 in under 50 ms', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  const stored = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(stored.status, 200);
  await daemon.stop();
  await up.stop();

  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  const h = await health(offline);
  assert.equal(h.json?.mode, 'offline', JSON.stringify(h.json));

  const times = [];
  for (let i = 0; i < 20; i += 1) {
    const id = `run-big-${String(40 + i).padStart(3, '0')}`;
    const miss = await api(offline, runPath(id), { key: 'key-alpha', timeoutMs: 5_000 });
    assert.equal(miss.status, 503, `offline miss ${id}: ${bodyText(miss)}`);
    assert.equal(miss.headers['x-should-retry'], 'false');
    jsonError(miss);
    times.push(miss.ms);
  }
  times.sort((a, b) => a - b);
  t.diagnostic(`offline miss: median ${times[times.length >> 1]} ms, max ${times.at(-1)} ms over ${times.length} misses`);
  assert.ok(times.at(-1) < 50, `an offline miss must answer in under 50 ms: ${times.join(', ')} ms`);

  const hit = await api(offline, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(hit.status, 200);
  assertSameBytes(hit.body, up.runBytes('run-alpha-success'));
});
