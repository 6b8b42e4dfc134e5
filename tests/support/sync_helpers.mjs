// Helpers for the sync-worker tests (tests/integration/sync_worker.test.mjs and
// tests/sdk/sdk_sync.test.mjs): fast worker flags, the fake upstream's log read as the daemon's
// polls, new PENDING runs at the fake, the watches API and an SSE subscriber for
// /_runmirror/events.
//
// Telling the daemon's polls from a client's requests: both carry the client's key, so the tests
// use time. Every entry of the fake's log has `at` (arrival, ms); a test notes Date.now() after
// its last client request and counts what arrives after that.

import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { RUNMIRROR_BIN, api, flagArgs, httpRequest, waitFor } from './daemon.mjs';

export const RUNS = '/api/v1/extraction/runs';
export const JOBS = '/api/v1/extraction/jobs';
export const runPath = (id) => `${RUNS}/${id}`;
export const byJobPath = (jobId) => `${RUNS}/by-job/${jobId}`;
export const jobPath = (jobId) => `${JOBS}/${jobId}`;

// What the sync worker sends upstream: a GET of one run (by id, or by job once its job is final),
// of one v1 job or its result, or of a list page of one agent's runs, which refreshes several
// watched runs of that agent at once.
const ONE_RUN_PATH = /^\/api\/v1\/extraction\/runs\/(by-job\/)?[^/]+$/;
const ONE_JOB_PATH = /^\/api\/v1\/extraction\/jobs\/[^/]+(\/result)?$/;
export const isPoll = (entry) =>
  entry.method === 'GET' && (entry.path === RUNS || ONE_RUN_PATH.test(entry.path) || ONE_JOB_PATH.test(entry.path));

// A poll that asks about the fake's run `runId`: by id, by its job, or a list of its agent.
export function pollCoversRun(up, entry, runId) {
  if (!isPoll(entry)) return false;
  const r = up.run(runId);
  if (entry.path === RUNS) return entry.query.extraction_agent_id === r.agentId;
  return (
    entry.path === runPath(runId) ||
    entry.path === byJobPath(r.jobId) ||
    entry.path === jobPath(r.jobId) ||
    entry.path === `${jobPath(r.jobId)}/result`
  );
}

// ---- the daemon ------------------------------------------------------------------------------

