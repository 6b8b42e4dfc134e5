// Sync worker (issue 3): the daemon polls upstream once for everyone until watched runs are
// final, so that clients' polling loops become local hits. Watches: every run seen CREATED or
// PENDING (any route) and every job created through the daemon; persisted, they survive
// restarts. Backoff, concurrency, a global rate, 429 pauses, 404 tombstones, 401 drops the key,
// max age gives up. Status changes stream at /_runmirror/events; watches are listed at
// /_runmirror/api/watches.
//
// The daemon's polls carry the client's key, like the client's own requests: the tests tell them
// apart by time (nothing a client sends after the noted instant).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, startDaemon, api, flagArgs, waitFor } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, jsonError, bodyText } from '../support/checks.mjs';
import { v2JobPath } from '../support/fake_v2.mjs';
import {
  JOBS,
  runPath,
  byJobPath,
  isPoll,
  pollCoversRun,
  assertSyncWorkerBinary,
  syncArgs,
  readAll,
  readRunsOnce,
  statusOf,
  waitForStoredStatus,
  polls,
  waitForPoll,
  maxInWindow,
  createPendingRuns,
  createPendingRunsAcrossPairs,
  fakeRunIdOfJob,
  listWatches,
  waitForWatches,
  waitRunsFinished,
  watchOfRun,
  watchOfJob,
  isIsoTime,
  ended,
  subscribeEvents,
  runEvents,
  finishJobThroughWorker,
} from '../support/sync_helpers.mjs';

const SLACK_MS = 30; // timer and loopback skew allowed on a timing bound

before(() => assertSyncWorkerBinary());

// A PENDING run read once through the daemon, as most tests start: returns the instant the read
// was answered (nothing a client sends reaches the fake after it).
async function readPendingOnce(daemon, id, key = 'key-alpha') {
  const res = await api(daemon, runPath(id), { key });
  assert.equal(res.status, 200, `first read of ${id}: ${bodyText(res)}`);
  assert.equal(statusOf(res), 'PENDING', `${id} must be PENDING for this test`);
  return Date.now();
}

// Every request that reached the fake after `since`.
function requestsSince(up, since) {
  return up.log.filter((e) => e.at > since);
}

test('a PENDING run read once is SUCCESS in the store after the upstream finishes it, without another client request', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs({ 'poll-interval-ms': 200, 'poll-cap-ms': 400 }) } });
  const id = 'run-alpha-pending';
  const readAt = await readPendingOnce(daemon, id);

  // The worker polls the run while it is PENDING...
  await waitForPoll(up, { since: readAt, run: id }, { timeoutMs: 3_000, label: 'while PENDING: ' });
  up.finishRun(id, 'SUCCESS');
  const finishedAt = Date.now();
  // ...and once more after the upstream finished it.
  await waitForPoll(up, { since: finishedAt, run: id }, { timeoutMs: 3_000, label: 'after the upstream finished: ' });

  const after = polls(up, { since: readAt });
  assert.ok(after.length >= 2, `the worker polled ${after.length} times`);
  for (const e of after) {
    assert.equal(e.headers.authorization, 'Bearer key-alpha', `the worker polls with the key of the client that caused the watch (${e.path})`);
  }
  for (const e of requestsSince(up, readAt)) {
    assert.ok(pollCoversRun(up, e, id), `only polls of the watched run reach the fake, got ${e.method} ${e.url}`);
  }

  // Upstream gone: the store has the final run, the upstream's bytes.
  await up.stop();
  const res = await waitForStoredStatus(daemon, runPath(id), { key: 'key-alpha', status: 'SUCCESS' });
  assertSameBytes(res.body, up.runBytes(id), 'stored final run');
  assert.match(cacheStatus(res), /\bhit\b/);

  await waitRunsFinished(daemon, [id], { label: 'watch of the finished run: ' });
  const w = watchOfRun(await listWatches(daemon, { all: true }), id);
  assert.equal(w.kind, 'run');
  assert.equal(w.job_id, 'job-alpha-pending');
  assert.equal(w.extraction_agent_id, 'agent-alpha');
  assert.equal(w.project_id, 'p-alpha');
  assert.ok(isIsoTime(w.finished_at), `finished_at: ${JSON.stringify(w)}`);
  assert.equal(w.given_up_at, null);
  assert.ok(!watchOfRun(await listWatches(daemon), id), 'an ended watch is listed only with ?all=1');
});

