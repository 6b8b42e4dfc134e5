// (g) An HTTPS upstream: trusted through --upstream-ca, refused (502 JSON, no hang) without it.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, api, makeTempDir, removeDir, makeTestCA, cleanupStack } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';

async function testCA(t) {
  const defer = cleanupStack(t);
  const dir = await makeTempDir('runmirror-ca-');
  defer(() => removeDir(dir));
  return makeTestCA(dir);
}

test('HTTPS upstream with --upstream-ca: runs are read and mirrored', async (t) => {
  const ca = await testCA(t);
  const { daemon, up } = await startStack(t, { tls: { key: ca.key, cert: ca.cert }, daemon: { upstreamCa: ca.caPath } });
  assert.match(up.url, /^https:/);
  const p = '/api/v1/extraction/runs/run-alpha-success';
  const first = await api(daemon, p, { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  assertSameBytes(first.body, up.runBytes('run-alpha-success'));
  const second = await api(daemon, p, { key: 'key-alpha' });
  assert.match(cacheStatus(second), /\bhit\b/);
  assert.equal(up.count('GET', p), 1);
  const echo = await api(daemon, '/api/v1/echo');
  assert.equal(echo.status, 200, 'pass-through over TLS');
  assert.equal(JSON.parse(echo.body).headers.host, `127.0.0.1:${up.port}`);
});

test('HTTPS upstream with an untrusted certificate: JSON 502, promptly', async (t) => {
  const ca = await testCA(t);
  const { daemon, up } = await startStack(t, { tls: { key: ca.key, cert: ca.cert } });
  const started = Date.now();
  const res = await api(daemon, '/api/v1/extraction/runs/run-alpha-success', { key: 'key-alpha', timeoutMs: 20_000 });
  const ms = Date.now() - started;
  assert.equal(res.status, 502, `untrusted upstream certificate: ${bodyText(res)}`);
  jsonError(res);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  assert.equal(up.count(), 0, 'no request may be sent over an unverified TLS connection');

  const pass = await api(daemon, '/api/v1/echo', { timeoutMs: 20_000 });
  assert.equal(pass.status, 502, `pass-through to an untrusted upstream: ${bodyText(pass)}`);
  jsonError(pass);
  assert.equal(up.count(), 0);
});
