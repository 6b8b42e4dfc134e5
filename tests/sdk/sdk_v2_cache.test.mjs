// What the mirror saves SDK 2.16.0 users of Extract v2 (`client.extract`): which of the SDK's
// requests reach the upstream, and what a key may be given from the store. sdk_v2.test.mjs
// proves the answers equal the upstream's; this file proves they come from the store.
// Needs `npm ci` in tests/sdk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

import { startStack, startDaemon, api, waitFor, daemonEnv, RUNMIRROR_BIN } from '../support/daemon.mjs';
import { V2_EXTRACT, V2_BIG_JOBS, v2JobPath } from '../support/fake_upstream.mjs';
import { clientV2, LlamaCloudV2, FAST_POLLING, listAllV2, rawBytes, failure } from './sdk_client_v2.mjs';

const EXPANDS = [[], ['configuration'], ['extract_metadata'], ['usage'], ['usage', 'configuration']];

function cacheStatus(answer) {
  return answer.headers.get('cache-status');
}

test('SDK 2 cache: a final job is fetched once per expand set, then served from the store', async (t) => {
  const { daemon, up } = await startStack(t);
  const sdk = clientV2(daemon, 'key-alpha');
  for (const id of ['v2-alpha-completed', 'v2-alpha-failed', 'v2-alpha-cancelled']) {
    for (const expand of EXPANDS) {
      const first = await rawBytes(sdk.extract.get(id, { expand }));
      const second = await rawBytes(sdk.extract.get(id, { expand }));
      const what = `${id} expand=${expand}`;
      assert.match(cacheStatus(first), /fwd=miss; fwd-status=200; stored/, what);
      assert.equal(cacheStatus(second), 'runmirror; hit', what);
      // Never another representation in its place: each is the upstream's own bytes.
      assert.deepEqual(second.body, up.v2.jobBytes(id, expand), what);
    }
    assert.equal(up.count('GET', v2JobPath(id)), EXPANDS.length, `${id}: one upstream read per expand set`);
  }
  // The same set written in another order, or repeated, is the same representation.
  const before = up.count('GET', v2JobPath('v2-alpha-completed'));
  const reordered = await api(daemon, `${v2JobPath('v2-alpha-completed')}?expand=configuration&expand=usage,configuration`, { key: 'key-alpha' });
  assert.equal(reordered.headers['cache-status'], 'runmirror; hit');
  assert.equal(up.count('GET', v2JobPath('v2-alpha-completed')), before);
});

test('SDK 2 cache: two full extract.list passes within the max age reach the upstream once', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: ['--list-max-age-ms', '60000'] } });
  const sdk = clientV2(daemon, 'key-alpha');
  const first = await listAllV2(sdk, { page_size: 10 });
  const listed = up.count('GET', V2_EXTRACT);
  assert.equal(listed, first.pages);
  const second = await listAllV2(sdk, { page_size: 10 });
  assert.deepEqual(second, first);
  assert.equal(up.count('GET', V2_EXTRACT), listed, 'the second pass reached the upstream 0 times');
  assert.equal(first.ids.length, V2_BIG_JOBS + 7);
  assert.deepEqual(first.ids, up.v2.listIds('key-alpha'), "upstream's order, cursor tokens relayed");

  // A job first seen in a list answers a later get, unexpanded, without the upstream.
  const job = await rawBytes(sdk.extract.get('v2-big-007'));
  assert.equal(cacheStatus(job), 'runmirror; hit');
  assert.deepEqual(job.body, up.v2.jobBytes('v2-big-007'));
  assert.equal(up.count('GET', v2JobPath('v2-big-007')), 0);
  // An expanded list stores its items as that representation only.
  await sdk.extract.list({ page_size: 5, expand: ['usage'] });
  const top = up.v2.listIds('key-alpha')[0];
  assert.equal(cacheStatus(await rawBytes(sdk.extract.get(top, { expand: ['usage'] }))), 'runmirror; hit');
  assert.match(cacheStatus(await rawBytes(sdk.extract.get(top, { expand: ['configuration'] }))), /fwd=miss/);
});

test('SDK 2 cache: offline, a full extract.list pass returns every stored job in the upstream\'s order', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  const sdk = clientV2(daemon, 'key-alpha');
  const online = await listAllV2(sdk, { page_size: 10 });
  assert.equal(online.ids.length, V2_BIG_JOBS + 7);
  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ db: path.join(dir, 'rm.db'), offline: true });
  t.after(() => offline.stop());
  const off = clientV2(offline, 'key-alpha');
  // The pages fetched before: served as stored, the upstream's tokens included.
  assert.deepEqual(await listAllV2(off, { page_size: 10 }), online);
  // Pages never fetched: assembled from stored jobs, newest first, with runmirror's own tokens.
  const assembled = await listAllV2(off, { page_size: 7 });
  assert.deepEqual(assembled.ids, online.ids);
  assert.equal(assembled.pages, Math.ceil(online.ids.length / 7));
  const first = await rawBytes(off.extract.list({ page_size: 7 }));
  assert.equal(cacheStatus(first), 'runmirror; hit; detail=assembled');
  assert.match(JSON.parse(first.body).next_page_token, /^runmirror\./);
  const completed = await listAllV2(off, { status: 'COMPLETED' });
  assert.deepEqual(completed.ids, online.ids.filter((id) => JSON.parse(up.v2.jobRaw(id)).status === 'COMPLETED'));
  // Another key holds no grant for these jobs: nothing assembled for it.
  assert.equal((await failure(clientV2(offline, 'key-beta').extract.list({}))).status, 403);
  // A filter the store cannot answer exactly is not guessed at.
  assert.equal((await failure(off.extract.list({ job_ids: ['v2-big-001'] }))).status, 503);
});