test('events: subscribers receive each status change of a watched run, once', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const subs = [await subscribeEvents(daemon), await subscribeEvents(daemon)];
  for (const sub of subs) {
    defer(() => sub.close());
    assert.equal(sub.status, 200);
    assert.match(String(sub.headers['content-type']), /^text\/event-stream\b/);
  }

  const alpha = 'run-alpha-pending';
  const beta = 'run-beta-pending';
  const readAt = await readPendingOnce(daemon, alpha, 'key-alpha');
  await readPendingOnce(daemon, beta, 'key-beta');
  await waitForPoll(up, { since: readAt, run: alpha });
  await waitForPoll(up, { since: readAt, run: beta });

  const before = Date.now();
  up.finishRun(alpha, 'SUCCESS');
  up.finishRun(beta, 'ERROR');

  const want = [
    { run_id: alpha, kind: 'run', job_id: 'job-alpha-pending', extraction_agent_id: 'agent-alpha', old_status: 'PENDING', new_status: 'SUCCESS' },
    { run_id: beta, kind: 'run', job_id: 'job-beta-pending', extraction_agent_id: 'agent-beta', old_status: 'PENDING', new_status: 'ERROR' },
  ];
  for (const [i, sub] of subs.entries()) {
    for (const w of want) {
      const ev = await sub.waitFor((e) => e.event === 'run' && e.json?.run_id === w.run_id && e.json.new_status === w.new_status, {
        timeoutMs: 5_000,
        label: `subscriber ${i}, ${w.run_id}: `,
      });
      const { at, ...rest } = ev.json;
      assert.deepEqual(
        Object.fromEntries(Object.keys(w).map((k) => [k, rest[k]])),
        w,
        `subscriber ${i}: event data ${ev.data}`,
      );
      assert.ok(isIsoTime(at), `event "at" must be ISO 8601: ${ev.data}`);
      const atMs = Date.parse(at);
      assert.ok(atMs >= before - 1_000 && atMs <= Date.now() + 1_000, `event "at" ${at} is not about now`);
    }
  }
  await sleep(800); // room for a duplicate to show up
  for (const [i, sub] of subs.entries()) {
    for (const w of want) {
      const changes = runEvents(sub, w.run_id).filter((e) => e.json.old_status === w.old_status && e.json.new_status === w.new_status);
      assert.equal(changes.length, 1, `subscriber ${i}: one frame per status change of ${w.run_id}, got ${changes.map((e) => e.data).join(' | ')}`);
    }
    assert.ok(!sub.events.some((e) => e.event === 'dropped'), `subscriber ${i} keeps up: nothing may be dropped`);
  }
});

