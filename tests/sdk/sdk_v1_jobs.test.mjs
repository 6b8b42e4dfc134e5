// What the mirror saves SDK 1.8.0 users of v1 extraction jobs (`client.extraction.jobs`): the
// status polls of extract() / createAndWait() are answered from the store, a finished job's
// result is read from upstream once, and after a restart with --offline every job that finished
// through the daemon answers jobs.get, jobs.getResult and runs.getByJob as it did online.
// Needs `npm ci` in tests/sdk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { startStack, startDaemon, waitFor, api } from '../support/daemon.mjs';
import { JOBS, jobPath, byJobPath } from '../support/sync_helpers.mjs';
import { LlamaCloud, client, toFile } from './sdk_client.mjs';

const FAST_POLLING = { pollingInterval: 0.1, backoff: 'constant' };

// An SDK client for `baseURL` that counts its GETs of one job (status polls, not the result).
function countingClient(baseURL, apiKey) {
  const counts = { polls: 0 };
  const counting = (url, init) => {
    const p = new URL(url).pathname;
    if ((init?.method ?? 'GET') === 'GET' && /^\/api\/v1\/extraction\/jobs\/[^/]+$/.test(p)) counts.polls += 1;
    return fetch(url, init);
  };
  return { sdk: new LlamaCloud({ apiKey, baseURL, maxRetries: 0, timeout: 20_000, fetch: counting }), counts };
}

test('SDK 1: jobs.extract() polls become local, and the result equals the upstream\'s', async (t) => {
  const { daemon, up } = await startStack(t, { upstream: { autoFinishMs: 3000 }, daemon: { pollIntervalMs: 200 } });
  const { sdk, counts } = countingClient(daemon.url, 'key-alpha');
  const started = Date.now();
  const result = await sdk.extraction.jobs.extract({ extraction_agent_id: 'agent-alpha', file_id: 'file-v1-jobs-1' }, FAST_POLLING);
  const tookMs = Date.now() - started;

  assert.equal(up.requests('POST', JOBS).length, 1, 'the job was created upstream exactly once');
  const jobId = [...up.data.runs.values()].find((r) => r.fileId === 'file-v1-jobs-1').jobId;
  const direct = client({ url: up.url }, 'key-alpha');
  assert.deepEqual(result, await direct.extraction.jobs.getResult(jobId), 'the same result as from the upstream');
  const upstreamPolls = up.count('GET', jobPath(jobId));
  t.diagnostic(`extract() took ${tookMs} ms; the SDK polled ${counts.polls} times, upstream saw ${upstreamPolls}`);
  assert.ok(counts.polls >= 15, `the SDK polled ${counts.polls} times`);
  assert.ok(upstreamPolls * 3 <= counts.polls, `upstream saw ${upstreamPolls} of the SDK's ${counts.polls} polls`);
  // Completion is learned at most one pending max age (2 s) plus a worker poll late.
  assert.ok(tookMs < 3000 + 2000 + 1000, `extract() took ${tookMs} ms`);

  // A second getResult of the finished job: from the store.
  const before = up.count('GET', `${jobPath(jobId)}/result`);
  const again = await sdk.extraction.jobs.getResult(jobId).withResponse();
  assert.deepEqual(again.data, result);
  assert.equal(again.response.headers.get('cache-status'), 'runmirror; hit');
  assert.equal(up.count('GET', `${jobPath(jobId)}/result`), before, 'the second getResult reached upstream 0 times');
});

