#!/usr/bin/env node
// Soak: the daemon under mixed load against the fake upstream for a while; its RSS and open
// files must stay flat. Run through `scripts/soak [--minutes 30]`.
//
// Load, all at once for the whole run: hits (runs, v2 jobs and list pages read again), misses
// (fresh runs by id, by job and in list pages), upstream faults on their own runs (503, reset
// mid-body, truncated, invalid JSON, slow bodies, dropped connections), slow clients (a large
// list page read 2 KiB at a time; a request head never finished; an answer never read), and
// pass-through writes (echo POSTs, streamed uploads, job creations the sync worker then
// watches until final). Every `--sample-s` seconds: VmRSS (/proc/PID/status) and the number of
// open files (/proc/PID/fd).
//
// Flat means: the mean RSS over the last window is within 10% + 4 MiB of the mean over the
// first window after the warm-up (warm-up: 20% of the run, 10 s to 2 min; windows: 20% of the
// run, at most 1 min), and once the load stops and the clients are gone, the open files are
// back to at most 5 more than after a short priming burst of the same load (which opens what
// the daemon keeps: SQLite readers, idle upstream connections, memory files of large pages). The daemon must still answer its health
// check, and the hits and pass-through writes must all have succeeded.
//
//   node tests/soak/soak.mjs [--minutes 30] [--sample-s 5] [--report FILE] [--memory-cache-mb 4]
//   RUNMIRROR_BIN: the daemon (default build/runmirror)

import http from 'node:http';
import net from 'node:net';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

import { startDaemon, makeTempDir, removeDir, rssKiB, httpRequest } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'sample-s': { type: 'string' },
    report: { type: 'string' },
    'memory-cache-mb': { type: 'string', default: '4' },
  },
});
const durationMs = Math.round(Number(opts.minutes) * 60_000);
if (!(durationMs >= 30_000)) throw new Error('--minutes: at least 0.5');
const sampleMs = Number(opts['sample-s'] ?? (durationMs <= 5 * 60_000 ? 2 : 5)) * 1000;
const warmupMs = Math.min(120_000, Math.max(10_000, durationMs * 0.2));
const windowMs = Math.min(60_000, durationMs * 0.2);
const KEY = 'key-alpha';
const MiB = 1024;

const counts = {}; // what the load did: `${kind} ${outcome}` -> n
const count = (what) => (counts[what] = (counts[what] ?? 0) + 1);
const problems = []; // answers that must not happen (a hit or a write that failed)
const problem = (what) => {
  if (problems.length < 50) problems.push(what);
};

let up;
let daemon;
let dir;
let stopping = false;

