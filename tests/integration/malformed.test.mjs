// (f) Malformed framing is refused before routing and never reaches the upstream.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, api, rawRequest, parseRawResponse, CORPORA_DIR } from '../support/daemon.mjs';

const PAYLOAD_TIMEOUT_MS = 1_000;

function statusLines(buf) {
  return (buf.toString('latin1').match(/HTTP\/1\.1 /g) ?? []).length;
}

function preview(buf) {
  return JSON.stringify(buf.toString('latin1').slice(0, 160));
}

// Two corpus payloads are well-formed HTTP/1.1 under the strictest reading (RFC 9112): the bugs
// they found were in servers that mis-parsed them. A proxy must forward them, exactly as
// written and nothing more: the upstream sees these requests (method, path, body bytes,
// complete), every response beyond theirs is a refusal, and nothing else reaches it.
const WELL_FORMED = new Map([
  // Two pipelined POSTs; the second's 34-byte body holds text that looks like a request.
  // The 3 bytes left after it ("\n\r\n") are not a request and are refused.
  [47, [['POST', '/', 0], ['POST', '/', 34]]],
  // A chunked POST with a one-byte body.
  [73, [['POST', '/', 1]]],
]);

function judgeWellFormed(result, upstreamRequests, expected) {
  const seen = upstreamRequests.map((r) => [r.method, r.url, r.bodyBytes, r.complete]);
  const want = expected.map(([m, u, b]) => [m, u, b, true]);
  if (JSON.stringify(seen) !== JSON.stringify(want)) {
    return `upstream saw ${JSON.stringify(seen)}, expected exactly ${JSON.stringify(want)}`;
  }
  const statuses = [...result.data.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  if (statuses.length < expected.length) return `only ${statuses.length} responses for ${expected.length} requests`;
  if (statuses.length > expected.length + 1) return `${statuses.length} responses for ${expected.length} requests`;
  const extra = statuses.slice(expected.length);
  if (extra.some((s) => s < 400)) return `bytes after the forwarded requests were accepted: ${extra}`;
  return null;
}

// What is wrong with the daemon's handling of one payload, or null if nothing.
function judge(result, upstreamRequests) {
  const problems = [];
  const text = result.data.toString('latin1');
  if (result.error && result.error.code === 'ECONNREFUSED') problems.push('connection refused (daemon down?)');
  if (result.data.length === 0) {
    if (!result.closed) problems.push(`no response and the connection was left open for ${PAYLOAD_TIMEOUT_MS} ms`);
  } else {
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
    if (!m) problems.push(`response does not start with a status line: ${preview(result.data)}`);
    else if (Number(m[1]) < 400) problems.push(`accepted with status ${m[1]}: ${preview(result.data)}`);
    const n = statusLines(result.data);
    if (n > 1) problems.push(`${n} "HTTP/1.1 " status lines in the response (a second request was parsed): ${preview(result.data)}`);
  }
  if (upstreamRequests.length > 0) {
    const seen = upstreamRequests.map(
      (r) => `${r.method} ${r.url} (${r.bodyBytes} body bytes, ${r.complete ? 'complete' : 'cut off'})`,
    );
    problems.push(`upstream saw ${seen.join(', ')}`);
  }
  return problems.length ? problems.join('; ') : null;
}

test('every HTTP Garden payload is refused or dropped, never smuggled; the two well-formed ones forwarded exactly', { timeout: 300_000 }, async (t) => {
  const payloads = JSON.parse(await readFile(path.join(CORPORA_DIR, 'http-garden-payloads.json'), 'utf8'));
  assert.equal(payloads.length, 76, 'corpus size');
  // The corpus's own Host names: allowed, so that its payloads meet the framing checks this
  // test is about, not the Host rule (site_guard.test.mjs) that would otherwise refuse them all.
  const corpusHosts = 'a,whatever,fanout,localhost,h2o.http-garden.us,akamai.my-domain.cool,server.my-domain.cool';
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: ['--allowed-host', corpusHosts] } });

  const failures = [];
  for (const [i, p] of payloads.entries()) {
    up.clearLog();
    const result = await rawRequest(daemon.port, Buffer.from(p.hex, 'hex'), { timeoutMs: PAYLOAD_TIMEOUT_MS });
    await sleep(30); // a forwarded request would show up in the upstream's log by now
    const problem = WELL_FORMED.has(i)
      ? judgeWellFormed(result, up.requests(), WELL_FORMED.get(i))
      : judge(result, up.requests());
    if (problem) failures.push(`#${i} (${p.sec} ${p.num}) ${p.title}\n      -> ${problem}`);
    if (daemon.exited()) {
      failures.push(`daemon exited after payload #${i}: ${JSON.stringify(daemon.exited())}`);
      break;
    }
  }

  const health = await api(daemon, '/_runmirror/health').catch((err) => ({ status: `error ${err.message}` }));
  assert.equal(health.status, 200, 'the daemon still answers health after the corpus');
  assert.equal(failures.length, 0, `${failures.length} of ${payloads.length} payloads mishandled:\n  ${failures.join('\n  ')}`);
});

// The named framing cases. Each is aimed at a pass-through route, so a daemon that let one
// through would show it in the upstream's log.
async function refused(t, request, { status, mustClose = false }) {
  const { daemon, up } = await startStack(t);
  const bytes = typeof request === 'function' ? request(up) : request;
  const result = await rawRequest(daemon.port, bytes, { timeoutMs: 3_000 });
  await sleep(50);
  const res = parseRawResponse(result.data);
  assert.ok(res, `expected a ${status} response, got ${preview(result.data)} (closed=${result.closed})`);
  assert.equal(res.status, status, `status line: ${res.statusLine}`);
  assert.equal(statusLines(result.data), 1, `exactly one response: ${preview(result.data)}`);
  let detail;
  try {
    detail = JSON.parse(res.body.toString('utf8')).detail;
  } catch {
    detail = undefined;
  }
  assert.ok(detail, `error body must be JSON {"detail": ...}, got ${preview(res.body)}`);
  if (mustClose) assert.ok(result.closed, 'the daemon must close the connection after refusing this framing');
  assert.equal(up.count(), 0, `upstream saw ${up.requests().map((r) => `${r.method} ${r.url}`).join(', ')}`);
  const health = await api(daemon, '/_runmirror/health');
  assert.equal(health.status, 200);
}

test('Transfer-Encoding (gzip) followed by Content-Length -> 400 and close', (t) =>
  refused(
    t,
    'POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhelloGET /api/v1/echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    { status: 400, mustClose: true },
  ));

test('Content-Length followed by Transfer-Encoding: chunked -> 400 and close', (t) =>
  refused(
    t,
    'POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    { status: 400, mustClose: true },
  ));

test('an unknown Transfer-Encoding -> 501 and close', (t) =>
  refused(t, 'POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: x-unknown\r\n\r\n1\r\nZ\r\n0\r\n\r\n', {
    status: 501,
    mustClose: true,
  }));

test('a missing Host -> 400', (t) => refused(t, 'GET /api/v1/echo HTTP/1.1\r\nAccept: */*\r\n\r\n', { status: 400 }));

test('two Host headers -> 400', (t) =>
  refused(t, 'GET /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n', { status: 400 }));

test('absolute-form request target -> 400', (t) => refused(t, 'GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n', { status: 400 }));

test('absolute-form naming the upstream itself -> 400 (no open proxy)', (t) =>
  refused(t, (up) => `GET ${up.url}/api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\n`, { status: 400 }));