test('events: each names the kind of resource it is about, "run" or "v2_job"', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const sub = await subscribeEvents(daemon);
  defer(() => sub.close());
  assert.equal(sub.status, 200);

  // A v1 run and a v2 job, both PENDING, read once; the upstream then finishes both.
  await readPendingOnce(daemon, 'run-alpha-pending', 'key-alpha');
  const job = 'v2-alpha-pending';
  const read = await api(daemon, v2JobPath(job), { key: 'key-alpha' });
  assert.equal(read.status, 200, bodyText(read));
  assert.equal(statusOf(read), 'PENDING');
  up.finishRun('run-alpha-pending', 'SUCCESS');
  up.v2.finish(job, 'COMPLETED');

  const runDone = await sub.waitFor((e) => e.event === 'run' && e.json?.run_id === 'run-alpha-pending' && e.json.new_status === 'SUCCESS', {
    timeoutMs: 5_000,
    label: 'v1 run: ',
  });
  assert.equal(runDone.json.kind, 'run', runDone.data);
  const jobDone = await sub.waitFor((e) => e.event === 'run' && e.json?.run_id === job && e.json.new_status === 'COMPLETED', {
    timeoutMs: 5_000,
    label: 'v2 job: ',
  });
  assert.deepEqual(
    { kind: jobDone.json.kind, job_id: jobDone.json.job_id, old_status: jobDone.json.old_status },
    { kind: 'v2_job', job_id: '', old_status: 'PENDING' },
    jobDone.data,
  );
  // Every event so far says its kind, including the first sighting of each (old_status "").
  const events = sub.events.filter((e) => e.event === 'run');
  assert.ok(events.some((e) => e.json.run_id === job && e.json.old_status === ''), 'the job was announced when first stored');
  for (const e of events) {
    assert.equal(e.json.kind, e.json.run_id === job ? 'v2_job' : 'run', `kind of ${e.data}`);
  }
});

test('jobs: a job created through the daemon has its run final in the store without the client asking', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const res = await api(daemon, JOBS, {
    key: 'key-alpha',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ extraction_agent_id: 'agent-alpha', file_id: 'file-sync-job' }),
  });
  assert.equal(res.status, 200, bodyText(res));
  const postedAt = Date.now();
  const job = JSON.parse(res.body);
  assert.equal(job.status, 'PENDING');
  assert.equal(up.count('POST', JOBS), 1, 'the job is created upstream exactly once');
  const runId = await finishJobThroughWorker(daemon, up, job.id, postedAt);

  // Everything after the POST came from the worker: polls of this run with the client's key.
  const since = requestsSince(up, postedAt);
  assert.ok(since.length >= 2, `polls after the POST: ${since.map((e) => e.url).join(', ')}`);
  for (const e of since) {
    assert.ok(pollCoversRun(up, e, runId), `unexpected upstream request ${e.method} ${e.url}`);
    assert.equal(e.headers.authorization, 'Bearer key-alpha', 'polled with the key of the client that created the job');
  }

  await up.stop();
  const byJob = await waitForStoredStatus(daemon, byJobPath(job.id), { status: 'SUCCESS' });
  assertSameBytes(byJob.body, up.runBytes(runId), 'run by job, upstream stopped');
  const byId = await api(daemon, runPath(runId), { key: 'key-alpha' });
  assert.equal(byId.status, 200, bodyText(byId));
  assertSameBytes(byId.body, up.runBytes(runId), 'run by id, upstream stopped');
});

test('jobs: once the job is final the worker asks for its run by job, through 404s, until it has it', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  up.setFault({ method: 'GET', path: /^\/api\/v1\/extraction\/runs\/by-job\//, status: 404, body: '{"detail":"Extraction run not found for job"}', times: 3 });
  const res = await api(daemon, JOBS, {
    key: 'key-alpha',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ extraction_agent_id: 'agent-alpha', file_id: 'file-sync-late' }),
  });
  assert.equal(res.status, 200, bodyText(res));
  const postedAt = Date.now();
  const job = JSON.parse(res.body);
  const runId = fakeRunIdOfJob(up, job.id);
  up.finishRun(runId, 'SUCCESS');

  const ok = await waitFor(() => polls(up, { since: postedAt, path: byJobPath(job.id) }).filter((e) => e.answered).length >= 4, { timeoutMs: 8_000, intervalMs: 20 });
  assert.ok(ok, `after three 404s the worker must ask by job again; by-job polls: ${polls(up, { since: postedAt, path: byJobPath(job.id) }).length}`);
  await waitForWatches(daemon, (items) => watchOfJob(items, job.id)?.last_status === 'SUCCESS' && watchOfJob(items, job.id).finished_at, {
    timeoutMs: 4_000,
    label: 'job watch after its run appeared: ',
  });
  await up.stop();
  const byJob = await waitForStoredStatus(daemon, byJobPath(job.id), { status: 'SUCCESS' });
  assertSameBytes(byJob.body, up.runBytes(runId), 'run by job, upstream stopped');
});

