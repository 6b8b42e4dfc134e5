// Pass-through and the circuit breaker: a request with no stored answer is always tried, even
// while the upstream counts as down, and its outcome is a probe (a success closes the circuit
// at once). Every answer on the pass-through route carries "Cache-Status: runmirror; fwd=bypass".

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api, flagArgs, health, singleDaemonInFleet } from '../support/daemon.mjs';
import { bodyText, jsonError } from '../support/checks.mjs';

singleDaemonInFleet('the upstream circuit breaker is one process\'s');

const THRESHOLD = 3;
const BYPASS = 'runmirror; fwd=bypass';
const runPath = (id) => `/api/v1/extraction/runs/${id}`;

// A cool-down far longer than the test: the guard's own background probe never runs, so only
// the pass-through requests can bring the upstream back.
const flags = {
  pollIntervalMs: 60_000,
  extraArgs: flagArgs({
    'upstream-failure-threshold': THRESHOLD,
    'upstream-cooldown-ms': 60_000,
    'connect-timeout-ms': 1_000,
    'response-timeout-ms': 2_000,
    'total-timeout-ms': 4_000,
  }),
};

async function upstreamState(daemon) {
  const h = await health(daemon);
  assert.equal(h.status, 200);
  return h.json.upstream;
}

async function openCircuit(daemon, up) {
  await up.stop();
  for (const id of ['run-big-000', 'run-big-001', 'run-big-002']) {
    const res = await api(daemon, runPath(id), { key: 'key-alpha', timeoutMs: 10_000 });
    assert.equal(res.status, 502, `${id} with the upstream refusing: ${bodyText(res)}`);
  }
  const down = await upstreamState(daemon);
  assert.equal(down.state, 'down', `after ${THRESHOLD} failures: ${JSON.stringify(down)}`);
}

test('circuit open, upstream back: pass-through GET and POST sent at once succeed and close the circuit', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: flags });
  await openCircuit(daemon, up);
  await up.start();

  const body = JSON.stringify({ name: 'agent', n: 1 });
  const [get, agents, post] = await Promise.all([
    api(daemon, '/api/v1/echo?x=1'),
    api(daemon, '/api/v1/extraction/extraction-agents', { key: 'key-alpha' }),
    api(daemon, '/api/v1/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
  ]);
  assert.equal(get.status, 200, `pass-through GET with the circuit open: ${bodyText(get)}`);
  assert.equal(agents.status, 200, `extraction-agents list with the circuit open: ${bodyText(agents)}`);
  assert.equal(post.status, 200, `pass-through POST with the circuit open: ${bodyText(post)}`);
  assert.equal(JSON.parse(post.body).bodyBytes, Buffer.byteLength(body), `the POST body reached the upstream: ${bodyText(post)}`);
  for (const [label, res] of [['GET', get], ['agents', agents], ['POST', post]]) {
    assert.equal(res.headers['cache-status'], BYPASS, `${label}: Cache-Status of a relayed answer`);
  }
  assert.equal(up.count('POST', '/api/v1/echo'), 1, 'the POST was forwarded once');

  const after = await upstreamState(daemon);
  assert.equal(after.state, 'up', `a pass-through success closes the circuit at once: ${JSON.stringify(after)}`);
  assert.equal(after.consecutive_failures, 0, JSON.stringify(after));
  const miss = await api(daemon, runPath('run-big-010'), { key: 'key-alpha' });
  assert.equal(miss.status, 200, `a miss once the circuit is closed: ${bodyText(miss)}`);
});

test('pass-through failures count toward the breaker; the daemon\'s own answers carry Cache-Status too', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: flags });
  await up.stop();
  for (let i = 0; i < THRESHOLD; i += 1) {
    const res = await api(daemon, '/api/v1/echo', { timeoutMs: 10_000 });
    assert.equal(res.status, 502, `pass-through with the upstream refusing: ${bodyText(res)}`);
    jsonError(res);
    assert.equal(res.headers['cache-status'], BYPASS, 'Cache-Status of the daemon\'s 502');
  }
  const down = await upstreamState(daemon);
  assert.equal(down.state, 'down', `${THRESHOLD} pass-through failures open the circuit: ${JSON.stringify(down)}`);
  // Still tried while down: a refused connect, not a fail-fast 503.
  const tried = await api(daemon, '/api/v1/echo', { timeoutMs: 10_000 });
  assert.equal(tried.status, 502, `pass-through while down is tried: ${bodyText(tried)}`);
  assert.equal(tried.headers['cache-status'], BYPASS);

  await up.start();
  const relayed = await api(daemon, '/api/v1/echo?status=503');
  assert.equal(relayed.status, 503, 'the upstream\'s own 503 is relayed');
  assert.equal(relayed.headers['cache-status'], BYPASS);
  assert.equal((await upstreamState(daemon)).state, 'down', 'an upstream 503 is no success');

  await daemon.stop();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  const refused = await api(offline, '/api/v1/echo');
  assert.equal(refused.status, 503, bodyText(refused));
  assert.equal(refused.headers['cache-status'], BYPASS, 'Cache-Status of the offline refusal');
});
