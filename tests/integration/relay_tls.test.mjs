// The pass-through relay (src/net/pass_through.cpp, relay.cpp, relay_stream.*) over a plain-HTTP
// and an HTTPS upstream alike: large and chunked bodies both ways arrive byte-exact,
// Expect: 100-continue is decided by the upstream, keep-alive on both sides, an upstream that
// breaks off mid-answer is never passed on as a complete answer, one that resets gets a JSON
// 502, and answers without a body (HEAD, 204, 304) do not hang the connection.
//
// Each test starts its own upstream (Node's http/https server, with handlers written here so
// that each one controls the bytes it sends) and its own daemon in front of it. Clients are
// raw sockets wherever a high-level client would hide what is checked (interim answers,
// truncation, keep-alive).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { startDaemon, makeTempDir, removeDir, makeTestCA, cleanupStack, streamRequest, parseRawResponse } from '../support/daemon.mjs';
import { patternBytes } from '../support/fake_upstream.mjs';

const MiB = 1024 * 1024;
const SCHEMES = ['http', 'https'];

let ca = null; // one test CA for the file's HTTPS upstreams
let caDir = null;
before(async () => {
  caDir = await makeTempDir('runmirror-relay-ca-');
  ca = await makeTestCA(caDir);
});
after(async () => {
  if (caDir) await removeDir(caDir);
});

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// SHA-256 of `size` pattern bytes, computed in pieces.
function patternSha256(size) {
  const h = crypto.createHash('sha256');
  for (let off = 0; off < size; off += MiB) h.update(patternBytes(off, Math.min(MiB, size - off)));
  return h.digest('hex');
}

// A Readable of `size` pattern bytes between an optional prefix and suffix, in 256 KiB pieces;
// `hash` sees every byte pushed.
function generated(size, hash, { prefix = '', suffix = '' } = {}) {
  const parts = function* () {
    if (prefix) yield Buffer.from(prefix);
    for (let off = 0; off < size; off += 256 * 1024) yield patternBytes(off, Math.min(256 * 1024, size - off));
    if (suffix) yield Buffer.from(suffix);
  };
  return Readable.from(
    (function* () {
      for (const p of parts()) {
        hash.update(p);
        yield p;
      }
    })(),
  );
}

// ---- the upstream ---------------------------------------------------------------------------

// An HTTP or HTTPS server on 127.0.0.1:0 whose routes are `handlers[pathname](req, res, rec,
// ctx)`. Every request is recorded ({ method, path, headers, expect, bodyBytes, sha256,
// complete }); connections are counted at the TCP level. Requests carrying
// `Expect: 100-continue` reach the handler with nothing sent yet (the handler decides whether
// to send 100 Continue: `rec.sendContinue()`).
async function startUpstream(t, { tls = false, handlers = {} } = {}) {
  const defer = cleanupStack(t);
  const requests = [];
  const sockets = new Set();
  const rawByPort = new Map(); // remote port -> TCP socket (under TLS, the one below the TLS socket)
  let connections = 0;
  const server = tls ? https.createServer({ key: ca.key, cert: ca.cert }) : http.createServer();
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    rawByPort.set(socket.remotePort, socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err, socket) => socket.destroy());
  const onRequest = (req, res) => {
    const url = new URL(req.url, 'http://upstream');
    const rec = {
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      expect: req.headers.expect ?? null,
      bodyBytes: 0,
      sha256: null,
      complete: false,
      continueSentAt: null,
      raw: rawByPort.get(req.socket.remotePort),
      sendContinue() {
        rec.continueSentAt = Date.now();
        res.writeContinue();
      },
    };
    requests.push(rec);
    req.on('error', () => {});
    const handler = handlers[url.pathname];
    if (!handler) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"detail":"no such test route"}');
      return;
    }
    handler(req, res, rec);
  };
  server.on('request', onRequest);
  server.on('checkContinue', onRequest); // no automatic 100 Continue: the handler decides
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  defer(
    () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    count: (path) => requests.filter((r) => r.path === path).length,
  };
}

