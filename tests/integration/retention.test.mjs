// Retention: with --max-db-size the daemon keeps its store near the cap while clients keep
// storing new runs through it. Final runs are kept unless --retain-final false; with it, the
// oldest go first and the newest stay.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';

import { api, cleanupStack, startDaemon, waitFor } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';

const AGENT = 'agent-many';
const MiB = 1024 * 1024;

// Lists every run of AGENT through the daemon, 100 a page, as an SDK auto-pages.
async function listAll(daemon, total) {
  for (let skip = 0; skip < total; skip += 100) {
    const res = await api(daemon, `/api/v1/extraction/runs?extraction_agent_id=${AGENT}&skip=${skip}&limit=100`, { key: 'key-alpha' });
    assert.equal(res.status, 200, res.body.toString());
  }
}

// The database file's size, and its WAL's (bounded on its own by the journal size limit).
const fileBytes = (file) => {
  try {
    return statSync(file).size;
  } catch {
    return 0; // no WAL right now
  }
};

const cached = async (daemon, id) =>
  (await api(daemon, `/api/v1/extraction/runs/${id}`, { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } })).status;

const havePromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;

// One series' value from a scrape, which promtool (when installed) must accept.
async function metric(daemon, name) {
  const text = (await api(daemon, '/_runmirror/metrics')).body.toString();
  if (havePromtool) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  }
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : undefined;
}

async function setup(t, flags) {
  const defer = cleanupStack(t);
  const up = await startFakeUpstream();
  defer(() => up.stop());
  // Every list request goes upstream (no page served from the store), so each stores its runs.
  const daemon = await startDaemon({ upstreamUrl: up.url, extraArgs: ['--list-max-age-ms', '0', ...flags] });
  defer(() => daemon.stop());
  return { up, daemon };
}

test('--retain-final false: the store stays near its cap, new runs are stored, the oldest go', async (t) => {
  const cap = 8 * MiB;
  const { up, daemon } = await setup(t, ['--max-db-size', '8MiB', '--retain-final', 'false']);
  const ids = [];
  let peak = 0;
  let peakWal = 0;
  // Rounds of new runs, each listed through the daemon (which stores them): several times the cap.
  for (let round = 0; round < 30; round += 1) {
    ids.push(...up.addRuns('cap', 500, { agentId: AGENT }));
    await listAll(daemon, 500); // the newest: this round's
    t.diagnostic(`round ${round}: file ${fileBytes(daemon.db)} B, WAL ${fileBytes(`${daemon.db}-wal`)} B, used ${await metric(daemon, 'runmirror_store_used_bytes')}`);
    peak = Math.max(peak, fileBytes(daemon.db));
    peakWal = Math.max(peakWal, fileBytes(`${daemon.db}-wal`));
  }
  await waitFor(async () => (await metric(daemon, 'runmirror_store_pruned_total{class="final"}')) > 0);
  // Let the pruner finish its pass, then look at the file.
  await new Promise((r) => setTimeout(r, 500));
  const size = fileBytes(daemon.db);
  t.diagnostic(`cap ${cap} B; file ${size} B at the end, ${peak} B at most while listing (WAL at most ${peakWal} B); ${await metric(daemon, 'runmirror_store_pruned_total{class="final"}')} final runs pruned`);
  assert.ok(size <= cap * 1.1, `file ${size} B within 10% of the cap ${cap} B`);
  assert.ok(peak <= cap * 1.1, `file never past 10% over the cap (peak ${peak} B)`);

  const newest = ids.slice(-50);
  for (const id of newest) assert.equal(await cached(daemon, id), 200, `newest run ${id} is stored`);
  assert.equal(await cached(daemon, ids[0]), 504, 'the oldest run was pruned: a miss');
  // A pruned run is fetched again on its next read, as new.
  assert.equal((await api(daemon, `/api/v1/extraction/runs/${ids[0]}`, { key: 'key-alpha' })).status, 200);
  assert.equal(await cached(daemon, ids[0]), 200);
});

test('final runs are kept by default, whatever the cap; list pages go first', async (t) => {
  const { up, daemon } = await setup(t, ['--max-db-size', '1MiB']);
  const ids = up.addRuns('keep', 3000, { agentId: AGENT });
  await listAll(daemon, ids.length);
  await waitFor(async () => (await metric(daemon, 'runmirror_store_pruned_total{class="list_pages"}')) > 0);
  assert.equal(await metric(daemon, 'runmirror_store_pruned_total{class="final"}'), 0);
  for (const id of [ids[0], ids[1500], ids.at(-1)]) assert.equal(await cached(daemon, id), 200, `${id} kept`);
  await waitFor(() => /nothing more may be pruned \(final resources are kept/.test(daemon.output()));
});