test('every route starts a watch: run by id, by job, list pages; each polled with its own client key', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const page = await api(daemon, '/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=0&limit=100', { key: 'key-alpha' });
  assert.equal(page.status, 200, bodyText(page));
  const listed = JSON.parse(page.body).items;
  const listedPending = listed.filter((r) => r.status === 'PENDING').map((r) => r.id);
  const listedFinal = listed.filter((r) => r.status !== 'PENDING').map((r) => r.id);
  assert.ok(listedPending.length >= 2, `the page holds PENDING runs: ${listedPending}`);
  const byJob = await api(daemon, byJobPath('job-beta-pending'), { key: 'key-beta' });
  assert.equal(byJob.status, 200, bodyText(byJob));
  const readAt = await readPendingOnce(daemon, 'run-alpha-pending', 'key-alpha');

  const expected = [
    ...listedPending.map((id) => ({ id, key: 'key-alpha', agent: 'agent-big', project: 'p-alpha' })),
    { id: 'run-beta-pending', key: 'key-beta', agent: 'agent-beta', project: 'p-beta', job: 'job-beta-pending' },
    { id: 'run-alpha-pending', key: 'key-alpha', agent: 'agent-alpha', project: 'p-alpha', job: 'job-alpha-pending' },
  ];
  const active = await waitForWatches(daemon, (items) => expected.every((x) => watchOfRun(items, x.id)) && items, {
    timeoutMs: 2_000,
    label: 'a watch for each PENDING run seen: ',
  });
  for (const x of expected) {
    const w = watchOfRun(active, x.id);
    assert.ok(w, `an active watch for ${x.id}; listed: ${active.map((v) => v.run_id).join(', ')}`);
    assert.equal(w.kind, 'run');
    assert.equal(w.extraction_agent_id, x.agent);
    assert.equal(w.project_id, x.project);
    if (x.job) assert.equal(w.job_id, x.job);
    assert.equal(w.finished_at, null);
    assert.equal(w.given_up_at, null);
    assert.ok(isIsoTime(w.next_poll_at), `next_poll_at of an active watch: ${JSON.stringify(w)}`);
  }
  const all = await listWatches(daemon, { all: true });
  for (const id of listedFinal) assert.ok(!watchOfRun(all, id), `a run seen final is not watched: ${id}`);

  for (const x of expected) {
    await waitForPoll(up, { since: readAt, run: x.id }, { label: `${x.id}: ` });
    for (const e of polls(up, { since: readAt, run: x.id })) {
      assert.equal(e.headers.authorization, `Bearer ${x.key}`, `${x.id} is polled with the key that showed it`);
    }
  }
  for (const x of expected) up.finishRun(x.id, 'SUCCESS');
  await waitRunsFinished(daemon, expected.map((x) => x.id), { timeoutMs: 5_000 });
});