async function main() {
  dir = await makeTempDir('runmirror-soak-');
  up = await startFakeUpstream({ autoFinishMs: 3_000 });
  // Faults on runs of their own: a request for one of these is never stored (or, slow-body,
  // arrives late), so each one goes upstream again.
  up.addRuns('run-fault', 200, { agentId: 'agent-fault' });
  const faults = [
    { status: 503 },
    { respond: 'reset' },
    { respond: 'truncated' },
    { respond: 'invalid-json' },
    { respond: 'slow-body', bodyDelayMs: 700 },
    { destroy: true },
    { status: 500, delayMs: 300 },
  ];
  faults.forEach((f, i) => up.setFault({ path: new RegExp(`^/api/v1/extraction/runs/run-fault-\\d*${i}$`), ...f }));
  daemon = await startDaemon({
    upstreamUrl: up.url,
    db: path.join(dir, 'rm.db'),
    extraArgs: ['--memory-cache-mb', opts['memory-cache-mb'], '--poll-interval-ms', '500'],
  });
  const pid = daemon.pid;
  const sample = async () => ({
    t: Date.now() - started,
    rssKiB: (await rssKiB(pid)).vmRSS,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  });

  let started = Date.now();
  const fresh = await sample();
  // Priming: a short burst of the whole load, then quiet. What the daemon keeps open once it
  // has served each kind of request (SQLite readers and their WAL handles, idle upstream
  // connections, memory files of large list pages) is the baseline the end is compared with.
  await runLoad(Math.min(warmupMs, 15_000));
  const baseline = await quiet(sample);
  console.log(
    `soak: ${opts.minutes} min against pid ${pid}; warm-up ${warmupMs / 1000} s, windows ${windowMs / 1000} s, ` +
      `a sample every ${sampleMs / 1000} s; fresh: RSS ${mib(fresh.rssKiB)}, ${fresh.fds} open files; ` +
      `primed and quiet: RSS ${mib(baseline.rssKiB)}, ${baseline.fds} open files ${JSON.stringify(openFiles(pid))}`,
  );
  for (const k of Object.keys(counts)) delete counts[k];
  started = Date.now();
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    let lastPrint = 0;
    while (sampling) {
      await sleep(sampleMs);
      if (!sampling) break;
      const s = await sample();
      samples.push(s);
      if (s.t - lastPrint >= 60_000 || durationMs <= 120_000) {
        lastPrint = s.t;
        console.log(`  ${(s.t / 1000).toFixed(0).padStart(5)} s  RSS ${mib(s.rssKiB)}  fds ${s.fds}  ${summary()}`);
      }
    }
  })();
  await runLoad(durationMs);
  sampling = false;
  await sampler;

  // The load is over: the daemon closes what the clients left (the slow ones are gone already;
  // its read and write timeouts are 30 s) and the idle upstream connections the fake closes.
  const end = await quiet(sample);
  const endFiles = openFiles(pid);
  const health = await httpRequest(`${daemon.url}/_runmirror/health`, { timeoutMs: 5_000 }).catch((err) => ({ status: err.message }));

  const inWindow = (from, to) => samples.filter((s) => s.t >= from && s.t < to);
  const first = inWindow(warmupMs, warmupMs + windowMs);
  const last = inWindow(durationMs - windowMs, durationMs + 1);
  const mean = (xs, f) => xs.reduce((a, s) => a + f(s), 0) / Math.max(1, xs.length);
  const rss = {
    first: samples[0]?.rssKiB,
    last: samples.at(-1)?.rssKiB,
    max: Math.max(...samples.map((s) => s.rssKiB)),
    firstWindowMean: Math.round(mean(first, (s) => s.rssKiB)),
    lastWindowMean: Math.round(mean(last, (s) => s.rssKiB)),
  };
  const fds = {
    baseline: baseline.fds,
    first: samples[0]?.fds,
    last: samples.at(-1)?.fds,
    max: Math.max(...samples.map((s) => s.fds)),
    afterLoad: end.fds,
    afterLoadKinds: endFiles,
  };
  const rssLimit = rss.firstWindowMean * 1.1 + 4 * MiB;
  const failures = [];
  if (first.length === 0 || last.length === 0) failures.push('too few samples for the windows');
  if (rss.lastWindowMean > rssLimit) {
    failures.push(`RSS grew: last-window mean ${mib(rss.lastWindowMean)} > ${mib(rssLimit)} (first-window mean ${mib(rss.firstWindowMean)} + 10% + 4 MiB)`);
  }
  if (end.fds > baseline.fds + 5) {
    failures.push(`open files not back after the load: ${end.fds} ${JSON.stringify(endFiles)}, ${baseline.fds} before it (+5 allowed)`);
  }
  if (health.status !== 200) failures.push(`health after the load: ${health.status}`);
  if (daemon.exited()) failures.push(`the daemon exited: ${JSON.stringify(daemon.exited())}`);
  if (problems.length) failures.push(`${problems.length} failed hits or writes, first: ${problems[0]}`);
  if ((counts['hit ok'] ?? 0) === 0 || (counts['miss stored'] ?? 0) === 0) failures.push('the load did nothing');

  const report = {
    minutes: Number(opts.minutes),
    samples: samples.length,
    rssKiB: rss,
    fds,
    requests: counts,
    problems,
    failures,
  };
  if (opts.report) writeFileSync(opts.report, `${JSON.stringify({ ...report, series: samples }, null, 1)}\n`);
  console.log(`requests: ${JSON.stringify(counts)}`);
  console.log(
    `RSS  first ${mib(rss.first)}, last ${mib(rss.last)}, max ${mib(rss.max)}; ` +
      `window means ${mib(rss.firstWindowMean)} -> ${mib(rss.lastWindowMean)} (limit ${mib(rssLimit)})`,
  );
  console.log(`fds  primed ${fds.baseline}, first ${fds.first}, last ${fds.last}, max ${fds.max}, after the load ${fds.afterLoad}`);
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(failures.length ? 'soak: FAILED' : 'soak: flat');
  return failures.length ? 1 : 0;
}

