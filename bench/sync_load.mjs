#!/usr/bin/env node
// Sync worker under load (issue 3, last claim): 1,000 runs of 20 agents finishing at random
// times within a minute. The worker never exceeds the configured rate, obeys a 429 pause, and its
// upstream requests per finished run are fewer than the SDK's own waitForCompletion would make
// for the same runs.
//
// Many daemons, one store (issue 16): with --db on PostgreSQL and --daemons 2, the same
// workload is watched by two daemons sharing the store. Every run must end final in the store,
// each poll be made by one daemon only (total upstream requests within 10% of the single-daemon
// figure of an earlier run with the same seed: --baseline FILE, written by --json FILE), and
// with --kill-one-at-ms one daemon is SIGKILLed mid-run while it holds claims: the other must
// take every one of its watches over once their lease ends, and finish them.
//
//   node bench/sync_load.mjs [--seed N] [--runs 1000] [--agents 20] [--window-ms 60000]
//                            [--sync-rate N --sync-concurrency N --poll-interval-ms N --poll-cap-ms N]
//                            [--db pg|postgresql://... --daemons N --kill-one-at-ms N --watch-lease-ms N]
//                            [--json FILE] [--baseline FILE]
//
// It starts the fake LlamaCloud (tests/support/fake_upstream.mjs, in this process) holding only
// the workload's PENDING runs, and the daemon(s) (build/runmirror, or $RUNMIRROR_BIN) with their own
// worker defaults unless worker flags are given. A client reads each run once through a daemon
// (which starts the watches; with several daemons, run i through daemon i mod N) and then does
// nothing; the runs finish at seeded random times; one daemon request meets a 429 with
// retry-after-ms; the script waits until every run is final in the store, then prints the
// figures. Everything it starts is stopped on exit, also on Ctrl-C.
// Exit status: 0 every claim holds, 1 a claim failed, 2 the benchmark could not run, 130 interrupted.
//
// Telling the daemon's requests from the client's: both carry the client's key, so the client
// also sends `x-runmirror-bench: client`, which the daemon forwards with its first reads and
// which the worker's own requests never carry. Telling the daemons apart: each is given its own
// port of the fake as its upstream (the same fake, the same data and log).
//
// Polls per watch: a list request refreshes several watches of one agent, and which ones the
// daemon put in it is not in the request. So the benchmark adds a trigger to the store's
// watches table (SQLite or PostgreSQL) that notes every settlement (reschedule, finish) and, on
// PostgreSQL, every claim changing hands, with the time, the daemon's connection
// (application_name) and the claim's owner: one more row written per poll settled.

