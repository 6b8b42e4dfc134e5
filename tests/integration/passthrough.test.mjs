// (e) Everything that is not a runs route passes through, streamed both ways, with hop-by-hop
// headers stripped and Host rewritten.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';

import { startStack, api, rawRequest, parseRawResponse, rssKiB, httpRequest } from '../support/daemon.mjs';
import { patternBytes } from '../support/fake_upstream.mjs';
import { bodyText } from '../support/checks.mjs';

const MiB = 1024 * 1024;
const HWM_LIMIT_KIB = 64 * 1024;

// A Readable of `size` pattern bytes (after an optional prefix, before an optional suffix),
// produced on demand in 256 KiB pieces; `hash` sees every byte pushed.
function generated(size, hash, { prefix = '', suffix = '' } = {}) {
  let offset = 0;
  let stage = 0;
  return new Readable({
    read() {
      if (stage === 0) {
        stage = 1;
        if (prefix) {
          hash.update(prefix);
          this.push(Buffer.from(prefix));
          return;
        }
      }
      if (offset < size) {
        const c = patternBytes(offset, Math.min(256 * 1024, size - offset));
        offset += c.length;
        hash.update(c);
        this.push(c);
        return;
      }
      if (stage === 1) {
        stage = 2;
        if (suffix) {
          hash.update(suffix);
          this.push(Buffer.from(suffix));
          return;
        }
      }
      this.push(null);
    },
  });
}

async function hwmMessage(daemon) {
  const m = await rssKiB(daemon.pid);
  return { ...m, text: `VmHWM ${m.vmHWM} KiB, VmRSS ${m.vmRSS} KiB (limit ${HWM_LIMIT_KIB} KiB)` };
}