// Fails (with a clear message) unless `runmirror serve --help` lists the sync worker's flags.
export function assertSyncWorkerBinary(bin = RUNMIRROR_BIN) {
  let help = '';
  try {
    help = execFileSync(bin, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    help = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  for (const flag of ['--sync-rate', '--sync-concurrency', '--poll-cap-ms', '--watch-max-age-ms']) {
    assert.ok(help.includes(flag), `${bin} has no sync worker yet: \`serve --help\` does not list ${flag}`);
  }
}

// Worker flags for a fast test: first poll after 100 ms, cap 400 ms, a rate and concurrency that
// do not get in the way. `flags` overrides or adds ({ 'sync-rate': 5 }).
export const FAST_SYNC = {
  'poll-interval-ms': 100,
  'poll-cap-ms': 400,
  'sync-rate': 200,
  'sync-concurrency': 8,
};

export function syncArgs(flags = {}) {
  return flagArgs({ ...FAST_SYNC, ...flags });
}

// GET each path through the daemon with `key`, a few at a time; asserts every answer is 200 and
// returns them in order.
export async function readAll(daemon, paths, { key = 'key-alpha', concurrency = 8, label = '' } = {}) {
  const out = new Array(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      const res = await api(daemon, paths[i], { key });
      assert.equal(res.status, 200, `${label}GET ${paths[i]} with ${key}: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
      out[i] = res;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
  return out;
}

// The run status in a 200 answer's JSON body.
export function statusOf(res) {
  return JSON.parse(res.body.toString('utf8')).status;
}

// GET `path` through the daemon with `key` until it answers 200 with run status `status`;
// returns that answer. Meant for reads with the upstream stopped, which cannot change the store:
// they only wait out the moment between the worker's poll and its write. Fails with the last
// answer.
export async function waitForStoredStatus(daemon, path, { key = 'key-alpha', status = 'SUCCESS', timeoutMs = 3_000, label = '' } = {}) {
  let last = null;
  const ok = await waitFor(
    async () => {
      last = await api(daemon, path, { key });
      return last.status === 200 && statusOf(last) === status;
    },
    { timeoutMs, intervalMs: 50 },
  );
  if (!ok) {
    assert.fail(`${label}GET ${path} never answered 200 ${status} within ${timeoutMs} ms; last: ${last.status} ${last.body.toString('utf8').slice(0, 300)}`);
  }
  return last;
}

// ---- the fake upstream's log ------------------------------------------------------------------

// Logged polls (see isPoll) that arrived after `since` (ms, exclusive) and up to `until`
// (inclusive). `run`: only those that ask about that run (pollCoversRun); `path`: exact pathname,
// RegExp, or an array of pathnames; `key`: only those with `Authorization: Bearer <key>`.
export function polls(up, { since = -Infinity, until = Infinity, run, path, key } = {}) {
  return up.log.filter((e) => {
    if (!isPoll(e)) return false;
    if (!(e.at > since && e.at <= until)) return false;
    if (key !== undefined && e.headers.authorization !== `Bearer ${key}`) return false;
    if (run !== undefined && !pollCoversRun(up, e, run)) return false;
    if (path === undefined) return true;
    if (Array.isArray(path)) return path.includes(e.path);
    return typeof path === 'string' ? e.path === path : path.test(e.path);
  });
}

// Wait until a poll matching `filter` (as for polls()) has arrived and been answered; returns it.
// Fails after timeoutMs with what the log holds.
export async function waitForPoll(up, filter = {}, { timeoutMs = 5_000, label = '' } = {}) {
  const found = await waitFor(() => polls(up, filter).find((e) => e.answered), { timeoutMs, intervalMs: 20 });
  if (!found) {
    const seen = polls(up, { since: filter.since }).map((e) => `${e.at} ${e.url} ${e.headers.authorization ?? '-'}`);
    assert.fail(
      `${label}no daemon poll ${JSON.stringify({ ...filter, path: String(filter.path) })} reached the fake within ${timeoutMs} ms; ` +
        `polls since then: ${seen.length ? seen.slice(-20).join('; ') : 'none'}`,
    );
  }
  return found;
}

// The largest number of `times` (ms, any order) inside any window [t, t + windowMs).
export function maxInWindow(times, windowMs) {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi += 1) {
    while (sorted[hi] - sorted[lo] >= windowMs) lo += 1;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

// Create `n` PENDING runs at the fake (a job each, POSTed straight to the fake, not through the
// daemon) and return [{ runId, jobId, key, agentId }] in creation order. Leaves n POSTs in the
// fake's log.
export async function createPendingRuns(up, n, { key = 'key-alpha', agentId = 'agent-alpha' } = {}) {
  const created = [];
  for (let i = 0; i < n; i += 1) {
    const res = await httpRequest(`${up.url}${JOBS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ extraction_agent_id: agentId, file_id: `file-sync-${i}` }),
    });
    assert.equal(res.status, 200, `fake: create job: ${res.body}`);
    const jobId = JSON.parse(res.body.toString('utf8')).id;
    const runId = fakeRunIdOfJob(up, jobId);
    assert.equal(up.run(runId).status, 'PENDING');
    created.push({ runId, jobId, key, agentId });
  }
  return created;
}

// Every (client key, agent) pair the fake allows. Watches of different pairs cannot share a
// request upstream (the worker may refresh several runs of one tenant and agent with one list
// page), so runs spread over the pairs make the worker send one request per pair at least.
export const KEY_AGENT_PAIRS = [
  ['key-alpha', 'agent-alpha'],
  ['key-alpha', 'agent-big'],
  ['key-both', 'agent-alpha'],
  ['key-both', 'agent-big'],
  ['key-beta', 'agent-beta'],
  ['key-beta', 'agent-empty'],
  ['key-both', 'agent-beta'],
  ['key-both', 'agent-empty'],
];

// `perPair` PENDING runs for each of KEY_AGENT_PAIRS (see createPendingRuns).
export async function createPendingRunsAcrossPairs(up, perPair = 1) {
  const created = [];
  for (const [key, agentId] of KEY_AGENT_PAIRS) created.push(...(await createPendingRuns(up, perPair, { key, agentId })));
  return created;
}

