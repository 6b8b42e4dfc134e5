#!/usr/bin/env node
// Browse API latency over a large store (issue 5, benchmark): 100,000 generated ExtractRuns of 20
// agents (mixed statuses, PER_DOC and PER_PAGE data with varied text), then, through the running
// daemon's browse API, a filtered page (agent + status, limit 50; target p95 < 50 ms) and
// full-text searches (target p95 < 200 ms), plus the other browse questions for context.
//
//   node bench/browse_bench.mjs [--runs 100000] [--agents 20] [--iterations 60] [--seed 7]
//                               [--db PATH (keep the store there)] [--reuse (PATH already filled)]
//
// Filling: runmirror_fill_store --jsonl (build it with `cmake --build build --target
// runmirror_fill_store`, or set RUNMIRROR_FILL_BIN) stores the generated runs through the store's
// own write path, in transactions of 1,000, so bodies are compressed and the search index built
// as for runs the daemon stores.
// Measuring: the daemon (build/runmirror or $RUNMIRROR_BIN) runs --offline on that store; each
// question is asked `iterations` times after a warm-up, one HTTP request each, timed from send to
// the last body byte. Prints p50/p95/max per question and the fill rate.
// Exit status: 0 both targets met, 1 a target missed, 2 the benchmark could not run.
//
// Stores of several kinds (v1 runs, Extract v2 jobs):
//   --kind run|v2_job|all   asks every browse question of that kind (the browse API's ?kind=;
//                           default run). The owner filter is the busiest v1 agent (run, all)
//                           or the configuration of the newest v2 job (v2_job); the statuses
//                           SUCCESS/ERROR or COMPLETED/FAILED.
//   --v2-share S            fills with runmirror_fill_store's own generator (bench/run_gen.hpp:
//                           --runs resources over --agents agents, that share of them v2 jobs,
//                           some with ?expand= representations; --variant-share, default 0.3)
//                           instead of this script's runs, and searches words of that
//                           generator. With --reuse, says the store was filled that way.

import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

import { RUNMIRROR_BIN, startDaemon, api, makeTempDir, removeDir } from '../tests/support/daemon.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    agents: { type: 'string', default: '20' },
    iterations: { type: 'string', default: '60' },
    seed: { type: 'string', default: '7' },
    db: { type: 'string' },
    reuse: { type: 'boolean', default: false },
    kind: { type: 'string', default: 'run' },
    'v2-share': { type: 'string' },
    'variant-share': { type: 'string', default: '0.3' },
  },
});
const KIND = opts.kind;
if (!['run', 'v2_job', 'all'].includes(KIND)) {
  console.error(`browse_bench: --kind: expected run, v2_job or all, got '${KIND}'`);
  process.exit(2);
}
// runmirror_fill_store's generator (a share of v2 jobs, possibly 0) instead of this script's.
const FILL_STORE_GEN = opts['v2-share'] !== undefined;
const RUNS = Number(opts.runs);
const AGENTS = Number(opts.agents);
const ITERATIONS = Number(opts.iterations);
const TARGET_PAGE_MS = 50;
const TARGET_SEARCH_MS = 200;

// mulberry32: small, seeded, deterministic.
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
const random = rng(Number(opts.seed));
const pick = (list) => list[Math.floor(random() * list.length)];
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

// A vocabulary of 4,000 made-up words drawn with Zipf-like weights, so a few words are in most
// runs and most words in few, like real document text.
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'qua', 'dor', 'len', 'mar', 'pix', 'ston', 'bel',
  'cra', 'fen', 'gol', 'hup', 'jin', 'kri', 'lum', 'nox', 'ost', 'pra', 'rim', 'sul', 'tor', 'ung', 'vex', 'wal'];