import { parseArgs } from 'node:util';
import { execFile, execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { RUNMIRROR_BIN, startDaemon, api, makeTempDir, removeDir } from '../tests/support/daemon.mjs';
import { startFakeUpstream } from '../tests/support/fake_upstream.mjs';
import { buildRunRaw, isoTimestamp } from '../tests/support/fake_data.mjs';
import { RUNS, runPath, isPoll, maxInWindow, assertSyncWorkerBinary } from '../tests/support/sync_helpers.mjs';
import { sqlAsync as sql, createNamedDatabase as createDatabase, withDatabase, claimedBy } from '../tests/support/pg.mjs';

const KEY = 'key-alpha'; // the fake lets it see project p-alpha
const PROJECT = 'p-alpha';
const CLIENT_HEADER = 'x-runmirror-bench';
const FAULT_PATH = /^\/api\/v1\/extraction\/runs(\/|$)/;
// A request already in flight when the 429 was answered may arrive this long after it.
const IN_FLIGHT_MS = 50;
// A gap this long between 10 ms ticks of this process is a stall: requests stamped just after
// it (within CATCH_UP_MS) may have arrived any time during it.
const STALL_MS = 25;
const CATCH_UP_MS = 20;
// Timer and clock granularity allowed at the end of the pause (the daemon starts its pause when it
// reads the 429, a little after the fake logged the request, so this is on the safe side).
const PAUSE_SLACK_MS = 20;

// The SDK's polling rule, from @llamaindex/llama-cloud 1.8.0 src/core/polling.ts
// (pollUntilComplete defaults) as used by src/resources/extraction/jobs.ts waitForCompletion.
const SDK = { pollingIntervalS: 1, maxIntervalS: 5, backoff: 'linear' };

const USAGE = `usage: node bench/sync_load.mjs [options]
  --seed N               RNG seed for finish times and statuses (default: random, printed)
  --runs N               PENDING runs (default 1000)
  --agents N             agents they are spread over, round robin (default 20)
  --window-ms N          runs finish uniformly within this after the client's reads (default 60000)
  --error-share X        share of runs that end in ERROR (default 0.1)
  --at-429-ms N          when one daemon request is answered 429 (default 20000)
  --retry-after-ms N     the 429's retry-after-ms (default 3000)
  --timeout-ms N         give up waiting for every run to be final (default 150000)
  --rate-tolerance N     requests above the rate allowed in a 1 s window (default 1)
  --poll-interval-ms N, --poll-cap-ms N, --sync-rate N, --sync-concurrency N
                         passed to the daemon; default: the daemon's own defaults
  --db STORE             sqlite (default: a new file), or a PostgreSQL server: a postgresql://
                         URI, or pg for $RUNMIRROR_TEST_PG (tests/support/pg_cluster.sh run ...);
                         the benchmark creates a database of its own there and drops it at the end
  --daemons N            daemons sharing the store (default 1; more needs PostgreSQL)
  --kill-one-at-ms N     SIGKILL the first daemon this long after the client's reads, once it
                         holds claims (needs --daemons 2 or more); the last daemon must finish
                         every watch it held
  --watch-lease-ms N     passed to the daemons (PostgreSQL only); default: the daemon's default
  --json FILE            write the figures as JSON (for --baseline of a later run)
  --baseline FILE        figures of an earlier run with the same workload (--json): total daemon
                         requests must be within --baseline-tolerance of its total
  --baseline-tolerance X (default 0.1)
  --help`;

const WORKER_FLAGS = ['poll-interval-ms', 'poll-cap-ms', 'sync-rate', 'sync-concurrency'];
const LEASE_FLAG = 'watch-lease-ms';

function options() {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      runs: { type: 'string', default: '1000' },
      agents: { type: 'string', default: '20' },
      'window-ms': { type: 'string', default: '60000' },
      'error-share': { type: 'string', default: '0.1' },
      'at-429-ms': { type: 'string', default: '20000' },
      'retry-after-ms': { type: 'string', default: '3000' },
      'timeout-ms': { type: 'string', default: '150000' },
      'rate-tolerance': { type: 'string', default: '1' },
      ...Object.fromEntries(WORKER_FLAGS.map((f) => [f, { type: 'string' }])),
      db: { type: 'string', default: 'sqlite' },
      daemons: { type: 'string', default: '1' },
      'kill-one-at-ms': { type: 'string' },
      [LEASE_FLAG]: { type: 'string' },
      json: { type: 'string' },
      baseline: { type: 'string' },
      'baseline-tolerance': { type: 'string', default: '0.1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name, { min = 0, integer = true } = {}) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new UsageError(`--${name}: bad value ${values[name]}`);
    return v;
  };
  const o = {
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : num('seed'),
    runs: num('runs', { min: 1 }),
    agents: num('agents', { min: 1 }),
    windowMs: num('window-ms', { min: 1 }),
    errorShare: num('error-share', { integer: false }),
    at429Ms: num('at-429-ms'),
    retryAfterMs: num('retry-after-ms', { min: 1 }),
    timeoutMs: num('timeout-ms', { min: 1 }),
    rateTolerance: num('rate-tolerance'),
    worker: {},
    db: values.db,
    daemons: num('daemons', { min: 1 }),
    killAtMs: values['kill-one-at-ms'] === undefined ? null : num('kill-one-at-ms'),
    leaseMs: values[LEASE_FLAG] === undefined ? null : num(LEASE_FLAG, { min: 1 }),
    json: values.json ?? null,
    baseline: null,
    baselineTolerance: num('baseline-tolerance', { integer: false }),
  };
  if (o.errorShare > 1) throw new UsageError('--error-share must be within 0..1');
  for (const f of WORKER_FLAGS) if (values[f] !== undefined) o.worker[f] = num(f, { min: 1 });
  if (o.db === 'pg') {
    o.db = process.env.RUNMIRROR_TEST_PG;
    if (!o.db) throw new UsageError('--db pg: RUNMIRROR_TEST_PG is not set (run under tests/support/pg_cluster.sh run)');
  }
  o.pg = /^postgres(ql)?:\/\//.test(o.db);
  if (!o.pg && o.db !== 'sqlite') throw new UsageError(`--db: sqlite, pg or a postgresql:// URI, not ${o.db}`);
  if (o.daemons > 1 && !o.pg) throw new UsageError('--daemons above 1 needs a PostgreSQL store (--db)');
  if (o.killAtMs !== null && o.daemons < 2) throw new UsageError('--kill-one-at-ms needs --daemons 2 or more');
  if (o.leaseMs !== null && !o.pg) throw new UsageError(`--${LEASE_FLAG} applies to a PostgreSQL store only`);
  if (values.baseline !== undefined) {
    try {
      o.baseline = { file: values.baseline, ...JSON.parse(readFileSync(values.baseline, 'utf8')) };
    } catch (err) {
      throw new UsageError(`--baseline ${values.baseline}: ${err.message}`);
    }
  }
  return o;
}

class UsageError extends Error {}

// mulberry32: a small seeded PRNG, uniform in [0, 1).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The worker settings the daemon runs with: the flags given, else the defaults `serve --help` prints.
function workerSettings(given, flags = WORKER_FLAGS) {
  let help = '';
  try {
    help = execFileSync(RUNMIRROR_BIN, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    help = `${err.stdout ?? ''}`;
  }
  const out = {};
  for (const f of flags) {
    if (given[f] !== undefined) {
      out[f] = { value: given[f], from: 'flag' };
      continue;
    }
    // One option per block: its line and the wrapped lines below it, up to the next option.
    const block = help.split(/\n(?=\s*--)/).find((b) => b.trim().startsWith(`--${f} `)) ?? '';
    const m = /\(default:\s+(\d+)\)/.exec(block);
    if (!m) throw new Error(`cannot read the default of --${f} from \`${RUNMIRROR_BIN} serve --help\``);
    out[f] = { value: Number(m[1]), from: 'default' };
  }
  return out;
}

// ---- the workload --------------------------------------------------------------------------

// Replace the fake's data with `runs` PENDING runs spread round robin over `agents` agents of one
// project, and draw each run's finish offset and final status from the seeded RNG.
function loadWorkload(up, o) {
  const random = rng(o.seed);
  const agents = new Map();
  for (let a = 0; a < o.agents; a += 1) {
    const id = `agent-load-${String(a).padStart(2, '0')}`;
    agents.set(id, { id, projectId: PROJECT, name: `Load agent ${a}` });
  }
  const agentIds = [...agents.keys()];
  const runs = new Map();
  const plan = [];
  const baseMs = Date.UTC(2025, 5, 1, 9, 0, 0);
  for (let i = 0; i < o.runs; i += 1) {
    const suffix = `load-${String(i).padStart(4, '0')}`;
    const createdMs = baseMs + i * 1_000;
    const run = {
      n: 20_000 + i,
      id: `run-${suffix}`,
      agentId: agentIds[i % agentIds.length],
      projectId: PROJECT,
      status: 'PENDING',
      createdMs,
      createdAt: isoTimestamp(createdMs, i % 1000),
      updatedAt: isoTimestamp(createdMs, i % 1000),
      jobId: `job-${suffix}`,
      fileId: `file-${suffix}`,
      spaced: false,
      dataIsArray: false,
      deleted: false,
    };
    run.raw = buildRunRaw(run);
    runs.set(run.id, run);
    const offsetMs = random() * o.windowMs;
    const status = random() < o.errorShare ? 'ERROR' : 'SUCCESS';
    plan.push({ id: run.id, agentId: run.agentId, offsetMs, status, readAt: null, finishedAt: null });
  }
  up.data = { agents, runs, nextNewRun: 1, nextUpload: 1, newRunBaseMs: baseMs + 86_400_000 };
  return plan;
}

// Note on each entry of the fake's log when its answer was handed to the socket (`answeredAt`),
// so the 429 pause is measured from the moment the daemon could have seen it. The fake's server
// calls `this.handle` on every request, so wrapping the instance's method is enough.
// Also notes which daemon sent it (`daemon`, an index into `daemonOfPort`'s values): each
// daemon has a port of the fake of its own.
function noteAnswerTimes(up, daemonOfPort) {
  const handle = up.handle.bind(up);
  up.handle = (req, res) => {
    handle(req, res);
    const entry = up.log[up.log.length - 1];
    entry.daemon = daemonOfPort.get(req.socket.localPort) ?? null;
    res.on('finish', () => {
      entry.answeredAt = Date.now();
    });
  };
}

// One more port for the fake: the same instance (data, faults, log) behind another listener,
// so that a second daemon's requests can be told from the first's. Returns { url, port, stop }.
async function extraListener(up) {
  const sockets = new Set();
  const server = http.createServer((req, res) => up.handle(req, res));
  server.keepAliveTimeout = 5_000; // as the fake's own listener
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (err, socket) => socket.destroy());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () => {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}

// The instant (ms) of the daemon's first log line matching `re`: spdlog's
// "YYYY-MM-DD HH:MM:SS.mmm" in local time, as this process reads local time too.
function daemonLogTime(output, re) {
  for (const line of output.split('\n')) {
    if (!re.test(line)) continue;
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3})/.exec(line);
    if (m) return new Date(`${m[1]}T${m[2]}`).getTime();
  }
  return null;
}

