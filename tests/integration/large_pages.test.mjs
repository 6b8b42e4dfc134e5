// Large cached list pages go out from a sealed memory file with sendfile (issue 6): the same
// bytes as from memory, framed for keep-alive, and complete for a client that reads
// slowly (the daemon waits for room in the socket rather than dropping or spinning).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

import { startStack, api, rawRequest, parseRawResponse } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, bodyText } from '../support/checks.mjs';

const PAGE = '/api/v1/extraction/runs?extraction_agent_id=agent-big&limit=100';

// Pads every agent-big run by |bytes|, so a 100-run page is about 100 x |bytes|.
function padRuns(up, bytes) {
  for (const run of up.data.runs.values()) {
    if (run.agentId !== 'agent-big') continue;
    run.raw = run.raw.replace(/}$/, `,"padding":"${'p'.repeat(bytes)}"}`);
  }
}

// A page of about 6 MB: more than a loopback socket's send buffer takes at once (its first
// size comes from loopback's 64 KiB segments, a few MB), so a slow reader makes sendfile wait.
// The memory cache keeps entries up to an eighth of its budget: 64 MiB lets this one in.
// agent-big has PENDING runs, which the sync worker would refresh with list requests of the
// same path during a slow test (a sanitizer build under load): its first poll comes later.
async function storedLargePage(t) {
  const stack = await startStack(t, { daemon: { extraArgs: ['--memory-cache-mb', '64', '--poll-interval-ms', '600000'] } });
  padRuns(stack.up, 60_000);
  const first = await api(stack.daemon, PAGE, { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  assert.ok(first.body.length > 6_000_000, `page of ${first.body.length} bytes`);
  return { ...stack, bytes: first.body };
}

function rawGet(port, path, extra = '') {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer key-alpha\r\n${extra}\r\n`;
}

test('a large stored list page is served byte for byte from its memory file', async (t) => {
  const { daemon, up, bytes } = await storedLargePage(t);
  for (let i = 0; i < 3; i += 1) {
    const hit = await api(daemon, PAGE, { key: 'key-alpha' });
    assert.equal(hit.status, 200, bodyText(hit));
    assert.match(cacheStatus(hit), /\bhit\b/);
    assertSameBytes(hit.body, bytes, `hit ${i}`);
  }
  assert.equal(up.count('GET', '/api/v1/extraction/runs'), 1, 'one upstream fetch, then hits');
});

test('after a page from a file, the connection carries the next answers', async (t) => {
  const { daemon, bytes } = await storedLargePage(t);
  const res = await rawRequest(
    daemon.port,
    rawGet(daemon.port, PAGE) + rawGet(daemon.port, PAGE) +
      `GET /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 10_000 },
  );
  assert.equal(res.timedOut, false);
  let rest = res.data;
  for (const label of ['first pipelined GET', 'second pipelined GET']) {
    const page = parseRawResponse(rest);
    assert.equal(page.status, 200, label);
    assert.equal(Number(page.headers['content-length'][0]), bytes.length, label);
    assertSameBytes(page.body, bytes, label);
    rest = page.rest;
  }
  const health = parseRawResponse(rest);
  assert.equal(health.status, 200, `after the pages: ${rest.subarray(0, 80).toString('latin1')}`);
  assert.equal(health.rest.length, 0);
});

// A client with a 4 KiB receive buffer that waits before reading, then reads in small steps:
// the daemon's socket fills and sendfile must wait for room, many times. (Python, because
// Node cannot set SO_RCVBUF on a TCP socket; without it loopback buffers take the whole page.)
const SLOW_READER = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode())
time.sleep(0.3)
while True:
    b = s.recv(4096)
    if not b:
        break
    sys.stdout.buffer.write(b)
    time.sleep(0.0005)
`;

test('a client that reads slowly gets the whole page from a file', async (t) => {
  const { daemon, bytes } = await storedLargePage(t);
  const reader = spawn('python3', ['-c', SLOW_READER, String(daemon.port), rawGet(daemon.port, PAGE, 'Connection: close\r\n')]);
  t.after(() => reader.kill());
  const chunks = [];
  reader.stdout.on('data', (c) => chunks.push(c));
  let stderr = '';
  reader.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise((resolve) => reader.on('close', resolve));
  assert.equal(code, 0, stderr);
  const page = parseRawResponse(Buffer.concat(chunks));
  assert.equal(page.status, 200);
  assert.equal(page.rest.length, 0, 'nothing after the announced length');
  assertSameBytes(page.body, bytes, 'slow reader');
});
