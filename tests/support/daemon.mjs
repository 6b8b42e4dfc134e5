// Helpers to run the runmirror daemon in tests and talk to it at the HTTP and TCP level.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { startFakeUpstream } from './fake_upstream.mjs';
import { createDatabase } from './pg.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUNMIRROR_BIN = process.env.RUNMIRROR_BIN || path.join(REPO_ROOT, 'build', 'runmirror');
export const CORPORA_DIR = process.env.RUNMIRROR_CORPORA || path.join(REPO_ROOT, 'tests', 'corpora');

const running = new Set(); // daemons still alive: killed if the test process exits abruptly
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  // A race the daemon's ThreadSanitizer build reported fails the test file, whichever test saw
  // it (a daemon a test started without cleanupStack included).
  if (sanitizerReports.length) {
    for (const r of sanitizerReports) console.error(`${r.command}\n${r.text()}`);
    console.error(`${sanitizerReports.length} daemon(s) reported ThreadSanitizer warnings (above)`);
    process.exitCode = 1;
  }
});

// Daemons whose output held a ThreadSanitizer report (a build-tsan/ binary: scripts/test
// --tsan): { command, text() } with the output from the first report on.
const sanitizerReports = [];
const SANITIZER_REPORT = 'WARNING: ThreadSanitizer:';

// How many sanitizer reports daemons have written so far in this test process.
export function sanitizerReportCount() {
  return sanitizerReports.length;
}

export async function makeTempDir(prefix = 'runmirror-test-') {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true });
}