// The client: GET each run once, run i through daemon i mod N, `concurrency` at a time. Each
// must be a 200 PENDING answer; notes when it was answered.
async function readEachOnce(daemons, plan, concurrency = 8) {
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const p = plan[i];
      const daemon = daemons[i % daemons.length].d;
      const res = await api(daemon, runPath(p.id), { key: KEY, headers: { [CLIENT_HEADER]: 'client' } });
      const text = res.body.toString('utf8');
      if (res.status !== 200) throw new Error(`client read of ${p.id}: ${res.status} ${text.slice(0, 300)}`);
      const status = JSON.parse(text).status;
      if (status !== 'PENDING') throw new Error(`client read of ${p.id}: ${status}, want PENDING`);
      p.readAt = Date.now();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
}

// The daemon's watches: active ones, or (all) ended ones too.
async function watchesList(daemon, { all }) {
  const res = await api(daemon, `/_runmirror/api/watches?all=${all ? 1 : 0}&limit=1000000`);
  if (res.status !== 200) throw new Error(`GET /_runmirror/api/watches: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  return JSON.parse(res.body.toString('utf8')).items;
}

// ---- the SDK's waitForCompletion, modelled ---------------------------------------------------

// pollUntilComplete: sleep(interval), GET the job, stop once it is final (SUCCESS/PARTIAL_SUCCESS
// return, ERROR/CANCELLED throw), else interval = min(interval + 1 s, 5 s). Polls land at
// start + 1, 3, 6, 10, 15, 20, 25, ... s (request latency left out, which only delays them).
// Returns the GETs made and when the last one saw the run final.
function sdkWaitForCompletion(startMs, finishMs) {
  let t = startMs;
  let intervalMs = SDK.pollingIntervalS * 1000;
  let gets = 0;
  for (;;) {
    t += intervalMs;
    gets += 1;
    if (t >= finishMs) return { gets, seenAt: t };
    intervalMs = Math.min(intervalMs + 1000, SDK.maxIntervalS * 1000);
  }
}

// ---- figures -------------------------------------------------------------------------------

// CPU seconds (user + system) a process has used so far; null where /proc is not there.
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

// Record the stalls of this process's event loop as [from, to] ms until stop() is called.
function recordStalls(stack) {
  const stalls = [];
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    if (now - last >= STALL_MS) stalls.push([last, now]);
    last = now;
  }, 10);
  stack.timers.add(ticker);
  return {
    stalls,
    stop: () => {
      clearInterval(ticker);
      stack.timers.delete(ticker);
    },
    // The stall a request stamped at `t` may have waited out: one that ended just before t.
    before: (t) => stalls.find(([, to]) => to <= t && t - to <= CATCH_UP_MS),
  };
}

const loadavg = () => os.loadavg().slice(0, 2).map((x) => x.toFixed(2)).join(' / ');

function percentile(values, p) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const n = (x) => x.toLocaleString('en-US');
const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

// ---- the store's own record of claims and polls ---------------------------------------------

// Every update of a watch row that claims it for another owner, moves its schedule or finishes
// it, noted in the same transaction: the time (the server's clock, the same host's as Date.now()
// here), the writer's connection (application_name: which daemon), the claim before and after.
// Claims a daemon renews on its own watches (every tick, for every due watch it holds) are left
// out: they are most updates, and noting them would double the store's writes; they are counted
// from the table's statistics instead.
const PG_TRACE_SQL = `
CREATE TABLE bench_watch_events (
  seq bigserial PRIMARY KEY,
  at_ms bigint NOT NULL,
  app text NOT NULL,
  watch_id bigint NOT NULL,
  run_id text,
  old_claimed_by text,
  new_claimed_by text,
  old_claimed_until bigint,
  next_changed boolean NOT NULL,
  finished boolean NOT NULL
);
CREATE FUNCTION bench_note_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bench_watch_events (at_ms, app, watch_id, run_id, old_claimed_by, new_claimed_by,
      old_claimed_until, next_changed, finished)
    VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::bigint,
      current_setting('application_name'), NEW.id, NEW.run_id, OLD.claimed_by, NEW.claimed_by,
      OLD.claimed_until, NEW.next_poll_at IS DISTINCT FROM OLD.next_poll_at,
      NEW.finished_at IS NOT NULL AND OLD.finished_at IS NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER bench_note_watch AFTER UPDATE ON watches FOR EACH ROW
  WHEN (OLD.claimed_by IS DISTINCT FROM NEW.claimed_by OR OLD.next_poll_at IS DISTINCT FROM NEW.next_poll_at
        OR OLD.finished_at IS DISTINCT FROM NEW.finished_at)
  EXECUTE FUNCTION bench_note_watch();
`;

// The same on SQLite (one daemon, no claims): schedule moves and finishes.
const SQLITE_TRACE_SQL = `
CREATE TABLE bench_watch_events (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  watch_id INTEGER NOT NULL,
  run_id TEXT,
  next_changed INTEGER NOT NULL,
  finished INTEGER NOT NULL
);
CREATE TRIGGER bench_note_watch AFTER UPDATE ON watches
  WHEN OLD.next_poll_at IS NOT NEW.next_poll_at OR (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
BEGIN
  INSERT INTO bench_watch_events (at_ms, watch_id, run_id, next_changed, finished)
    VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), NEW.id, NEW.run_id,
      OLD.next_poll_at IS NOT NEW.next_poll_at, OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL);
END;
`;

const sqlite = (file, statement) =>
  new Promise((resolve, reject) => {
    execFile('sqlite3', ['-cmd', '.timeout 10000', '-separator', '|', file, statement], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sqlite3 ${file}: ${stderr.trim() || err.message}`));
      else resolve(stdout.split('\n').filter((l) => l !== ''));
    });
  });

// Install the trace in the store of daemon `x` (its schema made, no watch yet).
function installTrace(o, x, dbUri) {
  return o.pg ? sql(dbUri, PG_TRACE_SQL) : sqlite(x.d.db, SQLITE_TRACE_SQL);
}

// Per watch (by run id): its claims { daemon, at, from (daemon whose claim it replaced, or
// null), fromUntil, early (taken before that claim's end) } and its polls, i.e. settlements
// (reschedule or finish, which end a claim) { daemon (the writer), at, owner (whose claim it
// ended, null: none), finished }. A daemon index of -1 is an owner this run did not start.
// On SQLite every poll is the one daemon's, under a claim of its own (there are no claims).
async function readTrace(o, daemons, dbUri) {
  const rows = o.pg
    ? await sql(dbUri, 'SELECT at_ms, app, run_id, old_claimed_by, new_claimed_by, old_claimed_until, next_changed, finished FROM bench_watch_events ORDER BY seq')
    : (await sqlite(daemons[0].d.db, 'SELECT at_ms, run_id, next_changed, finished FROM bench_watch_events ORDER BY seq')).map((r) => {
        const [at, runId, next, fin] = r.split('|');
        return [at, daemons[0].app, runId, 'sqlite', 'sqlite', '', next === '1' ? 't' : 'f', fin === '1' ? 't' : 'f'].join('|');
      });
  const byPid = new Map(daemons.map((x) => [String(x.d.pid), x.index]));
  const ownerDaemon = (by) => (by === '' ? null : by === 'sqlite' ? 0 : byPid.get(by.split(':').at(-2)) ?? -1);
  const appDaemon = (app) => daemons.find((x) => x.app === app)?.index ?? -1;
  const watches = new Map();
  for (const row of rows) {
    const [at, app, runId, oldBy, newBy, oldUntil, nextChanged, finished] = row.split('|');
    let w = watches.get(runId);
    if (!w) watches.set(runId, (w = { claims: [], polls: [] }));
    const t = Number(at);
    const settles = nextChanged === 't' || finished === 't';
    if (newBy !== '' && newBy !== oldBy) {
      const from = ownerDaemon(oldBy);
      w.claims.push({ daemon: ownerDaemon(newBy), at: t, from, fromUntil: from === null ? null : Number(oldUntil), early: from !== null && t < Number(oldUntil) });
    } else if ((o.pg && newBy === '' && (oldBy !== '' || settles)) || (!o.pg && settles)) {
      w.polls.push({ daemon: appDaemon(app), at: t, owner: ownerDaemon(oldBy), finished: finished === 't' });
    }
  }
  // Every update of the watches table, renewals of claims included (PostgreSQL's statistics,
  // sent by each backend at most once a second: read after the quiet period, near enough).
  // And the transactions committed on the database: every tick of a worker is two or more
  // (due_watches, next_due_time), so against the polls they show how often the workers tick.
  let updates = null;
  let commits = null;
  if (o.pg) {
    updates = Number((await sql(dbUri, "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'watches'"))[0]);
    commits = Number((await sql(dbUri, 'SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()'))[0]);
  }
  return { events: rows.length, updates, commits, watches };
}