test('SDK 1: after a restart with --offline, jobs that finished through the daemon answer as online', async (t) => {
  const { daemon, up, dir } = await startStack(t, { upstream: { autoFinishMs: 1000 }, daemon: { pollIntervalMs: 200 } });
  const sdk = client(daemon, 'key-alpha');
  // One job the client waits for, and two it only creates: never polled, result never read.
  const waited = await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: 'file-v1-off-1' });
  await sdk.extraction.jobs.waitForCompletion(waited.id, FAST_POLLING);
  const created = [];
  for (const file of ['file-v1-off-2', 'file-v1-off-3']) {
    created.push((await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: file })).id);
  }
  const ids = [waited.id, ...created];
  // The worker collects each job's result and run once the job is final.
  const collected = await waitFor(
    () => ids.every((id) => up.count('GET', `${jobPath(id)}/result`) >= 1 && up.count('GET', byJobPath(id)) >= 1),
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  assert.ok(collected, 'the worker read every final job\'s result and run');
  const direct = client({ url: up.url }, 'key-alpha');
  const online = {};
  for (const id of ids) {
    online[id] = {
      job: await direct.extraction.jobs.get(id),
      result: await direct.extraction.jobs.getResult(id),
      run: await direct.extraction.runs.getByJob(id),
    };
  }
  // Let the store settle what the worker wrote, then restart offline with the upstream gone.
  await waitFor(async () => {
    try {
      await sdk.extraction.runs.getByJob(ids.at(-1), { headers: { 'cache-control': 'only-if-cached' } });
      return true;
    } catch {
      return false;
    }
  }, { timeoutMs: 5_000 });
  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ db: path.join(dir, 'rm.db'), offline: true });
  t.after(() => offline.stop());
  const off = client(offline, 'key-alpha');
  for (const id of ids) {
    assert.deepEqual(await off.extraction.jobs.get(id), online[id].job, `jobs.get ${id}`);
    assert.equal(online[id].job.status, 'SUCCESS');
    assert.deepEqual(await off.extraction.jobs.getResult(id), online[id].result, `jobs.getResult ${id}`);
    assert.deepEqual(await off.extraction.runs.getByJob(id), online[id].run, `runs.getByJob ${id}`);
  }
  // Another key is not given them.
  await assert.rejects(client(offline, 'key-beta').extraction.jobs.get(waited.id), (err) => err.status === 403);

  // Browsing: the jobs are listed as their kind, a job opens as its bytes, its result too.
  const listed = JSON.parse((await api(offline, '/_runmirror/api/runs?kind=v1_job')).body).items;
  assert.deepEqual(listed.map((j) => j.id).sort(), [...ids].sort());
  assert.ok(listed.every((j) => j.kind === 'v1_job' && j.representation === 'plain' && j.status === 'SUCCESS'));
  const page = await api(offline, `/_runmirror/api/runs/${waited.id}?kind=v1_job`);
  assert.equal(page.headers['runmirror-representation'], 'plain');
  assert.deepEqual(JSON.parse(page.body), online[waited.id].job);
  const result = await api(offline, `/_runmirror/api/runs/${waited.id}?kind=v1_job&representation=result`);
  assert.equal(result.status, 200, result.body.toString());
  assert.equal(result.headers['runmirror-representation'], 'result');
  assert.deepEqual(JSON.parse(result.body), online[waited.id].result);
  const none = await api(offline, `/_runmirror/api/runs/${waited.id}?kind=v1_job&representation=expand%3Dusage`);
  assert.equal(none.status, 404);
});

// What the store holds for a job, without asking the upstream: its status, or the refusal.
async function storedJobStatus(daemon, id) {
  const r = await api(daemon, jobPath(id), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
  return r.status === 200 ? JSON.parse(r.body).status : `HTTP ${r.status}`;
}

test('SDK 1: a job created with jobs.file (multipart upload) is watched and final in the store without the client polling', async (t) => {
  const { daemon, up } = await startStack(t, { upstream: { autoFinishMs: 800 }, daemon: { pollIntervalMs: 200 } });
  const sdk = client(daemon, 'key-alpha');
  const upload = Buffer.alloc(300 * 1024, 'pdf-bytes ');
  const job = await sdk.extraction.jobs.file({
    extraction_agent_id: 'agent-alpha',
    file: await toFile(upload, 'invoice.pdf', { type: 'application/pdf' }),
  });
  assert.equal(job.status, 'PENDING');
  const [post] = up.requests('POST', `${JOBS}/file`);
  assert.ok(post.bodyBytes > upload.length, `the whole upload reached the upstream (${post.bodyBytes} bytes)`);
  assert.equal(await storedJobStatus(daemon, job.id), 'PENDING', 'the created job is stored as answered');
  const final = await waitFor(async () => (await storedJobStatus(daemon, job.id)) === 'SUCCESS', { timeoutMs: 10_000, intervalMs: 100 });
  assert.ok(final, 'the job is SUCCESS in the store without the client polling');
  assert.ok(up.count('GET', jobPath(job.id)) >= 1, 'the worker polled the job');
  const result = await waitFor(
    async () => (await api(daemon, `${jobPath(job.id)}/result`, { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } })).status === 200,
    { timeoutMs: 5_000, intervalMs: 100 },
  );
  assert.ok(result, 'and its result is stored');
});

test('SDK 1: extraction.extract() (stateless /extraction/run) polls become local', async (t) => {
  const { daemon, up } = await startStack(t, { upstream: { autoFinishMs: 2000 }, daemon: { pollIntervalMs: 200 } });
  const { sdk, counts } = countingClient(daemon.url, 'key-alpha');
  const result = await sdk.extraction.extract(
    { config: { extraction_mode: 'FAST' }, data_schema: { type: 'object' }, file_id: 'file-stateless-1' },
    FAST_POLLING,
  );
  assert.equal(up.requests('POST', '/api/v1/extraction/run').length, 1, 'the run reached the upstream once');
  const jobId = [...up.data.runs.values()].find((r) => r.fileId === 'file-stateless-1').jobId;
  const direct = client({ url: up.url }, 'key-alpha');
  assert.deepEqual(result, await direct.extraction.jobs.getResult(jobId));
  const upstreamPolls = up.count('GET', jobPath(jobId));
  t.diagnostic(`the SDK polled ${counts.polls} times, upstream saw ${upstreamPolls}`);
  assert.ok(upstreamPolls * 3 <= counts.polls, `upstream saw ${upstreamPolls} of the SDK's ${counts.polls} polls`);
});

