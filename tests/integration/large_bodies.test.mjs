// Upstream answers larger than the store limit (--store-body-limit-mb, 32 MiB by default): the
// client gets them whole and byte-exact, they are said and kept not-stored, and the daemon's
// memory stays bounded by its read buffers, not by the bodies (they wait in an unlinked file).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';

import { startStack, api, rssKiB, isSanitizedBuild } from '../support/daemon.mjs';
import { cacheStatus, bodyText } from '../support/checks.mjs';

const runPath = (id) => `/api/v1/extraction/runs/${id}`;
// The quick form: two bodies of 48 MB, above the 32 MiB default limit and together larger than
// the 64 MB bound. The full form (scripts/test --full) sets 200.
const BODY_MB = Number(process.env.RUNMIRROR_LARGE_BODY_MB ?? 48);
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

// Pads run |id| to about |bytes| bytes.
function padRun(up, id, bytes) {
  const run = up.run(id);
  run.raw = run.raw.replace(/}$/, `,"padding":"${'p'.repeat(bytes)}"}`);
}

test(`two ${BODY_MB} MB runs at once: relayed whole, not stored, daemon peak RSS under 64 MB`, async (t) => {
  const { daemon, up, dir } = await startStack(t);
  const ids = ['run-alpha-success', 'run-alpha-error'];
  for (const id of ids) padRun(up, id, BODY_MB * 1024 * 1024);
  const expected = Object.fromEntries(ids.map((id) => [id, sha(up.runBytes(id))]));

  const started = Date.now();
  const answers = await Promise.all(ids.map((id) => api(daemon, runPath(id), { key: 'key-alpha', timeoutMs: 120_000 })));
  t.diagnostic(`both answers in ${Date.now() - started} ms`);
  for (const [i, id] of ids.entries()) {
    const r = answers[i];
    assert.equal(r.status, 200, bodyText(r));
    assert.equal(sha(r.body), expected[id], `${id}: the whole body, byte-exact`);
    assert.match(cacheStatus(r), /detail=not-stored/);
    const cached = await api(daemon, runPath(id), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
    assert.equal(cached.status, 504, `${id} must not be stored`);
  }
  // Each daemon's (fleet mode has two, behind a proxy that gave each one of the bodies).
  for (const pid of daemon.pids) {
    const { vmHWM } = await rssKiB(pid);
    t.diagnostic(`daemon ${pid} peak RSS ${Math.round(vmHWM / 1024)} MB for two ${BODY_MB} MB bodies`);
    if (!isSanitizedBuild()) assert.ok(vmHWM < 64 * 1024, `peak RSS of ${pid}: ${vmHWM} KiB`);
  }
  // The spill files were unlinked from the start: nothing left beside the store.
  assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('.runmirror-body')), []);
});

test('an answer just under the store limit is stored as usual', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: ['--store-body-limit-mb', '2'] } });
  padRun(up, 'run-alpha-success', 1024 * 1024);
  padRun(up, 'run-alpha-error', 3 * 1024 * 1024);
  const small = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.match(cacheStatus(small), /; stored/);
  const large = await api(daemon, runPath('run-alpha-error'), { key: 'key-alpha' });
  assert.equal(sha(large.body), sha(up.runBytes('run-alpha-error')));
  assert.match(cacheStatus(large), /detail=not-stored/);
  const again = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.match(cacheStatus(again), /\bhit\b/);
});