// The daemon's open files by kind: { 'socket': 12, 'rm.db-wal': 3, 'memfd:...': 1, ... }.
function openFiles(pid) {
  const kinds = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const kind = target.replace(/:\[\d+\]$/, '').replace(/^\/.*\//, '');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

function mib(kib) {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

function summary() {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return `${total} requests`;
}

// Every kind of load at once for `ms`.
async function runLoad(ms) {
  stopping = false;
  keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const loops = [
    ...repeat(4, hits),
    ...repeat(3, misses),
    ...repeat(2, faultsLoop),
    ...repeat(2, slowReader),
    stalledHead,
    neverReads,
    ...repeat(2, passThrough),
    createJobs,
    events,
  ].map((fn) => fn().catch((err) => problem(`${fn.name}: ${err.stack ?? err}`)));
  await sleep(ms);
  stopping = true;
  await Promise.all(loops);
  keepAlive.destroy();
}

// Samples once a second until the open files have not changed for 8 s (the fake closes idle
// connections after 5 s) or 45 s passed; returns the last sample.
async function quiet(sample) {
  const deadline = Date.now() + 45_000;
  let s = await sample();
  let since = Date.now();
  while (Date.now() - since < 8_000 && Date.now() < deadline) {
    await sleep(1_000);
    const next = await sample();
    if (next.fds !== s.fds) since = Date.now();
    s = next;
  }
  return s;
}

function repeat(n, fn) {
  return Array.from({ length: n }, () => fn);
}

let keepAlive = null; // the load's keep-alive connections, closed when it stops

// GET on the keep-alive agent (most clients keep connections; the raw loops do not).
function get(pathAndQuery, { agent = keepAlive, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${daemon.url}${pathAndQuery}`, { agent, headers: { authorization: `Bearer ${KEY}` } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const cacheStatus = (res) => res.headers['cache-status'] ?? '';
const pause = (ms) => sleep(ms + Math.random() * ms);

// Runs, v2 jobs and list pages read again and again: hits once read the first time.
async function hits() {
  const runIds = up.listIds('agent-big');
  const v2Ids = up.v2.listIds(KEY).slice(0, 40);
  while (!stopping) {
    const r = Math.random();
    let p;
    if (r < 0.6) p = `/api/v1/extraction/runs/${runIds[Math.floor(Math.random() * runIds.length)]}`;
    else if (r < 0.85) p = `/api/v2/extract/${v2Ids[Math.floor(Math.random() * v2Ids.length)]}`;
    else p = `/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=${10 * Math.floor(Math.random() * 13)}&limit=10`;
    try {
      const res = await get(p);
      if (res.status === 200) count('hit ok');
      else problem(`hit ${p}: ${res.status} ${cacheStatus(res)}`);
    } catch (err) {
      problem(`hit ${p}: ${err.message}`);
    }
    await pause(5);
  }
}

// Fresh runs: by id, by job, and in list pages of a growing agent. Each is stored.
async function misses() {
  while (!stopping) {
    const r = Math.random();
    let p;
    if (r < 0.15) {
      up.addRuns('run-soak', 3, { agentId: 'agent-soak' });
      p = `/api/v1/extraction/runs?extraction_agent_id=agent-soak&skip=0&limit=${5 + Math.floor(Math.random() * 40)}`;
    } else {
      const [id] = up.addRuns('run-soak', 1, { agentId: 'agent-soak' });
      p = r < 0.4 ? `/api/v1/extraction/runs/by-job/${up.run(id).jobId}` : `/api/v1/extraction/runs/${id}`;
    }
    try {
      const res = await get(p);
      // A hit: a run stored from a list page just before.
      const cs = cacheStatus(res);
      count(res.status === 200 && /stored/.test(cs) ? 'miss stored' : /^runmirror; hit/.test(cs) ? 'miss hit' : `miss ${res.status}`);
    } catch (err) {
      problem(`miss ${p}: ${err.message}`);
    }
    await pause(10);
  }
}

// Runs whose upstream answer is broken (faults set in main): a JSON 502/504 or a slow 200.
async function faultsLoop() {
  const ids = up.listIds('agent-fault');
  while (!stopping) {
    const id = ids[Math.floor(Math.random() * ids.length)];
    try {
      const res = await get(`/api/v1/extraction/runs/${id}`, { agent: false });
      count(`fault ${res.status}`);
    } catch (err) {
      count(`fault error ${err.code ?? err.message}`);
    }
    await pause(50);
  }
}

// A raw client on its own connection: `fn(sock)` runs once it is connected; resolves when the
// socket closes (either side).
function rawClient(fn, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(daemon.port, '127.0.0.1');
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    sock.on('connect', () => fn(sock));
  });
}

const head = (p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nConnection: close\r\n\r\n`;

// A whole list page of agent-big (130 runs, about 300 KB) read 2 KiB every 20 ms.
async function slowReader() {
  while (!stopping) {
    let got = 0;
    await rawClient((sock) => {
      sock.pause();
      sock.write(head('/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=0&limit=100'));
      const timer = setInterval(() => {
        if (stopping) sock.destroy();
        let c;
        while ((c = sock.read(2048)) !== null) {
          got += c.length;
          break;
        }
      }, 20);
      sock.on('close', () => clearInterval(timer));
      sock.on('end', () => sock.destroy());
    });
    count(got > 0 ? 'slow-reader done' : 'slow-reader nothing');
    await pause(200);
  }
}

// Half a request head, then nothing: the daemon's read timeout closes it (or the client gives
// up after 10 s).
async function stalledHead() {
  while (!stopping) {
    await rawClient(
      (sock) => {
        sock.write(`GET /api/v1/extraction/runs/run-alpha-success HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
        const check = setInterval(() => stopping && sock.destroy(), 200);
        sock.on('close', () => clearInterval(check));
      },
      { timeoutMs: 10_000 },
    );
    count('stalled-head done');
  }
}

// A list page asked for and never read: the answer fills the socket buffers and stops; the
// client leaves after 5 s.
async function neverReads() {
  while (!stopping) {
    await rawClient(
      (sock) => {
        sock.pause();
        sock.write(head('/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=0&limit=100'));
        const check = setInterval(() => stopping && sock.destroy(), 200);
        sock.on('close', () => clearInterval(check));
      },
      { timeoutMs: 5_000 },
    );
    count('never-reads done');
  }
}

// Pass-through writes: echo POSTs with a body (its hash must come back) and streamed uploads.
async function passThrough() {
  const crypto = await import('node:crypto');
  while (!stopping) {
    const size = Math.random() < 0.8 ? 4096 + Math.floor(Math.random() * 60_000) : 1_000_000 + Math.floor(Math.random() * 2_000_000);
    const body = crypto.randomBytes(size);
    const p = Math.random() < 0.5 ? '/api/v1/echo/soak' : '/api/v1/files';
    try {
      const res = await httpRequest(`${daemon.url}${p}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream' },
        body,
        timeoutMs: 60_000,
      });
      const json = res.status === 200 ? JSON.parse(res.body.toString('utf8')) : null;
      const sha = crypto.createHash('sha256').update(body).digest('hex');
      const ok = p === '/api/v1/files' ? json?.sha256 === sha : json?.bodyBytes === size;
      if (ok) count('write ok');
      else problem(`write ${p}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
    } catch (err) {
      problem(`write ${p}: ${err.message}`);
    }
    await pause(50);
  }
}

// Jobs created through the daemon: stored, watched, finished by the fake 3 s later, polled by
// the sync worker until final.
async function createJobs() {
  while (!stopping) {
    try {
      const res = await httpRequest(`${daemon.url}/api/v1/extraction/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ extraction_agent_id: 'agent-alpha', file_id: `file-soak-${Date.now()}` }),
      });
      if (res.status === 200) count('job created');
      else problem(`job create: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
    } catch (err) {
      problem(`job create: ${err.message}`);
    }
    await pause(500);
  }
}

// An events stream held for 5 to 10 s, then opened again.
async function events() {
  while (!stopping) {
    let bytes = 0;
    await rawClient(
      (sock) => {
        sock.write('GET /_runmirror/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        sock.on('data', (c) => (bytes += c.length));
        const check = setInterval(() => stopping && sock.destroy(), 200);
        sock.on('close', () => clearInterval(check));
      },
      { timeoutMs: 5_000 + Math.random() * 5_000 },
    );
    count(bytes > 0 ? 'events done' : 'events nothing');
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(err.stack ?? err);
  if (daemon) console.error(daemon.describe());
} finally {
  stopping = true;
  keepAlive?.destroy();
  if (daemon) await daemon.stop();
  if (up) await up.stop();
  if (dir) await removeDir(dir);
}
process.exit(code);