// ---- the run -------------------------------------------------------------------------------

const NAMES = 'ABCDEFGH';

async function main(o, stack) {
  assertSyncWorkerBinary();
  const settings = workerSettings(o.worker);
  const rate = settings['sync-rate'].value;
  const lease = o.pg ? workerSettings(o.leaseMs === null ? {} : { [LEASE_FLAG]: o.leaseMs }, [LEASE_FLAG])[LEASE_FLAG] : null;
  if (o.baseline && (o.baseline.seed !== o.seed || o.baseline.runs !== o.runs || o.baseline.agents !== o.agents || o.baseline.windowMs !== o.windowMs)) {
    throw new UsageError(`--baseline ${o.baseline.file}: another workload (seed ${o.baseline.seed}, ${o.baseline.runs} runs, ${o.baseline.agents} agents, window ${o.baseline.windowMs} ms)`);
  }

  const up = await startFakeUpstream();
  stack.up = up;
  // Daemon i's upstream: the fake's own port for the first, one more listener each for the others.
  const daemons = [{ index: 0, name: NAMES[0], upstream: { url: up.url, port: up.port } }];
  for (let i = 1; i < o.daemons; i += 1) {
    const l = await extraListener(up);
    stack.listeners.push(l);
    daemons.push({ index: i, name: NAMES[i] ?? `#${i}`, upstream: l });
  }
  noteAnswerTimes(up, new Map(daemons.map((x) => [x.upstream.port, x.index])));
  const plan = loadWorkload(up, o);
  // The fake stamps arrivals in this process: a stalled event loop would bunch the stamps.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const stalls = recordStalls(stack);
  const errors = plan.filter((p) => p.status === 'ERROR').length;

  // A PostgreSQL database of the benchmark's own; every daemon shares it and one tenant secret
  // (tenants are keyed with it: daemons with different secrets would not share watches).
  let dbUri = null;
  if (o.pg) {
    const db = await createDatabase(o.db, `runmirror_bench_${process.pid}`);
    stack.dropDb = db.drop;
    dbUri = db.uri;
    stack.dir = await makeTempDir('runmirror-bench-');
  }
  const extraArgs = Object.entries(o.worker).flatMap(([f, v]) => [`--${f}`, String(v)]);
  if (o.pg) extraArgs.push('--tenant-secret', path.join(stack.dir, 'shared.tenant-secret'));
  if (o.leaseMs !== null) extraArgs.push(`--${LEASE_FLAG}`, String(o.leaseMs));
  for (const x of daemons) {
    x.app = `runmirror-bench-${x.name}`;
    const db = o.pg ? withDatabase(dbUri, { params: { application_name: x.app } }) : undefined;
    x.d = await startDaemon({ upstreamUrl: x.upstream.url, db, extraArgs });
    stack.daemons.push(x.d);
    // The trace goes in once the first daemon has made the schema, before any watch exists.
    if (x.index === 0) await installTrace(o, x, dbUri);
  }
  const daemonStartedAt = Date.now();
  const victim = o.killAtMs === null ? null : daemons[0];
  // Watches are listed and the store read back through the last daemon: never the one killed.
  const survivor = daemons[daemons.length - 1];

  console.log('runmirror sync worker load benchmark');
  console.log(`  seed ${o.seed}   (same workload again: node bench/sync_load.mjs --seed ${o.seed})`);
  console.log(
    `  workload: ${n(o.runs)} PENDING runs over ${o.agents} agents, one key, one project; ` +
      `finishing uniformly within ${s(o.windowMs)} (${n(o.runs - errors)} SUCCESS, ${n(errors)} ERROR)`,
  );
  console.log(`  worker: ${WORKER_FLAGS.map((f) => `${f} ${settings[f].value} (${settings[f].from})`).join(', ')}`);
  console.log(
    `  store: ${o.pg ? `PostgreSQL (${dbUri}), ${LEASE_FLAG} ${lease.value} (${lease.from}); watch updates traced by a trigger` : 'SQLite'}; ` +
      `${o.daemons} daemon${o.daemons > 1 ? 's' : ''} (${daemons.map((x) => `${x.name} pid ${x.d.pid}`).join(', ')})` +
      (victim ? `; ${victim.name} SIGKILLed from +${s(o.killAtMs)} once it holds claims` : ''),
  );
  console.log(`  429: one daemon request at +${s(o.at429Ms)} answered 429 with retry-after-ms ${o.retryAfterMs}`);
  console.log(`  host: ${os.cpus().length} cores, load average (1 / 5 min) ${loadavg()}; daemon ${RUNMIRROR_BIN}`);

  // The client reads each run once, then does nothing.
  const readStart = Date.now();
  await readEachOnce(daemons, plan);
  const t0 = Date.now();
  const readsCpu = daemons.map((x) => cpuSeconds(x.d.pid));
  console.log(`  client: read ${n(o.runs)} runs through the daemon${o.daemons > 1 ? 's' : ''} in ${s(t0 - readStart)}; the finish clock starts now`);

  // Runs finish at their drawn times; one request meets the 429.
  for (const p of plan) {
    const t = setTimeout(() => {
      stack.timers.delete(t);
      up.finishRun(p.id, p.status);
      p.finishedAt = Date.now();
    }, p.offsetMs);
    stack.timers.add(t);
  }
  let faultMark = null;
  const faultTimer = setTimeout(() => {
    stack.timers.delete(faultTimer);
    faultMark = up.log.length;
    up.setFault({
      method: 'GET',
      path: FAULT_PATH,
      status: 429,
      headers: { 'retry-after-ms': String(o.retryAfterMs) },
      body: '{"detail":"Too Many Requests"}',
      times: 1,
    });
  }, o.at429Ms);
  stack.timers.add(faultTimer);

  // The kill: a daemon that holds no claim at that instant would lose nothing, so it is frozen
  // (SIGSTOP) and its claims read until it is caught holding some, then killed where it stands.
  let kill = null;
  if (victim) {
    kill = new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        stack.timers.delete(t);
        killHolding(victim, dbUri, t0).then(resolve, reject);
      }, o.killAtMs);
      stack.timers.add(t);
    });
    kill.catch(() => {}); // awaited below; an early failure must not be an unhandled rejection
  }

  // Wait until no watch is active any more, asking for the active ones only (a listing that
  // shrinks as runs end, so the benchmark adds little load to the daemon); then every run must
  // have a watch that finished with the fake's final status.
  let doneAt = null;
  let lastReport = t0;
  while (Date.now() - t0 < o.timeoutMs) {
    await sleep(1_000);
    const finishedUpstream = plan.filter((p) => p.finishedAt !== null).length;
    const progressDue = Date.now() - lastReport >= 10_000;
    if (finishedUpstream < plan.length && !progressDue) continue;
    const active = (await watchesList(survivor.d, { all: false })).length;
    if (progressDue) {
      lastReport = Date.now();
      const counts = daemons.map((x) => up.log.filter((e) => !e.headers[CLIENT_HEADER] && e.daemon === x.index).length);
      console.log(
        `  +${s(Date.now() - t0)}: ${n(finishedUpstream)} finished upstream, ${n(active)} watches still active, ` +
          `${n(counts.reduce((a, b) => a + b, 0))} daemon requests so far` +
          (o.daemons > 1 ? ` (${daemons.map((x, i) => `${x.name} ${n(counts[i])}`).join(', ')})` : ''),
      );
    }
    if (finishedUpstream === plan.length && active === 0 && (!kill || stack.killed)) {
      doneAt = Date.now();
      break;
    }
  }
  const killed = kill ? await kill : null;
  const watches = await watchesList(survivor.d, { all: true });
  const byRun = new Map(watches.filter((w) => w.run_id).map((w) => [w.run_id, w]));
  const finishedRuns = plan.filter((p) => {
    const w = byRun.get(p.id);
    return p.finishedAt !== null && w?.finished_at && w.last_status === p.status;
  }).length;
  if (finishedRuns < plan.length) doneAt = null;
  // A moment more: with every watch ended, nothing else should go upstream.
  const quietFrom = Date.now();
  await sleep(1_500);
  const quietUntil = Date.now();
  loopDelay.disable();
  stalls.stop();
  const live = daemons.filter((x) => x !== killed?.victim);
  const daemonCpu = daemons.map((x) => (x === killed?.victim ? killed.cpu : cpuSeconds(x.d.pid)));
  const wallS = (Date.now() - daemonStartedAt) / 1000;

  // ---- what reached the fake ----
  const clientReqs = up.log.filter((e) => e.headers[CLIENT_HEADER]);
  if (clientReqs.length !== o.runs) {
    throw new Error(`expected the fake to log ${o.runs} client reads (marked ${CLIENT_HEADER}), saw ${clientReqs.length}: does the daemon forward end-to-end headers?`);
  }
  const daemonReqs = up.log.filter((e) => !e.headers[CLIENT_HEADER] && e.at >= daemonStartedAt);
  const lists = daemonReqs.filter((e) => isPoll(e) && e.path === RUNS);
  const byJob = daemonReqs.filter((e) => isPoll(e) && e.path.startsWith(`${RUNS}/by-job/`));
  const single = daemonReqs.filter((e) => isPoll(e) && e.path !== RUNS && !e.path.startsWith(`${RUNS}/by-job/`));
  const other = daemonReqs.filter((e) => !isPoll(e));
  const afterAllFinal = daemonReqs.filter((e) => e.at > quietFrom && e.at <= quietUntil).length;
  const reqsOf = (x) => daemonReqs.filter((e) => e.daemon === x.index);

  // ---- the rate, per daemon (the limit is each daemon's own) ----
  // Windows holding more than allowed: rate + tolerance + 1 requests within less than 1 s. One
  // whose first request was stamped right after a stall of this process, long enough that the
  // request may really have come in 1 s or more before the last one, may be a stamping delay;
  // the claim fails on the others.
  const allowed = rate + o.rateTolerance;
  const rates = daemons.map((x) => {
    const times = reqsOf(x).map((e) => e.at).sort((a, b) => a - b);
    let over = 0;
    let overMaybeStamping = 0;
    for (let i = 0; i + allowed < times.length; i += 1) {
      const last = times[i + allowed];
      if (last - times[i] >= 1_000) continue;
      over += 1;
      const stall = stalls.before(times[i]);
      if (stall && last - stall[0] >= 1_000) overMaybeStamping += 1;
    }
    // The tightest span of rate + 1 consecutive requests: under 1 s means the window overshot.
    let tightest = Infinity;
    for (let i = 0; i + rate < times.length; i += 1) tightest = Math.min(tightest, times[i + rate] - times[i]);
    return { worst: maxInWindow(times, 1_000), over, overMaybeStamping, tightest };
  });
  const rateOk = rates.every((r) => r.over === r.overMaybeStamping);
  const longestStall = stalls.stalls.reduce((m, [a, b]) => Math.max(m, b - a), 0);
  const busiest10s = [];
  const times = daemonReqs.map((e) => e.at);
  for (let from = daemonStartedAt; from < quietUntil; from += 10_000) {
    busiest10s.push(times.filter((t) => t >= from && t < from + 10_000).length);
  }

  // ---- the 429 (the pause is the daemon's own that got it) ----
  let pause = { ok: false, text: 'the 429 was never served (no daemon request after it was armed)' };
  if (faultMark !== null) {
    const limited = up.log.slice(faultMark).find((e) => e.method === 'GET' && FAULT_PATH.test(e.path));
    if (limited && limited.headers[CLIENT_HEADER]) {
      pause = { ok: false, text: 'the 429 met a client request, not the daemon' };
    } else if (limited) {
      const x = daemons[limited.daemon];
      const itsReqs = reqsOf(x);
      // From the moment the fake sent the 429 (the daemon cannot know of it earlier).
      const at = limited.answeredAt ?? limited.at;
      const end = at + o.retryAfterMs - PAUSE_SLACK_MS;
      // Killed before its pause ended: what came before the kill is all there is to see.
      const cut = killed?.victim === x && killed.at < end;
      const inFlight = itsReqs.filter((e) => e.at > at && e.at <= at + IN_FLIGHT_MS).length;
      const inside = itsReqs.filter((e) => e.at > at + IN_FLIGHT_MS && e.at < end);
      const during = inside.map((e) => e.at - at);
      // Stamped right after a stall of this process that began while requests could still be in flight.
      const maybeStamping = inside.filter((e) => {
        const stall = stalls.before(e.at);
        return stall && stall[0] <= at + IN_FLIGHT_MS;
      }).length;
      const nextAfter = itsReqs.find((e) => e.at > at + IN_FLIGHT_MS);
      const before = itsReqs.filter((e) => e.at >= at - o.retryAfterMs && e.at < at).length;
      const gap = nextAfter ? nextAfter.at - at : null;
      const logged = /pausing (\d+) ms/.exec(x.d.output())?.[1];
      const loggedAt = daemonLogTime(x.d.output(), /pausing \d+ ms/);
      // Reached the fake before the daemon logged its pause: sent before it had read the 429.
      const beforeSeen = loggedAt === null ? null : inside.filter((e) => e.at < loggedAt).length;
      pause = {
        ok: during.length === maybeStamping && (gap !== null || cut),
        text:
          `429 sent to ${x.name} at +${s(at - t0)} (${at - limited.at} ms after the request arrived) on GET ${limited.url.split('?')[0]}${limited.path === RUNS ? ' (list)' : ''}; ` +
          `${during.length} of its requests inside the pause` +
          (during.length ? ` (ms after the 429: ${during.join(', ')}; possibly stamping delay: ${maybeStamping})` : '') +
          `; its next request ${gap === null ? (cut ? `never (killed ${n(killed.at - at)} ms after the 429)` : 'never') : `${n(gap)} ms`} after the 429 (retry-after-ms ${o.retryAfterMs}); ` +
          `${before} requests in the ${s(o.retryAfterMs)} before it, ${inFlight} already in flight (≤ ${IN_FLIGHT_MS} ms)` +
          (logged ? `; daemon log: "pausing ${logged} ms"${loggedAt ? ` stamped ${loggedAt - at} ms after the 429 was sent` : ''}` : '') +
          (during.length && beforeSeen !== null ? `; ${beforeSeen} of those inside reached the fake before that log line (sent before the daemon had read the 429)` : ''),
      };
    }
  }

  // ---- finish -> final in the store ----
  const lag = [];
  for (const p of plan) {
    const w = byRun.get(p.id);
    if (p.finishedAt !== null && w?.finished_at) lag.push(Date.parse(w.finished_at) - p.finishedAt);
  }

  // ---- the SDK's waitForCompletion for the same runs ----
  let sdkGets = 0;
  const sdkLag = [];
  for (const p of plan) {
    const finish = p.finishedAt ?? t0 + p.offsetMs;
    const { gets, seenAt } = sdkWaitForCompletion(p.readAt, finish);
    sdkGets += gets;
    sdkLag.push(seenAt - finish);
  }
  const perRun = daemonReqs.length / Math.max(finishedRuns, 1);
  const sdkPerRun = sdkGets / o.runs;
  const ratio = daemonReqs.length / sdkGets;
  const ratioWithReads = (daemonReqs.length + clientReqs.length) / sdkGets;

  // ---- one poll of a run at a time, by one daemon ----
  // Upstream, where the request names the run (a single-run GET): a poll of a run sent before
  // the previous poll of the same run was answered. A list request names only the agent, so
  // two daemons' lists of one agent in flight together are only counted (they may refresh
  // different watches); the store's trace below says which watches each one settled.
  const overlapping = [];
  const pollsOfRun = new Map();
  for (const e of single) {
    const id = decodeURIComponent(e.path.slice(RUNS.length + 1));
    pollsOfRun.set(id, [...(pollsOfRun.get(id) ?? []), e]);
  }
  for (const [id, es] of pollsOfRun) {
    es.sort((a, b) => a.at - b.at);
    for (let i = 1; i < es.length; i += 1) {
      const prev = es[i - 1];
      if (prev.answeredAt === undefined || es[i].at < prev.answeredAt) overlapping.push({ id, a: prev, b: es[i] });
    }
  }
  let listsTogether = 0;
  if (o.daemons > 1) {
    const byAgent = new Map();
    for (const e of lists) byAgent.set(e.query.extraction_agent_id, [...(byAgent.get(e.query.extraction_agent_id) ?? []), e]);
    for (const es of byAgent.values()) {
      es.sort((a, b) => a.at - b.at);
      for (let i = 1; i < es.length; i += 1) {
        const inFlight = es.slice(0, i).some((p) => p.daemon !== es[i].daemon && (p.answeredAt === undefined || es[i].at < p.answeredAt));
        if (inFlight) listsTogether += 1;
      }
    }
  }
  // The store's trace: polls settled per watch, who settled them, and claims.
  let trace;
  {
    const t = await readTrace(o, daemons, dbUri);
    const perWatch = plan.map((p) => t.watches.get(p.id) ?? { claims: [], polls: [] });
    const polls = perWatch.flatMap((w) => w.polls);
    const claims = perWatch.flatMap((w) => w.claims);
    // A poll settled by a daemon that did not hold the watch's claim: another daemon held it
    // (its poll and this one overlapped), or nobody did (the claim was already ended).
    const outside = polls.filter((p) => p.owner !== p.daemon);
    const takeovers = claims.filter((c) => c.from !== null);
    trace = {
      events: t.events,
      updates: t.updates,
      commits: t.commits,
      byRunId: t.watches,
      perWatch,
      polls: polls.length,
      counts: perWatch.map((w) => w.polls.length),
      byDaemon: daemons.map((x) => polls.filter((p) => p.daemon === x.index).length),
      outside,
      takeovers,
      early: takeovers.filter((c) => c.early),
      twice: perWatch.filter((w) => w.polls.filter((p) => p.finished).length > 1).length,
      afterFinal: perWatch.filter((w) => {
        const end = w.polls.findIndex((p) => p.finished);
        return end >= 0 && end < w.polls.length - 1;
      }).length,
      unknown: polls.filter((p) => p.daemon < 0).length + claims.filter((c) => c.daemon < 0).length,
    };
  }
  const duplicated = overlapping.length + trace.outside.length + trace.early.length;
  const onePollAtATime = duplicated === 0 && trace.unknown === 0;

  // ---- the kill: every watch the killed daemon held was taken over and finished ----
  let takeover = null;
  if (killed) {
    const rows = killed.held.map((h) => {
      const w = trace?.byRunId.get(h.runId);
      const claim = w?.claims.find((c) => c.at >= killed.at && c.daemon !== victim.index);
      const watch = byRun.get(h.runId);
      const finishedAt = watch?.finished_at ? Date.parse(watch.finished_at) : null;
      return {
        runId: h.runId,
        claimedUntil: h.claimedUntil,
        takenAt: claim?.at ?? null,
        by: claim ? daemons[claim.daemon]?.name ?? '?' : null,
        finishedAt,
        finalOk: Boolean(watch?.finished_at) && watch.last_status === plan.find((p) => p.id === h.runId)?.status,
      };
    });
    const taken = rows.filter((r) => r.takenAt !== null);
    const delays = taken.map((r) => r.takenAt - killed.at);
    const afterLease = taken.map((r) => r.takenAt - r.claimedUntil);
    takeover = {
      rows,
      held: rows.length,
      taken: taken.length,
      finished: rows.filter((r) => r.finalOk).length,
      beforeLeaseEnd: afterLease.filter((d) => d < 0).length,
      delays,
      afterLease,
      inFlight: killed.inFlight,
      ok: rows.length > 0 && rows.every((r) => r.finalOk && r.takenAt !== null && r.takenAt >= r.claimedUntil),
    };
  }

  // ---- the store, read back without going upstream, through every daemon still alive ----
  const beforeCheck = up.log.length;
  const storeFinal = [];
  for (const x of live) {
    let ok = 0;
    for (const p of plan) {
      const res = await api(x.d, runPath(p.id), { key: KEY, headers: { [CLIENT_HEADER]: 'client', 'cache-control': 'only-if-cached' } });
      if (res.status === 200 && JSON.parse(res.body.toString('utf8')).status === p.status) ok += 1;
    }
    storeFinal.push({ x, ok });
  }
  const checkReachedUpstream = up.log.length - beforeCheck;
  // And on PostgreSQL straight from the table, whatever the daemons' caches hold.
  let sqlFinal = null;
  if (o.pg) {
    const want = new Map(plan.map((p) => [p.id, p.status]));
    const rows = await sql(dbUri, "SELECT id, status FROM runs WHERE kind = 'run' AND deleted_at IS NULL");
    sqlFinal = rows.filter((r) => {
      const [id, status] = r.split('|');
      return want.get(id) === status;
    }).length;
  }

  const allFinal = doneAt !== null && storeFinal.every((f) => f.ok === o.runs) && (sqlFinal === null || sqlFinal === o.runs);
  const ratioOk = ratio < 1;
  let baseline = null;
  if (o.baseline) {
    const r = daemonReqs.length / o.baseline.requests;
    baseline = { ...o.baseline, ratio: r, ok: Math.abs(r - 1) <= o.baselineTolerance };
  }

  console.log('');
  console.log('Results');
  console.log(
    `  all runs final in the store: ${allFinal ? 'yes' : 'NO'} (${n(finishedRuns)}/${n(o.runs)} watches finished with the fake's status; ` +
      `read back final with only-if-cached: ${storeFinal.map((f) => `${n(f.ok)}/${n(o.runs)} through ${f.x.name}`).join(', ')}, ${checkReachedUpstream} upstream requests for that` +
      (sqlFinal === null ? '' : `; ${n(sqlFinal)}/${n(o.runs)} final in the runs table`) +
      `) ${doneAt ? `at +${s(doneAt - t0)}` : `not within ${s(o.timeoutMs)}`}   ${verdict(allFinal)}`,
  );
  console.log(
    `  daemon -> upstream requests: ${n(daemonReqs.length)} ` +
      `(single-run polls ${n(single.length)}, list requests ${n(lists.length)}, by-job ${n(byJob.length)}, other ${n(other.length)}); ` +
      `${afterAllFinal} in the ${s(quietUntil - quietFrom)} after all were final; ` +
      `${n(daemonReqs.filter((e) => e.at >= t0).length)} from the end of the client's reads on (the rest polled runs while the client was still reading)`,
  );
  if (o.daemons > 1) {
    console.log(
      `    by daemon: ${daemons.map((x) => { const r = reqsOf(x); return `${x.name} ${n(r.length)} (lists ${n(r.filter((e) => e.path === RUNS).length)})`; }).join(', ')}; ` +
        `list requests of one agent sent while the other daemon's list of that agent was in flight: ${n(listsTogether)}`,
    );
  }
  if (baseline) {
    console.log(
      `  against the baseline ${baseline.file} (${baseline.store}, ${baseline.daemons} daemon${baseline.daemons > 1 ? 's' : ''}): ` +
        `${n(baseline.requests)} requests there, ${n(daemonReqs.length)} here: ${baseline.ratio.toFixed(3)}x (allowed 1 ± ${o.baselineTolerance})   ${verdict(baseline.ok)}`,
    );
  }
  console.log(`  client's first reads forwarded by the daemon (not the worker's, not counted above): ${n(clientReqs.length)}`);
  console.log(`  requests per finished run: ${perRun.toFixed(3)}`);
  {
    console.log(
      `  polls per watch settled in the store (trace: ${n(trace.events)} watch updates noted` + (trace.updates === null ? '' : ` of ${n(trace.updates)} in all, claim renewals included; ${n(trace.commits)} transactions committed on the database`) + `): ${n(trace.polls)} in all` +
        (o.daemons > 1 ? ` (${daemons.map((x, i) => `${x.name} ${n(trace.byDaemon[i])}`).join(', ')})` : '') +
        `, mean ${(trace.polls / o.runs).toFixed(2)}, p50 ${percentile(trace.counts, 50)}, max ${percentile(trace.counts, 100)}; ` +
        `watches finished twice ${trace.twice}, polled after finishing ${trace.afterFinal}`,
    );
  }
  console.log(
    `  one poll of a watch at a time, by one daemon: ${onePollAtATime ? 'yes' : 'NO'}: ` +
      `single-run polls sent while one of the same run was in flight: ${overlapping.length}` +
      (overlapping.length ? ` (e.g. ${overlapping.slice(0, 3).map((v) => `${v.id}: ${daemons[v.a.daemon]?.name} +${s(v.a.at - t0)}, ${daemons[v.b.daemon]?.name} +${s(v.b.at - t0)}`).join('; ')})` : '') +
      (o.pg
        ? `; polls settled outside their daemon's claim: ${trace.outside.length}` +
          (trace.outside.length ? ` (e.g. ${trace.outside.slice(0, 3).map((p) => `${daemons[p.daemon]?.name ?? '?'} at +${s(p.at - t0)}, claim ${p.owner === null ? 'ended' : `held by ${daemons[p.owner]?.name ?? '?'}`}`).join('; ')})` : '') +
          `; claims taken over: ${trace.takeovers.length}, of them before the claim's end: ${trace.early.length}` +
          (trace.unknown ? `; ${trace.unknown} updates by an unknown daemon` : '')
        : '') +
      `   ${verdict(onePollAtATime)}`,
  );
  if (takeover) {
    const d = takeover.delays;
    const a = takeover.afterLease;
    console.log(
      `  kill: ${victim.name} SIGKILLed at +${s(killed.at - t0)} (caught holding claims after ${killed.tries} look(s), ${n(killed.at - killed.from)} ms) ` +
        `holding ${takeover.held} claim(s), ${takeover.inFlight} of its requests in flight; ` +
        `taken over by the survivor: ${takeover.taken}/${takeover.held}` +
        (d.length ? ` after ${s(percentile(d, 0))}..${s(percentile(d, 100))} (lease end -> takeover ${n(percentile(a, 0))}..${n(percentile(a, 100))} ms)` : '') +
        `, before their lease ended: ${takeover.beforeLeaseEnd}; finished with the fake's status: ${takeover.finished}/${takeover.held}   ${verdict(takeover.ok)}`,
    );
  }
  console.log(
    `  max requests in any 1 s sliding window: ${daemons.map((x, i) => `${o.daemons > 1 ? `${x.name} ` : ''}${rates[i].worst}`).join(', ')} (configured rate ${rate}/s${o.daemons > 1 ? ' per daemon' : ''}, allowed ≤ ${allowed}); ` +
      `windows holding more than ${allowed}: ${rates.map((r) => r.over).join(', ')}, of which possibly stamping delay: ${rates.map((r) => r.overMaybeStamping).join(', ')}` +
      `; tightest ${rate + 1} consecutive requests span ${rates.map((r) => (Number.isFinite(r.tightest) ? `${n(r.tightest)} ms` : '-')).join(', ')}` +
      `   ${verdict(rateOk)}`,
  );
  console.log(`  requests per 10 s from daemon start: ${busiest10s.join(' ')}`);
  console.log(
    `  load: daemon CPU ${daemons.map((x, i) => `${o.daemons > 1 ? `${x.name} ` : ''}${daemonCpu[i] === null ? '?' : `${daemonCpu[i].toFixed(1)} s`}` + (readsCpu[i] === null ? '' : ` (${readsCpu[i].toFixed(1)} s of it up to the end of the client's reads)`)).join(', ')} over ${wallS.toFixed(1)} s; ` +
      `host load average (1 / 5 min) at the end ${loadavg()}`,
  );
  console.log(
    `  this process's event loop delay (the fake stamps arrivals here): p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, ` +
      `max ${(loopDelay.max / 1e6).toFixed(1)} ms; stalls ≥ ${STALL_MS} ms: ${stalls.stalls.length}, longest ${longestStall} ms`,
  );
  console.log(`  429 pause honoured: ${pause.ok ? 'yes' : 'NO'}: ${pause.text}   ${verdict(pause.ok)}`);
  console.log(
    `  finish -> final in the store (${n(lag.length)} runs): p50 ${s(percentile(lag, 50))}, p95 ${s(percentile(lag, 95))}, max ${s(percentile(lag, 100))}`,
  );
  console.log(
    `  SDK waitForCompletion, same runs (poll after 1 s, +1 s each, max 5 s; from each run's first read): ` +
      `${n(sdkGets)} GET /api/v1/extraction/jobs/{id} (${sdkPerRun.toFixed(3)} per run); ` +
      `its finish -> seen p50 ${s(percentile(sdkLag, 50))}, p95 ${s(percentile(sdkLag, 95))}, max ${s(percentile(sdkLag, 100))}`,
  );
  console.log(
    `    not counted there: createAndWait/extract also POST /api/v1/extraction/jobs once and GET .../jobs/{id}/result once per run ` +
      `(+${n(2 * o.runs)}), and the SDK retries each 408/409/429/5xx up to twice`,
  );
  console.log(`  ratio daemon/SDK requests: ${ratio.toFixed(3)} (with the client's first reads: ${ratioWithReads.toFixed(3)})   ${verdict(ratioOk)}`);

  const failed = [];
  if (!rateOk) failed.push('rate exceeded');
  if (!pause.ok) failed.push('429 pause not honoured');
  if (!allFinal) failed.push('runs not final');
  if (!ratioOk) failed.push('ratio >= 1');
  if (!onePollAtATime) failed.push('a watch polled by two daemons at once');
  // A daemon killed holding nothing (none caught within 10 s) lost nothing, but the takeover
  // was not exercised: that is a failed run, not a pass.
  if (takeover && takeover.held === 0) failed.push('the killed daemon held no claim: takeover not exercised');
  else if (takeover && !takeover.ok) failed.push("the killed daemon's watches not all taken over");
  if (baseline && !baseline.ok) failed.push(`requests ${baseline.ratio.toFixed(3)}x the baseline`);

  if (o.json) {
    const figures = {
      seed: o.seed,
      runs: o.runs,
      agents: o.agents,
      windowMs: o.windowMs,
      store: o.pg ? 'postgresql' : 'sqlite',
      daemons: o.daemons,
      leaseMs: lease?.value ?? null,
      killAtMs: o.killAtMs,
      readsMs: t0 - readStart,
      requests: daemonReqs.length,
      requestsAfterReads: daemonReqs.filter((e) => e.at >= t0).length,
      requestsByDaemon: daemons.map((x) => reqsOf(x).length),
      lists: lists.length,
      single: single.length,
      perRun,
      watchPolls: trace.polls,
      watchPollsMax: percentile(trace.counts, 100),
      watchUpdates: trace.updates,
      commits: trace.commits,
      allFinalMs: doneAt === null ? null : doneAt - t0,
      duplicated,
      takeover: takeover && {
        held: takeover.held,
        taken: takeover.taken,
        finished: takeover.finished,
        killAtMs: killed.at - t0,
        delayMinMs: percentile(takeover.delays, 0),
        delayMaxMs: percentile(takeover.delays, 100),
      },
      failed,
    };
    writeFileSync(o.json, `${JSON.stringify(figures, null, 2)}\n`);
  }

  console.log('');
  console.log(failed.length ? `FAILED: ${failed.join(', ')}` : 'every claim holds');
  return failed.length ? 1 : 0;
}