test('SDK 2 cache: run() polls become local while the job is unfinished', async (t) => {
  const { daemon, up } = await startStack(t, { upstream: { v2: { runningAfterMs: 500, finalAfterMs: 3000 } } });
  let sdkPolls = 0;
  const counting = (url, init) => {
    if ((init?.method ?? 'GET') === 'GET' && new URL(url).pathname.startsWith(`${V2_EXTRACT}/`)) sdkPolls += 1;
    return fetch(url, init);
  };
  const sdk = new LlamaCloudV2({ apiKey: 'key-alpha', baseURL: daemon.url, maxRetries: 0, fetch: counting });
  const started = Date.now();
  const job = await sdk.extract.run({ file_input: 'dfl-cache-1', configuration_id: 'cfg-alpha-invoices' }, FAST_POLLING);
  const tookMs = Date.now() - started;
  assert.equal(job.status, 'COMPLETED');
  assert.deepEqual(job, JSON.parse(up.v2.jobRaw(job.id)));
  const upstreamPolls = up.count('GET', v2JobPath(job.id));
  assert.ok(sdkPolls >= 20, `the SDK polled ${sdkPolls} times`);
  assert.ok(upstreamPolls * 3 <= sdkPolls, `upstream saw ${upstreamPolls} of the SDK's ${sdkPolls} polls`);
  // Completion is learned at most one pending max age (2 s) plus one SDK poll late.
  assert.ok(tookMs < 3000 + 2000 + 100 + 1000, `run() took ${tookMs} ms`);
  // Final now: served from the store from here on.
  assert.equal(cacheStatus(await rawBytes(sdk.extract.get(job.id))), 'runmirror; hit');
});

