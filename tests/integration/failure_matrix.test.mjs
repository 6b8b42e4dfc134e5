// Serve through failure: every way the upstream can fail × {a stored copy, none} × {run, by-job,
// list}. With a copy the daemon serves it (stale-if-error); without, a JSON error naming the
// cause. Never a hang past the configured timeouts, never a broken body, and nothing broken is
// stored.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, api, flagArgs, makeTempDir, removeDir, makeTestCA, cleanupStack } from '../support/daemon.mjs';
import { assertSameBytes, assertStaleIfError, assertWithin, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

// Large enough that +10% is more than a busy 2-core CI machine's scheduling jitter.
const CONNECT_MS = 1_000;
const TLS_MS = 1_000;
const RESPONSE_MS = 1_200;
const TOTAL_MS = 2_000;
const SLACK = 1.1; // a cell may take its governing timeout + 10%

const DAEMON_FLAGS = flagArgs({
  'connect-timeout-ms': CONNECT_MS,
  'tls-timeout-ms': TLS_MS,
  'response-timeout-ms': RESPONSE_MS,
  'total-timeout-ms': TOTAL_MS,
  'upstream-failure-threshold': 1_000, // the circuit must not open in the middle of the matrix
  'list-max-age-ms': 1, // a stored list page is stale at once: the next read goes upstream
});
const DAEMON = { extraArgs: DAEMON_FLAGS, pollIntervalMs: 60_000 }; // no sync-worker polls during a test

const RUNS = '/api/v1/extraction/runs';
const RUNS_ROUTES = /^\/api\/v1\/extraction\/runs(\/|$)/;
const NO_CACHE = { 'cache-control': 'no-cache' };

// What a client asks, with a copy stored (`copy`) and without (`none`). Final runs are served from
// the store without asking upstream, so their copy cells force the upstream with no-cache; the
// list page is stale after --list-max-age-ms. The `none` list uses a key the daemon has never
// seen: for a known key it would assemble a page from stored runs instead.
const TARGETS = [
  {
    name: 'run',
    copy: { key: 'key-alpha', path: `${RUNS}/run-alpha-success`, headers: NO_CACHE },
    none: { key: 'key-alpha', path: `${RUNS}/run-big-000` },
    check: runCheck('run-alpha-success'),
    checkNone: runCheck('run-big-000'),
  },
  {
    name: 'by-job',
    copy: { key: 'key-alpha', path: `${RUNS}/by-job/job-alpha-error`, headers: NO_CACHE },
    none: { key: 'key-alpha', path: `${RUNS}/by-job/job-big-001` },
    check: runCheck('run-alpha-error'),
    checkNone: runCheck('run-big-001'),
  },
  {
    name: 'list',
    copy: { key: 'key-alpha', path: `${RUNS}?extraction_agent_id=agent-alpha&skip=0&limit=10`, headers: {} },
    none: { key: 'key-beta', path: `${RUNS}?extraction_agent_id=agent-beta&skip=0&limit=10` },
    check: listCheck('agent-alpha'),
    checkNone: listCheck('agent-beta'),
  },
];

// Asserts a healthy answer: the upstream's bytes of one run.
function runCheck(id) {
  return (up, res, label) => {
    assert.equal(res.status, 200, `${label}${bodyText(res)}`);
    assertSameBytes(res.body, up.runBytes(id), label);
  };
}

// Asserts a healthy answer: the agent's whole list, newest first, items as the upstream's bytes.
function listCheck(agent) {
  return (up, res, label) => {
    assert.equal(res.status, 200, `${label}${bodyText(res)}`);
    const page = JSON.parse(res.body);
    assert.deepEqual(page.items.map((r) => r.id), up.listIds(agent), `${label}items`);
    for (const item of page.items) assert.ok(res.body.includes(up.runBytes(item.id)), `${label}item ${item.id} is not the upstream's bytes`);
  };
}

// Each fault: how to switch it on, the timeout that governs how long a cell may take, the status
// wanted without a copy, and what Cache-Status must say about the upstream's status
// (a number: fwd-status=N; null: the upstream never answered; undefined: either).
const FAULTS = [
  {
    name: 'refused',
    on: (up) => up.setMode('refused'),
    limitMs: TOTAL_MS,
    noneStatus: [502],
    fwdStatus: null,
  },
  {
    name: 'blackhole',
    on: (up) => up.setMode('blackhole'),
    limitMs: CONNECT_MS,
    noneStatus: [504],
    fwdStatus: null,
  },
  {
    name: 'hang after accept',
    on: (up) => up.setFault({ path: RUNS_ROUTES, hang: true }),
    limitMs: RESPONSE_MS,
    noneStatus: [504],
    fwdStatus: null,
  },
  {
    name: 'reset mid-body',
    on: (up) => up.setFault({ path: RUNS_ROUTES, respond: 'reset' }),
    limitMs: TOTAL_MS,
    noneStatus: [502],
  },
  {
    name: 'truncated body',
    on: (up) => up.setFault({ path: RUNS_ROUTES, respond: 'truncated' }),
    limitMs: TOTAL_MS,
    noneStatus: [502],
  },
  {
    // The header comes at once; the total timeout, not the response timeout, ends the wait.
    name: 'body stalls',
    on: (up) => up.setFault({ path: RUNS_ROUTES, respond: 'stalled' }),
    limitMs: TOTAL_MS,
    noneStatus: [504],
    fwdStatus: null,
  },
  {
    name: '503',
    on: (up) =>
      up.setFault({ path: RUNS_ROUTES, status: 503, body: '{"detail":"upstream overloaded"}', headers: { 'retry-after': '5' } }),
    limitMs: TOTAL_MS,
    noneStatus: [503, 502], // 503: relayed as it is
    fwdStatus: 503,
    relayedRetryAfter: '5',
  },
  {
    name: '429',
    on: (up) =>
      up.setFault({ path: RUNS_ROUTES, status: 429, body: '{"detail":"rate limited"}', headers: { 'retry-after': '7' } }),
    limitMs: TOTAL_MS,
    noneStatus: [429, 502], // 429: relayed as it is
    fwdStatus: 429,
    relayedRetryAfter: '7',
  },
  {
    name: 'invalid JSON',
    on: (up) => up.setFault({ path: RUNS_ROUTES, respond: 'invalid-json' }),
    limitMs: TOTAL_MS,
    noneStatus: [502],
  },
];

// A fake and a daemon; the copy of every target fetched and stored while the fake is healthy.
async function primedStack(t, { tls, daemon = DAEMON } = {}) {
  const stack = await startStack(t, { tls, daemon });
  stack.stored = {};
  for (const target of TARGETS) {
    const res = await api(stack.daemon, target.copy.path, { key: target.copy.key });
    target.check(stack.up, res, `priming ${target.name}: `);
    stack.stored[target.name] = res.body;
  }
  return stack;
}

function get(daemon, { key, path, headers = {} }) {
  return api(daemon, path, { key, headers, timeoutMs: 10_000 });
}

// With a copy: the copy, at once after the failure; and the copy is still the good one after.
async function copyCell(t, { daemon, stored }, fault, target, label) {
  const res = await get(daemon, target.copy);
  t.diagnostic(`${res.ms} ms (limit ${Math.round(fault.limitMs * SLACK)} ms)`);
  assertWithin(res, fault.limitMs * SLACK, label);
  assertStaleIfError(res, stored[target.name], { fwdStatus: fault.fwdStatus, label });

  // Asked again without no-cache: a final run comes from the store, the list page is stale
  // again. Either way, the good copy: the broken answer replaced nothing.
  const again = await get(daemon, { ...target.copy, headers: {} });
  assertWithin(again, fault.limitMs * SLACK, `${label}again: `);
  assert.equal(again.status, 200, `${label}again: ${bodyText(again)}`);
  assertSameBytes(again.body, stored[target.name], `${label}again`);
}

// Without a copy: a JSON error naming the cause, at once after the failure.
async function noneCell(t, { daemon }, fault, target, label) {
  const res = await get(daemon, target.none);
  t.diagnostic(`${res.ms} ms (limit ${Math.round(fault.limitMs * SLACK)} ms), status ${res.status}`);
  assertWithin(res, fault.limitMs * SLACK, label);
  assert.ok(
    fault.noneStatus.includes(res.status),
    `${label}want ${fault.noneStatus.join(' or ')}, got ${res.status} ` +
      `(Cache-Status ${JSON.stringify(res.headers['cache-status'])}): ${bodyText(res)}`,
  );
  const err = jsonError(res, label);
  assert.ok(err.detail !== '' && err.detail !== null, `${label}"detail" must name the cause: ${bodyText(res)}`);
  cacheStatus(res, label);
  if (fault.relayedRetryAfter && res.status !== 502) {
    assert.equal(res.headers['retry-after'], fault.relayedRetryAfter, `${label}a relayed ${res.status} keeps Retry-After`);
  }
}

// Once the upstream is healthy again: nothing broken was stored.
async function afterHealing({ daemon, up }, target, label) {
  // The copy is still the good one (a final run from the store, the list page fetched anew).
  const copy = await get(daemon, { ...target.copy, headers: {} });
  target.check(up, copy, `${label}copy: `);
  // What was never stored goes upstream and gets the good answer.
  const before = up.countRequest('GET', target.none.path);
  const none = await get(daemon, target.none);
  assert.equal(
    up.countRequest('GET', target.none.path),
    before + 1,
    `${label}a read after healing must go upstream once: nothing was stored (got ${none.status}, ` +
      `Cache-Status ${JSON.stringify(none.headers['cache-status'])}: ${bodyText(none)})`,
  );
  target.checkNone(up, none, `${label}none: `);
}

for (const fault of FAULTS) {
  test(`upstream ${fault.name}: a stored copy is served, otherwise a JSON error; nothing broken is stored`, async (t) => {
    const stack = await primedStack(t);
    await fault.on(stack.up);
    for (const target of TARGETS) {
      await t.test(`${fault.name} × copy × ${target.name}`, (st) => copyCell(st, stack, fault, target, `${fault.name}, copy, ${target.name}: `));
      await t.test(`${fault.name} × none × ${target.name}`, (st) => noneCell(st, stack, fault, target, `${fault.name}, none, ${target.name}: `));
    }
    stack.up.clearFaults();
    await stack.up.setMode('serving');
    for (const target of TARGETS) {
      await t.test(`${fault.name}: healed, ${target.name}`, () => afterHealing(stack, target, `${fault.name}, healed, ${target.name}: `));
    }
  });
}

test('TLS handshake that never completes: the copy or a 504 within --tls-timeout-ms', async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir('runmirror-ca-');
  defer(() => removeDir(dir));
  const ca = await makeTestCA(dir);
  const stack = await primedStack(t, { tls: { key: ca.key, cert: ca.cert }, daemon: { ...DAEMON, upstreamCa: ca.caPath } });
  // TCP connects complete, the handshake never starts: the TLS deadline is the one that holds.
  await stack.up.setMode('silent');
  const fault = { limitMs: TLS_MS, noneStatus: [504], fwdStatus: null };
  for (const target of TARGETS) {
    await t.test(`tls stall × copy × ${target.name}`, (st) => copyCell(st, stack, fault, target, `tls stall, copy, ${target.name}: `));
    await t.test(`tls stall × none × ${target.name}`, (st) => noneCell(st, stack, fault, target, `tls stall, none, ${target.name}: `));
  }
  await stack.up.setMode('serving');
  for (const target of TARGETS) {
    await t.test(`tls stall: healed, ${target.name}`, () => afterHealing(stack, target, `tls stall, healed, ${target.name}: `));
  }
});

test('a body slower than --response-timeout-ms but within --total-timeout-ms is read whole', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: DAEMON });
  // The header at once, the second half of the body after the response timeout has passed.
  const bodyDelayMs = RESPONSE_MS + 300;
  up.setFault({ path: RUNS_ROUTES, respond: 'slow-body', bodyDelayMs });
  for (const target of TARGETS) {
    const res = await get(daemon, target.none);
    t.diagnostic(`${target.name}: ${res.ms} ms`);
    target.checkNone(up, res, `${target.name}: `);
    assert.ok(res.ms >= bodyDelayMs, `${target.name}: answered in ${res.ms} ms, before the body was complete`);
    assertWithin(res, TOTAL_MS * SLACK, `${target.name}: `);
  }
});
