// Past --max-connections a new connection gets a 503 with Retry-After (never a silent close);
// from 80% of it, connections that have not sent a complete request head are cut after 1 s,
// so slow senders cannot hold the daemon; below 80% the usual timeouts apply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, api, flagArgs, parseRawResponse, singleDaemonInFleet } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';

singleDaemonInFleet('the connection cap and its pressure are one process\'s');

const MAX = 20;
const PRESSURE_AT = 16; // 80% of MAX
const PRESSURE_TIMEOUT_MS = 1_000;

// A connection that sends the start of a request head and never finishes it. `closed` resolves
// with everything the daemon sent, once it closes the connection.
function slowSocket(port) {
  const sock = net.connect(port, '127.0.0.1');
  const chunks = [];
  const opened = Date.now();
  const connected = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const closed = new Promise((resolve) => {
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => {});
    sock.on('close', () => resolve({ data: Buffer.concat(chunks), ms: Date.now() - opened }));
  });
  sock.write('GET /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  return { sock, connected, closed, isOpen: () => !sock.destroyed && sock.readyState === 'open' };
}

test('full: refused connections get 503 + Retry-After; under pressure slow connections are cut and a normal request is served', async (t) => {
  const { daemon } = await startStack(t, {
    daemon: { pollIntervalMs: 60_000, extraArgs: flagArgs({ 'max-connections': MAX }) },
  });
  const sockets = [];
  t.after(() => sockets.forEach((s) => s.sock.destroy()));

  // Below the pressure threshold the usual 30 s header timeout holds.
  const calm = [];
  for (let i = 0; i < PRESSURE_AT - 2; i += 1) calm.push(slowSocket(daemon.port));
  sockets.push(...calm);
  await Promise.all(calm.map((s) => s.connected));
  await sleep(PRESSURE_TIMEOUT_MS + 600);
  assert.ok(calm.every((s) => s.isOpen()), `below ${PRESSURE_AT} connections slow senders are not cut`);
  calm.forEach((s) => s.sock.destroy());
  await sleep(300); // the daemon notices them gone

  // 25 slow connections at once: the 5 past the cap are refused with an answer.
  const started = Date.now();
  const burst = [];
  for (let i = 0; i < MAX + 5; i += 1) {
    const s = slowSocket(daemon.port);
    burst.push(s);
    await s.connected; // accepted in this order
  }
  sockets.push(...burst);
  const refused = burst.slice(MAX);
  for (const [i, s] of refused.entries()) {
    const { data, ms } = await s.closed;
    const res = parseRawResponse(data);
    assert.ok(res, `connection ${MAX + i + 1} past the cap gets an answer, not a silent close (got ${JSON.stringify(data.toString())})`);
    assert.equal(res.status, 503, data.toString());
    assert.match(res.headers['retry-after']?.[0] ?? '', /^[12]$/, 'Retry-After of a second or two');
    assert.equal(res.headers.connection?.[0]?.toLowerCase(), 'close');
    assert.equal(typeof JSON.parse(res.body.toString()).detail, 'string');
    assert.ok(ms < 1_500, `refusal ${i} came after ${ms} ms`);
  }

  // Under pressure, slow connections that waited a second are cut, those whose usual 30 s
  // deadline was set before the pressure began included, without an answer to a head they
  // never finished, until fewer than 80% of the cap are open.
  const admitted = burst.slice(0, MAX);
  const enough = MAX - PRESSURE_AT + 1;
  const cut = await Promise.race([
    (async () => {
      const done = [];
      for (const s of admitted) s.closed.then((c) => done.push(c));
      while (done.length < enough) await sleep(20);
      return done;
    })(),
    sleep(PRESSURE_TIMEOUT_MS + 1_500, null),
  ]);
  const cutMs = Date.now() - started;
  assert.ok(cut, `under pressure at least ${enough} slow connections are cut within ~1 s`);
  t.diagnostic(`${cut.length} slow connections cut ${cutMs} ms after the pressure began`);
  for (const c of cut) assert.equal(c.data.length, 0, `a cut connection is closed without an answer: ${c.data}`);

  const normal = await api(daemon, '/_runmirror/health', { timeoutMs: 2_000 });
  assert.equal(normal.status, 200, bodyText(normal));
  assert.ok(normal.ms < 1_000, `a normal request answered in ${normal.ms} ms`);
});

test('a client that retries after the 503 is served within about a second while slow senders fill the daemon', async (t) => {
  const { daemon } = await startStack(t, {
    daemon: { pollIntervalMs: 60_000, extraArgs: flagArgs({ 'max-connections': MAX }) },
  });
  const sockets = [];
  t.after(() => sockets.forEach((s) => s.sock.destroy()));
  for (let i = 0; i < MAX; i += 1) {
    const s = slowSocket(daemon.port);
    sockets.push(s);
    await s.connected;
  }
  await sleep(50);
  const started = Date.now();
  let first = null;
  let res;
  for (;;) {
    res = await api(daemon, '/_runmirror/health', { timeoutMs: 2_000 });
    first ??= res;
    if (res.status === 200 || Date.now() - started > 5_000) break;
    assert.equal(res.status, 503, bodyText(res));
    await sleep(100);
  }
  const ms = Date.now() - started;
  t.diagnostic(`first answer ${first.status} in ${first.ms} ms; served after ${ms} ms`);
  assert.equal(first.status, 503, 'the daemon is full at first');
  assert.ok(first.ms < 500, `the refusal comes at once (${first.ms} ms)`);
  assert.equal(res.status, 200, bodyText(res));
  assert.ok(ms < PRESSURE_TIMEOUT_MS + 800, `served ${ms} ms after the first refusal`);
});