// Cleanups registered on a node:test context, run in reverse order once the test ends (pass or
// fail). Returns `defer(fn)`.
// A ThreadSanitizer report from a daemon during the test fails it, once the cleanups ran.
export function cleanupStack(t) {
  const fns = [];
  const reportsBefore = sanitizerReports.length;
  t.after(async () => {
    while (fns.length) {
      const fn = fns.pop();
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup failed: ${err?.stack ?? err}`);
      }
    }
    const reports = sanitizerReports.slice(reportsBefore);
    if (reports.length) {
      throw new Error(
        `ThreadSanitizer reported during this test:\n${reports.map((r) => `${r.command}\n${r.text()}`).join('\n')}`,
      );
    }
  });
  return (fn) => fns.push(fn);
}

// The daemon's environment: the test's, without anything that would configure the daemon or the
// SDK behind the test's back (RUNMIRROR_*, LLAMA_CLOUD_*), plus `extra`. RUNMIRROR_CONFIG=/dev/null
// keeps a config file on the search path (~/.config/runmirror, /etc/runmirror: `scripts/serve`
// installs one) out of every test; a test that wants one passes --config or its own variable.
export function daemonEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('RUNMIRROR_') || k.startsWith('LLAMA_CLOUD_') || k.startsWith('LLAMA_PARSE_')) continue;
    env[k] = v;
  }
  // A variable given as undefined is removed (e.g. RUNMIRROR_CONFIG, to use the search path).
  const merged = { ...env, RUNMIRROR_CONFIG: '/dev/null', ...extra };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return merged;
}

// Start `runmirror serve` on 127.0.0.1:0 and wait until /_runmirror/health answers 200.
//   db: path of the store (default: `defaultDb`, else a file in a temp dir that stop() removes;
//       false: no --db, the config file or the default location decides)
//   offline, upstreamCa, pollIntervalMs: the matching flags; extraArgs: more flags; env: extra env
//   singleDaemon: why this daemon must be one process even in fleet mode (below)
//
// Fleet mode (RUNMIRROR_TEST_FLEET=1 with RUNMIRROR_TEST_PG, ctest integration_fleet): a daemon
// on its default store is two daemons on a fresh PostgreSQL database behind a round-robin proxy
// (startFleet), so that every test also checks what a client sees from a shared store. A daemon
// on a store the test named (a file it reads, a store it reopens) stays one process, and so does
// one whose flags only a SQLite store takes; a test that observes one process (its counters,
// signals, memory) says so with `singleDaemon`.
export async function startDaemon(options = {}) {
  const { db, extraArgs = [], singleDaemon } = options;
  if (FLEET && (db === undefined || db === null) && !singleDaemon && !singleDaemonFile && !sqliteOnlyArgs(extraArgs)) {
    return startFleet(options);
  }
  return startOne(options);
}

async function startOne({
  upstreamUrl,
  db,
  defaultDb,
  offline = false,
  upstreamCa,
  pollIntervalMs,
  extraArgs = [],
  env = {},
  startTimeoutMs = 15_000,
} = {}) {
  if (!existsSync(RUNMIRROR_BIN)) {
    throw new Error(`runmirror binary not found at ${RUNMIRROR_BIN} (build it, or set RUNMIRROR_BIN)`);
  }
  let ownDir = null;
  if ((db === undefined || db === null) && defaultDb) db = defaultDb;
  if (db === undefined || db === null) {
    ownDir = await makeTempDir();
    db = path.join(ownDir, 'rm.db');
  }
  const args = ['serve', '--listen', '127.0.0.1:0', ...(db === false ? [] : ['--db', db])];
  // A fleet's database reopened by a test (offline, after a restart) needs the fleet's secret.
  if (fleetSecrets.has(db) && !extraArgs.includes('--tenant-secret')) args.push('--tenant-secret', fleetSecrets.get(db));
  if (upstreamUrl) args.push('--upstream', upstreamUrl);
  if (offline) args.push('--offline');
  if (upstreamCa) args.push('--upstream-ca', upstreamCa);
  if (pollIntervalMs !== undefined) args.push('--poll-interval-ms', String(pollIntervalMs));
  // Set by the test runner to cover the single-thread server (tests/CMakeLists.txt).
  if (process.env.RUNMIRROR_TEST_THREADS) args.push('--threads', process.env.RUNMIRROR_TEST_THREADS);
  // Most tests check what happens once a stored copy is past its max age (forwarded, then
  // stale-if-error or tombstoned); stale-while-revalidate would answer them from the store first.
  // Tests of stale-while-revalidate itself pass the flag again (a later flag wins).
  if (!extraArgs.includes('--stale-while-revalidate-ms')) args.push('--stale-while-revalidate-ms', '0');
  args.push(...extraArgs);

  const proc = spawn(RUNMIRROR_BIN, args, { env: daemonEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);

  let output = '';
  const MAX_OUTPUT = 256 * 1024;
  let report = null; // from the first sanitizer report on, kept apart from the output's ring
  const onOutput = (chunk) => {
    const text = chunk.toString('utf8');
    const seen = output.slice(-SANITIZER_REPORT.length) + text; // a marker split across chunks
    output += text;
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
    if (report !== null) {
      if (report.length < MAX_OUTPUT) report += text;
    } else if (seen.includes(SANITIZER_REPORT)) {
      report = output.slice(output.lastIndexOf(SANITIZER_REPORT));
      sanitizerReports.push({ command: `runmirror ${args.join(' ')} (pid ${proc.pid})`, text: () => report });
    }
  };
  proc.stdout.on('data', onOutput);
  proc.stderr.on('data', onOutput);

  let exit = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      exit = { code, signal };
      resolve(exit);
    });
    proc.on('error', (err) => {
      running.delete(proc);
      exit = { code: null, signal: null, error: err };
      resolve(exit);
    });
  });

  const describe = () => `runmirror ${args.join(' ')}\n--- daemon output ---\n${output}\n--- end ---`;
  const deadline = Date.now() + startTimeoutMs;
  let port = null;
  while (port === null) {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
    if (m) port = Number(m[1]);
    else if (exit) throw new Error(`daemon exited before listening (${JSON.stringify(exit)})\n${describe()}`);
    else if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`daemon did not log "listening on 127.0.0.1:<port>" within ${startTimeoutMs} ms\n${describe()}`);
    } else await sleep(20);
  }
  const url = `http://127.0.0.1:${port}`;

  let lastProblem = '';
  for (;;) {
    if (exit) throw new Error(`daemon exited before its health check passed (${JSON.stringify(exit)})\n${describe()}`);
    try {
      const res = await httpRequest(`${url}/_runmirror/health`, { timeoutMs: 2_000 });
      if (res.status === 200) break;
      lastProblem = `status ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`;
    } catch (err) {
      lastProblem = err.message;
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`daemon health never answered 200 (${lastProblem})\n${describe()}`);
    }
    await sleep(50);
  }

  return {
    url,
    port,
    pid: proc.pid,
    pids: [proc.pid],
    proc,
    db,
    args,
    output: () => output,
    describe,
    exited: () => exit,
    // SIGTERM, then wait up to timeoutMs; SIGKILL if it is still there. Idempotent.
    async stop({ timeoutMs = 5_000 } = {}) {
      const started = Date.now();
      let timedOut = false;
      if (!exit) {
        proc.kill('SIGTERM');
        const timer = sleep(timeoutMs, 'timeout', { ref: false }); // unref'd: no 5 s linger after the test
        if ((await Promise.race([exited, timer])) === 'timeout' && !exit) {
          timedOut = true;
          proc.kill('SIGKILL');
          await exited;
        }
      }
      if (ownDir) {
        await removeDir(ownDir);
        ownDir = null;
      }
      return { ...exit, timedOut, ms: Date.now() - started };
    },
  };
}

// ---- fleet mode ------------------------------------------------------------------------------

// Two daemons on one store: what issue 16 promises ("many daemons, one store") checked with
// every test a client's view can be checked with.
export const FLEET = Boolean(process.env.RUNMIRROR_TEST_FLEET);
if (FLEET && !process.env.RUNMIRROR_TEST_PG) {
  throw new Error('RUNMIRROR_TEST_FLEET needs RUNMIRROR_TEST_PG (run under tests/support/pg_cluster.sh run)');
}

// In fleet mode, the skip reason of a test (or part of one) that fails there because of a known
// gap in the daemons on a shared store; false otherwise, and with RUNMIRROR_TEST_FLEET_TODO=1,
// to see whether a daemon has closed the gaps.
export function fleetTodo(reason) {
  return FLEET && !process.env.RUNMIRROR_TEST_FLEET_TODO && `TODO(fleet): ${reason}`;
}

// The gap README ("A shared store on PostgreSQL") leaves: a daemon learns of another's write
// from its NOTIFY, a millisecond or so after it commits (up to 15 ms measured on a loaded
// machine); a read through B in that window, right after the write through A answered, may
// still be served from B's memory cache as before the write.
export const FLEET_STALE_READS = fleetTodo('a read through B in the few ms before the NOTIFY of a write through A arrives');

// Set by singleDaemonInFleet(): every daemon of this test file is one process.
let singleDaemonFile = null;

// For a test file whose every test observes one daemon process (node --test runs each file in a
// process of its own). `reason` is for the reader.
export function singleDaemonInFleet(reason) {
  assert.ok(reason, 'say why the file needs one daemon');
  singleDaemonFile = reason;
}

// Flags only a SQLite store takes (the daemon refuses them with a postgresql:// --db).
function sqliteOnlyArgs(args) {
  const i = args.lastIndexOf('--max-db-size');
  return i >= 0 && args[i + 1] !== 'off';
}

// Fleet databases' URIs -> their tenant secret file.
const fleetSecrets = new Map();

// Two daemons with the same options on a fresh PostgreSQL database, behind a proxy that gives
// new connections to each in turn. The same shape as startOne's answer, except that `pid` and
// `proc` throw (a test that signals or measures one process needs `singleDaemon`); `pids` and
// `daemons` are both.
async function startFleet(options) {
  const dir = await makeTempDir('runmirror-fleet-');
  const daemons = [];
  let database = null;
  let proxy = null;
  let stopped = null;
  const removeStore = async () => {
    if (database) {
      fleetSecrets.delete(database.uri);
      await database.drop();
    }
    await removeDir(dir);
  };
  // A stack's store outlives its daemon, as the file in the stack's dir does: tests stop the
  // daemon, then read the store or start another daemon on it.
  if (options.deferStoreRemoval) options.deferStoreRemoval(removeStore);
  const stopAll = async (stopOptions) => {
    // The daemons first, each as stop() would one daemon, so that their graceful shutdown meets
    // the connections the test left open; then the proxy, and the store unless a stack owns it.
    const exits = await Promise.all(daemons.map((d) => d.stop(stopOptions)));
    if (proxy) await proxy.close();
    if (!options.deferStoreRemoval) await removeStore();
    return exits;
  };
  try {
    database = await createDatabase();
    fleetSecrets.set(database.uri, path.join(dir, 'fleet.tenant-secret'));
    // One after the other: the first creates the tenant secret and the schema the second finds.
    for (let i = 0; i < 2; i += 1) daemons.push(await startOne({ ...options, db: database.uri, defaultDb: undefined }));
    proxy = await startRoundRobin(daemons.map((d) => d.port));
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
  const label = (d, i) => `daemon ${'AB'[i]} (pid ${d.pid})`;
  const notOneProcess = (what) => {
    throw new Error(`fleet mode: daemon.${what} is one of two processes; a test that needs it passes singleDaemon`);
  };
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    get pid() {
      return notOneProcess('pid');
    },
    get proc() {
      return notOneProcess('proc');
    },
    pids: daemons.map((d) => d.pid),
    daemons,
    fleet: true,
    db: database.uri,
    args: daemons[0].args,
    output: () => daemons.map((d, i) => `--- ${label(d, i)} ---\n${d.output()}`).join('\n'),
    describe: () =>
      `fleet: a round-robin proxy on 127.0.0.1:${proxy.port} in front of\n` +
      daemons.map((d, i) => `${label(d, i)} on 127.0.0.1:${d.port}: ${d.describe()}`).join('\n'),
    // The first daemon that exited, if any: one of a fleet gone is what one daemon gone was.
    exited: () => daemons.map((d) => d.exited()).find(Boolean) ?? null,
    // Both stopped as stop() stops one; the answer is the first unclean exit (else the first's),
    // timedOut if either did. Idempotent.
    async stop(stopOptions = {}) {
      const started = Date.now();
      stopped ??= stopAll(stopOptions);
      const exits = await stopped;
      const worst = exits.find((e) => e.code !== 0 || e.timedOut) ?? exits[0];
      return { ...worst, timedOut: exits.some((e) => e.timedOut), ms: Date.now() - started, exits };
    },
  };
}

// A TCP proxy on 127.0.0.1:0 that hands each new connection to the next of `ports` in turn and
// relays bytes both ways as they come, half-closes included; a reset on one side resets the
// other, so a client sees what a direct connection would. { port, close() }.
async function startRoundRobin(ports) {
  let next = 0;
  const sockets = new Set();
  const track = (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const port = ports[next];
    next = (next + 1) % ports.length;
    const daemon = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    track(client);
    track(daemon);
    client.setNoDelay(true);
    daemon.setNoDelay(true);
    client.pipe(daemon);
    daemon.pipe(client);
    const resetOther = (other) => () => {
      if (!other.destroyed) other.resetAndDestroy();
    };
    client.on('error', resetOther(daemon));
    daemon.on('error', resetOther(client));
    // A side closed without an error (both halves ended) leaves the other to finish its own
    // half; a side destroyed before its end was relayed closes the other.
    client.on('close', (hadError) => {
      if (!hadError && !daemon.destroyed && !client.readableEnded) daemon.destroy();
    });
    daemon.on('close', (hadError) => {
      if (!hadError && !client.destroyed && !daemon.readableEnded) client.destroy();
    });
  });
  server.unref(); // a proxy a test forgot to stop does not keep the test process alive
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// A fake upstream plus a daemon in front of it, both stopped (and the temp dir removed) when the
// test ends, whatever the outcome. `daemon` options go to startDaemon; the db lives in `dir`
// (in fleet mode, a PostgreSQL database dropped when the test ends: the test's files still go
// in `dir`, and `daemon.db` names the store).
export async function startStack(t, { tls, upstream = {}, daemon = {} } = {}) {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const up = await startFakeUpstream({ tls, ...upstream });
  defer(() => up.stop());
  const d = await startDaemon({ upstreamUrl: up.url, defaultDb: path.join(dir, 'rm.db'), deferStoreRemoval: defer, ...daemon });
  defer(() => d.stop());
  return { dir, up, daemon: d, defer };
}

// One HTTP/1.1 request on its own connection (no keep-alive pool). Resolves with
// { status, headers, rawHeaders, body: Buffer, ms, requestError }; rejects on a network error
// before any response, or after timeoutMs. `body` may be a Buffer, a string or a Readable
// (piped, so it streams). If the server answers early (say 413) and closes while the body is
// still being sent, that answer is returned, with the write error in `requestError`.
export function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 15_000, ca } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let response = null;
    let requestError = null;
    const chunks = [];
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err && !response) {
        reject(err);
        return;
      }
      resolve({
        status: response.statusCode,
        headers: response.headers,
        rawHeaders: response.rawHeaders,
        body: Buffer.concat(chunks),
        ms: Date.now() - started,
        requestError,
      });
    };
    const h = { ...headers };
    const hasLength = Object.keys(h).some((k) => k.toLowerCase() === 'content-length');
    if ((typeof body === 'string' || Buffer.isBuffer(body)) && !hasLength) h['content-length'] = Buffer.byteLength(body);
    const req = mod.request(u, { method, headers: h, agent: false, ca }, (res) => {
      response = res;
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => finish());
      res.on('error', (err) => finish(err));
      res.on('close', () => finish());
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      requestError = err;
      if (response) {
        // The answer is being read: let it finish (or close).
        return;
      }
      // An early answer may still be in the socket's read buffer: give the parser a moment.
      setTimeout(() => finish(err), 50);
    });
    if (body && typeof body.pipe === 'function') {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else req.end(body);
  });
}

