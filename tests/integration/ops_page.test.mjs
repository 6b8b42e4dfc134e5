// What a person is told about the mirror (issue 14, "what a person sees"): agent names beside
// their ids (learned from relayed extraction-agents answers and from `runmirror mirror`, shown
// only where the agent's project may be seen), why each watch waits, and since when the upstream
// is down.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import zlib from 'node:zlib';

import { RUNMIRROR_BIN, api, cleanupStack, makeTempDir, removeDir, startDaemon, startStack } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';
import { readAll, runPath, syncArgs } from '../support/sync_helpers.mjs';

const AGENTS = '/api/v1/extraction/extraction-agents';

async function browseAgents(daemon, key) {
  const res = await api(daemon, '/_runmirror/api/agents', { key });
  assert.equal(res.status, 200, res.body.toString('utf8'));
  return JSON.parse(res.body).items;
}

const nameOf = (agents, id) => agents.find((a) => a.extraction_agent_id === id)?.name;

// `runmirror watches ...args --json` with none of the harness's RUNMIRROR_* variables but `env`:
// { status, stderr, watches }.
function watchesCli(args, env = {}) {
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RUNMIRROR_')) clean[k] = v;
  const res = spawnSync(RUNMIRROR_BIN, ['watches', '--json', ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 15_000 });
  if (res.error) throw res.error;
  const watches = res.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  return { status: res.status, stderr: res.stderr, watches };
}

