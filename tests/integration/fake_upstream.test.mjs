// Self-check of the test harness: the fake upstream alone, without the daemon. If these fail, the
// daemon tests' verdicts mean nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';

import { startFakeUpstream, BIG_INTEGER, UNICODE_RAW, UNICODE_ESCAPED, patternBytes } from '../support/fake_upstream.mjs';
import { httpRequest, makeTempDir, removeDir, makeTestCA, cleanupStack, rawRequest, parseRawResponse } from '../support/daemon.mjs';

async function fake(t, opts) {
  const defer = cleanupStack(t);
  const up = await startFakeUpstream(opts);
  defer(() => up.stop());
  return up;
}

const auth = (key) => ({ authorization: `Bearer ${key}` });

test('fake upstream: run bodies are raw bytes with the awkward JSON the mirror must keep', async (t) => {
  const up = await fake(t);
  const res = await httpRequest(`${up.url}/api/v1/extraction/runs/run-alpha-success`, { headers: auth('key-alpha') });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, up.runBytes('run-alpha-success'));
  const text = res.body.toString('utf8');
  for (const needle of [BIG_INTEGER, UNICODE_RAW, UNICODE_ESCAPED, '1.0e+2', '-0.0', '"x_future_field"', '"x_unknown_file_field"']) {
    assert.ok(text.includes(needle), `run body lacks ${needle}`);
  }
  const run = JSON.parse(text);
  assert.equal(run.data.city, UNICODE_RAW);
  assert.equal(run.data.city_escaped, UNICODE_RAW);
  assert.ok(up.runRaw('run-alpha-spaced').includes('"id": "run-alpha-spaced", '));
  assert.ok(Array.isArray(JSON.parse(up.runRaw('run-alpha-pages')).data));
  assert.equal(up.count('GET', '/api/v1/extraction/runs/run-alpha-success'), 1);
});

test('fake upstream: keys, projects and 404/401', async (t) => {
  const up = await fake(t);
  const get = (p, key) => httpRequest(`${up.url}${p}`, { headers: key ? auth(key) : {} });
  assert.equal((await get('/api/v1/extraction/runs/run-alpha-success', 'key-beta')).status, 404);
  assert.equal((await get('/api/v1/extraction/runs/run-alpha-success', 'key-both')).status, 200);
  assert.equal((await get('/api/v1/extraction/runs/run-beta-success', 'key-both')).status, 200);
  const bad = await get('/api/v1/extraction/runs/run-alpha-success', 'key-nobody');
  assert.equal(bad.status, 401);
  assert.deepEqual(JSON.parse(bad.body), { detail: 'Invalid API key' });
  assert.equal((await get('/api/v1/extraction/runs/run-alpha-success')).status, 401);
  assert.equal((await get('/api/v1/extraction/runs/no-such-run', 'key-alpha')).status, 404);
  const agents = JSON.parse((await get('/api/v1/extraction/extraction-agents?project_id=p-alpha', 'key-alpha')).body);
  assert.deepEqual(agents.map((a) => a.id).sort(), ['agent-alpha', 'agent-big']);
  assert.equal((await get('/api/v1/extraction/extraction-agents?project_id=p-beta', 'key-alpha')).status, 404);
});

test('fake upstream: list paging like the SDK gives every run once, newest first', async (t) => {
  const up = await fake(t);
  const ids = [];
  let skip = 0;
  let total = Infinity;
  let pages = 0;
  while (skip < total) {
    const res = await httpRequest(`${up.url}/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=${skip}&limit=40`, {
      headers: auth('key-alpha'),
    });
    assert.equal(res.status, 200);
    const page = JSON.parse(res.body);
    assert.equal(page.skip, skip);
    assert.equal(page.limit, 40);
    for (const item of page.items) assert.ok(res.body.includes(up.runBytes(item.id)), `raw bytes of ${item.id} in page`);
    ids.push(...page.items.map((r) => r.id));
    total = page.total;
    skip += page.items.length;
    pages += 1;
  }
  assert.equal(pages, 4);
  assert.equal(ids.length, 130);
  assert.equal(new Set(ids).size, 130);
  assert.deepEqual(ids, up.listIds('agent-big'));
  const runs = ids.map((id) => JSON.parse(up.runRaw(id)));
  for (let i = 1; i < runs.length; i += 1) assert.ok(runs[i - 1].created_at > runs[i].created_at);
  assert.notDeepEqual(ids, [...ids].sort().reverse(), 'list order must differ from id order');
  const statuses = new Set(runs.map((r) => r.status));
  assert.deepEqual([...statuses].sort(), ['ERROR', 'PENDING', 'SUCCESS']);
  const dflt = JSON.parse((await httpRequest(`${up.url}/api/v1/extraction/runs?extraction_agent_id=agent-big`, { headers: auth('key-alpha') })).body);
  assert.equal(dflt.items.length, 100);
  assert.equal(dflt.total, 130);
});