const VOCAB = [];
while (VOCAB.length < 4000) {
  const w = Array.from({ length: int(2, 4) }, () => pick(SYLLABLES)).join('');
  if (!VOCAB.includes(w)) VOCAB.push(w);
}
const ZIPF = (() => {
  const cumulative = [];
  let sum = 0;
  for (let i = 0; i < VOCAB.length; i += 1) cumulative.push((sum += 1 / (i + 1)));
  return cumulative.map((c) => c / sum);
})();
function word() {
  const r = random();
  let lo = 0;
  let hi = ZIPF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ZIPF[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return VOCAB[lo];
}
const words = (n) => Array.from({ length: n }, word).join(' ');
const VENDORS = Array.from({ length: 500 }, (_, i) => `${VOCAB[100 + i][0].toUpperCase()}${VOCAB[100 + i].slice(1)} ${pick(['GmbH', 'Ltd', 'Inc', 'SA', 'AG', 'BV'])}`);

const STATUSES = [['SUCCESS', 0.85], ['ERROR', 0.08], ['PENDING', 0.05], ['CREATED', 0.02]];
function status() {
  let r = random();
  for (const [s, p] of STATUSES) if ((r -= p) < 0) return s;
  return 'SUCCESS';
}

const NOW = Date.UTC(2025, 5, 1);
const iso = (ms) => new Date(ms).toISOString().replace(/Z$/, `${String(int(0, 999)).padStart(3, '0')}Z`);

function invoice(n) {
  const items = Array.from({ length: int(1, 6) }, () => ({
    description: words(int(3, 7)), quantity: int(1, 40), unit_price: Number((random() * 500).toFixed(2)),
  }));
  return {
    invoice_number: `INV-${2025}-${String(n).padStart(6, '0')}`,
    vendor: pick(VENDORS),
    customer: pick(VENDORS),
    invoice_date: new Date(NOW - int(0, 90) * 86_400_000).toISOString().slice(0, 10),
    total: Number(items.reduce((s, it) => s + it.quantity * it.unit_price, 0).toFixed(2)),
    currency: pick(['EUR', 'USD', 'GBP', 'CHF']),
    notes: words(int(8, 40)),
    line_items: items,
  };
}

function buildRun(n) {
  const agent = n % AGENTS;
  const agentId = `agent-${String(agent).padStart(2, '0')}`;
  const projectId = `project-${agent % 4}`;
  const id = `run-${String(n).padStart(7, '0')}-${Math.floor(random() * 1e9).toString(36)}`;
  const s = status();
  const createdMs = NOW - Math.floor(random() * 90 * 86_400_000);
  const createdAt = iso(createdMs);
  const updatedAt = iso(createdMs + int(5, 600) * 1000);
  const perPage = agent % 5 === 0; // a quarter of the agents extract PER_PAGE: data is an array
  let data = null;
  if (s === 'SUCCESS') data = perPage ? Array.from({ length: int(1, 4) }, (_, p) => ({ page: p + 1, ...invoice(n) })) : invoice(n);
  const fileName = `${(data && (perPage ? data[0] : data).vendor || pick(VENDORS)).replace(/\W+/g, '_')}_${n}.pdf`;
  const body = JSON.stringify({
    id, extraction_agent_id: agentId, project_id: projectId, status: s,
    config: { extraction_target: perPage ? 'PER_PAGE' : 'PER_DOC', extraction_mode: 'BALANCED', chunk_mode: 'PAGE',
      high_resolution_mode: false, invalidate_cache: false, cite_sources: false, use_reasoning: false,
      confidence_scores: false, system_prompt: null },
    data_schema: { type: 'object', properties: { vendor: { type: 'string' }, total: { type: 'number' } } },
    from_ui: false, created_at: createdAt, updated_at: updatedAt, data,
    error: s === 'ERROR' ? `Extraction failed on page ${int(1, 9)}: timeout` : null,
    extraction_metadata: s === 'SUCCESS' ? { usage: { num_pages_extracted: int(1, 12), num_document_tokens: int(500, 9000) } } : {},
    file: { id: `file-${n}`, name: fileName, project_id: projectId, file_size: int(10_000, 900_000), file_type: 'application/pdf',
      created_at: createdAt },
    file_id: `file-${n}`, job_id: `job-${n}`,
  });
  return { id, agentId, projectId, status: s, createdAt, updatedAt, fileName, body, jobId: `job-${n}`, fileId: `file-${n}` };
}

const sql = (s) => `'${s.replaceAll("'", "''")}'`;

// The store's own write path (runmirror_fill_store --jsonl: parse_run, put_runs), so bodies are
// compressed and the search index is built exactly as for runs the daemon stores.
const FILL_BIN = process.env.RUNMIRROR_FILL_BIN ?? path.join(path.dirname(RUNMIRROR_BIN), 'runmirror_fill_store');

async function fill(db) {
  const proc = spawn(FILL_BIN, ['--db', db, '--jsonl', '-', '--batch', '1000'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const write = (text) => (proc.stdin.write(text) ? null : new Promise((r) => proc.stdin.once('drain', r)));
  let bodyBytes = 0;
  for (let n = 0; n < RUNS; n += 1) {
    const r = buildRun(n);
    bodyBytes += Buffer.byteLength(r.body);
    await write(`${r.body}\n`);
  }
  proc.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`runmirror_fill_store exited with ${code}`);
  return bodyBytes;
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1) };
}