// Read each of `runs` ([{ runId, key }]) once through the daemon by id, with its own key;
// asserts 200 PENDING.
export async function readRunsOnce(daemon, runs, { concurrency = 8 } = {}) {
  const byKey = new Map();
  for (const r of runs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.runId]);
  for (const [key, ids] of byKey) {
    const answers = await readAll(daemon, ids.map(runPath), { key, concurrency, label: 'first read: ' });
    for (const [i, res] of answers.entries()) assert.equal(statusOf(res), 'PENDING', `${ids[i]} on its first read`);
  }
}

// The id of the run the fake made for `jobId` (read from its data, so the log is untouched).
export function fakeRunIdOfJob(up, jobId) {
  const run = [...up.data.runs.values()].find((r) => r.jobId === jobId);
  assert.ok(run, `the fake has no run for job ${jobId}`);
  return run.id;
}

// ---- GET /_runmirror/api/watches ---------------------------------------------------------------

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const WATCH_FIELDS = [
  'id', 'kind', 'run_id', 'job_id', 'extraction_agent_id', 'project_id', 'next_poll_at', 'attempts',
  'last_status', 'last_error', 'created_at', 'finished_at', 'given_up_at', 'give_up_reason',
];
const WATCH_TIMES = ['next_poll_at', 'created_at', 'finished_at', 'given_up_at'];

export function isIsoTime(v) {
  return typeof v === 'string' && ISO.test(v) && Number.isFinite(Date.parse(v));
}

// A watch has ended: finished (final or deleted) or given up.
export const ended = (w) => w.finished_at !== null || w.given_up_at !== null;

// The watches the daemon lists (active ones; `all`: ended ones too), each checked for the
// documented shape.
export async function listWatches(daemon, { all = false } = {}) {
  const res = await api(daemon, `/_runmirror/api/watches${all ? '?all=1' : ''}`);
  const text = res.body.toString('utf8');
  assert.equal(res.status, 200, `GET /_runmirror/api/watches: ${res.status} ${text.slice(0, 300)}`);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`/_runmirror/api/watches is not JSON: ${text.slice(0, 300)}`);
  }
  assert.ok(Array.isArray(body?.items), `/_runmirror/api/watches must be {"items":[...]}: ${text.slice(0, 300)}`);
  for (const w of body.items) {
    for (const f of WATCH_FIELDS) assert.ok(f in w, `watch lacks "${f}": ${JSON.stringify(w)}`);
    assert.ok(w.kind === 'run' || w.kind === 'job', `watch kind: ${JSON.stringify(w)}`);
    assert.equal(typeof w.attempts, 'number', `watch attempts: ${JSON.stringify(w)}`);
    for (const f of WATCH_TIMES) {
      assert.ok(w[f] === null || isIsoTime(w[f]), `watch ${f} must be ISO 8601 or null: ${JSON.stringify(w)}`);
    }
    assert.ok(isIsoTime(w.created_at), `watch created_at: ${JSON.stringify(w)}`);
    assert.ok(w.finished_at === null || w.given_up_at === null, `a watch cannot be both finished and given up: ${JSON.stringify(w)}`);
    if (!all) assert.ok(!ended(w), `without ?all=1 only active watches are listed: ${JSON.stringify(w)}`);
  }
  return body.items;
}