test('fake upstream: jobs, finishRun, delete, by-job', async (t) => {
  const up = await fake(t);
  const h = { ...auth('key-alpha'), 'content-type': 'application/json' };
  const created = await httpRequest(`${up.url}/api/v1/extraction/jobs`, {
    method: 'POST',
    headers: h,
    body: JSON.stringify({ extraction_agent_id: 'agent-alpha', file_id: 'file-xyz' }),
  });
  assert.equal(created.status, 200);
  const job = JSON.parse(created.body);
  assert.equal(job.status, 'PENDING');
  const byJob = await httpRequest(`${up.url}/api/v1/extraction/runs/by-job/${job.id}`, { headers: h });
  const run = JSON.parse(byJob.body);
  assert.equal(run.status, 'PENDING');
  assert.equal(run.file_id, 'file-xyz');
  assert.equal(up.listIds('agent-alpha')[0], run.id, 'new run is the newest');
  up.finishRun(run.id, 'SUCCESS');
  const after = JSON.parse((await httpRequest(`${up.url}/api/v1/extraction/runs/${run.id}`, { headers: h })).body);
  assert.equal(after.status, 'SUCCESS');
  assert.equal(JSON.parse((await httpRequest(`${up.url}/api/v1/extraction/jobs/${job.id}`, { headers: h })).body).status, 'SUCCESS');
  assert.equal(JSON.parse((await httpRequest(`${up.url}/api/v1/extraction/jobs/${job.id}/result`, { headers: h })).body).run_id, run.id);
  const del = await httpRequest(`${up.url}/api/v1/extraction/runs/${run.id}`, { method: 'DELETE', headers: h });
  assert.equal(del.status, 200);
  assert.equal((await httpRequest(`${up.url}/api/v1/extraction/runs/${run.id}`, { headers: h })).status, 404);
});

test('fake upstream: streamed upload is hashed, download is chunked pattern bytes', async (t) => {
  const up = await fake(t);
  const size = 5 * 1024 * 1024 + 17;
  const hash = crypto.createHash('sha256');
  let offset = 0;
  const body = new Readable({
    read() {
      if (offset >= size) return this.push(null);
      const c = patternBytes(offset, Math.min(100_003, size - offset));
      offset += c.length;
      hash.update(c);
      this.push(c);
    },
  });
  const res = await httpRequest(`${up.url}/api/v1/files`, {
    method: 'POST',
    headers: { ...auth('key-alpha'), 'content-type': 'application/octet-stream' },
    body,
  });
  assert.equal(res.status, 200);
  const info = JSON.parse(res.body);
  assert.equal(info.bytes, size);
  assert.equal(info.sha256, hash.digest('hex'));
  assert.equal(info.transfer_encoding, 'chunked');

  const dl = await httpRequest(`${up.url}/api/v1/files/f1/content?bytes=300000`, { headers: auth('key-alpha') });
  assert.equal(dl.status, 200);
  assert.equal(dl.headers['transfer-encoding'], 'chunked');
  assert.deepEqual(dl.body, patternBytes(0, 300000));
});

test('fake upstream: echo, status codes, faults, stop and restart on the same port', async (t) => {
  const up = await fake(t);
  const raw = await rawRequest(
    up.port,
    'GET /api/v1/echo/a?x=1&y=%C3%A9&resphop=1 HTTP/1.1\r\nHost: example.test\r\nX-Custom: v\r\nConnection: close\r\n\r\n',
    { timeoutMs: 500 },
  );
  const r = parseRawResponse(raw.data);
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers['x-resp-hop'], ['must-be-removed']);
  const echo = JSON.parse(r.body);
  assert.equal(echo.path, '/api/v1/echo/a');
  assert.equal(echo.query, 'x=1&y=%C3%A9&resphop=1');
  assert.equal(echo.headers.host, 'example.test');
  assert.equal(echo.headers['x-custom'], 'v');
  for (const s of [201, 204, 418]) {
    assert.equal((await httpRequest(`${up.url}/api/v1/echo?status=${s}`)).status, s);
  }
  up.setFault({ path: '/api/v1/extraction/runs/run-alpha-success', status: 503, times: 1 });
  assert.equal((await httpRequest(`${up.url}/api/v1/extraction/runs/run-alpha-success`, { headers: auth('key-alpha') })).status, 503);
  assert.equal((await httpRequest(`${up.url}/api/v1/extraction/runs/run-alpha-success`, { headers: auth('key-alpha') })).status, 200);

  const port = up.port;
  await up.stop();
  await assert.rejects(httpRequest(`${up.url}/api/v1/echo`, { timeoutMs: 2000 }));
  await up.start();
  assert.equal(up.port, port);
  assert.equal((await httpRequest(`${up.url}/api/v1/echo`)).status, 200);
  up.reset();
  assert.equal(up.count(), 0);
});