test('SDK 1: jobs.list is cached per key and agent, its jobs answer later gets, and offline it is the stored list', async (t) => {
  const { daemon, up, dir } = await startStack(t, { daemon: { extraArgs: ['--list-max-age-ms', '60000'] } });
  const sdk = client(daemon, 'key-alpha');
  const first = await sdk.extraction.jobs.list({ extraction_agent_id: 'agent-alpha' }).withResponse();
  assert.match(first.response.headers.get('cache-status'), /fwd=miss; fwd-status=200; stored/);
  const listed = up.count('GET', JOBS);
  assert.equal(listed, 1);
  const direct = client({ url: up.url }, 'key-alpha');
  assert.deepEqual(first.data, await direct.extraction.jobs.list({ extraction_agent_id: 'agent-alpha' }), "the upstream's list");
  assert.ok(first.data.length >= 3, `agent-alpha has ${first.data.length} jobs`);

  const second = await sdk.extraction.jobs.list({ extraction_agent_id: 'agent-alpha' }).withResponse();
  assert.equal(second.response.headers.get('cache-status'), 'runmirror; hit');
  assert.deepEqual(second.data, first.data);
  assert.equal(up.count('GET', JOBS), listed + 1, 'only the direct call reached the upstream again');

  // A final job first seen in the list answers a get from the store.
  const done = first.data.find((j) => j.status === 'SUCCESS');
  const got = await sdk.extraction.jobs.get(done.id).withResponse();
  assert.equal(got.response.headers.get('cache-status'), 'runmirror; hit');
  assert.deepEqual(got.data, done);
  assert.equal(up.count('GET', jobPath(done.id)), 0);
  // Another key is never given this key's list.
  await assert.rejects(client(daemon, 'key-beta').extraction.jobs.list({ extraction_agent_id: 'agent-alpha' }), (err) => err.status === 404);

  await daemon.stop();
  await up.stop();
  const offline = await startDaemon({ db: path.join(dir, 'rm.db'), offline: true });
  t.after(() => offline.stop());
  const off = client(offline, 'key-alpha');
  const stored = await off.extraction.jobs.list({ extraction_agent_id: 'agent-alpha' }).withResponse();
  assert.deepEqual(stored.data, first.data, 'offline: the stored list');
  assert.match(stored.response.headers.get('cache-status'), /^runmirror; hit/);
  // A list never fetched cannot be made up from stored jobs: 503, not worth retrying.
  const never = await api(offline, `${JOBS}?extraction_agent_id=agent-big`, { key: 'key-alpha' });
  assert.equal(never.status, 503);
  assert.equal(never.headers['x-should-retry'], 'false');
  assert.ok(JSON.parse(never.body).detail);
});

test('SDK 1: offline, a job that finished while the daemon was stopped answers its last stored status, and its result is refused clearly', async (t) => {
  const { daemon, up, dir } = await startStack(t, { upstream: { autoFinishMs: 60_000 }, daemon: { pollIntervalMs: 200 } });
  const sdk = client(daemon, 'key-alpha');
  const job = await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: 'file-v1-late' });
  assert.equal(job.status, 'PENDING');
  await daemon.stop();
  await up.stop();

  // Past its pending max age, so the stored job is stale: offline serves it marked so.
  const offline = await startDaemon({ db: path.join(dir, 'rm.db'), offline: true, extraArgs: ['--pending-max-age-ms', '1'] });
  t.after(() => offline.stop());
  const got = await api(offline, jobPath(job.id), { key: 'key-alpha' });
  assert.equal(got.status, 200);
  assert.equal(JSON.parse(got.body).status, 'PENDING', 'the last status the daemon saw');
  assert.match(got.headers['cache-status'], /stale/, got.headers['cache-status']);
  // Its result was never seen: a clear refusal the SDK does not retry, not a made-up answer.
  for (const p of [`${jobPath(job.id)}/result`, byJobPath(job.id)]) {
    const r = await api(offline, p, { key: 'key-alpha' });
    assert.equal(r.status, 503, `${p}: ${r.status} ${r.body}`);
    assert.equal(r.headers['x-should-retry'], 'false', p);
    assert.ok(JSON.parse(r.body).detail, p);
  }
  await assert.rejects(client(offline, 'key-alpha').extraction.jobs.getResult(job.id), (err) => err.status === 503);
});
