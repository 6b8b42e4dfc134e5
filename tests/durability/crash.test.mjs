// Crash suite: what the daemon acknowledges as stored survives kill -9.
//
// Each iteration starts the daemon on the same db, sends concurrent misses (runs by id, by job,
// list pages of fresh runs, v2 jobs plain and with ?expand=usage) through it to the fake upstream, and kills it with SIGKILL at a random
// instant. Every answer whose Cache-Status said "stored" is an acknowledgement: the run (or, for
// a list page, each run in it) must then be served from the store byte-identical to what the
// upstream sent. After each kill, a copy of the db and its WAL (the crash image, left as the
// kill left it for the daemon's own recovery) passes `PRAGMA integrity_check`; the next
// iteration's daemon serves the previous iteration's runs with `Cache-Control: only-if-cached`;
// at the end an `--offline` daemon serves every acknowledged run.
//
//   RUNMIRROR_CRASH_ITERATIONS   iterations (default 5: the quick form in ctest; `scripts/test
//                                --full` runs 100)
//   RUNMIRROR_CRASH_SEED         seed of the kill instants (default: random, printed)
//   RUNMIRROR_CRASH_REPORT       a file to write the figures to, as JSON

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { startDaemon, cleanupStack, makeTempDir, removeDir } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';

const ITERATIONS = Number(process.env.RUNMIRROR_CRASH_ITERATIONS || 5);
const SEED = Number(process.env.RUNMIRROR_CRASH_SEED || Math.floor(Math.random() * 2 ** 31));
const CLIENTS = 16; // concurrent connections, each a miss after a miss
const KILL_MAX_MS = 1_500; // the kill comes 0..KILL_MAX_MS after the load starts
const KEY = 'key-alpha';
const AGENT = 'agent-crash';

// Deterministic from the seed (mulberry32), so a failing run can be replayed.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// GET on a keep-alive agent. Resolves { status, headers, body, complete } once the answer ends
// or breaks; `onHeaders(res)` sees the head as soon as it arrives (an acknowledgement counts from
// there: the daemon sends it after the commit). Rejects when no answer started.
function get(agent, url, { headers = {}, onHeaders } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${KEY}`, ...headers } }, (res) => {
      onHeaders?.(res);
      const chunks = [];
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
      };
      res.on('data', (c) => chunks.push(c));
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${url}: no answer within 30 s`)));
    req.on('error', reject);
  });
}

const isStored = (headers) => /;\s*stored\b/.test(headers['cache-status'] ?? '');

const runPath = (id) => `/api/v1/extraction/runs/${id}`;
const v2Path = (id, expand) => `/api/v2/extract/${id}${expand ? `?expand=${expand}` : ''}`;

// What the upstream sends for an item path (runPath or v2Path).
function upstreamBytes(up, itemPath) {
  const m = /^\/api\/v2\/extract\/([^?]+)(?:\?expand=(.*))?$/.exec(itemPath);
  if (m) return up.v2.jobBytes(m[1], m[2] ? m[2].split(',') : []);
  return up.runBytes(itemPath.slice(runPath('').length));
}

// The item paths of the runs in a list page (the fake's ids are plain strings).
function pagePaths(body) {
  return JSON.parse(body.toString('utf8')).items.map((r) => runPath(r.id));
}