test('backoff: polls of an unchanged run start after the interval and space out x1.5 up to the cap', async (t) => {
  const INTERVAL = 100;
  const CAP = 400;
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs({ 'poll-interval-ms': INTERVAL, 'poll-cap-ms': CAP }) } });
  const id = 'run-alpha-pending';
  await readPendingOnce(daemon, id);
  const clientRead = up.requests('GET', runPath(id))[0];
  assert.ok(clientRead, "the client's read reached the fake");
  await sleep(3_500);

  const times = polls(up, { since: clientRead.at, run: id })
    .filter((e) => e !== clientRead)
    .map((e) => e.at);
  assert.ok(times.length >= 5, `polls in 3.5 s: ${times.length}`);
  const first = times[0] - clientRead.at;
  assert.ok(first >= INTERVAL * 0.8 - SLACK_MS, `first poll ${first} ms after the read: not before the interval (-20%)`);
  assert.ok(first <= INTERVAL * 1.2 + 200, `first poll ${first} ms after the read: about the interval`);
  const gaps = times.slice(1).map((t1, i) => t1 - times[i]);
  for (const [i, g] of gaps.entries()) {
    assert.ok(g >= INTERVAL * 0.8 - SLACK_MS, `gap ${i} is ${g} ms: below the interval; gaps ${gaps}`);
    assert.ok(g <= CAP * 1.2 + 150, `gap ${i} is ${g} ms: above the cap (+20%); gaps ${gaps}`);
  }
  // 100 * 1.5^4 > 400: from the 5th gap on the delay sits at the cap (+-20%).
  for (const [i, g] of gaps.slice(4).entries()) assert.ok(g >= CAP * 0.8 - SLACK_MS, `gap ${i + 4} is ${g} ms: the cap is reached by then; gaps ${gaps}`);
  assert.ok(gaps[0] < gaps[gaps.length - 1], `the delay grows: gaps ${gaps}`);

  const w = watchOfRun(await listWatches(daemon), id);
  assert.ok(w && w.attempts >= 3, `attempts counts the unchanged answers: ${JSON.stringify(w)}`);
  assert.equal(w.last_status, 'PENDING');
});

test('restart with 100 open watches and a service key: all reach SUCCESS without client requests', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const created = await createPendingRuns(up, 100);
  const ids = created.map((c) => c.runId);
  await readRunsOnce(daemon, created);
  await waitForWatches(daemon, (items) => ids.every((id) => watchOfRun(items, id) && !ended(watchOfRun(items, id))), {
    timeoutMs: 3_000,
    label: '100 active watches before the restart: ',
  });

  const exit = await daemon.stop();
  assert.equal(exit.timedOut, false, 'SIGTERM stops the daemon');
  for (const id of ids) up.finishRun(id, 'SUCCESS');
  up.clearLog();

  const again = await startDaemon({
    upstreamUrl: up.url,
    db: daemon.db,
    extraArgs: syncArgs(),
    env: { LLAMA_CLOUD_API_KEY: 'key-both' },
  });
  defer(() => again.stop());
  await waitRunsFinished(again, ids, { timeoutMs: 20_000, label: 'after the restart: ' });

  for (const e of up.log) {
    assert.ok(ids.some((id) => pollCoversRun(up, e, id)), `only polls of the watched runs reach the fake after the restart: ${e.method} ${e.url}`);
    assert.equal(e.headers.authorization, 'Bearer key-both', 'after a restart the worker polls with the service key');
  }
  for (const id of ids) assert.ok(polls(up, { run: id }).length >= 1, `${id} was polled after the restart`);

  await up.stop();
  const reads = await readAll(again, ids.map(runPath), { key: 'key-alpha', label: 'upstream stopped: ' });
  for (const [i, res] of reads.entries()) assertSameBytes(res.body, up.runBytes(ids[i]), `${ids[i]} from the store`);
});

