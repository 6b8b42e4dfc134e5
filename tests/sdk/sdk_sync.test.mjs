// The sync worker seen from the official SDK (@llamaindex/llama-cloud 1.8.0): a job created with
// jobs.create has its run final in the store without the SDK asking for it, and an SDK polling
// loop on getByJob is answered from the store while the daemon polls upstream for it.
// Needs `npm ci` in tests/sdk.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';

import { startStack } from '../support/daemon.mjs';
import { assertSameBytes } from '../support/checks.mjs';
import { UNICODE_RAW } from '../support/fake_upstream.mjs';
import {
  JOBS,
  assertSyncWorkerBinary,
  syncArgs,
  polls,
  pollCoversRun,
  waitForPoll,
  waitForStoredStatus,
  fakeRunIdOfJob,
  waitForWatches,
  watchOfJob,
  byJobPath,
  sleep,
  finishJobThroughWorker,
} from '../support/sync_helpers.mjs';
import { client } from './sdk_client.mjs';

before(() => assertSyncWorkerBinary());

test('SDK: jobs.create, then the run is final in the store without the SDK ever asking for it', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const sdk = client(daemon, 'key-alpha');
  const job = await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: 'file-sdk-sync' });
  const createdAt = Date.now();
  assert.equal(job.status, 'PENDING');
  assert.equal(up.count('POST', JOBS), 1, 'jobs.create reaches the upstream exactly once');
  const runId = await finishJobThroughWorker(daemon, up, job.id, createdAt);

  // The SDK sent nothing after jobs.create: every request since is a worker poll of this run.
  const since = up.log.filter((e) => e.at > createdAt);
  assert.ok(since.length >= 2);
  for (const e of since) {
    assert.ok(pollCoversRun(up, e, runId), `unexpected upstream request ${e.method} ${e.url}`);
    assert.equal(e.headers.authorization, 'Bearer key-alpha', 'polled with the key of the client that created the job');
  }

  await up.stop();
  // Reads with the upstream stopped cannot change the store: wait out the write after the poll.
  const stored = await waitForStoredStatus(daemon, byJobPath(job.id), { status: 'SUCCESS' });
  assertSameBytes(stored.body, up.runBytes(runId), 'stored run');
  const run = await sdk.extraction.runs.getByJob(job.id);
  assert.equal(run.id, runId);
  assert.equal(run.status, 'SUCCESS');
  assert.equal(run.data.city, UNICODE_RAW);
  assert.equal((await sdk.extraction.runs.get(runId)).status, 'SUCCESS');
});

test("SDK: a getByJob polling loop is answered from the store while the daemon polls upstream", async (t) => {
  // The worker refreshes the PENDING copy every <= 480 ms, well inside --pending-max-age-ms.
  const { daemon, up } = await startStack(t, {
    daemon: { extraArgs: syncArgs({ 'poll-interval-ms': 200, 'poll-cap-ms': 400, 'pending-max-age-ms': 2_000 }) },
  });
  const sdk = client(daemon, 'key-alpha');
  const job = await sdk.extraction.jobs.create({ extraction_agent_id: 'agent-alpha', file_id: 'file-sdk-loop' });
  const runId = fakeRunIdOfJob(up, job.id);
  const FINISH_AFTER_MS = 2_500;
  const finishTimer = setTimeout(() => up.finishRun(runId, 'SUCCESS'), FINISH_AFTER_MS);
  t.after(() => clearTimeout(finishTimer));

  const started = Date.now();
  const answers = [];
  let done = null;
  while (!done && Date.now() - started < 10_000) {
    const { data, response } = await sdk.extraction.runs.getByJob(job.id).withResponse();
    answers.push({ status: data.status, cacheStatus: response.headers.get('cache-status') ?? '', at: Date.now() - started });
    if (data.status === 'SUCCESS') done = data;
    else await sleep(100);
  }
  assert.ok(done, `the loop saw SUCCESS within 10 s: ${JSON.stringify(answers.slice(-3))}`);
  assert.equal(done.id, runId);
  assert.ok(answers.at(-1).at <= FINISH_AFTER_MS + 400 * 1.2 + 700, `SUCCESS reached the SDK ${answers.at(-1).at} ms in (finished upstream at ${FINISH_AFTER_MS} ms)`);
  assert.ok(answers.length >= 15, `the SDK looped ${answers.length} times`);

  // The first answer may be a miss; every later one is a local hit.
  const forwarded = answers.slice(1).filter((a) => !/^runmirror;.*\bhit\b/.test(a.cacheStatus) || /\bfwd=/.test(a.cacheStatus));
  assert.deepEqual(forwarded, [], "the SDK's loop must be served from the store (Cache-Status hit)");
  // Upstream saw the worker's polls of the run, far fewer than the SDK's loop (the job created
  // through the daemon is polled too, by its own watch: not counted here).
  const upstreamReads = polls(up, { run: runId }).filter((e) => !e.path.startsWith(`${JOBS}/`)).length;
  assert.ok(upstreamReads < answers.length / 2, `upstream reads ${upstreamReads} vs SDK reads ${answers.length}`);
});