test('SDK 2 cache: jobs created and never polled reach a final status in the store, several per request', async (t) => {
  const { daemon, up } = await startStack(t, {
    upstream: { v2: { runningAfterMs: 200, finalAfterMs: 1200 } },
    daemon: { pollIntervalMs: 200 },
  });
  const sdk = clientV2(daemon, 'key-alpha');
  const ids = [];
  for (const name of ['a', 'b', 'c', 'fail-d']) {
    ids.push((await sdk.extract.create({ file_input: `dfl-worker-${name}`, configuration_id: 'cfg-alpha-invoices' })).id);
  }
  const storedStatus = async (id) => {
    const r = await api(daemon, v2JobPath(id), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
    return r.status === 200 ? JSON.parse(r.body).status : `HTTP ${r.status}`;
  };
  const final = await waitFor(async () => {
    const statuses = await Promise.all(ids.map(storedStatus));
    return statuses.every((s) => s === 'COMPLETED' || s === 'FAILED') && statuses;
  }, { timeoutMs: 15_000 });
  assert.deepEqual(final, ['COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED']);
  // The worker asked for the due jobs together: one list filtered by job_ids, not one GET each.
  const batched = up.requests('GET', V2_EXTRACT).filter((e) => e.search.includes('job_ids='));
  assert.ok(batched.length >= 1, 'a job_ids list request refreshed them');
  const perRequest = batched.map((e) => ids.filter((id) => e.search.includes(`job_ids=${id}`)).length);
  assert.ok(Math.max(...perRequest) >= 2, `due jobs share a request (ids per request: ${perRequest})`);

  // Served with the upstream stopped.
  await up.stop();
  for (const [i, id] of ids.entries()) {
    const job = await rawBytes(sdk.extract.get(id));
    assert.equal(cacheStatus(job), 'runmirror; hit');
    assert.equal(JSON.parse(job.body).status, final[i]);
  }
});

test('SDK 2 cache: create and cancel store the answer; delete is never served again', async (t) => {
  const { daemon, up } = await startStack(t);
  const sdk = clientV2(daemon, 'key-alpha');
  const created = await sdk.extract.create({ file_input: 'dfl-cache-2', configuration_id: 'cfg-alpha-invoices' });
  const read = await rawBytes(sdk.extract.get(created.id));
  assert.equal(cacheStatus(read), 'runmirror; hit', 'a job just created is read from the store');
  assert.equal(up.count('GET', v2JobPath(created.id)), 0);

  await sdk.extract.get('v2-alpha-running', { expand: ['usage'] });
  const cancelled = await sdk.extract.cancel('v2-alpha-running');
  assert.equal(cancelled.status, 'CANCELLED');
  const after = await rawBytes(sdk.extract.get('v2-alpha-running'));
  assert.equal(cacheStatus(after), 'runmirror; hit');
  assert.equal(JSON.parse(after.body).status, 'CANCELLED');

  for (const expand of EXPANDS) await sdk.extract.get('v2-alpha-completed', { expand });
  await sdk.extract.delete('v2-alpha-completed');
  for (const expand of EXPANDS) {
    const gone = await failure(sdk.extract.get('v2-alpha-completed', { expand }));
    assert.equal(gone.status, 404, `expand=${expand}`);
  }
  // Not from the store even offline, whatever the representation.
  await daemon.stop();
  const offline = await startDaemon({ db: daemon.db, offline: true });
  t.after(() => offline.stop());
  const sdkOffline = clientV2(offline, 'key-alpha');
  for (const expand of EXPANDS) {
    assert.equal((await failure(sdkOffline.extract.get('v2-alpha-completed', { expand }))).status, 404);
  }
  assert.equal((await sdkOffline.extract.get('v2-alpha-cancelled').catch((e) => e)).status, 503, 'never fetched: no copy offline');
  assert.equal((await sdkOffline.extract.get(created.id)).id, created.id);
});

test('SDK 2 cache: a second key never receives the first key\'s jobs: online, upstream down, offline', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  const alpha = clientV2(daemon, 'key-alpha');
  const beta = clientV2(daemon, 'key-beta');
  await alpha.extract.get('v2-alpha-completed');
  await listAllV2(alpha, {});

  const online = await failure(beta.extract.get('v2-alpha-completed'));
  assert.equal(online.status, 404, 'online: the upstream decides, not the store');
  assert.ok(!(await listAllV2(beta, {})).ids.includes('v2-alpha-completed'));

  up.setFault({ path: /^\/api\/v2\//, status: 503, body: JSON.stringify({ detail: 'down' }) });
  const down = await failure(beta.extract.get('v2-alpha-completed'));
  assert.notEqual(down.status, 200);
  assert.ok(!JSON.stringify(down.body).includes('extract_result'), 'upstream down: no stored body for beta');
  const alphaDown = await rawBytes(alpha.extract.get('v2-alpha-completed'));
  assert.equal(alphaDown.status, 200, 'alpha still gets its own job');

  await daemon.stop();
  const offline = await startDaemon({ db: path.join(dir, 'rm.db'), offline: true });
  t.after(() => offline.stop());
  const offBeta = await failure(clientV2(offline, 'key-beta').extract.get('v2-alpha-completed'));
  assert.equal(offBeta.status, 403, 'offline: beta was never shown p-alpha');
  assert.equal((await clientV2(offline, 'key-alpha').extract.get('v2-alpha-completed')).id, 'v2-alpha-completed');
});

test('SDK 2 cache: the browse API and `runmirror runs list` show v2 jobs beside v1 runs, searchable', async (t) => {
  const { daemon, up } = await startStack(t);
  const sdk = clientV2(daemon, 'key-alpha');
  await listAllV2(sdk, {});
  await api(daemon, '/api/v1/extraction/runs/run-alpha-success', { key: 'key-alpha' });
  const browse = async (query) => {
    const r = await api(daemon, `/_runmirror/api/runs?${query}`);
    assert.equal(r.status, 200, `${query}: ${r.body}`);
    return JSON.parse(r.body).items;
  };
  const v2 = await browse('kind=v2_job&limit=500');
  assert.deepEqual(v2.map((i) => i.id), up.v2.listIds('key-alpha'));
  assert.ok(v2.every((i) => i.kind === 'v2_job'));
  assert.deepEqual((await browse('limit=500')).map((i) => i.kind), ['run'], 'v1 runs by default');
  assert.equal((await browse('kind=all&limit=500')).length, v2.length + 1);
  assert.deepEqual((await browse('kind=v2_job&status=completed&limit=500')).map((i) => i.id),
    v2.filter((i) => i.status === 'COMPLETED').map((i) => i.id));
  // extract_result is searchable as a v1 run's data is.
  const invoice = JSON.parse(up.v2.jobRaw('v2-alpha-completed')).extract_result.invoice_number;
  assert.ok((await browse(`kind=v2_job&q=${encodeURIComponent(invoice)}`)).some((i) => i.id === 'v2-alpha-completed'));
  const body = await api(daemon, '/_runmirror/api/runs/v2-alpha-completed?kind=v2_job');
  assert.equal(body.status, 200);
  assert.deepEqual(body.body, up.v2.jobBytes('v2-alpha-completed'));
  assert.equal((await api(daemon, '/_runmirror/api/runs?kind=v3')).status, 400);

  // The same from the shell, straight from the store.
  // The environment a user's shell has: not the test runner's RUNMIRROR_* settings.
  const cli = (args) => spawnSync(RUNMIRROR_BIN, ['runs', ...args, '--db', daemon.db], { env: daemonEnv(), encoding: 'utf8' });
  const listed = cli(['list', '--kind', 'v2_job', '--status', 'completed', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.id), v2.filter((i) => i.status === 'COMPLETED').map((i) => i.id));
  const bad = cli(['list', '--kind', 'v3']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--kind: expected run, v2_job, v1_job or all/);
});