test('50 MB uploads stream through intact while the daemon stays under 64 MiB peak RSS', { timeout: 180_000 }, async (t) => {
  const { daemon, up } = await startStack(t);
  const size = 50 * MiB;

  // 1. application/octet-stream with a Content-Length.
  const h1 = crypto.createHash('sha256');
  const r1 = await httpRequest(`${daemon.url}/api/v1/files`, {
    method: 'POST',
    headers: { authorization: 'Bearer key-alpha', 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: generated(size, h1),
    timeoutMs: 120_000,
  });
  assert.equal(r1.status, 200, bodyText(r1));
  const got1 = JSON.parse(r1.body);
  assert.equal(got1.bytes, size, 'octet-stream upload byte count at the upstream');
  assert.equal(got1.sha256, h1.digest('hex'), 'octet-stream upload sha256 at the upstream');
  assert.equal(got1.content_type, 'application/octet-stream');
  const after1 = await hwmMessage(daemon);
  assert.ok(after1.vmHWM < HWM_LIMIT_KIB, `after a 50 MB Content-Length upload: ${after1.text}`);

  // 2. multipart/form-data, chunked (no Content-Length), like an SDK streaming a file.
  const boundary = 'runmirror-test-boundary-7d9a1c';
  const prefix =
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nextract\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  const suffix = `\r\n--${boundary}--\r\n`;
  const h2 = crypto.createHash('sha256');
  const r2 = await httpRequest(`${daemon.url}/api/v1/files`, {
    method: 'POST',
    headers: { authorization: 'Bearer key-alpha', 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: generated(size, h2, { prefix, suffix }),
    timeoutMs: 120_000,
  });
  assert.equal(r2.status, 200, bodyText(r2));
  const got2 = JSON.parse(r2.body);
  assert.equal(got2.bytes, size + prefix.length + suffix.length, 'multipart upload byte count at the upstream');
  assert.equal(got2.sha256, h2.digest('hex'), 'multipart upload sha256 at the upstream');
  assert.equal(got2.content_type, `multipart/form-data; boundary=${boundary}`);
  assert.equal(up.count('POST', '/api/v1/files'), 2);

  const after2 = await hwmMessage(daemon);
  assert.ok(after2.vmHWM < HWM_LIMIT_KIB, `after two 50 MB uploads: ${after2.text}`);
});

test('a 20 MB chunked download arrives intact, with a slow reader, within bounded memory', { timeout: 120_000 }, async (t) => {
  const { daemon, up } = await startStack(t);
  const size = 20 * MiB;
  const expected = crypto.createHash('sha256');
  for (let off = 0; off < size; off += MiB) expected.update(patternBytes(off, Math.min(MiB, size - off)));

  const result = await new Promise((resolve, reject) => {
    const req = http.get(
      `${daemon.url}/api/v1/files/file-big/content?bytes=${size}`,
      { headers: { authorization: 'Bearer key-alpha' }, agent: false },
      (res) => {
        const hash = crypto.createHash('sha256');
        let bytes = 0;
        let paused = false;
        res.on('data', (c) => {
          hash.update(c);
          bytes += c.length;
          if (!paused && bytes > MiB) {
            // Stop reading for a second: the daemon must apply backpressure, not buffer 20 MB.
            paused = true;
            res.pause();
            setTimeout(() => res.resume(), 1_000);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, sha256: hash.digest('hex') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('download timed out')));
  });
  assert.equal(result.status, 200);
  assert.equal(result.bytes, size, 'download byte count');
  assert.equal(result.sha256, expected.digest('hex'), 'download sha256');
  assert.equal(up.count('GET', '/api/v1/files/file-big/content'), 1);
  const m = await hwmMessage(daemon);
  assert.ok(m.vmHWM < HWM_LIMIT_KIB, `after a 20 MB download: ${m.text}`);
});

test('hop-by-hop request headers are stripped, Host is rewritten, end-to-end headers are kept', async (t) => {
  const { daemon, up } = await startStack(t);
  const body = 'hello world';
  const request =
    'POST /api/v1/echo/sub?x=1&y=%C3%A9&resphop=1 HTTP/1.1\r\n' +
    `Host: 127.0.0.1:${daemon.port}\r\n` +
    'Authorization: Bearer key-alpha\r\n' +
    'Connection: close, X-Hop-A\r\n' +
    'X-Hop-A: listed-in-connection\r\n' +
    'Keep-Alive: timeout=5\r\n' +
    'Proxy-Connection: keep-alive\r\n' +
    'TE: trailers\r\n' +
    'Trailer: X-Checksum\r\n' +
    'Upgrade: websocket\r\n' +
    'Proxy-Authorization: Basic dXNlcjpwYXNz\r\n' +
    'X-Custom-End: kept-value\r\n' +
    'Accept: application/json\r\n' +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${body.length}\r\n` +
    '\r\n' +
    body;
  const raw = await rawRequest(daemon.port, request, { timeoutMs: 5_000 });
  const res = parseRawResponse(raw.data);
  assert.ok(res, `no HTTP response: ${JSON.stringify(raw.data.toString('latin1').slice(0, 300))}`);
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.equal(up.count('POST', '/api/v1/echo/sub'), 1);

  const echo = JSON.parse(res.body.toString('utf8'));
  assert.equal(echo.method, 'POST');
  assert.equal(echo.path, '/api/v1/echo/sub');
  assert.equal(echo.query, 'x=1&y=%C3%A9&resphop=1', 'query string forwarded as sent');
  const h = echo.headers;
  for (const name of ['x-hop-a', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authorization']) {
    assert.equal(h[name], undefined, `hop-by-hop request header ${name} must not be forwarded (got ${JSON.stringify(h[name])})`);
  }
  assert.ok(!/x-hop-a/i.test(h.connection ?? ''), `forwarded Connection must not list X-Hop-A: ${h.connection}`);
  assert.equal(h.authorization, 'Bearer key-alpha', 'Authorization is end-to-end');
  assert.equal(h.host, `127.0.0.1:${up.port}`, 'Host is rewritten to the upstream');
  assert.equal(h['x-custom-end'], 'kept-value');
  assert.equal(h.accept, 'application/json');
  assert.equal(h['content-type'], 'text/plain');
  assert.equal(echo.bodyBytes, body.length);
  assert.equal(echo.bodySha256, crypto.createHash('sha256').update(body).digest('hex'));
  assert.equal(echo.rawHeaders.filter((x, i) => i % 2 === 0 && x.toLowerCase() === 'host').length, 1, 'exactly one Host');

  // Response side: hop-by-hop headers from the upstream are not relayed either.
  assert.equal(res.headers['x-resp-hop'], undefined, 'a header listed in the upstream\'s Connection must be dropped');
  assert.ok(!(res.headers['keep-alive'] ?? []).includes('timeout=5'), 'the upstream\'s Keep-Alive must be dropped');
  assert.deepEqual(res.headers['x-echo-end-to-end'], ['kept']);
});

test('status codes and end-to-end response headers are relayed', async (t) => {
  const { daemon, up } = await startStack(t);
  for (const status of [201, 204, 418, 500]) {
    const res = await api(daemon, `/api/v1/echo?status=${status}`, { method: status === 204 ? 'DELETE' : 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, status, `echo?status=${status}: ${bodyText(res)}`);
    assert.equal(res.headers['x-echo-end-to-end'], 'kept');
    if (status === 204) assert.equal(res.body.length, 0);
    else assert.equal(JSON.parse(res.body).bodyBytes, 7);
  }
  assert.equal(up.count(null, '/api/v1/echo'), 4, 'each pass-through request reaches the upstream once (5xx is not retried)');
  const agents = await api(daemon, '/api/v1/extraction/extraction-agents?project_id=p-alpha', { key: 'key-alpha' });
  assert.equal(agents.status, 200);
  assert.deepEqual(JSON.parse(agents.body).map((a) => a.id).sort(), ['agent-alpha', 'agent-big']);
});
