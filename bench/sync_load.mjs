#!/usr/bin/env node
// Sync worker under load (issue 3, last claim): 1,000 runs of 20 agents finishing at random
// times within a minute. The worker never exceeds the configured rate, obeys a 429 pause, and its
// upstream requests per finished run are fewer than the SDK's own waitForCompletion would make
// for the same runs.
//
//   node bench/sync_load.mjs [--seed N] [--runs 1000] [--agents 20] [--window-ms 60000]
//                            [--sync-rate N --sync-concurrency N --poll-interval-ms N --poll-cap-ms N]
//
// It starts the fake LlamaCloud (tests/support/fake_upstream.mjs, in this process) holding only
// the workload's PENDING runs, and the daemon (build/runmirror, or $RUNMIRROR_BIN) with its own
// worker defaults unless worker flags are given. A client reads each run once through the daemon
// (which starts the watches) and then does nothing; the runs finish at seeded random times; one
// daemon request meets a 429 with retry-after-ms; the script waits until every run is final in the
// store, then prints the figures. Everything it starts is stopped on exit, also on Ctrl-C.
// Exit status: 0 every claim holds, 1 a claim failed, 2 the benchmark could not run, 130 interrupted.
//
// Telling the daemon's requests from the client's: both carry the client's key, so the client
// also sends `x-runmirror-bench: client`, which the daemon forwards with its first reads and
// which the worker's own requests never carry.

import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import os from 'node:os';