// Wait until pred(items of ?all=1) is truthy; returns its value. Fails with the last listing.
export async function waitForWatches(daemon, pred, { timeoutMs = 10_000, label = '' } = {}) {
  let items = [];
  const v = await waitFor(
    async () => {
      items = await listWatches(daemon, { all: true });
      return pred(items);
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (!v) {
    const show = items.slice(0, 10).map((w) => JSON.stringify(w)).join('\n  ');
    assert.fail(`${label}watches did not reach the expected state within ${timeoutMs} ms (${items.length} listed):\n  ${show}`);
  }
  return v;
}

// The watch (from ?all=1) of a run, or of a job; undefined if none.
export function watchOfRun(items, runId) {
  return items.find((w) => w.run_id === runId);
}
export function watchOfJob(items, jobId) {
  return items.find((w) => w.job_id === jobId);
}

// Wait until the watches of every run id have finished with `status`.
export function waitRunsFinished(daemon, runIds, { status = 'SUCCESS', timeoutMs = 10_000, label = '' } = {}) {
  return waitForWatches(
    daemon,
    (items) => {
      const byRun = new Map(items.map((w) => [w.run_id, w]));
      return runIds.every((id) => byRun.get(id)?.finished_at && byRun.get(id).last_status === status);
    },
    { timeoutMs, label },
  );
}

// ---- GET /_runmirror/events (Server-Sent Events) -------------------------------------------------

// Subscribe to the daemon's event stream. Resolves once the response head arrived with
// { status, headers, events: [{ event, data, json, at }], comments: [text], waitFor(pred, opts),
// close() }. `json` is the parsed data (undefined if it is not JSON).
export function subscribeEvents(daemon, { headTimeoutMs = 5_000, key } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (key) headers.authorization = `Bearer ${key}`;
    const req = http.get(
      `${daemon.url}/_runmirror/events`,
      { agent: false, headers },
      (res) => {
        clearTimeout(timer);
        const sub = new EventSubscription(req, res);
        resolve(sub);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`/_runmirror/events: no response head within ${headTimeoutMs} ms`)),
      headTimeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

class EventSubscription {
  constructor(req, res) {
    this.req = req;
    this.status = res.statusCode;
    this.headers = res.headers;
    this.events = [];
    this.comments = [];
    this.closed = false;
    this.waiters = new Set();
    this.pending = '';
    this.frame = { event: '', data: [] };
    res.setEncoding('utf8');
    res.on('data', (text) => this.feed(text));
    const done = () => {
      this.closed = true;
      this.wake();
    };
    res.on('end', done);
    res.on('close', done);
    res.on('error', done);
  }

  // SSE parsing (WHATWG HTML, "event stream interpretation"): lines end in CRLF, LF or CR; a
  // blank line dispatches the frame; ':' starts a comment.
  feed(text) {
    this.pending += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.pending);
      if (!m) break;
      if (m[0] === '\r' && m.index === this.pending.length - 1) break; // maybe CRLF split in two
      const line = this.pending.slice(0, m.index);
      this.pending = this.pending.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.frame.data.length) {
        const data = this.frame.data.join('\n');
        let json;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        this.events.push({ event: this.frame.event || 'message', data, json, at: Date.now() });
        this.wake();
      }
      this.frame = { event: '', data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      this.wake();
      return;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.frame.event = value;
    else if (field === 'data') this.frame.data.push(value);
  }

  wake() {
    for (const w of this.waiters) w();
  }

  // Resolves with the first event (of all received so far and later) for which pred is truthy.
  // Fails after timeoutMs, or when the stream ends first, listing what arrived.
  async waitFor(pred, { timeoutMs = 5_000, label = '' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (this.closed || left <= 0) {
        assert.fail(
          `${label}no matching event ${this.closed ? 'before the stream ended' : `within ${timeoutMs} ms`}; ` +
            `received: ${this.events.map((e) => `${e.event} ${e.data}`).join(' | ') || 'nothing'}`,
        );
      }
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        const w = () => {
          clearTimeout(t);
          this.waiters.delete(w);
          resolve();
        };
        this.waiters.add(w);
      });
    }
  }

  close() {
    this.req.destroy();
  }
}

// `run` events about one run id.
export function runEvents(sub, runId) {
  return sub.events.filter((e) => e.event === 'run' && e.json?.run_id === runId);
}

export { sleep };

// A job just created through the daemon, followed by the worker to the end: it asks by job
// first, then, once the fake finishes the run, polls the run and ends the job's watch.
// `since` is when the job was created. Returns the run's id.
export async function finishJobThroughWorker(daemon, up, jobId, since) {
  const runId = fakeRunIdOfJob(up, jobId);
  await waitForPoll(up, { since, path: jobPath(jobId) }, { label: 'the worker polls the job: ' });
  up.finishRun(runId, 'SUCCESS');
  const finishedAt = Date.now();
  await waitForPoll(up, { since: finishedAt, run: runId }, { timeoutMs: 3_000, label: 'after the upstream finished: ' });
  await waitForWatches(
    daemon,
    (items) => {
      const w = watchOfJob(items, jobId);
      return w && w.run_id === runId && w.finished_at && w.last_status === 'SUCCESS';
    },
    { timeoutMs: 3_000, label: 'the job watch: ' },
  );
  return runId;
}
