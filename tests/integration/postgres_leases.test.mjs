// Two daemons on one PostgreSQL store (issue 16, "Many daemons, one store"): each due watch is
// polled by one daemon at a time (store::due_watches claims it with a lease), and a daemon
// killed mid-poll loses no watch: the other takes its watches over once their lease ends.
// Needs a server: RUNMIRROR_TEST_PG (ctest integration_postgres starts a throwaway
// cluster: tests/support/pg_cluster.sh). Skipped without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { startStack, startDaemon, waitFor, makeTempDir, removeDir } from '../support/daemon.mjs';
import {
  syncArgs,
  readRunsOnce,
  polls,
  createPendingRuns,
  waitRunsFinished,
} from '../support/sync_helpers.mjs';
import { PG, emptyDatabase, sql } from '../support/pg.mjs';

const POLL_DELAY_MS = 300; // every poll's answer takes this long: a claim is held that long
const LEASE_MS = 1_500;

// The watches daemon `pid` holds claims on now (the owner id is host:pid:nonce).
const claimedBy = (pid) =>
  sql(`SELECT run_id FROM watches WHERE claimed_by LIKE '%:${pid}:%' AND finished_at IS NULL AND given_up_at IS NULL`);

// Daemons A and B on the emptied test database, both polling every tenant's watches with the
// service key (as daemons behind one team would), with one pending run per agent read through
// A (no two watches share a list request: each poll is of one run), every poll's answer taking
// POLL_DELAY_MS. Returns { up, a, b, ids }.
async function twoDaemonsPolling(t, { leaseMs, agents }) {
  emptyDatabase();
  const dir = await makeTempDir();
  t.after(() => removeDir(dir));
  const args = ['--tenant-secret', path.join(dir, 'shared.tenant-secret'), ...syncArgs({ 'watch-lease-ms': leaseMs })];
  const env = { LLAMA_CLOUD_API_KEY: 'key-both' };
  const { up, daemon: a, defer } = await startStack(t, { daemon: { db: PG, env, extraArgs: args } });
  const b = await startDaemon({ upstreamUrl: up.url, db: PG, env, extraArgs: args });
  defer(() => b.stop());
  const created = [];
  for (const [key, agentId] of agents) created.push(...(await createPendingRuns(up, 1, { key, agentId })));
  await readRunsOnce(a, created);
  up.setFault({ method: 'GET', path: /^\/api\/v1\/extraction\//, delayMs: POLL_DELAY_MS, respond: 'normal' });
  return { up, a, b, ids: created.map((c) => c.runId) };
}

// Freezes daemon |a| (SIGSTOP) at a moment it holds claims, and returns them; |a| stays frozen.
async function frozenHoldingClaims(a) {
  let held = [];
  const caught = await waitFor(
    async () => {
      a.proc.kill('SIGSTOP');
      held = claimedBy(a.pid);
      if (held.length > 0) return true;
      a.proc.kill('SIGCONT');
      await sleep(37);
      return false;
    },
    { timeoutMs: 10_000, intervalMs: 1 },
  );
  assert.ok(caught, 'daemon A never held a claim: did it poll at all?');
  return held;
}

test('two daemons on one PostgreSQL store: one poll of a watch at a time; a killed daemon loses no watch', { skip: !PG && 'RUNMIRROR_TEST_PG not set' }, async (t) => {
  const { up, a, b, ids } = await twoDaemonsPolling(t, {
    leaseMs: LEASE_MS,
    agents: [
      ['key-alpha', 'agent-alpha'],
      ['key-alpha', 'agent-big'],
      ['key-beta', 'agent-beta'],
      ['key-beta', 'agent-empty'],
    ],
  });
  const since = Date.now();
  await sleep(4_000);
  const until = Date.now();

  // Consecutive polls of one run are a whole answer apart, plus the backoff: never overlapping.
  let total = 0;
  let minGap = Infinity;
  let closest = '';
  for (const id of ids) {
    const seen = polls(up, { since, until, run: id }).sort((x, y) => x.at - y.at);
    total += seen.length;
    assert.ok(seen.length >= 3, `${id} was polled ${seen.length} times in 4 s`);
    for (let i = 1; i < seen.length; i += 1) {
      if (seen[i].at - seen[i - 1].at < minGap) {
        minGap = seen[i].at - seen[i - 1].at;
        closest = seen.map((e) => `${e.at - since} ${e.url}`).join(', ');
      }
    }
  }
  console.log(`two daemons, ${ids.length} runs, 4 s: ${total} polls, smallest gap between polls of one run ${minGap} ms`);
  assert.ok(minGap >= POLL_DELAY_MS, `a run was polled twice within ${minGap} ms: two daemons polled it at once? its polls: ${closest}`);

  // Catch A holding claims (SIGSTOP freezes them), then kill it without a chance to release them.
  const held = await frozenHoldingClaims(a);
  a.proc.kill('SIGKILL');
  const killedAt = Date.now();
  up.clearFaults();
  for (const id of ids) up.finishRun(id, 'SUCCESS');

  try {
    await waitRunsFinished(b, ids, { timeoutMs: LEASE_MS + 8_000, label: 'after A was killed: ' });
  } catch (err) {
    err.message += `\n--- B ---\n${b.output().slice(-4000)}\nclaims: ${(await sql('SELECT run_id, claimed_by, claimed_until FROM watches')).join('; ')}`;
    throw err;
  }
  const finishedIn = Date.now() - killedAt;
  console.log(`A killed holding ${held.length} claim(s); B finished every watch ${finishedIn} ms later (lease ${LEASE_MS} ms)`);
  const claimsLeft = sql('SELECT count(*) FROM watches WHERE claimed_by IS NOT NULL')[0];
  assert.equal(claimsLeft, '0', 'every watch ended with its claim released');
});

test('a daemon that stops releases its claims: the other takes its watches at once, not after the lease', { skip: !PG && 'RUNMIRROR_TEST_PG not set' }, async (t) => {
  const longLeaseMs = 60_000;
  const { up, a, b, ids } = await twoDaemonsPolling(t, {
    leaseMs: longLeaseMs,
    agents: [
      ['key-alpha', 'agent-alpha'],
      ['key-beta', 'agent-beta'],
    ],
  });

  // Catch A holding claims mid-poll, then stop it as a deploy does (SIGTERM).
  const held = await frozenHoldingClaims(a);
  a.proc.kill('SIGTERM');
  a.proc.kill('SIGCONT');
  const exit = await a.stop();
  assert.equal(exit.code, 0, `A's exit: ${JSON.stringify(exit)}\n${a.output().slice(-2000)}`);
  assert.deepEqual(claimedBy(a.pid), [], 'A left claims behind');
  const stoppedAt = Date.now();
  up.clearFaults();
  for (const id of ids) up.finishRun(id, 'SUCCESS');

  // Well inside the lease: only a released claim lets B poll A's watches this soon.
  await waitRunsFinished(b, ids, { timeoutMs: longLeaseMs / 4, label: 'after A stopped: ' });
  console.log(`A stopped holding ${held.length} claim(s); B finished every watch ${Date.now() - stoppedAt} ms later (lease ${longLeaseMs} ms)`);
});