// A request to the daemon with `Authorization: Bearer <key>` (when key is given).
export function api(daemon, pathAndQuery, { key, method = 'GET', headers = {}, ...rest } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  return httpRequest(`${daemon.url}${pathAndQuery}`, { method, headers: h, ...rest });
}

// Send raw bytes over TCP and collect everything that comes back until the peer closes or
// timeoutMs passes. Resolves { data: Buffer, closed: boolean (the peer ended the connection),
// timedOut: boolean, error }. The write side is left open unless `end` is true.
export function rawRequest(port, bytes, { timeoutMs = 2_000, host = '127.0.0.1', end = false } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let timedOut = false;
    let error = null;
    const sock = net.connect(port, host);
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    sock.on('connect', () => {
      sock.write(bytes);
      if (end) sock.end();
    });
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (err) => {
      error = err;
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: !timedOut, timedOut, error });
    });
  });
}

// Send a request head, then stream `body` (an async iterable of Buffers) over one TCP connection,
// with backpressure, optionally in chunked coding; collect the response bytes until the peer
// closes. The head should carry `Connection: close`. An early answer (say 413) is kept even when
// the daemon closes before the body is sent. Resolves { data, closed, timedOut, error, sent }.
export function streamRequest(
  port,
  head,
  body,
  { chunked = false, timeoutMs = 120_000, host = '127.0.0.1', pauseAfterHeadMs = 100 } = {},
) {
  return new Promise((resolve) => {
    const chunks = [];
    let error = null;
    let timedOut = false;
    let sent = 0;
    const sock = net.connect(port, host);
    const timer = setTimeout(() => {
      timedOut = true;
      sock.destroy();
    }, timeoutMs);
    const writable = () =>
      new Promise((res) => {
        const done = () => {
          sock.off('drain', done);
          sock.off('close', done);
          res();
        };
        sock.on('drain', done);
        sock.on('close', done);
      });
    const write = async (buf) => {
      if (sock.destroyed) return false;
      sent += buf.length;
      if (!sock.write(buf)) await writable();
      return !sock.destroyed;
    };
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (err) => {
      error = err;
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: !timedOut, timedOut, error, sent });
    });
    sock.on('connect', async () => {
      try {
        if (!(await write(Buffer.from(head)))) return;
        // Give an early answer to the head alone (a refusal) the chance to be read before the
        // body starts: once the daemon closes on unread body bytes, the kernel may drop it.
        await new Promise((r) => setTimeout(r, pauseAfterHeadMs));
        for await (const c of body) {
          const ok = chunked
            ? (await write(Buffer.from(`${c.length.toString(16)}\r\n`))) && (await write(c)) && (await write(Buffer.from('\r\n')))
            : await write(c);
          if (!ok) return;
        }
        if (chunked) await write(Buffer.from('0\r\n\r\n'));
      } catch (err) {
        error = err;
        sock.destroy();
      }
    });
  });
}

