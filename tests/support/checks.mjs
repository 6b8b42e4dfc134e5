// Assertions shared by the integration and SDK tests.

import assert from 'node:assert/strict';

// Assert two byte buffers are identical; on failure show where they first differ.
export function assertSameBytes(actual, expected, label = 'body') {
  if (Buffer.compare(actual, expected) === 0) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i += 1;
  const show = (b) => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 60).toString('utf8'));
  assert.fail(
    `${label} differs from the upstream's bytes at byte ${i} (got ${actual.length} bytes, want ${expected.length})\n` +
      `  got:  ${show(actual)}\n  want: ${show(expected)}`,
  );
}

// The Cache-Status header of a runs-route response; fails unless it starts with "runmirror;".
export function cacheStatus(res, label = '') {
  const v = res.headers['cache-status'];
  assert.ok(
    typeof v === 'string' && v.startsWith('runmirror;'),
    `${label}runs response must carry "Cache-Status: runmirror; ..." (status ${res.status}, got ${JSON.stringify(v)})`,
  );
  return v;
}

// A JSON error body {"detail": ...}; returns the parsed object.
export function jsonError(res, label = '') {
  let parsed;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch {
    assert.fail(`${label}error body is not JSON (status ${res.status}): ${JSON.stringify(res.body.toString('utf8').slice(0, 300))}`);
  }
  assert.ok(parsed && typeof parsed === 'object' && 'detail' in parsed, `${label}error JSON lacks "detail": ${res.body}`);
  return parsed;
}

export function bodyText(res) {
  return res.body.toString('utf8').slice(0, 500);
}

// The exchange (res.ms from httpRequest) took at most `limitMs`.
export function assertWithin(res, limitMs, label = '') {
  assert.ok(res.ms <= limitMs, `${label}answered after ${res.ms} ms, limit ${limitMs} ms (status ${res.status})`);
}

// A stored copy served because the upstream failed: 200, the stored bytes, and
// `Cache-Status: runmirror; hit; detail=stale-if-error`. `fwdStatus`: a number (the upstream's
// status must be named as `fwd-status=N`), null (the upstream gave no answer: no fwd-status), or
// undefined (either).
export function assertStaleIfError(res, storedBytes, { fwdStatus, label = '' } = {}) {
  assert.equal(res.status, 200, `${label}want the stored copy, got ${res.status}: ${bodyText(res)}`);
  assertSameBytes(res.body, storedBytes, `${label}stale copy`);
  const cs = cacheStatus(res, label);
  assert.match(cs, /\bhit\b/, `${label}Cache-Status ${JSON.stringify(cs)}`);
  assert.match(cs, /detail=stale-if-error\b/, `${label}Cache-Status ${JSON.stringify(cs)}`);
  const fwd = /fwd-status=(\d{3})/.exec(cs);
  if (typeof fwdStatus === 'number') {
    assert.equal(fwd?.[1], String(fwdStatus), `${label}Cache-Status must name the upstream's status: ${JSON.stringify(cs)}`);
  } else if (fwdStatus === null) {
    assert.equal(fwd, null, `${label}the upstream gave no answer, yet Cache-Status names one: ${JSON.stringify(cs)}`);
  }
  return cs;
}
