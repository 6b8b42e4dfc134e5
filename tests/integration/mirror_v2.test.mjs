// `runmirror mirror` and Extract v2 jobs: `--all` pulls them (GET /api/v2/extract, newest first,
// cursor paging) into the store as the daemon stores list items, incrementally; unfinished jobs
// are watched; a failing or interrupted pass keeps what it stored and a rerun completes it.
//
// key-alpha sees project p-alpha: 67 v2 jobs, 8 of them not final (fake_v2.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

import {
  RUNMIRROR_BIN, api, cleanupStack, daemonEnv, httpRequest, makeTempDir, removeDir, startDaemon, waitFor,
} from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';
import { V2_EXTRACT, V2_FINAL, v2JobPath } from '../support/fake_v2.mjs';

const ALPHA_JOBS = 67;

// Runs `runmirror mirror ...args` with `key` in LLAMA_CLOUD_API_KEY; resolves with
// { code, signal, stderr }. `onSpawn` gets the child process (to interrupt it).
function mirror(args, { key = 'key-alpha', onSpawn } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNMIRROR_BIN, ['mirror', ...args], {
      env: daemonEnv(key ? { LLAMA_CLOUD_API_KEY: key } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    onSpawn?.(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

// `runmirror <command> ...args` straight from the store (a user's environment).
function cli(command, args) {
  const res = spawnSync(RUNMIRROR_BIN, [command, ...args], { env: daemonEnv(), encoding: 'utf8', timeout: 20_000 });
  if (res.error) throw res.error;
  assert.equal(res.status, 0, `runmirror ${command} ${args.join(' ')}: ${res.stderr}`);
  return res.stdout.trim() ? res.stdout.trim().split('\n').map((l) => JSON.parse(l)) : [];
}

// Ids of the stored v2 jobs, newest first, as `runmirror runs list --kind v2_job` shows them.
const storedJobIds = (db) => cli('runs', ['list', '--kind', 'v2_job', '--json', '--limit', '1000', '--db', db]).map((j) => j.id);

async function setup(t) {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const up = await startFakeUpstream();
  defer(() => up.stop());
  const db = path.join(dir, 'rm.db');
  const v2Args = (...more) => ['--all', '--kind', 'v2_job', '--db', db, '--upstream', up.url, ...more];
  return { up, db, defer, v2Args, listRequests: () => up.count('GET', V2_EXTRACT) };
}

// Each job as an offline daemon serves it from `db` to key-alpha: id -> { status, body }.
async function offlineJobs(db, ids) {
  const daemon = await startDaemon({ db, offline: true });
  try {
    const out = new Map();
    for (const id of ids) {
      const res = await api(daemon, v2JobPath(id), { key: 'key-alpha' });
      out.set(id, { status: res.status, body: res.body });
    }
    return out;
  } finally {
    await daemon.stop();
  }
}

// The one error line a failed pass prints (besides its progress and summary lines).
function errorLines(stderr) {
  return stderr.split('\n').filter((l) => l.startsWith('runmirror mirror:'));
}

test('mirror --all pulls v2 jobs too: listed by runs --kind v2_job, served offline byte for byte', async (t) => {
  const { up, db, listRequests } = await setup(t);
  const res = await mirror(['--all', '--page-size', '20', '--db', db, '--upstream', up.url]);
  assert.equal(res.code, 0, res.stderr);
  t.diagnostic(res.stderr.trim());
  assert.equal(listRequests(), Math.ceil(ALPHA_JOBS / 20), 'every page once');
  for (const req of up.requests('GET', V2_EXTRACT)) {
    assert.equal(req.query.page_size, '20');
    assert.equal(req.headers.authorization, 'Bearer key-alpha');
  }
  assert.ok(up.count('GET', '/api/v1/extraction/runs') > 0, 'v1 runs are mirrored as before');
  assert.match(res.stderr, /\nv2 jobs: done, fetched 67, new 67, updated 0, unchanged 0 /);
  assert.match(res.stderr, /\nmirrored \d+ agent\(s\): new \d+/);
  assert.match(res.stderr, /\nmirrored v2 jobs: fetched 67, new 67, updated 0, unchanged 0, failed 0 \(4 requests\)\n$/);

  const expected = up.v2.listIds('key-alpha');
  assert.equal(expected.length, ALPHA_JOBS);
  assert.deepEqual(storedJobIds(db), expected, 'every job, newest first');
  const served = await offlineJobs(db, expected);
  for (const id of expected) {
    assert.equal(served.get(id).status, 200, `${id}: ${served.get(id).body}`);
    assert.deepEqual(served.get(id).body, up.v2.jobBytes(id), `${id}: the upstream's bytes`);
  }
});

test('--kind chooses what is mirrored; --agent means runs; bad values are one-line usage errors', async (t) => {
  const { up, db, v2Args, listRequests } = await setup(t);
  const jobsOnly = await mirror(v2Args());
  assert.equal(jobsOnly.code, 0, jobsOnly.stderr);
  assert.equal(up.count('GET', /^\/api\/v1\//), 0, '--kind v2_job asks nothing of v1');
  assert.doesNotMatch(jobsOnly.stderr, /agent\(s\)/);

  const runsOnly = await mirror(['--all', '--kind', 'run', '--db', db, '--upstream', up.url]);
  assert.equal(runsOnly.code, 0, runsOnly.stderr);
  const agentOnly = await mirror(['--agent', 'agent-alpha', '--db', db, '--upstream', up.url]);
  assert.equal(agentOnly.code, 0, agentOnly.stderr);
  assert.equal(listRequests(), 1, 'neither --kind run nor --agent lists v2 jobs');
  assert.doesNotMatch(runsOnly.stderr + agentOnly.stderr, /v2 jobs/);

  const byProject = await mirror(['--project', 'p-alpha', '--kind', 'v2_job', '--db', db, '--upstream', up.url], { key: 'key-both' });
  assert.equal(byProject.code, 0, byProject.stderr);
  const last = up.requests('GET', V2_EXTRACT).at(-1);
  assert.equal(last.query.project_id, 'p-alpha');
  assert.match(byProject.stderr, /v2 jobs of project p-alpha: done, fetched 67/);

  for (const [args, pattern] of [
    [['--all', '--kind', 'v3'], /--kind: expected run, v2_job or all/],
    [['--agent', 'agent-alpha', '--kind', 'v2_job'], /v2 jobs belong to no agent/],
    [['--all', '--kind', 'v1_job'], /--kind v1_job: mirror pulls runs and v2 jobs/],
  ]) {
    const bad = await mirror([...args, '--db', db, '--upstream', up.url]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^runmirror mirror: [^\\n]+\\n$`), 'exactly one line');
    assert.match(bad.stderr, pattern);
  }
  const help = spawnSync(RUNMIRROR_BIN, ['mirror', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /--kind KIND/);
  assert.match(help.stdout, /v2_job/);
});

test('a second pass asks for the first page only; a job that changed is updated', async (t) => {
  const { up, db, v2Args, listRequests } = await setup(t);
  const first = await mirror(v2Args('--page-size', '20'));
  assert.equal(first.code, 0, first.stderr);
  assert.equal(listRequests(), 4);

  const second = await mirror(v2Args('--page-size', '20'));
  assert.equal(second.code, 0, second.stderr);
  assert.equal(listRequests(), 5, 'nothing changed: the first page reaches stored final jobs');
  assert.equal(up.requests('GET', V2_EXTRACT).at(-1).query.page_token, undefined, 'the first page');
  assert.match(second.stderr, /v2 jobs: done, fetched 20, new 0, updated 0, unchanged 20 /);

  // The newest job finished upstream: the first page carries it, and stops the pass all the same.
  assert.equal(up.v2.listIds('key-alpha')[0], 'v2-alpha-pending');
  up.v2.finish('v2-alpha-pending');
  const third = await mirror(v2Args('--page-size', '20'));
  assert.equal(third.code, 0, third.stderr);
  assert.equal(listRequests(), 6);
  assert.match(third.stderr, /v2 jobs: done, fetched 20, new 0, updated 1, unchanged 19 /);
  const served = await offlineJobs(db, ['v2-alpha-pending']);
  assert.deepEqual(served.get('v2-alpha-pending').body, up.v2.jobBytes('v2-alpha-pending'));
  assert.equal(JSON.parse(served.get('v2-alpha-pending').body).status, 'COMPLETED');
});

test('unfinished jobs are watched; the daemon finishes them with its sync worker', async (t) => {
  const { up, db, v2Args, defer } = await setup(t);
  const res = await mirror(v2Args());
  assert.equal(res.code, 0, res.stderr);
  const unfinished = up.v2.listIds('key-alpha').filter((id) => !V2_FINAL.includes(JSON.parse(up.v2.jobRaw(id)).status));
  assert.equal(unfinished.length, 8);

  const watched = cli('watches', ['--json', '--db', db]);
  const watchedIds = watched.map((w) => w.run_id.replace(/^v2\//, '')).sort();
  assert.deepEqual(watchedIds, [...unfinished].sort(), 'one active watch per job not final, none for final ones');
  for (const w of watched) assert.equal(w.project_id, 'p-alpha');

  // Upstream finishes them; the daemon (with the key as its service key) polls and stores that.
  for (const id of unfinished) up.v2.finish(id, id.endsWith('pending') ? 'FAILED' : 'COMPLETED');
  const daemon = await startDaemon({ db, upstreamUrl: up.url, pollIntervalMs: 50, env: { LLAMA_CLOUD_API_KEY: 'key-alpha' } });
  defer(() => daemon.stop());
  const done = await waitFor(() => cli('watches', ['--json', '--db', db]).length === 0, { timeoutMs: 15_000 });
  assert.ok(done, `watches still active:\n${daemon.describe()}`);
  assert.equal((await daemon.stop()).code, 0);
  const served = await offlineJobs(db, unfinished);
  for (const id of unfinished) {
    assert.deepEqual(served.get(id).body, up.v2.jobBytes(id), `${id}: stored final`);
  }
});

test('a failing upstream: one clear line, exit 1, the pages stored stay; a rerun completes the pass', async (t) => {
  const { up, db, v2Args, listRequests } = await setup(t);
  // The first page is answered, the second fails.
  up.setFault({ method: 'GET', path: V2_EXTRACT, respond: 'normal', times: 1 });
  up.setFault({ method: 'GET', path: V2_EXTRACT, status: 500, body: '{\n  "detail": "database is down"\n}' });
  const failed = await mirror(v2Args('--page-size', '20'));
  assert.equal(failed.code, 1, failed.stderr);
  assert.deepEqual(errorLines(failed.stderr), ['runmirror mirror: v2 jobs: upstream answered 500: {   "detail": "database is down" }']);
  assert.match(failed.stderr, /v2 jobs: FAILED, fetched 20, new 20/);
  assert.match(failed.stderr, /mirrored v2 jobs: fetched 20, new 20, updated 0, unchanged 0, failed 1 \(2 requests\)/);
  const expected = up.v2.listIds('key-alpha');
  assert.deepEqual(storedJobIds(db), expected.slice(0, 20), 'the first page was kept');

  // Rate limited: the same, and nothing lost.
  up.clearFaults();
  up.setFault({ method: 'GET', path: V2_EXTRACT, status: 429, body: '{"detail":"Too many requests"}', headers: { 'retry-after': '3' } });
  const limited = await mirror(v2Args('--page-size', '20'));
  assert.equal(limited.code, 1, limited.stderr);
  assert.deepEqual(errorLines(limited.stderr), ['runmirror mirror: v2 jobs: upstream answered 429: {"detail":"Too many requests"}']);
  assert.deepEqual(storedJobIds(db), expected.slice(0, 20));

  // The stored first page does not stop the rerun: no pass completed yet.
  up.clearFaults();
  const before = listRequests();
  const rerun = await mirror(v2Args('--page-size', '20'));
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal(listRequests() - before, 4, 'every page');
  assert.match(rerun.stderr, /v2 jobs: done, fetched 67, new 47, updated 0, unchanged 20 /);
  assert.deepEqual(storedJobIds(db), expected);
});

test('Ctrl-C midway exits 130 with what it had stored; a rerun completes', async (t) => {
  const { up, db, v2Args, listRequests } = await setup(t);
  up.setFault({ method: 'GET', path: V2_EXTRACT, respond: 'normal', delayMs: 400 });
  const stopped = await mirror(v2Args('--page-size', '10'), {
    onSpawn: (child) => {
      // Interrupt while the second page is on its way.
      const timer = setInterval(() => {
        if (listRequests() === 2) {
          clearInterval(timer);
          child.kill('SIGINT');
        }
      }, 10);
      child.on('exit', () => clearInterval(timer));
    },
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /v2 jobs: interrupted, fetched \d+/);
  assert.match(stopped.stderr, /interrupted; rerun to complete\. So far v2 jobs: fetched \d+/);
  const kept = storedJobIds(db);
  assert.ok(kept.length >= 10 && kept.length < ALPHA_JOBS, `${kept.length} jobs stored`);

  up.clearFaults();
  const rerun = await mirror(v2Args('--page-size', '10'));
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(storedJobIds(db), up.v2.listIds('key-alpha'));
});

test('new jobs since a complete pass: a pass cut short after their first page is completed by the next', async (t) => {
  const { up, db, v2Args, listRequests } = await setup(t);
  assert.equal((await mirror(v2Args('--page-size', '10'))).code, 0);

  // 25 jobs newer than everything stored, already final: pages 1 and 2 hold only new jobs.
  for (let i = 0; i < 25; i += 1) {
    const res = await httpRequest(`${up.url}${V2_EXTRACT}`, {
      method: 'POST',
      headers: { authorization: 'Bearer key-alpha', 'content-type': 'application/json' },
      body: JSON.stringify({ file_input: `dfl-new-${i}`, configuration_id: 'cfg-alpha-invoices' }),
    });
    assert.equal(res.status, 200, res.body.toString());
  }
  for (const id of up.v2.createdIds()) up.v2.finish(id);

  up.setFault({ method: 'GET', path: V2_EXTRACT, respond: 'normal', times: 1 });
  up.setFault({ method: 'GET', path: V2_EXTRACT, status: 503, body: '{"detail":"unavailable"}' });
  const cut = await mirror(v2Args('--page-size', '10'));
  assert.equal(cut.code, 1, cut.stderr);
  assert.match(cut.stderr, /v2 jobs: FAILED, fetched 10, new 10/);

  // Page 1 is now stored, final and unchanged, but newer than what the complete pass covered:
  // the rerun goes on to the page that reaches it (page 3: 5 new jobs, then stored ones).
  up.clearFaults();
  const before = listRequests();
  const rerun = await mirror(v2Args('--page-size', '10'));
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal(listRequests() - before, 3, rerun.stderr);
  assert.match(rerun.stderr, /v2 jobs: done, fetched 30, new 15, updated 0, unchanged 15 /);
  assert.deepEqual(storedJobIds(db), up.v2.listIds('key-alpha'));
  assert.equal(storedJobIds(db).length, ALPHA_JOBS + 25);

  // Complete again: the next pass is one page.
  const again = await mirror(v2Args('--page-size', '10'));
  assert.equal(again.code, 0, again.stderr);
  assert.equal(listRequests() - before, 4);
});