import { RUNMIRROR_BIN, startDaemon, api } from '../tests/support/daemon.mjs';
import { startFakeUpstream } from '../tests/support/fake_upstream.mjs';
import { buildRunRaw, isoTimestamp } from '../tests/support/fake_data.mjs';
import { RUNS, runPath, isPoll, maxInWindow, assertSyncWorkerBinary } from '../tests/support/sync_helpers.mjs';

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
  --help`;

const WORKER_FLAGS = ['poll-interval-ms', 'poll-cap-ms', 'sync-rate', 'sync-concurrency'];

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
  };
  if (o.errorShare > 1) throw new UsageError('--error-share must be within 0..1');
  for (const f of WORKER_FLAGS) if (values[f] !== undefined) o.worker[f] = num(f, { min: 1 });
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
function workerSettings(given) {
  let help = '';
  try {
    help = execFileSync(RUNMIRROR_BIN, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    help = `${err.stdout ?? ''}`;
  }
  const out = {};
  for (const f of WORKER_FLAGS) {
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
function noteAnswerTimes(up) {
  const handle = up.handle.bind(up);
  up.handle = (req, res) => {
    handle(req, res);
    const entry = up.log[up.log.length - 1];
    res.on('finish', () => {
      entry.answeredAt = Date.now();
    });
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

// The client: GET each run once through the daemon, `concurrency` at a time. Each must be a
// 200 PENDING answer; notes when it was answered.
async function readEachOnce(daemon, plan, concurrency = 8) {
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const p = plan[next++];
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

// ---- the run -------------------------------------------------------------------------------

async function main(o, stack) {
  assertSyncWorkerBinary();
  const settings = workerSettings(o.worker);
  const rate = settings['sync-rate'].value;

  const up = await startFakeUpstream();
  stack.up = up;
  noteAnswerTimes(up);
  const plan = loadWorkload(up, o);
  // The fake stamps arrivals in this process: a stalled event loop would bunch the stamps.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const stalls = recordStalls(stack);
  const errors = plan.filter((p) => p.status === 'ERROR').length;

  const extraArgs = Object.entries(o.worker).flatMap(([f, v]) => [`--${f}`, String(v)]);
  const daemon = await startDaemon({ upstreamUrl: up.url, extraArgs });
  stack.daemon = daemon;
  const daemonStartedAt = Date.now();

  console.log('runmirror sync worker load benchmark');
  console.log(`  seed ${o.seed}   (same workload again: node bench/sync_load.mjs --seed ${o.seed})`);
  console.log(
    `  workload: ${n(o.runs)} PENDING runs over ${o.agents} agents, one key, one project; ` +
      `finishing uniformly within ${s(o.windowMs)} (${n(o.runs - errors)} SUCCESS, ${n(errors)} ERROR)`,
  );
  console.log(`  worker: ${WORKER_FLAGS.map((f) => `${f} ${settings[f].value} (${settings[f].from})`).join(', ')}`);
  console.log(`  429: one daemon request at +${s(o.at429Ms)} answered 429 with retry-after-ms ${o.retryAfterMs}`);
  console.log(`  host: ${os.cpus().length} cores, load average (1 / 5 min) ${loadavg()}; daemon ${RUNMIRROR_BIN}`);

  // The client reads each run once, then does nothing.
  const readStart = Date.now();
  await readEachOnce(daemon, plan);
  const t0 = Date.now();
  const readsCpu = cpuSeconds(daemon.pid);
  console.log(`  client: read ${n(o.runs)} runs through the daemon in ${s(t0 - readStart)}; the finish clock starts now`);

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
    const active = (await watchesList(daemon, { all: false })).length;
    if (progressDue) {
      lastReport = Date.now();
      const daemonSoFar = up.log.filter((e) => !e.headers[CLIENT_HEADER]).length;
      console.log(
        `  +${s(Date.now() - t0)}: ${n(finishedUpstream)} finished upstream, ${n(active)} watches still active, ` +
          `${n(daemonSoFar)} daemon requests so far`,
      );
    }
    if (finishedUpstream === plan.length && active === 0) {
      doneAt = Date.now();
      break;
    }
  }
  const watches = await watchesList(daemon, { all: true });
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
  const daemonCpu = cpuSeconds(daemon.pid);
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

  // ---- the rate ----
  // Windows holding more than allowed: rate + tolerance + 1 requests within less than 1 s. One
  // whose first request was stamped right after a stall of this process, long enough that the
  // request may really have come in 1 s or more before the last one, may be a stamping delay;
  // the claim fails on the others.
  const times = daemonReqs.map((e) => e.at).sort((a, b) => a - b);
  const worstWindow = maxInWindow(times, 1_000);
  const allowed = rate + o.rateTolerance;
  let over = 0;
  let overMaybeStamping = 0;
  for (let i = 0; i + allowed < times.length; i += 1) {
    const last = times[i + allowed];
    if (last - times[i] >= 1_000) continue;
    over += 1;
    const stall = stalls.before(times[i]);
    if (stall && last - stall[0] >= 1_000) overMaybeStamping += 1;
  }
  const rateOk = over === overMaybeStamping;
  // The tightest span of rate + 1 consecutive requests: under 1 s means the window overshot.
  let tightest = Infinity;
  for (let i = 0; i + rate < times.length; i += 1) tightest = Math.min(tightest, times[i + rate] - times[i]);
  const longestStall = stalls.stalls.reduce((m, [a, b]) => Math.max(m, b - a), 0);
  const busiest10s = [];
  for (let from = daemonStartedAt; from < quietUntil; from += 10_000) {
    busiest10s.push(times.filter((t) => t >= from && t < from + 10_000).length);
  }

  // ---- the 429 ----
  let pause = { ok: false, text: 'the 429 was never served (no daemon request after it was armed)' };
  if (faultMark !== null) {
    const limited = up.log.slice(faultMark).find((e) => e.method === 'GET' && FAULT_PATH.test(e.path));
    if (limited && limited.headers[CLIENT_HEADER]) {
      pause = { ok: false, text: 'the 429 met a client request, not the daemon' };
    } else if (limited) {
      // From the moment the fake sent the 429 (the daemon cannot know of it earlier).
      const at = limited.answeredAt ?? limited.at;
      const end = at + o.retryAfterMs - PAUSE_SLACK_MS;
      const inFlight = daemonReqs.filter((e) => e.at > at && e.at <= at + IN_FLIGHT_MS).length;
      const inside = daemonReqs.filter((e) => e.at > at + IN_FLIGHT_MS && e.at < end);
      const during = inside.map((e) => e.at - at);
      // Stamped right after a stall of this process that began while requests could still be in flight.
      const maybeStamping = inside.filter((e) => {
        const stall = stalls.before(e.at);
        return stall && stall[0] <= at + IN_FLIGHT_MS;
      }).length;
      const nextAfter = daemonReqs.find((e) => e.at > at + IN_FLIGHT_MS);
      const before = daemonReqs.filter((e) => e.at >= at - o.retryAfterMs && e.at < at).length;
      const gap = nextAfter ? nextAfter.at - at : null;
      const logged = /pausing (\d+) ms/.exec(daemon.output())?.[1];
      const loggedAt = daemonLogTime(daemon.output(), /pausing \d+ ms/);
      // Reached the fake before the daemon logged its pause: sent before it had read the 429.
      const beforeSeen = loggedAt === null ? null : inside.filter((e) => e.at < loggedAt).length;
      pause = {
        ok: during.length === maybeStamping && gap !== null,
        text:
          `429 sent at +${s(at - t0)} (${at - limited.at} ms after the request arrived) on GET ${limited.url.split('?')[0]}${limited.path === RUNS ? ' (list)' : ''}; ` +
          `${during.length} daemon requests inside the pause` +
          (during.length ? ` (ms after the 429: ${during.join(', ')}; possibly stamping delay: ${maybeStamping})` : '') +
          `; next request ${gap === null ? 'never' : `${n(gap)} ms`} after the 429 (retry-after-ms ${o.retryAfterMs}); ` +
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

  // ---- the store, read back without going upstream ----
  const beforeCheck = up.log.length;
  let storeFinal = 0;
  for (const p of plan) {
    const res = await api(daemon, runPath(p.id), { key: KEY, headers: { [CLIENT_HEADER]: 'client', 'cache-control': 'only-if-cached' } });
    if (res.status === 200 && JSON.parse(res.body.toString('utf8')).status === p.status) storeFinal += 1;
  }
  const checkReachedUpstream = up.log.length - beforeCheck;

  const allFinal = doneAt !== null && storeFinal === o.runs;
  const ratioOk = ratio < 1;

  console.log('');
  console.log('Results');
  console.log(
    `  all runs final in the store: ${allFinal ? 'yes' : 'NO'} (${n(finishedRuns)}/${n(o.runs)} watches finished with the fake's status; ` +
      `${n(storeFinal)}/${n(o.runs)} read back final with only-if-cached, ${checkReachedUpstream} upstream requests for that) ` +
      `${doneAt ? `at +${s(doneAt - t0)}` : `not within ${s(o.timeoutMs)}`}   ${verdict(allFinal)}`,
  );
  console.log(
    `  daemon -> upstream requests: ${n(daemonReqs.length)} ` +
      `(single-run polls ${n(single.length)}, list requests ${n(lists.length)}, by-job ${n(byJob.length)}, other ${n(other.length)}); ` +
      `${afterAllFinal} in the ${s(quietUntil - quietFrom)} after all were final`,
  );
  console.log(`  client's first reads forwarded by the daemon (not the worker's, not counted above): ${n(clientReqs.length)}`);
  console.log(`  requests per finished run: ${perRun.toFixed(3)}`);
  console.log(
    `  max requests in any 1 s sliding window: ${worstWindow} (configured rate ${rate}/s, allowed ≤ ${allowed}); ` +
      `windows holding more than ${allowed}: ${over}, of which possibly stamping delay: ${overMaybeStamping}` +
      (Number.isFinite(tightest) ? `; tightest ${rate + 1} consecutive requests span ${n(tightest)} ms` : '') +
      `   ${verdict(rateOk)}`,
  );
  console.log(`  requests per 10 s from daemon start: ${busiest10s.join(' ')}`);
  console.log(
    `  load: daemon CPU ${daemonCpu === null ? '?' : `${daemonCpu.toFixed(1)} s`} over ${wallS.toFixed(1)} s` +
      (readsCpu === null ? '' : ` (${readsCpu.toFixed(1)} s of it up to the end of the client's reads)`) +
      `; ` +
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
  console.log('');
  console.log(failed.length ? `FAILED: ${failed.join(', ')}` : 'every claim holds');
  return failed.length ? 1 : 0;
}

// ---- cleanup -------------------------------------------------------------------------------

const stack = { up: null, daemon: null, timers: new Set(), interrupted: false };
let cleaning = null;

function cleanup() {
  cleaning ??= (async () => {
    for (const t of stack.timers) clearTimeout(t);
    stack.timers.clear();
    if (stack.daemon) await stack.daemon.stop().catch((err) => console.error(`stopping the daemon: ${err.message}`));
    if (stack.up) await stack.up.stop().catch((err) => console.error(`stopping the fake upstream: ${err.message}`));
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    stack.interrupted = true;
    console.error(`\n${signal}: stopping the daemon and the fake upstream`);
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
    if (stack.daemon) console.error(`--- daemon output (tail) ---\n${stack.daemon.output().slice(-4000)}`);
  }
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