// A copy of the db and its WAL as the kill left them (no -shm: the copy recovers from the WAL
// as a restart does), checked by the sqlite3 CLI. The original is left to the next daemon.
function integrityCheck(db, scratch) {
  const copy = path.join(scratch, 'image.db');
  for (const suffix of ['', '-wal', '-shm']) {
    const target = `${copy}${suffix}`;
    if (existsSync(target)) execFileSync('rm', ['-f', target]);
  }
  copyFileSync(db, copy);
  if (existsSync(`${db}-wal`)) copyFileSync(`${db}-wal`, `${copy}-wal`);
  return execFileSync('sqlite3', [copy, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim();
}

test(`kill -9 at random instants under concurrent misses: ${ITERATIONS} iterations, nothing acknowledged is lost`, async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir('runmirror-crash-');
  defer(() => removeDir(dir));
  const scratch = await makeTempDir('runmirror-crash-image-');
  defer(() => removeDir(scratch));
  const up = await startFakeUpstream();
  defer(() => up.stop());
  const db = path.join(dir, 'rm.db');
  const killAt = random(SEED); // the kill instants, replayable from the seed
  const rand = random(SEED ^ 0x5bd1e995); // the mix of requests (its order depends on timing)
  t.diagnostic(`seed ${SEED} (RUNMIRROR_CRASH_SEED=${SEED} replays the kill instants)`);

  // Acknowledged runs and v2 jobs, by the path that reads them (a job read with ?expand= is
  // stored as that representation, and read back so).
  const acked = new Map(); // item path -> iteration that acknowledged it
  const lost = new Map(); // item path -> why (the first check that missed it)
  let previous = []; // item paths acknowledged by the last iteration
  let requests = 0;
  let killedMidRequest = 0;
  let inFlightAtKill = 0; // requests sent and not yet answered when the kills came
  const live = new Set();
  defer(async () => {
    for (const d of live) await d.stop();
  });

  const miss = (item, why) => {
    if (!lost.has(item)) lost.set(item, `${item} (acknowledged in iteration ${acked.get(item)}): ${why}`);
  };
  // Every item path in `items` served from the store through `daemon`, byte-identical to the
  // upstream's.
  const verify = async (daemon, items, headers, label) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < items.length) {
            const id = items[next++];
            const res = await get(agent, `${daemon.url}${id}`, { headers });
            const want = upstreamBytes(up, id);
            if (res.status !== 200) {
              miss(id, `${label}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
            } else if (Buffer.compare(res.body, want) !== 0) {
              miss(id, `${label}: ${res.body.length} bytes differ from the upstream's ${want.length}`);
            } else if (!/^runmirror; hit/.test(res.headers['cache-status'] ?? '')) {
              miss(id, `${label}: not a hit: ${res.headers['cache-status']}`);
            }
          }
        }),
      );
    } finally {
      agent.destroy();
    }
  };

  for (let iteration = 1; iteration <= ITERATIONS; iteration += 1) {
    const daemon = await startDaemon({ upstreamUrl: up.url, db });
    live.add(daemon);
    // What the last iteration acknowledged is served by this daemon, without asking upstream.
    await verify(daemon, previous, { 'cache-control': 'only-if-cached' }, `iteration ${iteration}, only-if-cached`);
    previous = [];

    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    let killed = false;
    let inFlight = 0;
    const client = async () => {
      while (!killed) {
        const r = rand();
        let url;
        let items; // the item paths of what this request is about (a list page's: once read)
        if (r < 0.1) {
          // The newest page of fresh runs.
          up.addRuns('run-crash', 5, { agentId: AGENT });
          const limit = 5 + Math.floor(rand() * 10);
          url = `/api/v1/extraction/runs?extraction_agent_id=${AGENT}&skip=0&limit=${limit}`;
        } else if (r < 0.25) {
          // A fresh v2 job, plain or with ?expand=usage.
          const [id] = up.v2.addJobs('v2-crash', 1);
          url = v2Path(id, rand() < 0.5 ? 'usage' : '');
          items = [url];
        } else {
          const [id] = up.addRuns('run-crash', 1, { agentId: AGENT });
          items = [runPath(id)];
          url = r < 0.4 ? `/api/v1/extraction/runs/by-job/${up.run(id).jobId}` : runPath(id);
        }
        const isList = items === undefined;
        let stored = false;
        requests += 1;
        inFlight += 1;
        try {
          const res = await get(agent, `${daemon.url}${url}`, {
            onHeaders: (head) => {
              stored = head.statusCode === 200 && isStored(head.headers);
            },
          });
          if (stored && !res.complete) killedMidRequest += 1;
          if (stored && res.complete) {
            items ??= pagePaths(res.body);
            if (!isList && Buffer.compare(res.body, upstreamBytes(up, items[0])) !== 0) {
              assert.fail(`${url}: the answer differs from the upstream's bytes`);
            }
          }
          // A hit acknowledges nothing: a run already stored from a list page, a list page
          // asked again within its max age.
          const hit = res.status === 200 && /^runmirror; hit/.test(res.headers['cache-status'] ?? '');
          if (!stored && !hit && !killed) assert.fail(`${url}: ${res.status} ${res.headers['cache-status']}: not stored`);
        } catch (err) {
          if (!killed) throw err;
        } finally {
          inFlight -= 1;
        }
        if (stored && items) {
          for (const item of items) {
            if (!acked.has(item)) previous.push(item);
            acked.set(item, iteration);
          }
        }
      }
    };
    // A client's failure is kept for after the kill (no unhandled rejection meanwhile).
    const load = Array.from({ length: CLIENTS }, () => client().then(() => null, (err) => err));
    await sleep(Math.floor(killAt() * KILL_MAX_MS));
    killed = true;
    inFlightAtKill += inFlight;
    daemon.proc.kill('SIGKILL');
    await daemon.stop(); // waits for the exit
    live.delete(daemon);
    const failures = (await Promise.all(load)).filter(Boolean);
    agent.destroy();
    if (failures.length) throw failures[0];
    assert.equal(daemon.exited()?.signal, 'SIGKILL', `iteration ${iteration}: the daemon died of something else\n${daemon.describe()}`);

    const integrity = integrityCheck(db, scratch);
    assert.equal(integrity, 'ok', `iteration ${iteration}: integrity_check of the crash image`);
  }

  // Every acknowledged run and job, offline, from the db the last kill left.
  const offline = await startDaemon({ db, offline: true });
  live.add(offline);
  await verify(offline, [...acked.keys()], {}, 'offline');
  await offline.stop();
  live.delete(offline);
  const integrity = execFileSync('sqlite3', [db, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim();
  const dbMiB = Math.round(statSync(db).size / 2 ** 20);

  const figures = { iterations: ITERATIONS, requests, acknowledged: acked.size, v2Jobs: [...acked.keys()].filter((k) => k.startsWith('/api/v2/')).length, inFlightAtKill, killedMidRequest, lost: lost.size, integrity, dbMiB, seed: SEED };
  t.diagnostic(`crash: ${JSON.stringify(figures)}`);
  console.log(`crash: ${ITERATIONS} iterations, ${acked.size} runs and v2 jobs acknowledged as stored, ${lost.size} lost (seed ${SEED})`);
  if (process.env.RUNMIRROR_CRASH_REPORT) writeFileSync(process.env.RUNMIRROR_CRASH_REPORT, `${JSON.stringify(figures)}\n`);
  assert.ok(acked.size > 0, 'no run was acknowledged: the suite proved nothing');
  assert.equal(lost.size, 0, `${lost.size} of ${acked.size} acknowledged runs and jobs lost, first:\n${[...lost.values()].slice(0, 10).join('\n')}`);
  assert.equal(integrity, 'ok');
});
