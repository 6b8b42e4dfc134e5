// No DNS rebinding, no cross-site reads: a request whose Host is not a loopback name, the
// listen address or an --allowed-host name is refused with 421, one with a foreign Origin with
// 403, both as JSON {"detail"} saying what to do, before anything is read from the store or
// sent upstream. Health answers any Host; the web page's own files any Origin. Listening beyond
// loopback without an admin token is refused at start.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import {
  startStack, api, rawRequest, parseRawResponse, makeTempDir, removeDir, RUNMIRROR_BIN,
} from '../support/daemon.mjs';
import { jsonError, bodyText } from '../support/checks.mjs';

const RUN = 'run-alpha-success';

// Every kind of route that shows stored data or reaches the upstream.
const DATA_PATHS = [
  '/_runmirror/api/runs',
  `/_runmirror/api/runs/${RUN}`,
  '/_runmirror/api/agents',
  '/_runmirror/api/watches?all=1',
  `/api/v1/extraction/runs/${RUN}`,
  '/api/v1/extraction/runs?extraction_agent_id=agent-alpha',
  '/api/v1/echo/x', // pass-through
];

// A stack whose store holds RUN (read once through the daemon with its key).
async function stackWithRun(t, daemonOptions = {}) {
  const stack = await startStack(t, { daemon: daemonOptions });
  const first = await api(stack.daemon, `/api/v1/extraction/runs/${RUN}`, { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  return stack;
}

function get(daemon, p, headers) {
  return api(daemon, p, { key: 'key-alpha', headers });
}

// GET /_runmirror/events over a raw connection (the stream never ends): { status, body, closed }.
async function events(daemon, headerLines) {
  const result = await rawRequest(
    daemon.port,
    `GET /_runmirror/events HTTP/1.1\r\n${headerLines.map((h) => `${h}\r\n`).join('')}\r\n`,
    { timeoutMs: 600 },
  );
  const res = parseRawResponse(result.data);
  assert.ok(res, `no HTTP response to /_runmirror/events: ${JSON.stringify(result.data.toString('latin1'))}`);
  return { ...res, closed: result.closed };
}

function assertRefused(res, status, mustMention, label) {
  assert.equal(res.status, status, `${label}: want ${status}, got ${res.status}: ${bodyText(res)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, label);
  const { detail } = jsonError(res, `${label}: `);
  assert.ok(detail.includes(mustMention), `${label}: detail should mention ${JSON.stringify(mustMention)}: ${detail}`);
  assert.ok(!res.body.includes(Buffer.from('agent-alpha')), `${label}: a refusal must carry no stored data`);
}

test('a DNS-rebinding Host is refused with 421 on every data route, before the store or the upstream', async (t) => {
  const { daemon, up } = await stackWithRun(t);
  const upstreamBefore = up.count();
  for (const p of DATA_PATHS) {
    for (const headers of [{ host: 'evil.example' }, { host: `evil.example:${daemon.port}`, origin: `http://evil.example:${daemon.port}` }]) {
      const label = `${p} with ${JSON.stringify(headers)}`;
      const res = await get(daemon, p, headers);
      assertRefused(res, 421, "start runmirror with --allowed-host evil.example", label);
      assert.ok(!res.body.toString('utf8').includes('"items"'), `${label}: no listing in a refusal`);
    }
  }
  const ev = await events(daemon, ['Host: evil.example', 'Origin: https://evil.example']);
  assert.equal(ev.status, 421, ev.statusLine);
  assert.ok(ev.closed, 'the refused events request is not left open');
  assert.match(JSON.parse(ev.body.toString('utf8')).detail, /--allowed-host evil\.example/);
  // Unusual spellings of names that are not ours are no way around it.
  for (const host of ['localhost.evil.example', '127.0.0.1.nip.io', 'EVIL.example.']) {
    assert.equal((await get(daemon, '/_runmirror/api/runs', { host })).status, 421, host);
  }
  // Junk in Host is a malformed request.
  for (const host of ['user@127.0.0.1', `127.0.0.1:${daemon.port}/x`, '::1']) {
    const res = await get(daemon, '/_runmirror/api/runs', { host });
    assertRefused(res, 400, 'malformed Host', host);
  }
  assert.equal(up.count(), upstreamBefore, `refused requests reached the upstream: ${up.requests().slice(upstreamBefore).map((r) => r.url)}`);
});

test('loopback names, in any case, with or without port, are answered', async (t) => {
  const { daemon } = await stackWithRun(t);
  const hosts = [`127.0.0.1:${daemon.port}`, `localhost:${daemon.port}`, `LocalHost.:${daemon.port}`, '127.0.0.1', `[::1]:${daemon.port}`];
  for (const host of hosts) {
    for (const p of DATA_PATHS) {
      const res = await get(daemon, p, { host });
      assert.equal(res.status, 200, `${p} with Host ${host}: ${bodyText(res)}`);
    }
    const ev = await events(daemon, [`Host: ${host}`]);
    assert.equal(ev.status, 200, `events with Host ${host}: ${ev.statusLine}`);
  }
  const run = await get(daemon, `/_runmirror/api/runs/${RUN}`, { host: `localhost:${daemon.port}` });
  assert.ok(run.body.includes(Buffer.from(RUN)), 'the stored run itself');
});