test('restart without a service key: watches wait for their tenant to come back, per tenant', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const alphaRuns = await createPendingRuns(up, 4);
  const alpha = alphaRuns.map((c) => c.runId);
  const beta = 'run-beta-pending';
  await readRunsOnce(daemon, alphaRuns);
  await readPendingOnce(daemon, beta, 'key-beta');
  const exit = await daemon.stop();
  assert.equal(exit.timedOut, false);
  for (const id of [...alpha, beta]) up.finishRun(id, 'SUCCESS');
  up.clearLog();

  const again = await startDaemon({ upstreamUrl: up.url, db: daemon.db, extraArgs: syncArgs() });
  defer(() => again.stop());
  await sleep(1_500); // several poll intervals
  assert.deepEqual(polls(up).map((e) => e.path), [], 'without a key for the tenant the worker must not poll');
  const waiting = await listWatches(again);
  for (const id of [...alpha, beta]) assert.ok(watchOfRun(waiting, id), `${id} is still watched (waiting), not ended`);

  // A client of tenant alpha comes back, asking about something else.
  const backAt = Date.now(); // the worker may resume as soon as it sees the key, before answering
  const other = await api(again, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(other.status, 200, bodyText(other));
  await waitRunsFinished(again, alpha, { timeoutMs: 5_000, label: 'alpha watches after its client came back: ' });
  for (const e of polls(up, { since: backAt })) assert.equal(e.headers.authorization, 'Bearer key-alpha', `${e.path}: polled with the returning client's key`);
  await sleep(600);
  assert.deepEqual(polls(up, { run: beta }).map((e) => e.headers.authorization), [], "tenant beta's watch still waits");
  assert.ok(watchOfRun(await listWatches(again), beta), 'the beta watch is still active');

  const betaBack = await api(again, runPath('run-beta-success'), { key: 'key-beta' });
  assert.equal(betaBack.status, 200, bodyText(betaBack));
  await waitRunsFinished(again, [beta], { timeoutMs: 5_000, label: 'beta watch after its client came back: ' });
  const betaPolls = polls(up, { run: beta });
  assert.ok(betaPolls.length >= 1);
  for (const e of betaPolls) assert.equal(e.headers.authorization, 'Bearer key-beta');

  await up.stop();
  for (const [id, key] of [...alpha.map((id) => [id, 'key-alpha']), [beta, 'key-beta']]) {
    const res = await api(again, runPath(id), { key });
    assert.equal(res.status, 200, `${id}: ${bodyText(res)}`);
    assert.equal(statusOf(res), 'SUCCESS', `${id} from the store`);
  }
});

test('global rate: --sync-rate 5 keeps the daemon under 5 polls in any second', async (t) => {
  const { daemon, up } = await startStack(t, {
    daemon: {
      singleDaemon: 'the sync rate holds per daemon',
      extraArgs: syncArgs({ 'sync-rate': 5, 'sync-concurrency': 4, 'poll-interval-ms': 100, 'poll-cap-ms': 200 }),
    },
  });
  // Two runs for each key and agent: at least 8 requests per round of polls, every 100-240 ms.
  await readRunsOnce(daemon, await createPendingRunsAcrossPairs(up, 2), { concurrency: 4 });
  const from = Date.now();
  await sleep(3_500);
  const times = polls(up, { since: from }).map((e) => e.at);
  const worst = maxInWindow(times, 1_000);
  assert.ok(worst <= 5 + 1, `at most 5 polls (+1 for a burst) in any 1 s window, got ${worst}; arrivals (ms from start): ${times.map((x) => x - from)}`);
  // 16 runs in 8 groups due every 100-240 ms want far more than 5/s: the worker uses its budget.
  assert.ok(times.length >= 10, `the worker polls at about the rate: ${times.length} polls in 3.5 s`);
});

