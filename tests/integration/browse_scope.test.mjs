// Browsing scoped to a key (--browse-scope tenant): the browse API, the watches list and the
// events stream show an API key only the resources of the projects upstream showed that key;
// without a key they refuse with a JSON 401 that says what to send; the admin token sees all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, api } from '../support/daemon.mjs';
import { bodyText, jsonError } from '../support/checks.mjs';
import { runPath, syncArgs, subscribeEvents, waitForPoll } from '../support/sync_helpers.mjs';

const json = (r) => JSON.parse(r.body);
const ids = (r) => json(r).items.map((i) => i.id ?? i.run_id);

async function readAs(daemon, id, key) {
  const r = await api(daemon, runPath(id), { key });
  assert.equal(r.status, 200, bodyText(r));
}

test('--browse-scope tenant: each key browses its own projects; no key is told what to send', async (t) => {
  const { daemon, up, defer } = await startStack(t, { daemon: { extraArgs: ['--browse-scope', 'tenant', ...syncArgs()] } });
  await readAs(daemon, 'run-alpha-success', 'key-alpha');
  await readAs(daemon, 'run-beta-pending', 'key-beta');
  const readAt = Date.now();
  await readAs(daemon, 'run-alpha-pending', 'key-alpha');

  for (const path of ['/_runmirror/api/runs?kind=all', '/_runmirror/api/agents', '/_runmirror/api/watches', `/_runmirror/api/runs/run-alpha-success`]) {
    const r = await api(daemon, path);
    assert.equal(r.status, 401, `${path}: ${r.status}`);
    assert.match(jsonError(r).detail, /API key/, path);
  }
  const noKey = await api(daemon, '/_runmirror/events');
  assert.equal(noKey.status, 401);

  const alpha = await api(daemon, '/_runmirror/api/runs?kind=all', { key: 'key-alpha' });
  assert.deepEqual(ids(alpha).sort(), ['run-alpha-pending', 'run-alpha-success']);
  const beta = await api(daemon, '/_runmirror/api/runs?kind=all', { key: 'key-beta' });
  assert.deepEqual(ids(beta), ['run-beta-pending']);
  assert.equal((await api(daemon, '/_runmirror/api/runs/run-beta-pending', { key: 'key-alpha' })).status, 404);
  assert.equal((await api(daemon, '/_runmirror/api/runs/run-beta-pending', { key: 'key-beta' })).status, 200);
  const agents = json(await api(daemon, '/_runmirror/api/agents', { key: 'key-beta' })).items;
  assert.deepEqual(agents.map((a) => a.extraction_agent_id), ['agent-beta']);
  const watches = json(await api(daemon, '/_runmirror/api/watches', { key: 'key-alpha' })).items;
  assert.deepEqual(watches.map((w) => w.run_id), ['run-alpha-pending']);
  // A key runmirror never stored anything for: refused, not an empty mirror.
  assert.equal((await api(daemon, '/_runmirror/api/runs', { key: 'key-typo' })).status, 401);

  // Events: each key hears of its own projects' changes only (in fleet mode, often from the
  // other daemon's polls).
  const subs = { alpha: await subscribeEvents(daemon, { key: 'key-alpha' }), beta: await subscribeEvents(daemon, { key: 'key-beta' }) };
  for (const sub of Object.values(subs)) defer(() => sub.close());
  await waitForPoll(up, { since: readAt, run: 'run-alpha-pending' });
  up.finishRun('run-alpha-pending', 'SUCCESS');
  up.finishRun('run-beta-pending', 'ERROR');
  await subs.alpha.waitFor((e) => e.event === 'run' && e.json?.run_id === 'run-alpha-pending', { timeoutMs: 5_000 });
  await subs.beta.waitFor((e) => e.event === 'run' && e.json?.run_id === 'run-beta-pending', { timeoutMs: 5_000 });
  await sleep(500);
  assert.ok(!subs.alpha.events.some((e) => e.json?.run_id === 'run-beta-pending'), 'alpha never hears of beta');
  assert.ok(!subs.beta.events.some((e) => e.json?.run_id === 'run-alpha-pending'), 'beta never hears of alpha');
});

test('the admin token sees every tenant whatever the scope; the default scope shows all without a key', async (t) => {
  const { daemon } = await startStack(t, { daemon: { extraArgs: ['--admin-token', 'admin-secret', '--browse-scope', 'tenant'] } });
  await readAs(daemon, 'run-alpha-success', 'key-alpha');
  await readAs(daemon, 'run-beta-pending', 'key-beta');
  const all = await api(daemon, '/_runmirror/api/runs?kind=all', { key: 'admin-secret' });
  assert.deepEqual(ids(all).sort(), ['run-alpha-success', 'run-beta-pending']);

  const open = await startStack(t);
  await readAs(open.daemon, 'run-alpha-success', 'key-alpha');
  await readAs(open.daemon, 'run-beta-pending', 'key-beta');
  assert.deepEqual(ids(await api(open.daemon, '/_runmirror/api/runs?kind=all')).sort(), ['run-alpha-success', 'run-beta-pending']);
  assert.deepEqual(ids(await api(open.daemon, '/_runmirror/api/runs?kind=all', { key: 'key-beta' })), ['run-beta-pending']);
});