test('a cross-site Origin is refused with 403; same-origin and absent Origins are answered', async (t) => {
  const { daemon, up } = await stackWithRun(t);
  const host = `127.0.0.1:${daemon.port}`;
  const upstreamBefore = up.count();
  for (const p of DATA_PATHS) {
    for (const origin of ['https://evil.example', `http://evil.example:${daemon.port}`, 'null']) {
      const res = await get(daemon, p, { host, origin });
      assertRefused(res, 403, `cross-site request refused: Origin '${origin}'`, `${p} from ${origin}`);
    }
  }
  const ev = await events(daemon, [`Host: ${host}`, 'Origin: https://evil.example']);
  assert.equal(ev.status, 403, ev.statusLine);
  assert.equal(up.count(), upstreamBefore, 'refused requests reached the upstream');

  for (const origin of [`http://127.0.0.1:${daemon.port}`, `http://localhost:${daemon.port}`]) {
    for (const p of DATA_PATHS) {
      const res = await get(daemon, p, { host, origin });
      assert.equal(res.status, 200, `${p} from ${origin}: ${bodyText(res)}`);
    }
    const sameOrigin = await events(daemon, [`Host: ${host}`, `Origin: ${origin}`]);
    assert.equal(sameOrigin.status, 200, sameOrigin.statusLine);
  }
});

test('health answers any Host; the page\'s own files any Origin, but only under our names', async (t) => {
  const { daemon } = await startStack(t);
  const health = await api(daemon, '/_runmirror/health', { headers: { host: 'runmirror:8787' } });
  assert.equal(health.status, 200, 'a container health check may use the container name');
  assert.equal(JSON.parse(health.body.toString('utf8')).status, 'ok');
  const foreignHealth = await api(daemon, '/_runmirror/health', { headers: { origin: 'https://evil.example' } });
  assert.equal(foreignHealth.status, 403, 'health is no exception to the Origin rule');

  const page = await api(daemon, '/_runmirror/ui/', { headers: { origin: 'https://evil.example' } });
  assert.equal(page.status, 200, `the page holds no data: ${bodyText(page)}`);
  const rebound = await api(daemon, '/_runmirror/ui/', { headers: { host: 'evil.example' } });
  assert.equal(rebound.status, 421, 'a rebinding page gets not even the page');
});

test('--allowed-host (and RUNMIRROR_ALLOWED_HOST) opens named hosts and origins, and no others', async (t) => {
  for (const daemonOptions of [
    { extraArgs: ['--allowed-host', 'Mirror.Test', '--allowed-host', 'other.test'] },
    { env: { RUNMIRROR_ALLOWED_HOST: 'mirror.test, other.test' } },
  ]) {
    const { daemon } = await stackWithRun(t, daemonOptions);
    const label = JSON.stringify(daemonOptions);
    for (const p of DATA_PATHS) {
      const byName = await get(daemon, p, { host: `mirror.test:${daemon.port}`, origin: 'http://other.test:3000' });
      assert.equal(byName.status, 200, `${label} ${p}: ${bodyText(byName)}`);
    }
    assert.equal((await get(daemon, '/_runmirror/api/runs', { host: 'third.test' })).status, 421, label);
    assert.equal(
      (await get(daemon, '/_runmirror/api/runs', { host: 'mirror.test', origin: 'https://third.test' })).status, 403, label);
    assert.match(daemon.output(), /also answering requests addressed to: mirror\.test, other\.test/);
  }
});

// Runs `runmirror serve ARGS` to its exit: { code, stdout, stderr }.
function runServe(args, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    // Not the test's environment: the harness sets RUNMIRROR_* variables of its own.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp' };
    const proc = spawn(RUNMIRROR_BIN, ['serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => { stdout += c; });
    proc.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`runmirror serve ${args.join(' ')} still running after ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('listening beyond loopback without an admin token is refused at start, in one line', async (t) => {
  const dir = await makeTempDir();
  t.after(() => removeDir(dir));
  const db = path.join(dir, 'rm.db');
  for (const [listen, shown] of [['0.0.0.0:0', '0.0.0.0:0'], ['[::]:0', '[::]:0']]) {
    const r = await runServe(['--listen', listen, '--db', db]);
    assert.equal(r.code, 2, `exit code for --listen ${listen}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `runmirror serve: refusing to listen on ${shown} without an admin token: anyone who can reach this port ` +
        'could read every stored run; set admin-token (--admin-token or RUNMIRROR_ADMIN_TOKEN) to listen beyond loopback\n',
    );
    assert.equal(r.stdout, '');
  }
  // From the environment too: the rule is on the effective settings, wherever they came from.
  const fromEnv = await new Promise((resolve) => {
    const proc = spawn(RUNMIRROR_BIN, ['serve', '--db', db], {
      env: { PATH: process.env.PATH, HOME: dir, RUNMIRROR_LISTEN: '0.0.0.0:0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c) => { stderr += c; });
    proc.on('exit', (code) => resolve({ code, stderr }));
  });
  assert.equal(fromEnv.code, 2, fromEnv.stderr);
  assert.match(fromEnv.stderr, /^runmirror serve: refusing to listen on 0\.0\.0\.0:0 without an admin token/);
});