// Parse the first HTTP/1.x response in `buf`: { status, statusLine, headers (lower-case name ->
// array of values), body: Buffer, rest: Buffer } or null if there is no complete header block.
// The body is read by Content-Length, chunked coding, or to the end of `buf`.
export function parseRawResponse(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(i + 1).trim());
  }
  const status = Number(m[1]);
  let rest = buf.subarray(headEnd + 4);
  let body;
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) {
    body = Buffer.alloc(0);
  } else if ((headers['transfer-encoding'] ?? []).join(',').toLowerCase().includes('chunked')) {
    const parts = [];
    let pos = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', pos);
      if (lineEnd < 0) break;
      const size = parseInt(rest.subarray(pos, lineEnd).toString('latin1').split(';')[0], 16);
      if (!Number.isFinite(size)) break;
      pos = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = rest.indexOf('\r\n\r\n', pos - 2);
        pos = trailerEnd < 0 ? rest.length : trailerEnd + 4;
        break;
      }
      parts.push(rest.subarray(pos, pos + size));
      pos += size + 2;
    }
    body = Buffer.concat(parts);
    rest = rest.subarray(pos);
  } else if (headers['content-length']) {
    const n = Number(headers['content-length'][0]);
    body = rest.subarray(0, n);
    rest = rest.subarray(n);
  } else {
    body = rest;
    rest = Buffer.alloc(0);
  }
  return { status, statusLine, headers, body, rest };
}