// SIGSTOP the victim, read its claims, and SIGKILL it if it holds any; else let it run 50 ms
// and look again (for at most 10 s). Resolves { victim, at, from, tries, held, inFlight, cpu }.
async function killHolding(victim, uri, t0) {
  const from = Date.now();
  const proc = victim.d.proc;
  for (let tries = 1; ; tries += 1) {
    proc.kill('SIGSTOP');
    const held = await claimedBy(uri, victim.d.pid);
    if (held.length > 0 || Date.now() - from > 10_000) {
      const cpu = cpuSeconds(victim.d.pid);
      proc.kill('SIGKILL');
      const at = Date.now();
      stack.killed = true;
      // Its requests the fake had not answered when it stopped (frozen: none sent since).
      const inFlight = stack.up.log.filter((e) => e.daemon === victim.index && e.at >= t0 && e.answeredAt === undefined).length;
      return { victim, at, from, tries, held, inFlight, cpu };
    }
    proc.kill('SIGCONT');
    await sleep(50);
  }
}

// ---- cleanup -------------------------------------------------------------------------------

const stack = { up: null, daemons: [], listeners: [], dropDb: null, dir: null, killed: false, timers: new Set(), interrupted: false };
let cleaning = null;

function cleanup() {
  cleaning ??= (async () => {
    for (const t of stack.timers) clearTimeout(t);
    stack.timers.clear();
    await Promise.all(stack.daemons.map((d) => d.stop().catch((err) => console.error(`stopping the daemon: ${err.message}`))));
    for (const l of stack.listeners) await l.stop().catch((err) => console.error(`stopping a listener: ${err.message}`));
    if (stack.up) await stack.up.stop().catch((err) => console.error(`stopping the fake upstream: ${err.message}`));
    if (stack.dropDb) await stack.dropDb().catch((err) => console.error(`dropping the benchmark's database: ${err.message}`));
    if (stack.dir) await removeDir(stack.dir).catch(() => {});
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    stack.interrupted = true;
    console.error(`\n${signal}: stopping the daemon(s) and the fake upstream`);
    await cleanup();
    process.exit(130);
  });
}

let code = 2;
try {
  code = await main(options(), stack);
} catch (err) {
  if (err instanceof UsageError) console.error(`${err.message}\n${USAGE}`);
  else if (!stack.interrupted) {
    console.error(`benchmark could not run: ${err?.stack ?? err}`);
    for (const d of stack.daemons) console.error(`--- daemon pid ${d.pid} output (tail) ---\n${d.output().slice(-4000)}`);
  }
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