// Reads the whole request body, then answers what arrived (bytes, SHA-256, framing) as JSON.
function sink(req, res, rec) {
  const hash = crypto.createHash('sha256');
  if (rec.expect) rec.sendContinue();
  req.on('data', (c) => {
    rec.bodyBytes += c.length;
    hash.update(c);
  });
  req.on('end', () => {
    rec.complete = true;
    rec.sha256 = hash.digest('hex');
    const body = JSON.stringify({
      bytes: rec.bodyBytes,
      sha256: rec.sha256,
      content_type: req.headers['content-type'] ?? null,
      content_length: req.headers['content-length'] ?? null,
      transfer_encoding: req.headers['transfer-encoding'] ?? null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

// `bytes` pattern bytes, with a Content-Length (`chunked` false) or in chunks of varied sizes
// (no Content-Length: Node's server sends chunked coding), written with backpressure.
function download(req, res, rec, { chunked }) {
  req.resume();
  const size = Number(rec.query.get('bytes'));
  const headers = { 'content-type': 'application/octet-stream', 'x-end-to-end': 'kept' };
  if (!chunked) headers['content-length'] = size;
  res.writeHead(200, headers);
  let off = 0;
  let n = 0;
  const pump = () => {
    while (off < size) {
      // Chunks from 1 byte to ~300 KiB, so chunk boundaries fall anywhere in the relay's reads.
      const len = Math.min(size - off, chunked ? [1, 4093, 65536, 300_001, 17][n++ % 5] : 256 * 1024);
      const ok = res.write(patternBytes(off, len));
      off += len;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

const json = (res, status, obj, headers = {}) => {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
};

// A response head, part of the body, then the connection ends (`how`: 'fin' or 'reset').
function cutShort(req, res, rec, { chunked, how = 'fin' }) {
  req.resume();
  const socket = req.socket;
  const part = patternBytes(0, 300 * 1024);
  const head = chunked
    ? 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'
    : `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${MiB}\r\n\r\n`;
  socket.write(head);
  const data = chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part;
  socket.write(data, () => {
    setTimeout(() => {
      if (how === 'reset') rec.raw.resetAndDestroy();
      else socket.end();
    }, 100);
  });
}

// ---- the client side ------------------------------------------------------------------------

// A raw TCP connection to the daemon that collects what comes back.
class RawClient {
  constructor(port) {
    this.chunks = [];
    this.length = 0;
    this.closed = false;
    this.error = null;
    this.waiters = new Set();
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (c) => {
      this.chunks.push(c);
      this.length += c.length;
      this.wake();
    });
    this.sock.on('error', (err) => {
      this.error = err;
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.connected = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  get data() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  // Drops the first n bytes received (a response already checked).
  consume(n) {
    const rest = this.data.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
  }

  wake() {
    for (const w of this.waiters) w();
  }

  // Resolves with fn()'s first truthy value, or with null once the connection is closed or
  // timeoutMs passed without one.
  until(fn, timeoutMs) {
    return new Promise((resolve) => {
      let timer = null;
      const check = () => {
        const v = fn();
        if (v || this.closed) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(v || null);
        }
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(fn() || null);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  // The next complete response (see readResponse), or null after timeoutMs or a close.
  async response({ head = false, timeoutMs = 10_000 } = {}) {
    const r = await this.until(() => {
      const p = readResponse(this.data, { head, closed: this.closed });
      return p && p.complete ? p : null;
    }, timeoutMs);
    if (r) this.consume(r.end);
    return r;
  }

  async write(bytes) {
    await this.connected;
    await new Promise((resolve, reject) => this.sock.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  destroy() {
    this.sock.destroy();
  }
}

// One HTTP/1.1 response at the start of `buf`: { status, headers, body, complete, end } or null
// before a whole header block. `complete`: the body is all there by its framing (Content-Length,
// chunked coding with its last chunk, or, with neither, the connection closed); `end`: where the
// next response starts.
function readResponse(buf, { head = false, closed = false } = {}) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return { status: 0, statusLine: lines[0], headers: {}, body: Buffer.alloc(0), complete: true, end: buf.length };
  const status = Number(m[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) (headers[line.slice(0, i).trim().toLowerCase()] ??= []).push(line.slice(i + 1).trim());
  }
  const start = headEnd + 4;
  const res = { status, statusLine: lines[0], headers, body: Buffer.alloc(0), complete: false, end: start };
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    res.complete = true;
    return res;
  }
  if ((headers['transfer-encoding'] ?? []).join(',').toLowerCase().includes('chunked')) {
    const parts = [];
    let pos = start;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) break;
      const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0], 16);
      if (!Number.isFinite(size)) break;
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n\r\n', lineEnd);
        if (trailerEnd >= 0) {
          res.complete = true;
          res.end = trailerEnd + 4;
        }
        break;
      }
      const dataEnd = lineEnd + 2 + size;
      parts.push(buf.subarray(lineEnd + 2, Math.min(dataEnd, buf.length)));
      if (buf.length < dataEnd + 2) break;
      pos = dataEnd + 2;
    }
    res.body = Buffer.concat(parts);
    return res;
  }
  if (headers['content-length']) {
    const n = Number(headers['content-length'][0]);
    res.body = buf.subarray(start, start + n);
    res.complete = res.body.length === n;
    res.end = start + res.body.length;
    return res;
  }
  res.body = buf.subarray(start);
  res.complete = closed;
  res.end = buf.length;
  return res;
}

// An upstream of `scheme` with `handlers` and a daemon in front of it, both stopped when the
// test ends.
async function startRelay(t, scheme, handlers, { daemonArgs = [] } = {}) {
  const defer = cleanupStack(t);
  const up = await startUpstream(t, { tls: scheme === 'https', handlers });
  const daemon = await startDaemon({ upstreamUrl: up.url, upstreamCa: scheme === 'https' ? ca.caPath : undefined, extraArgs: daemonArgs });
  defer(() => daemon.stop());
  return { up, daemon };
}

function client(t, daemon) {
  const c = new RawClient(daemon.port);
  cleanupStack(t)(() => c.destroy());
  return c;
}

function requestHead(daemon, method, target, headers = {}) {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${daemon.port}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

// GET through the daemon with Node's client; the body is hashed as it arrives.
function fetchHashed(daemon, target) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${daemon.url}${target}`, { agent: false }, (res) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      res.on('data', (c) => {
        hash.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, sha256: hash.digest('hex'), complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(40_000, () => req.destroy(new Error(`GET ${target}: timed out`)));
  });
}

const uploadRoutes = { '/api/v1/extraction/jobs/file': sink, '/api/v1/files': sink };

// ---- the tests ------------------------------------------------------------------------------

for (const scheme of SCHEMES) {
  test(`${scheme} upstream: a 20 MB multipart upload to /api/v1/extraction/jobs/file arrives byte-exact`, { timeout: 60_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, uploadRoutes);
    const boundary = 'relay-test-boundary-4f1e';
    const prefix =
      `--${boundary}\r\nContent-Disposition: form-data; name="extraction_agent_id"\r\n\r\nagent-alpha\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n` +
      'Content-Type: application/pdf\r\n\r\n';
    const suffix = `\r\n--${boundary}--\r\n`;
    const size = 20 * MiB;
    const total = size + prefix.length + suffix.length;
    const hash = crypto.createHash('sha256');
    const head = requestHead(daemon, 'POST', '/api/v1/extraction/jobs/file', {
      Authorization: 'Bearer key-alpha',
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Content-Length': total,
      Connection: 'close',
    });
    const raw = await streamRequest(daemon.port, head, generated(size, hash, { prefix, suffix }), { timeoutMs: 50_000 });
    const res = parseRawResponse(raw.data);
    assert.ok(res, `no response (sent ${raw.sent} bytes, ${raw.error?.code ?? 'no error'})`);
    assert.equal(res.status, 200, `${res.statusLine} ${res.body.toString('utf8').slice(0, 300)}`);
    const got = JSON.parse(res.body.toString('utf8'));
    assert.equal(got.bytes, total, 'bytes at the upstream');
    assert.equal(got.sha256, hash.digest('hex'), 'sha256 at the upstream');
    assert.equal(got.content_type, `multipart/form-data; boundary=${boundary}`);
    assert.deepEqual(res.headers['cache-status'], ['runmirror; fwd=bypass']);
    assert.equal(up.count('/api/v1/extraction/jobs/file'), 1);
  });

  test(`${scheme} upstream: chunked request bodies (small and 6 MB) arrive byte-exact`, { timeout: 60_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, uploadRoutes);
    for (const size of [100 * 1024, 6 * MiB]) {
      const hash = crypto.createHash('sha256');
      const head = requestHead(daemon, 'POST', '/api/v1/files', {
        'Content-Type': 'application/octet-stream',
        'Transfer-Encoding': 'chunked',
        Connection: 'close',
      });
      const raw = await streamRequest(daemon.port, head, generated(size, hash), { chunked: true, timeoutMs: 40_000 });
      const res = parseRawResponse(raw.data);
      assert.ok(res, `${size} bytes chunked: no response (sent ${raw.sent} bytes, ${raw.error?.code ?? 'no error'})`);
      assert.equal(res.status, 200, `${size} bytes chunked: ${res.statusLine} ${res.body.toString('utf8').slice(0, 300)}`);
      const got = JSON.parse(res.body.toString('utf8'));
      assert.equal(got.bytes, size, `${size} bytes chunked: bytes at the upstream`);
      assert.equal(got.sha256, hash.digest('hex'), `${size} bytes chunked: sha256 at the upstream`);
    }
    assert.equal(up.count('/api/v1/files'), 2);
    assert.ok(up.requests.every((r) => r.complete));
  });

  test(`${scheme} upstream: a 20 MB response and a chunked 8 MB response reach the client byte-exact`, { timeout: 60_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/files/file-big/content': (req, res, rec) => download(req, res, rec, { chunked: false }),
      '/api/v1/files/file-chunked/content': (req, res, rec) => download(req, res, rec, { chunked: true }),
    });
    const big = 20 * MiB;
    const fixed = await fetchHashed(daemon, `/api/v1/files/file-big/content?bytes=${big}`);
    assert.equal(fixed.status, 200);
    assert.equal(fixed.headers['content-length'], String(big), 'the upstream Content-Length is relayed');
    assert.equal(fixed.bytes, big);
    assert.equal(fixed.sha256, patternSha256(big));
    assert.equal(fixed.headers['x-end-to-end'], 'kept');

    const size = 8 * MiB + 12345;
    const chunked = await fetchHashed(daemon, `/api/v1/files/file-chunked/content?bytes=${size}`);
    assert.equal(chunked.status, 200);
    assert.ok(chunked.complete, 'the chunked response ended with its last chunk');
    assert.equal(chunked.bytes, size);
    assert.equal(chunked.sha256, patternSha256(size));
    assert.equal(up.requests.length, 2);
  });

  test(`${scheme} upstream: Expect: 100-continue, the client gets 100 Continue only once the upstream sends it`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/files': (req, res, rec) => {
        // Decide after a while, as an upstream checking the key and quota would.
        setTimeout(() => sink(req, res, rec), 600);
      },
    });
    const body = patternBytes(0, 512 * 1024);
    const c = client(t, daemon);
    await c.write(
      requestHead(daemon, 'POST', '/api/v1/files', {
        Authorization: 'Bearer key-alpha',
        'Content-Type': 'application/octet-stream',
        'Content-Length': body.length,
        Expect: '100-continue',
      }),
    );
    const interim = await c.response({ timeoutMs: 5_000 });
    const interimAt = Date.now();
    assert.ok(interim, `no interim answer within 5 s: ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
    assert.equal(interim.status, 100, `want 100 Continue first, got ${interim.statusLine}`);
    assert.equal(up.requests.length, 1, 'the request head reached the upstream');
    assert.equal(up.requests[0].expect, '100-continue', 'the expectation is forwarded to the upstream');
    assert.ok(up.requests[0].continueSentAt, '100 Continue reached the client before the upstream sent one');
    assert.ok(interimAt >= up.requests[0].continueSentAt);
    assert.equal(c.length, 0, 'one 100 Continue, nothing else yet');

    await c.write(body);
    const final = await c.response({ timeoutMs: 10_000 });
    assert.ok(final, 'no final answer after the body');
    assert.equal(final.status, 200, `${final.statusLine} ${final.body}`);
    const got = JSON.parse(final.body.toString('utf8'));
    assert.equal(got.bytes, body.length);
    assert.equal(got.sha256, sha256(body));
    assert.equal(up.requests.length, 1);
  });

  for (const status of [401, 413]) {
    test(`${scheme} upstream: Expect: 100-continue answered ${status} by the upstream reaches the client, no body sent`, { timeout: 30_000 }, async (t) => {
      const { up, daemon } = await startRelay(t, scheme, {
        '/api/v1/extraction/jobs/file': (req, res, rec) => {
          req.on('data', (c) => {
            rec.bodyBytes += c.length;
          });
          json(res, status, { detail: status === 401 ? 'Invalid API key' : 'File too large' }, { connection: 'close' });
        },
      });
      const c = client(t, daemon);
      await c.write(
        requestHead(daemon, 'POST', '/api/v1/extraction/jobs/file', {
          Authorization: 'Bearer key-wrong',
          'Content-Type': 'multipart/form-data; boundary=xyz',
          'Content-Length': 20 * MiB,
          Expect: '100-continue',
        }),
      );
      // The client sends nothing more: it waits for the answer to its expectation.
      const first = await c.response({ timeoutMs: 5_000 });
      assert.ok(first, `no answer to the head within 5 s (closed=${c.closed}): ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
      assert.equal(first.status, status, `want the upstream's ${status} without a 100 Continue, got ${first.statusLine}`);
      assert.equal(JSON.parse(first.body.toString('utf8')).detail, status === 401 ? 'Invalid API key' : 'File too large');
      assert.equal(up.requests.length, 1);
      assert.equal(up.requests[0].expect, '100-continue');
      await sleep(200);
      assert.equal(up.requests[0].bodyBytes, 0, 'no body bytes reached the upstream');
    });
  }

  test(`${scheme} upstream: Expect: 100-continue to an upstream that ignores it, the daemon says 100 Continue after a short wait`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      // An upstream that never answers the expectation: it waits for the body.
      '/api/v1/files': (req, res, rec) => sink(req, res, { ...rec, expect: null, sendContinue() {} }),
    });
    const body = patternBytes(3, 200_000);
    const c = client(t, daemon);
    const started = Date.now();
    await c.write(
      requestHead(daemon, 'POST', '/api/v1/files', {
        'Content-Type': 'application/octet-stream',
        'Content-Length': body.length,
        Expect: '100-continue',
      }),
    );
    const interim = await c.response({ timeoutMs: 5_000 });
    const waited = Date.now() - started;
    assert.ok(interim, `no 100 Continue within 5 s (closed=${c.closed}): the upload would stall`);
    assert.equal(interim.status, 100, interim.statusLine);
    assert.ok(waited >= 500, `100 Continue after ${waited} ms: the upstream was not given time to answer`);
    assert.equal(up.requests[0].expect, '100-continue');
    await c.write(body);
    const final = await c.response({ timeoutMs: 10_000 });
    assert.equal(final?.status, 200, final?.statusLine);
    assert.equal(JSON.parse(final.body).sha256, sha256(body));
  });

  test(`${scheme} upstream: Expect: 100-continue with the body sent at once, a 5 MB upload arrives and the connection stays usable`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/files': sink,
      '/api/v1/small': (req, res) => {
        req.resume();
        json(res, 200, { ok: true });
      },
    });
    const c = client(t, daemon);
    // A first request leaves an idle upstream connection, which the expecting request may use.
    await c.write(requestHead(daemon, 'GET', '/api/v1/small'));
    assert.equal((await c.response())?.status, 200);
    const body = patternBytes(11, 5 * MiB);
    // Some clients do not wait for 100 Continue at all.
    await c.write(
      Buffer.concat([
        Buffer.from(
          requestHead(daemon, 'POST', '/api/v1/files', {
            'Content-Type': 'application/octet-stream',
            'Content-Length': body.length,
            Expect: '100-continue',
          }),
        ),
        body,
      ]),
    );
    let r = await c.response({ timeoutMs: 15_000 });
    assert.ok(r, `no answer (closed=${c.closed})`);
    if (r.status === 100) r = await c.response({ timeoutMs: 15_000 });
    assert.equal(r?.status, 200, r?.statusLine);
    const got = JSON.parse(r.body);
    assert.equal(got.bytes, body.length);
    assert.equal(got.sha256, sha256(body));
    await c.write(requestHead(daemon, 'GET', '/api/v1/small'));
    assert.equal((await c.response())?.status, 200, 'the client connection carries the next request');
    assert.ok(!c.closed);
    assert.equal(up.requests.length, 3);
  });

  test(`${scheme} upstream: keep-alive, six pass-through requests on one client connection share one upstream connection`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/small': (req, res) => {
        req.resume();
        json(res, 200, { ok: true });
      },
      '/api/v1/files': sink,
      '/api/v1/chunked': (req, res, rec) => download(req, res, rec, { chunked: true }),
    });
    const c = client(t, daemon);
    const steps = [
      { method: 'GET', target: '/api/v1/small', check: (r) => assert.deepEqual(JSON.parse(r.body), { ok: true }) },
      { method: 'POST', target: '/api/v1/files', body: patternBytes(0, 10_000), check: (r) => assert.equal(JSON.parse(r.body).sha256, sha256(patternBytes(0, 10_000))) },
      { method: 'GET', target: '/api/v1/chunked?bytes=70000', check: (r) => assert.equal(sha256(r.body), sha256(patternBytes(0, 70_000))) },
      { method: 'PUT', target: '/api/v1/files', body: Buffer.alloc(0), check: (r) => assert.equal(JSON.parse(r.body).bytes, 0) },
      { method: 'POST', target: '/api/v1/files', chunked: patternBytes(5, 3000), check: (r) => assert.equal(JSON.parse(r.body).sha256, sha256(patternBytes(5, 3000))) },
      { method: 'GET', target: '/api/v1/small', check: (r) => assert.deepEqual(JSON.parse(r.body), { ok: true }) },
    ];
    for (const [i, s] of steps.entries()) {
      const headers = {};
      if (s.body) headers['Content-Length'] = s.body.length;
      if (s.chunked) headers['Transfer-Encoding'] = 'chunked';
      let bytes = Buffer.from(requestHead(daemon, s.method, s.target, headers));
      if (s.body) bytes = Buffer.concat([bytes, s.body]);
      if (s.chunked) bytes = Buffer.concat([bytes, Buffer.from(`${s.chunked.length.toString(16)}\r\n`), s.chunked, Buffer.from('\r\n0\r\n\r\n')]);
      await c.write(bytes);
      const r = await c.response({ timeoutMs: 5_000 });
      assert.ok(r, `request ${i + 1} (${s.method} ${s.target}): no complete answer (closed=${c.closed})`);
      assert.equal(r.status, 200, `request ${i + 1}: ${r.statusLine}`);
      s.check(r);
      assert.ok(!c.closed, `the daemon closed the client connection after request ${i + 1}`);
    }
    assert.equal(up.requests.length, steps.length);
    assert.equal(up.connections(), 1, 'every request went over one reused upstream connection');
  });

  for (const chunked of [false, true]) {
    for (const how of ['fin', 'reset']) {
      const framing = chunked ? 'chunked' : 'Content-Length';
      test(`${scheme} upstream: an upstream ending the connection (${how}) mid-response (${framing}) gives the client a truncated answer and a closed connection`, { timeout: 30_000 }, async (t) => {
        const { up, daemon } = await startRelay(t, scheme, {
          '/api/v1/cut': (req, res, rec) => cutShort(req, res, rec, { chunked, how }),
          '/api/v1/small': (req, res) => {
            req.resume();
            json(res, 200, { ok: true });
          },
        });
        const c = client(t, daemon);
        await c.write(requestHead(daemon, 'GET', '/api/v1/cut'));
        await c.until(() => false, 10_000); // until the connection closes
        assert.ok(c.closed, 'the daemon must close the client connection (the answer cannot be completed)');
        const r = readResponse(c.data, { closed: true });
        assert.ok(r, `no response head: ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
        assert.equal(r.status, 200, r.statusLine);
        assert.ok(!r.complete, `a cut-short upstream answer must not look complete (${framing}, got ${r.body.length} body bytes)`);
        assert.ok(r.body.length <= 300 * 1024);
        assert.equal(sha256(r.body), sha256(patternBytes(0, r.body.length)), 'what did arrive is the upstream\'s bytes');
        // The daemon and the upstream are fine afterwards.
        const c2 = client(t, daemon);
        await c2.write(requestHead(daemon, 'GET', '/api/v1/small'));
        const next = await c2.response({ timeoutMs: 5_000 });
        assert.equal(next?.status, 200);
        assert.equal(up.count('/api/v1/cut'), 1, 'a response under way is not replayed');
      });
    }
  }

  test(`${scheme} upstream: an upstream that resets before answering gives a JSON 502 with Cache-Status`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/reset': (req, res, rec) => {
        req.resume();
        req.on('end', () => rec.raw.resetAndDestroy());
      },
    });
    for (const [method, body] of [['GET', null], ['POST', '{"a":1}']]) {
      const c = client(t, daemon);
      const headers = body ? { 'Content-Type': 'application/json', 'Content-Length': body.length } : {};
      await c.write(requestHead(daemon, method, '/api/v1/reset', headers) + (body ?? ''));
      const r = await c.response({ timeoutMs: 10_000 });
      assert.ok(r, `${method}: no complete answer (closed=${c.closed}): ${JSON.stringify(c.data.toString('latin1').slice(0, 200))}`);
      assert.equal(r.status, 502, `${method}: ${r.statusLine} ${r.body}`);
      assert.match(r.headers['content-type']?.[0] ?? '', /^application\/json/);
      const detail = JSON.parse(r.body.toString('utf8')).detail;
      assert.ok(typeof detail === 'string' && detail.length > 0, `${method}: "detail" must say what failed: ${r.body}`);
      assert.match(r.headers['cache-status']?.[0] ?? '', /^runmirror;/, `${method}: Cache-Status`);
    }
    assert.ok(up.count('/api/v1/reset') >= 2, 'the requests reached the upstream');
  });

  test(`${scheme} upstream: HEAD, 204 and 304 answers (no body) do not hang and keep the connection in step`, { timeout: 30_000 }, async (t) => {
    const { up, daemon } = await startRelay(t, scheme, {
      '/api/v1/files/file-1/content': (req, res) => {
        req.resume();
        // HEAD: the GET's headers, Content-Length included, and no body.
        res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': 123_456, etag: '"v1"' });
        res.end(req.method === 'HEAD' ? undefined : patternBytes(0, 123_456));
      },
      '/api/v1/files/file-1': (req, res) => {
        req.resume();
        res.writeHead(204, { 'x-end-to-end': 'kept' });
        res.end();
      },
      '/api/v1/files/file-1/meta': (req, res) => {
        req.resume();
        res.writeHead(304, { etag: '"v1"' });
        res.end();
      },
      '/api/v1/small': (req, res) => {
        req.resume();
        json(res, 200, { ok: true });
      },
    });
    const c = client(t, daemon);
    const steps = [
      ['HEAD', '/api/v1/files/file-1/content', {}, 200],
      ['DELETE', '/api/v1/files/file-1', {}, 204],
      ['GET', '/api/v1/files/file-1/meta', { 'If-None-Match': '"v1"' }, 304],
      ['HEAD', '/api/v1/files/file-1/content', {}, 200],
      ['GET', '/api/v1/small', {}, 200],
    ];
    for (const [method, target, headers, status] of steps) {
      const started = Date.now();
      await c.write(requestHead(daemon, method, target, headers));
      const r = await c.response({ head: method === 'HEAD', timeoutMs: 5_000 });
      assert.ok(r, `${method} ${target}: no answer within 5 s (closed=${c.closed})`);
      assert.equal(r.status, status, `${method} ${target}: ${r.statusLine}`);
      assert.ok(Date.now() - started < 3_000, `${method} ${target}: took ${Date.now() - started} ms`);
      if (method === 'HEAD') assert.deepEqual(r.headers['content-length'], ['123456'], 'HEAD keeps the GET\'s Content-Length');
      if (status === 204) assert.deepEqual(r.headers['x-end-to-end'], ['kept']);
      if (status === 304) assert.deepEqual(r.headers.etag, ['"v1"']);
      if (target === '/api/v1/small') assert.deepEqual(JSON.parse(r.body), { ok: true }, 'the answer after them is in step');
      assert.ok(!c.closed, `${method} ${target}: the client connection closed`);
    }
    // Nothing was sent after the last answer: no stray body bytes of a HEAD, 204 or 304.
    await sleep(200);
    assert.equal(c.length, 0, `stray bytes after the answers: ${JSON.stringify(c.data.toString('latin1').slice(0, 100))}`);
    assert.equal(up.requests.length, steps.length);
  });
}