test('429: the whole worker pauses for retry-after-ms / Retry-After, then resumes', async (t) => {
  const { daemon, up } = await startStack(t, {
    daemon: {
      singleDaemon: 'a 429 pauses the worker of the daemon that saw it',
      extraArgs: syncArgs({ 'sync-rate': 50, 'sync-concurrency': 4, 'poll-interval-ms': 100, 'poll-cap-ms': 200 }),
    },
  });
  await readRunsOnce(daemon, await createPendingRunsAcrossPairs(up, 1), { concurrency: 4 });
  let phaseStart = Date.now();

  for (const { headers, pauseMs } of [
    { headers: { 'retry-after-ms': '1500' }, pauseMs: 1_500 },
    { headers: { 'retry-after': '1' }, pauseMs: 1_000 },
  ]) {
    const label = `${JSON.stringify(headers)}: `;
    // Silence only means something while the worker has plenty to send: ~5 polls per 100 ms.
    const flowing = () => polls(up, { since: Math.max(phaseStart, Date.now() - 300) }).length >= 5;
    assert.ok(await waitFor(flowing, { timeoutMs: 5_000, intervalMs: 20 }), `${label}polls flow before the 429`);
    const mark = up.log.length;
    up.setFault({ method: 'GET', path: /^\/api\/v1\/extraction\/runs(\/|$)/, status: 429, headers, body: '{"detail":"Too Many Requests"}', times: 1 });
    assert.ok(await waitFor(() => up.log.slice(mark).some((e) => isPoll(e) && e.answered), { timeoutMs: 3_000, intervalMs: 10 }), `${label}a poll met the 429`);
    const limited = up.log.slice(mark).find(isPoll);
    const quietUntil = limited.at + pauseMs - 100;
    await sleep(Math.max(0, quietUntil - Date.now()) + 50);
    // In flight when the 429 was answered: allowed in the first 50 ms.
    const during = polls(up, { since: limited.at + 50, until: quietUntil }).map((e) => e.at - limited.at);
    assert.deepEqual(during, [], `${label}no poll may reach the upstream during the pause (ms after the 429)`);
    await waitForPoll(up, { since: quietUntil }, { timeoutMs: pauseMs + 1_500, label: `${label}the worker resumes after the pause: ` });
    phaseStart = Date.now();
  }
});

test('404 from a poll tombstones the run: polls stop, reads answer 404 even with the upstream stopped', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs({ 'poll-cap-ms': 300 }) } });
  const id = 'run-alpha-pending';
  const readAt = await readPendingOnce(daemon, id);
  await waitForPoll(up, { since: readAt, run: id }, { label: 'watched: ' });

  up.markDeleted(id); // behind the daemon's back
  const deletedAt = Date.now();
  const gone = await waitForPoll(up, { since: deletedAt, run: id }, { timeoutMs: 3_000, label: 'poll after the deletion: ' });
  await sleep(1_200); // four capped delays
  const later = polls(up, { since: gone.at, run: id });
  assert.deepEqual(later.map((e) => e.at - gone.at), [], 'after the 404 the worker stops polling the run');
  const w = watchOfRun(await listWatches(daemon, { all: true }), id);
  assert.ok(w && w.finished_at, `the watch ended as deleted: ${JSON.stringify(w)}`);

  await up.stop();
  for (const path of [runPath(id), byJobPath('job-alpha-pending')]) {
    const res = await api(daemon, path, { key: 'key-alpha' });
    assert.equal(res.status, 404, `${path} after the worker's 404, upstream stopped: ${res.status} ${bodyText(res)}`);
    assert.ok(!res.body.includes(Buffer.from('"status"')), 'the 404 must not carry the stored run');
    jsonError(res);
    cacheStatus(res);
  }
});

test('401 on a poll drops that key: the watch waits until its client comes back', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs({ 'poll-cap-ms': 300 }) } });
  const id = 'run-alpha-pending';
  const readAt = await readPendingOnce(daemon, id);
  await waitForPoll(up, { since: readAt, run: id }, { label: 'watched: ' });

  const mark = up.log.length;
  up.setFault({ method: 'GET', path: new RegExp(`/(${id}|job-alpha-pending)$`), status: 401, body: '{"detail":"Invalid API key"}' });
  assert.ok(await waitFor(() => up.log.slice(mark).some((e) => isPoll(e) && e.answered), { timeoutMs: 3_000, intervalMs: 10 }), 'a poll met the 401');
  const refused = up.log.slice(mark).find(isPoll);
  await sleep(1_200);
  assert.deepEqual(polls(up, { since: refused.at + 50 }).map((e) => e.at - refused.at), [], 'no poll with a key the upstream refused');
  const w = watchOfRun(await listWatches(daemon, { all: true }), id);
  assert.ok(w && !ended(w), `the watch waits, it does not end: ${JSON.stringify(w)}`);

  up.clearFaults();
  up.finishRun(id, 'SUCCESS');
  const backAt = Date.now(); // the worker may resume as soon as it sees the key, before answering
  const other = await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  assert.equal(other.status, 200, bodyText(other));
  await waitRunsFinished(daemon, [id], { timeoutMs: 5_000, label: 'after the client came back: ' });
  // since is exclusive and times are whole milliseconds: the poll may land in backAt's own
  // millisecond (none came during the sleep above, so any from there on is after the return).
  assert.ok(polls(up, { since: backAt - 1, run: id, key: 'key-alpha' }).length >= 1, 'polled again with the returning key');
});