test('fake upstream: HTTPS with a certificate from the test CA', async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const ca = await makeTestCA(dir);
  const up = await startFakeUpstream({ tls: { key: ca.key, cert: ca.cert } });
  defer(() => up.stop());
  assert.match(up.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ok = await httpRequest(`${up.url}/api/v1/extraction/runs/run-alpha-success`, { headers: auth('key-alpha'), ca: ca.caPem });
  assert.equal(ok.status, 200);
  await assert.rejects(httpRequest(`${up.url}/api/v1/echo`), /self[- ]signed|unable to verify|certificate/i);
});

test('fake upstream: broken answers (respond modes) and connection-level modes', async (t) => {
  const up = await fake(t);
  const p = '/api/v1/extraction/runs/run-alpha-success';
  const get = (opts = {}) => httpRequest(`${up.url}${p}`, { headers: auth('key-alpha'), timeoutMs: 1_000, ...opts });
  const whole = up.runBytes('run-alpha-success');

  up.setFault({ path: p, respond: 'normal', delayMs: 300, times: 1 });
  const slow = await get();
  assert.equal(slow.status, 200);
  assert.deepEqual(slow.body, whole);
  assert.ok(slow.ms >= 280, `respond normal after 300 ms took ${slow.ms} ms`);
  assert.equal(up.requests('GET', p).at(-1).answered, true);

  up.setFault({ path: p, respond: 'invalid-json', times: 1 });
  const invalid = await get();
  assert.equal(invalid.status, 200);
  assert.equal(Number(invalid.headers['content-length']), invalid.body.length, 'invalid-json is framed correctly');
  assert.deepEqual(invalid.body, whole.subarray(0, whole.length >> 1));
  assert.throws(() => JSON.parse(invalid.body));

  for (const how of ['truncated', 'reset']) {
    up.setFault({ path: p, respond: how, times: 1 });
    const raw = await rawRequest(up.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-alpha\r\n\r\n`, { timeoutMs: 1_000 });
    assert.equal(raw.timedOut, false, `${how}: the fake closes the connection`);
    const r = parseRawResponse(raw.data);
    assert.equal(r.status, 200, how);
    assert.equal(Number(r.headers['content-length'][0]), whole.length, `${how}: announces the whole length`);
    assert.ok(r.body.length < whole.length, `${how}: sends less than it announces`);
    if (how === 'reset') assert.equal(raw.error?.code, 'ECONNRESET', 'reset ends with a TCP RST');
    else assert.equal(raw.error, null, 'truncated ends with a FIN');
    assert.equal(up.requests('GET', p).at(-1).answered, false);
  }

  up.markDeleted('run-alpha-success');
  assert.equal((await get()).status, 404);
  assert.ok(!up.listIds('agent-alpha').includes('run-alpha-success'));
  assert.equal(up.countRequest('GET', `${p}?x=1`), 0);
  assert.equal(up.countRequest('GET', p), 5);

  await up.setMode('refused');
  await assert.rejects(get(), /ECONNREFUSED/);

  await up.setMode('blackhole');
  const started = Date.now();
  await assert.rejects(get({ timeoutMs: 600 }), /no complete answer within 600 ms/);
  assert.ok(Date.now() - started >= 580, 'blackhole: the connect hangs');

  await up.setMode('silent');
  const silent = await rawRequest(up.port, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`, { timeoutMs: 400 });
  assert.equal(silent.timedOut, true, 'silent: connected, never answered');
  assert.equal(silent.data.length, 0);
  assert.equal(silent.error, null);

  await up.setMode('serving');
  assert.equal((await httpRequest(`${up.url}/api/v1/echo`)).status, 200);
});