test('agent names: read from a relayed agents list, shown to the keys that see the project only', async (t) => {
  const { daemon } = await startStack(t, { daemon: { extraArgs: ['--browse-scope', 'tenant'] } });
  await readAll(daemon, [runPath('run-alpha-success')], { key: 'key-alpha' });
  await readAll(daemon, [runPath('run-beta-success')], { key: 'key-beta' });
  assert.equal(nameOf(await browseAgents(daemon, 'key-alpha'), 'agent-alpha'), null, 'no name before upstream gave one');

  // The client's answer is the upstream's, whatever encoding it asked for; the daemon reads the
  // names on the way.
  const alpha = await api(daemon, AGENTS, { key: 'key-alpha', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(alpha.status, 200);
  const body = alpha.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(alpha.body) : alpha.body;
  assert.ok(JSON.parse(body).some((a) => a.name === 'Alpha receipts agent'));
  const beta = await api(daemon, `${AGENTS}?project_id=p-beta`, { key: 'key-beta' });
  assert.equal(beta.status, 200);

  const seenByAlpha = await browseAgents(daemon, 'key-alpha');
  assert.equal(nameOf(seenByAlpha, 'agent-alpha'), 'Alpha receipts agent');
  assert.ok(!JSON.stringify(seenByAlpha).includes('Beta'), `key-alpha sees nothing of p-beta: ${JSON.stringify(seenByAlpha)}`);
  const seenByBeta = await browseAgents(daemon, 'key-beta');
  assert.equal(nameOf(seenByBeta, 'agent-beta'), 'Beta contracts agent');
  assert.ok(!JSON.stringify(seenByBeta).includes('Alpha'), `key-beta sees nothing of p-alpha: ${JSON.stringify(seenByBeta)}`);

  // A refused listing teaches nothing (and is relayed as it was).
  const refused = await api(daemon, `${AGENTS}?project_id=p-beta`, { key: 'key-alpha' });
  assert.equal(refused.status, 404);
});

test('agent names: runmirror mirror stores the names of the agents it lists', async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const up = await startFakeUpstream();
  defer(() => up.stop());
  const db = path.join(dir, 'rm.db');
  const env = { ...process.env, LLAMA_CLOUD_API_KEY: 'key-alpha' };
  for (const name of Object.keys(env)) if (name.startsWith('RUNMIRROR_')) delete env[name];
  const result = await new Promise((resolve, reject) => {
    const child = spawn(RUNMIRROR_BIN, ['mirror', '--project', 'p-alpha', '--kind', 'run', '--db', db, '--upstream', up.url], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  assert.equal(result.code, 0, result.stderr);

  const daemon = await startDaemon({ db, offline: true });
  defer(() => daemon.stop());
  const agents = await browseAgents(daemon);
  assert.equal(nameOf(agents, 'agent-alpha'), 'Alpha receipts agent');
  assert.equal(nameOf(agents, 'agent-big'), 'Big invoices agent');
});

test('watches: why each waits, as the daemon knows it; the upstream down since when', async (t) => {
  const { daemon: first, up, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  await readAll(first, [runPath('run-alpha-pending')], { key: 'key-alpha' });
  assert.equal((await first.stop()).code, 0);
  // After a restart the watch is in the store, its tenant's key (memory only) is not.
  const daemon = await startDaemon({
    upstreamUrl: up.url,
    db: first.db,
    extraArgs: [...syncArgs(), '--upstream-failure-threshold', '1', '--upstream-cooldown-ms', '60000'],
  });
  defer(() => daemon.stop());
  const watchOf = async () => {
    const res = await api(daemon, '/_runmirror/api/watches');
    assert.equal(res.status, 200, res.body.toString('utf8'));
    return JSON.parse(res.body).items.find((w) => w.run_id === 'run-alpha-pending');
  };
  const waiting = await watchOf();
  assert.equal(waiting.wait, 'no_key');
  assert.match(waiting.wait_text, /no key for its tenant yet/);
  assert.equal(waiting.wait_until, null);

  // The CLI: from the store alone it cannot know; with --daemon it asks the daemon that knows.
  const db = first.db;
  const alone = watchesCli(['--db', db]);
  assert.equal(alone.status, 0, alone.stderr);
  assert.ok(['due_key_unknown', 'scheduled'].includes(alone.watches[0].wait), JSON.stringify(alone.watches[0]));
  const asked = watchesCli(['--db', db, '--daemon'], { RUNMIRROR_LISTEN: new URL(daemon.url).host });
  assert.equal(asked.status, 0, asked.stderr);
  assert.equal(asked.stderr, '');
  assert.equal(asked.watches[0].run_id, 'run-alpha-pending');
  assert.equal(asked.watches[0].wait, 'no_key');
  assert.match(asked.watches[0].wait_text, /no key for its tenant yet/);
  // Nothing listening there: one line says so, and the store's reasons are shown.
  const nobody = watchesCli(['--db', db, '--daemon'], { RUNMIRROR_LISTEN: '127.0.0.1:1' });
  assert.equal(nobody.status, 0, nobody.stderr);
  assert.match(nobody.stderr, /^runmirror watches: no daemon answered at http:\/\/127\.0\.0\.1:1 \([^\n]+\); reasons from the store alone\n$/);
  // (From the store alone: scheduled until its due time, then due; time moves between the two.)
  assert.ok(['due_key_unknown', 'scheduled'].includes(nobody.watches[0].wait), JSON.stringify(nobody.watches[0]));

  // Its client returns: the key is known again and the watch is polled.
  await readAll(daemon, [runPath('run-alpha-success')], { key: 'key-alpha' });
  const polled = await watchOf();
  assert.ok(['due', 'polling', 'scheduled'].includes(polled.wait), JSON.stringify(polled));

  // The upstream goes away: one failure marks it down (threshold 1) for a minute.
  await up.stop();
  const failed = await api(daemon, AGENTS, { key: 'key-alpha' });
  assert.ok(failed.status >= 500, `${failed.status}`);
  const down = await watchOf();
  assert.equal(down.wait, 'upstream_down', JSON.stringify(down));
  assert.ok(Date.parse(down.wait_until) > Date.now() + 30_000, `retried in about a minute: ${down.wait_until}`);
  const health = JSON.parse((await api(daemon, '/_runmirror/health')).body);
  assert.equal(health.upstream.state, 'down');
  assert.ok(Math.abs(Date.parse(health.upstream.down_since) - Date.now()) < 30_000, JSON.stringify(health.upstream));
});