async function measure(daemon, label, pathOrFn) {
  const samples = [];
  let last = null;
  for (let i = 0; i < ITERATIONS + 5; i += 1) {
    const target = typeof pathOrFn === 'function' ? await pathOrFn() : pathOrFn;
    const started = process.hrtime.bigint();
    const res = await api(daemon, target, { timeoutMs: 30_000 });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
    last = JSON.parse(res.body.toString('utf8'));
    if (i >= 5) samples.push(ms); // the first few warm the page cache and statement cache
  }
  return { label, ...stats(samples), items: last.items.length };
}

// runmirror_fill_store generating the store itself (--v2-share): its "key value" lines.
async function fillGenerated(db) {
  const args = ['--db', db, '--runs', String(RUNS), '--agents', String(AGENTS), '--seed', opts.seed,
    '--v2-share', opts['v2-share'], '--variant-share', opts['variant-share']];
  const proc = spawn(FILL_BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (chunk) => (out += chunk));
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  if (code !== 0) throw new Error(`runmirror_fill_store exited with ${code}`);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
}

// The store file and its WAL, in bytes.
function storeBytes(db) {
  const size = (f) => (existsSync(f) ? statSync(f).size : 0);
  return size(db) + size(`${db}-wal`);
}

async function main() {
  if (!opts.reuse && !existsSync(FILL_BIN)) {
    console.error(`browse_bench: no ${FILL_BIN} (cmake --build build --target runmirror_fill_store, or RUNMIRROR_FILL_BIN)`);
    process.exit(2);
  }
  const ownDir = opts.db ? null : await makeTempDir('runmirror-browse-bench-');
  const db = opts.db ?? path.join(ownDir, 'bench.db');
  try {
    if (!opts.reuse) {
      await rm(db, { force: true });
      const started = Date.now();
      if (FILL_STORE_GEN) {
        const f = await fillGenerated(db);
        const secs = (Date.now() - started) / 1000;
        const bytes = storeBytes(db);
        console.log(`filled ${f.runs} resources (${f.v2_jobs} v2 jobs, ${f.v2_variant_only} of them stored only as ` +
          `an expand variant) = ${f.rows} rows (${(f.raw_json_bytes / 1e6).toFixed(0)} MB of JSON) in ${secs.toFixed(1)} s ` +
          `(${Math.round(f.rows / secs)} rows/s); store ${(bytes / 1e6).toFixed(0)} MB, ${Math.round(bytes / f.rows)} bytes/row`);
      } else {
        const bodyBytes = await fill(db);
        const secs = (Date.now() - started) / 1000;
        console.log(`filled ${RUNS} runs (${(bodyBytes / 1e6).toFixed(0)} MB of JSON) in ${secs.toFixed(1)} s ` +
          `(${Math.round(RUNS / secs)} runs/s incl. generation and search indexing); store ${(statSync(db).size / 1e6).toFixed(0)} MB`);
      }
    }
    const daemon = await startDaemon({ db, offline: true });
    try {
      const browse = (query) => `/_runmirror/api/runs?kind=${KIND}&${query}`;
      let owner;
      if (KIND === 'v2_job') {
        const newest = JSON.parse((await api(daemon, browse('limit=1'))).body.toString('utf8')).items;
        if (!newest.length) throw new Error('the store holds no v2 job (fill it with --v2-share)');
        owner = newest[0].extraction_agent_id;
      } else {
        const agents = JSON.parse((await api(daemon, '/_runmirror/api/agents')).body.toString('utf8')).items;
        owner = agents.reduce((a, b) => (a.runs >= b.runs ? a : b)).extraction_agent_id;
      }
      const [done, failed] = KIND === 'v2_job' ? ['COMPLETED', 'FAILED'] : ['SUCCESS', 'ERROR'];
      // A vendor name, a frequent word, a rare word, two words together, an invoice number:
      // this script's generator (a vendor is in ~1/500 of the runs) or run_gen.hpp's (a vendor in
      // 1/8, "gloves" in the line items of about 2 in 5, one SKU in ~1/14,000, an invoice number
      // prefix in ~1/9,000).
      const words = FILL_STORE_GEN
        ? { vendor: 'globex', frequent: 'gloves', rare: 'SKU-42424', two: 'toner berlin', invoice: 'INV-2025-4242' }
        : { vendor: VENDORS[3].split(' ')[0], frequent: VOCAB[0], rare: VOCAB[3000], two: `${VOCAB[5]} ${VOCAB[40]}`,
          other: VOCAB[1], invoice: 'INV-2025-00424' };
      let cursor = null;
      const results = [];
      results.push(await measure(daemon, `page: owner&status=${done}, limit 50`, browse(`agent=${owner}&status=${done}&limit=50`)));
      results.push(await measure(daemon, `page: owner&status=${failed}, limit 50`, browse(`agent=${owner}&status=${failed}&limit=50`)));
      results.push(await measure(daemon, 'page: owner + status, next pages by cursor', async () => {
        const base = browse(`agent=${owner}&status=${done}&limit=50`);
        if (!cursor) cursor = JSON.parse((await api(daemon, base)).body.toString('utf8')).next_cursor;
        const target = `${base}&cursor=${cursor}`;
        cursor = JSON.parse((await api(daemon, target)).body.toString('utf8')).next_cursor;
        return target;
      }));
      results.push(await measure(daemon, 'page: no filter, limit 50', browse('limit=50')));
      results.push(await measure(daemon, 'page: status=PENDING + from (30 days), limit 50',
        browse(`status=PENDING&from=${new Date(NOW - 30 * 86_400_000).toISOString()}&limit=50`)));
      const search = [];
      const q = (text) => browse(`q=${encodeURIComponent(text)}&limit=50`);
      search.push(await measure(daemon, `search: q=${words.vendor} (a vendor)`, q(words.vendor)));
      search.push(await measure(daemon, `search: q=${words.frequent} (frequent word)`, q(words.frequent)));
      search.push(await measure(daemon, `search: q=${words.rare} (rare)`, q(words.rare)));
      search.push(await measure(daemon, `search: q=${words.two} (two words)`, q(words.two)));
      search.push(await measure(daemon, `search: q=${words.other ?? words.frequent} + owner + status`,
        browse(`q=${encodeURIComponent(words.other ?? words.frequent)}&agent=${owner}&status=${done}&limit=50`)));
      search.push(await measure(daemon, `search: q=${words.invoice} (invoice number, prefix)`, q(words.invoice)));
      // A vendor and the most frequent word are in many runs: finding none means the store was
      // filled without its search index, and the timings would measure nothing.
      for (const r of search.slice(0, 2)) {
        if (r.items === 0) throw new Error(`${r.label} found nothing: the search index is empty`);
      }
      const other = [await measure(daemon, 'agents summary', '/_runmirror/api/agents')];

      const pad = (s, n) => String(s).padEnd(n);
      const fmt = (v) => v.toFixed(1).padStart(7);
      console.log(`\nkind=${KIND}; store ${(storeBytes(db) / 1e6).toFixed(0)} MB`);
      console.log(`${pad('question (through the daemon, HTTP, ' + ITERATIONS + ' runs each)', 62)}    p50     p95     max  items`);
      for (const r of [...results, ...search, ...other]) {
        console.log(`${pad(r.label, 62)}${fmt(r.p50)} ${fmt(r.p95)} ${fmt(r.max)}  ${String(r.items).padStart(5)}`);
      }
      const pageOk = results.slice(0, 3).every((r) => r.p95 < TARGET_PAGE_MS);
      const searchOk = search.every((r) => r.p95 < TARGET_SEARCH_MS);
      console.log(`\nfiltered page p95 < ${TARGET_PAGE_MS} ms: ${pageOk ? 'met' : 'MISSED'}; ` +
        `full-text search p95 < ${TARGET_SEARCH_MS} ms: ${searchOk ? 'met' : 'MISSED'}`);
      process.exitCode = pageOk && searchOk ? 0 : 1;
    } finally {
      await daemon.stop();
    }
  } finally {
    if (ownDir) await removeDir(ownDir);
  }
}

main().catch((err) => {
  console.error(`browse_bench: ${err?.stack ?? err}`);
  process.exit(2);
});
