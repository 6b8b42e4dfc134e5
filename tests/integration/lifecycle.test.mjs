// (a) The daemon starts, answers health, and exits 0 on SIGTERM within a few seconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { startStack, api, rawRequest } from '../support/daemon.mjs';

test('health answers 200 and SIGTERM exits 0', async (t) => {
  const { daemon } = await startStack(t);
  const res = await api(daemon, '/_runmirror/health');
  assert.equal(res.status, 200);
  const exit = await daemon.stop({ timeoutMs: 5_000 });
  assert.equal(exit.timedOut, false, `daemon still running 5 s after SIGTERM\n${daemon.describe()}`);
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}\n${daemon.describe()}`);
});

test('SIGTERM exits 0 promptly even with an idle keep-alive client connection open', async (t) => {
  const { daemon } = await startStack(t);
  const sock = net.connect(daemon.port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => {});
  const firstResponse = new Promise((resolve) => sock.once('data', resolve));
  sock.write(`GET /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1:${daemon.port}\r\n\r\n`);
  const data = await firstResponse;
  assert.match(data.toString('latin1'), /^HTTP\/1\.1 200 /);
  // The connection now sits idle in keep-alive, like an SDK's pooled connection.
  const exit = await daemon.stop({ timeoutMs: 5_000 });
  assert.equal(exit.timedOut, false, `daemon still running 5 s after SIGTERM with an idle connection\n${daemon.describe()}`);
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}\n${daemon.describe()}`);
});

test('health is answered by the daemon itself, without the upstream', async (t) => {
  const { daemon, up } = await startStack(t);
  await up.stop();
  const res = await rawRequest(daemon.port, `GET /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  assert.match(res.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  assert.equal(up.count(), 0);
});

test('HEAD /_runmirror/health has the GET answer\'s head and no body', async (t) => {
  const { daemon } = await startStack(t);
  // Two requests on one connection: a body after the HEAD answer would be read as the start of
  // the next response.
  const res = await rawRequest(daemon.port,
    `HEAD /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
    `GET /_runmirror/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const text = res.data.toString('latin1');
  const [head, rest] = text.split('\r\n\r\n', 2);
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\nContent-Length: [1-9]\d*/i, 'the length the GET body would have');
  assert.match(rest, /^HTTP\/1\.1 200 /, `bytes after the HEAD answer's head: ${JSON.stringify(rest.slice(0, 80))}`);
});
