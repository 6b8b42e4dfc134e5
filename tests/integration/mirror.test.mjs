// `runmirror mirror`: fills the store for offline use, incrementally, and resumes after Ctrl-C.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

import { RUNMIRROR_BIN, api, cleanupStack, makeTempDir, removeDir, startDaemon } from '../support/daemon.mjs';
import { BIG_AGENT_RUNS, startFakeUpstream } from '../support/fake_upstream.mjs';

// Runs `runmirror mirror ...`; resolves with { code, signal, stderr }. `onSpawn` gets the child
// process (to interrupt it at a chosen point).
function mirror(args, { key = 'key-alpha', onSpawn } = {}) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, LLAMA_CLOUD_API_KEY: key };
    if (!key) delete env.LLAMA_CLOUD_API_KEY;
    for (const name of Object.keys(env)) if (name.startsWith('RUNMIRROR_')) delete env[name];
    env.RUNMIRROR_CONFIG = '/dev/null'; // no config file from the search path
    const child = spawn(RUNMIRROR_BIN, ['mirror', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    onSpawn?.(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function setup(t) {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const up = await startFakeUpstream();
  defer(() => up.stop());
  return { dir, up, db: path.join(dir, 'rm.db'), defer };
}

// Every run of agent-big as the daemon serves it offline from `db`, paging like the SDK.
async function offlineIds(t, db) {
  const daemon = await startDaemon({ db, offline: true });
  try {
    const res = await api(daemon, '/api/v1/extraction/runs?extraction_agent_id=agent-big&skip=0&limit=1000', { key: 'key-alpha' });
    assert.equal(res.status, 200, res.body.toString());
    return JSON.parse(res.body).items.map((r) => r.id);
  } finally {
    await daemon.stop();
  }
}

test('mirror fills the store; a second pass asks for one page per agent; the result serves offline', async (t) => {
  const { up, db } = await setup(t);
  // Done is done: the process does not linger on an upstream deadline (30 s by default).
  const started = Date.now();
  const first = await mirror(['--agent', 'agent-big', '--db', db, '--upstream', up.url]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(Date.now() - started < 20_000, `mirror took ${Date.now() - started} ms to exit`);
  assert.match(first.stderr, /new 130, updated 0, unchanged 0/);
  const firstRequests = up.count('GET', '/api/v1/extraction/runs');
  assert.equal(firstRequests, Math.ceil(BIG_AGENT_RUNS / 100));

  const second = await mirror(['--agent', 'agent-big', '--db', db, '--upstream', up.url]);
  assert.equal(second.code, 0, second.stderr);
  const secondRequests = up.count('GET', '/api/v1/extraction/runs') - firstRequests;
  t.diagnostic(`second pass: ${secondRequests} request(s) to find nothing changed`);
  assert.equal(secondRequests, 1, 'nothing changed: the first page reaches stored final runs');
  assert.match(second.stderr, /new 0, updated 0/);

  assert.deepEqual(await offlineIds(t, db), up.listIds('agent-big'));
});

test('--all lists the agents the key sees; errors are one line with exit 2', async (t) => {
  const { up, db } = await setup(t);
  const all = await mirror(['--all', '--db', db, '--upstream', up.url]);
  assert.equal(all.code, 0, all.stderr);
  assert.ok(up.count('GET', '/api/v1/extraction/extraction-agents') >= 1);
  assert.match(all.stderr, /mirrored \d+ agent\(s\)/);

  const noKey = await mirror(['--all', '--db', db, '--upstream', up.url], { key: '' });
  assert.equal(noKey.code, 2);
  assert.equal(noKey.stderr.trim().split('\n').length, 1, noKey.stderr);
  const nothing = await mirror(['--db', db]);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /--agent/);
});

test('Ctrl-C midway exits 130 with what it had stored; a rerun completes', async (t) => {
  const { up, db } = await setup(t);
  // Slow pages, so the interrupt lands after the first page and before the last.
  up.setFault({ method: 'GET', path: '/api/v1/extraction/runs', respond: 'normal', delayMs: 400 });
  const stopped = await mirror(['--agent', 'agent-big', '--page-size', '20', '--db', db, '--upstream', up.url], {
    onSpawn: (child) => {
      // Interrupt while the second page is on its way: the first is stored, the second is not.
      const timer = setInterval(() => {
        if (up.count('GET', '/api/v1/extraction/runs') === 2) {
          clearInterval(timer);
          child.kill('SIGINT');
        }
      }, 10);
      child.on('exit', () => clearInterval(timer));
    },
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /interrupted; rerun to complete/);
  assert.doesNotMatch(stopped.stderr, /agent-big: done/, 'interrupted before the last page');

  up.clearFaults();
  const rerun = await mirror(['--agent', 'agent-big', '--page-size', '20', '--db', db, '--upstream', up.url]);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(await offlineIds(t, db), up.listIds('agent-big'));
});
