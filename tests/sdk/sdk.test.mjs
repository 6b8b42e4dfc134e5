// The official TypeScript SDK (@llamaindex/llama-cloud 1.8.0) pointed at runmirror through its
// baseURL override, with the fake upstream behind the daemon. Needs `npm ci` in tests/sdk.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, waitFor } from '../support/daemon.mjs';
import { UNICODE_RAW } from '../support/fake_upstream.mjs';
import { client, sdkVersion } from './sdk_client.mjs';

const runPath = (id) => `/api/v1/extraction/runs/${id}`;

test('the pinned SDK version is installed', () => {
  assert.equal(sdkVersion, '1.8.0');
});

test('SDK: runs.list auto-paging, runs.get, runs.getByJob through the mirror', async (t) => {
  const { daemon, up } = await startStack(t);
  const sdk = client(daemon, 'key-alpha');

  const ids = [];
  for await (const run of sdk.extraction.runs.list({ extraction_agent_id: 'agent-big' })) ids.push(run.id);
  assert.equal(ids.length, 130);
  assert.deepEqual(ids, up.listIds('agent-big'));
  const skips = up.requests('GET', '/api/v1/extraction/runs').map((r) => r.query.skip ?? '0');
  assert.deepEqual(skips, ['0', '100'], 'the SDK asked for two pages through the daemon');

  const paged = [];
  for await (const run of sdk.extraction.runs.list({ extraction_agent_id: 'agent-big', limit: 40 })) paged.push(run.id);
  assert.deepEqual(paged, up.listIds('agent-big'), 'paging with limit=40');

  // A run seen only in list pages: served without the upstream.
  const listed = ids.find((id) => JSON.parse(up.runRaw(id)).status === 'SUCCESS');
  const { data: run, response } = await sdk.extraction.runs.get(listed).withResponse();
  assert.equal(run.id, listed);
  assert.equal(run.data.city, UNICODE_RAW);
  assert.match(response.headers.get('cache-status') ?? '', /^runmirror;.*\bhit\b/);
  assert.equal(up.count('GET', runPath(listed)), 0);

  // A run never seen: first get reaches the upstream, the second does not.
  const first = await sdk.extraction.runs.get('run-alpha-success');
  assert.equal(first.status, 'SUCCESS');
  assert.equal(first.file.x_unknown_file_field.kept, true, 'unknown fields survive');
  await sdk.extraction.runs.get('run-alpha-success');
  assert.equal(up.count('GET', runPath('run-alpha-success')), 1, 'second runs.get of a final run must not reach the upstream');

  const byJob = await sdk.extraction.runs.getByJob('job-alpha-error');
  assert.equal(byJob.id, 'run-alpha-error');
  assert.equal(byJob.status, 'ERROR');
  await sdk.extraction.runs.getByJob('job-alpha-error');
  assert.equal(up.count('GET', '/api/v1/extraction/runs/by-job/job-alpha-error'), 1, 'second getByJob of a final run must not reach the upstream');
});

test('SDK: another key without a grant gets NotFound, not the stored run', async (t) => {
  const { daemon, up } = await startStack(t);
  await client(daemon, 'key-alpha').extraction.runs.get('run-alpha-success');
  const beta = client(daemon, 'key-beta');
  await assert.rejects(beta.extraction.runs.get('run-alpha-success'), (err) => {
    assert.equal(err.status, 404, `got ${err.status}: ${err.message}`);
    return true;
  });
  assert.equal(up.count('GET', runPath('run-alpha-success')), 2);
  const bad = client(daemon, 'key-nobody');
  await assert.rejects(bad.extraction.runs.get('run-alpha-success'), (err) => err.status === 401);
});

test('SDK: runs.delete tombstones the run', async (t) => {
  const { daemon, up } = await startStack(t);
  const sdk = client(daemon, 'key-alpha');
  await sdk.extraction.runs.get('run-alpha-spaced');
  await sdk.extraction.runs.delete('run-alpha-spaced');
  assert.equal(up.count('DELETE', runPath('run-alpha-spaced')), 1);
  await assert.rejects(sdk.extraction.runs.get('run-alpha-spaced'), (err) => err.status === 404);
  assert.equal(up.count('GET', runPath('run-alpha-spaced')), 1, 'GET after delete is answered by the daemon');
});

test('SDK: jobs.create passes through, the new run becomes SUCCESS through the mirror', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { pollIntervalMs: 200 } });
  const sdk = client(daemon, 'key-alpha');
  const job = await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: 'file-sdk-1' });
  assert.equal(job.status, 'PENDING');
  assert.equal(job.extraction_agent.id, 'agent-alpha');
  const posts = up.requests('POST', '/api/v1/extraction/jobs');
  assert.equal(posts.length, 1, 'jobs.create reaches the upstream exactly once');
  assert.deepEqual(JSON.parse(posts[0].body.toString('utf8')), { extraction_agent_id: 'agent-alpha', file_id: 'file-sdk-1' });

  const pending = await sdk.extraction.runs.getByJob(job.id);
  assert.equal(pending.status, 'PENDING');
  up.finishRun(pending.id, 'SUCCESS');

  const done = await waitFor(
    async () => {
      const r = await sdk.extraction.runs.getByJob(job.id);
      return r.status === 'SUCCESS' ? r : null;
    },
    { timeoutMs: 10_000, intervalMs: 250 },
  );
  assert.ok(done, 'the run reached SUCCESS through the daemon within 10 s');
  assert.equal(done.data.city, UNICODE_RAW);
  // The job itself is served from the store while PENDING (within the pending max age) and
  // refreshed by the sync worker.
  const jobDone = await waitFor(async () => (await sdk.extraction.jobs.get(job.id)).status === 'SUCCESS', {
    timeoutMs: 10_000,
    intervalMs: 250,
  });
  assert.ok(jobDone, 'the job reached SUCCESS through the daemon within 10 s');
  const result = await sdk.extraction.jobs.getResult(job.id);
  assert.equal(result.run_id, pending.id);

  const before = up.count('GET', runPath(pending.id));
  const again = await sdk.extraction.runs.get(pending.id);
  assert.equal(again.status, 'SUCCESS');
  assert.equal(up.count('GET', runPath(pending.id)), before, 'the finished run is final: served from the store');
});
