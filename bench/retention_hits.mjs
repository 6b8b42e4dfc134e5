// What pruning costs a hit: p50/p99 of hits on stored runs while clients keep storing new ones
// through the daemon, with --max-db-size (the pruner busy the whole time) and without (the
// store just grows). Same writes, same reads; the difference is the pruning.
//
//   node bench/retention_hits.mjs [--seconds 20] [--cap 64MiB] [--readers 4] [--write-rate 1000]
//                                 [--prefill 40000]
//
// The store is first filled past the cap with old final runs (--prefill), then a hot set of
// 200 newer runs is stored; during the measurement a writer stores --write-rate new runs a
// second (pages of 100) in both set-ups, so the writes are the same, and the pruner (oldest
// first) removes old runs, never the hot ones.
//
// Uses the test harness's fake upstream (tests/support) and the daemon at RUNMIRROR_BIN (else
// build/runmirror) at its defaults, plus --list-max-age-ms 0 so that every list stores its runs.

import { performance } from 'node:perf_hooks';
import { statSync } from 'node:fs';
import http from 'node:http';

import { api, startDaemon } from '../tests/support/daemon.mjs';
import { startFakeUpstream } from '../tests/support/fake_upstream.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SECONDS = Number(opt('seconds', '20'));
const CAP = opt('cap', '64MiB');
const READERS = Number(opt('readers', '4'));
const WRITE_RATE = Number(opt('write-rate', '1000'));
const PREFILL = Number(opt('prefill', '40000'));
const AGENT = 'agent-many';

const agent = new http.Agent({ keepAlive: true, maxSockets: READERS + 2 });

function get(daemon, path) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${daemon.url}${path}`, { agent, headers: { authorization: 'Bearer key-alpha' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(label, extraArgs) {
  const up = await startFakeUpstream();
  const daemon = await startDaemon({ upstreamUrl: up.url, extraArgs: ['--list-max-age-ms', '0', ...extraArgs] });
  try {
    for (let n = 0; n < PREFILL; n += 500) {
      up.addRuns('old', 500, { agentId: AGENT });
      for (let skip = 0; skip < 500; skip += 100) await get(daemon, `/api/v1/extraction/runs?extraction_agent_id=${AGENT}&skip=${skip}&limit=100`);
    }
    // The hot set: 200 runs newer than every old one, read over and over.
    const hot = up.addRuns('hot', 200, { agentId: 'agent-hot' });
    for (let skip = 0; skip < 200; skip += 100) await get(daemon, `/api/v1/extraction/runs?extraction_agent_id=agent-hot&skip=${skip}&limit=100`);
    await new Promise((r) => setTimeout(r, 2000)); // the pruner's first pass over the prefill
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    let stored = 0;
    const writer = (async () => {
      while (performance.now() < deadline) {
        up.addRuns('new', 100, { agentId: AGENT });
        await get(daemon, `/api/v1/extraction/runs?extraction_agent_id=${AGENT}&skip=0&limit=100`);
        stored += 100;
        const due = start + (stored / WRITE_RATE) * 1000; // a fixed write rate
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      }
    })();
    const latencies = [];
    let misses = 0;
    const readers = Array.from({ length: READERS }, async (_, r) => {
      let i = r;
      while (performance.now() < deadline) {
        const started = performance.now();
        const res = await get(daemon, `/api/v1/extraction/runs/${hot[i % hot.length]}`);
        const ms = performance.now() - started;
        if (res.statusCode === 200 && /hit/.test(res.headers['cache-status'] ?? '')) latencies.push(ms);
        else misses += 1;
        i += READERS;
      }
    });
    await Promise.all([writer, ...readers]);
    const metrics = (await api(daemon, '/_runmirror/metrics')).body.toString();
    const pruned = metrics.split('\n').filter((l) => l.startsWith('runmirror_store_pruned_total{')).map((l) => l.replace('runmirror_store_pruned_total', '')).join(' ');
    latencies.sort((a, b) => a - b);
    const file = statSync(daemon.db).size;
    console.log(
      `${label.padEnd(22)} hits ${String(latencies.length).padStart(7)}  p50 ${quantile(latencies, 0.5).toFixed(3)} ms  p99 ${quantile(latencies, 0.99).toFixed(3)} ms  ` +
        `p99.9 ${quantile(latencies, 0.999).toFixed(3)} ms  not hits ${misses}  runs stored ${stored}  file ${(file / 1048576).toFixed(1)} MiB  ${pruned}`,
    );
    return quantile(latencies, 0.99);
  } finally {
    await daemon.stop();
    await up.stop();
  }
}

const without = await measure('no cap (no pruning)', []);
const withCap = await measure(`--max-db-size ${CAP}`, ['--max-db-size', CAP, '--retain-final', 'false']);
console.log(`p99 difference: ${(withCap - without).toFixed(3)} ms (target: within 1 ms)`);
agent.destroy();