// True when the daemon binary is an AddressSanitizer or ThreadSanitizer build (their shadow
// memory makes RSS limits meaningless there).
export function isSanitizedBuild(bin = RUNMIRROR_BIN) {
  try {
    return /libasan|libtsan/.test(execFileSync('ldd', [bin], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

// True when the daemon binary is a ThreadSanitizer build (scripts/test --tsan), whose runtime
// adds a thread of its own.
export function isThreadSanitizerBuild(bin = RUNMIRROR_BIN) {
  try {
    return /libtsan/.test(execFileSync('ldd', [bin], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

// VmRSS and VmHWM (peak RSS) of a process, in KiB.
export async function rssKiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { vmRSS: field('VmRSS'), vmHWM: field('VmHWM') };
}

// A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost, made with the
// openssl CLI in `dir`. Returns file paths and PEM strings.
export async function makeTestCA(dir) {
  const f = (name) => path.join(dir, name);
  const ssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '3',
    '-subj', '/CN=runmirror test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  await writeFile(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '3', '-extfile', f('server.ext'));
  return {
    caPath: f('ca.pem'),
    keyPath: f('server.key'),
    certPath: f('server.pem'),
    caPem: await readFile(f('ca.pem'), 'utf8'),
    key: await readFile(f('server.key'), 'utf8'),
    cert: await readFile(f('server.pem'), 'utf8'),
  };
}

// Poll `fn` until it returns a truthy value or timeoutMs passes; returns the last value.
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(intervalMs);
  }
}

// Command-line flags from { 'connect-timeout-ms': 300, offline: true, ... }: ['--connect-timeout-ms',
// '300', '--offline', ...]; a value of true gives the bare flag.
export function flagArgs(flags) {
  const args = [];
  for (const [name, value] of Object.entries(flags)) {
    if (value === true) args.push(`--${name}`);
    else args.push(`--${name}`, String(value));
  }
  return args;
}

// GET /_runmirror/health: { status, json (parsed body), ms }.
export async function health(daemon, { timeoutMs = 5_000 } = {}) {
  const res = await httpRequest(`${daemon.url}/_runmirror/health`, { timeoutMs });
  let json = null;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch {
    // left null: the caller's assertion shows the status
  }
  return { status: res.status, json, ms: res.ms };
}