for (const failure of ['500', 'timeout']) {
  test(`${failure} on polls backs off instead of hammering, and the watch carries on`, async (t) => {
    const CAP = 1_000;
    const { daemon, up } = await startStack(t, {
      daemon: {
        extraArgs: [
          ...syncArgs({ 'poll-interval-ms': 100, 'poll-cap-ms': CAP }),
          ...flagArgs({ 'response-timeout-ms': 200, 'total-timeout-ms': 400, 'upstream-failure-threshold': 1_000 }),
        ],
      },
    });
    const id = 'run-alpha-pending';
    await readPendingOnce(daemon, id);
    const path = new RegExp(`/(${id}|job-alpha-pending)$`);
    up.setFault(failure === '500' ? { method: 'GET', path, status: 500 } : { method: 'GET', path, hang: true });
    const from = Date.now();
    await sleep(2_500);
    const n = polls(up, { since: from, run: id }).length;
    // Backoff from 100 ms by x1.5 (-20% jitter) fits at most 7 polls in 2.5 s; a fixed 100 ms
    // interval would be 25.
    assert.ok(n >= 3, `${failure}: the worker keeps trying (${n} polls)`);
    assert.ok(n <= 8, `${failure}: ${n} polls in 2.5 s: no backoff`);
    const w = watchOfRun(await listWatches(daemon), id);
    assert.ok(w && !ended(w), `${failure}: the watch carries on: ${JSON.stringify(w)}`);
    assert.ok(w.last_error, `${failure}: last_error says what went wrong: ${JSON.stringify(w)}`);

    up.clearFaults();
    up.finishRun(id, 'SUCCESS');
    await waitRunsFinished(daemon, [id], { timeoutMs: CAP * 1.2 + 3_000, label: `${failure}, then healthy: ` });
  });
}

test('a watch older than --watch-max-age-ms is given up with a reason', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: syncArgs({ 'watch-max-age-ms': 700, 'poll-cap-ms': 200 }) } });
  const id = 'run-alpha-pending';
  const readAt = await readPendingOnce(daemon, id);
  await waitForPoll(up, { since: readAt, run: id }, { label: 'watched: ' });
  const w = await waitForWatches(daemon, (items) => {
    const x = watchOfRun(items, id);
    return x?.given_up_at ? x : null;
  }, { timeoutMs: 3_000, label: 'given up: ' });
  assert.equal(typeof w.give_up_reason, 'string');
  assert.ok(w.give_up_reason.length > 0, `give_up_reason: ${JSON.stringify(w)}`);
  assert.equal(w.finished_at, null);
  assert.ok(Date.parse(w.given_up_at) - readAt >= 700 - 100, `given up ${Date.parse(w.given_up_at) - readAt} ms after the watch began`);
  assert.ok(!watchOfRun(await listWatches(daemon), id), 'a given-up watch is not active');
  const givenUpAt = Date.now();
  await sleep(800);
  assert.deepEqual(polls(up, { since: givenUpAt, run: id }).map((e) => e.at), [], 'no polls after giving up');
});
