// Tenant isolation, cell by cell: {online, upstream down, offline} x {grant, none} x {item,
// by-job or result, list, browse API, events, page} x every resource kind (v1 run, v2 job,
// v1 job), with --browse-scope tenant. Two tenants each own one resource of every kind; in
// every cell the other tenant's key asks for it. A leak is any byte of the owner's resource
// (its id, its job's id) in an answer to the key without the grant; the key with the grant
// must get its resource (so a cell cannot pass by refusing everyone).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api, waitFor } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';
import { JOBS, RUNS, runPath, byJobPath, jobPath, syncArgs, subscribeEvents } from '../support/sync_helpers.mjs';
import { v2JobPath, V2_EXTRACT } from '../support/fake_v2.mjs';

const TENANTS = {
  alpha: { key: 'key-alpha', agent: 'agent-alpha', project: 'p-alpha' },
  beta: { key: 'key-beta', agent: 'agent-beta', project: 'p-beta' },
};
const other = (name) => (name === 'alpha' ? 'beta' : 'alpha');
const SCOPE = ['--browse-scope', 'tenant'];

// What each surface of each kind asks for, given the owner's resource |r| (ids) and tenant.
const SURFACES = {
  run: {
    item: (r) => runPath(r.id),
    'by-job': (r) => byJobPath(r.jobId),
    list: (r, o) => `${RUNS}?extraction_agent_id=${o.agent}&skip=0&limit=100`,
  },
  v2_job: {
    item: (r) => v2JobPath(r.id),
    list: (r, o) => `${V2_EXTRACT}?project_id=${o.project}&page_size=100`,
  },
  v1_job: {
    item: (r) => jobPath(r.id),
    result: (r) => `${jobPath(r.id)}/result`,
    list: (r, o) => `${JOBS}?extraction_agent_id=${o.agent}`,
  },
};

// Whether |res|, the answer to |path|, carries |r|. An id the asker put in the path may come
// back in a refusal ("job X not found"): that tells nothing it did not know, so it counts only
// in a success.
function leaks(res, r, path = '') {
  const text = Buffer.concat([Buffer.from(JSON.stringify(res.headers ?? {})), res.body ?? Buffer.alloc(0)]).toString('latin1');
  const ok = res.status >= 200 && res.status < 300;
  return [r.id, r.jobId, r.runId].filter(Boolean).some((marker) => text.includes(marker) && (ok || !path.includes(marker)));
}

// Counts cells; every failed expectation is collected and reported at the end with its cell.
class Matrix {
  constructor() {
    this.cells = 0;
    this.leaks = [];
    this.misses = [];
  }
  check(cell, res, r, { granted, path }) {
    this.cells += 1;
    if (!granted && leaks(res, r, path)) this.leaks.push(`${cell}: ${res.status} ${bodyText(res).slice(0, 200)}`);
    if (granted && !leaks(res, r)) this.misses.push(`${cell}: the owner did not get its resource: ${res.status} ${bodyText(res).slice(0, 200)}`);
  }
}

// Every request surface of every kind, for both tenants, with and without the grant.
async function checkRoutes(matrix, daemon, state, resources) {
  for (const [kind, surfaces] of Object.entries(SURFACES)) {
    for (const [surface, pathOf] of Object.entries(surfaces)) {
      for (const owner of Object.keys(TENANTS)) {
        const r = resources[owner][kind];
        const path = pathOf(r, TENANTS[owner]);
        for (const [asker, granted] of [[owner, true], [other(owner), false]]) {
          const res = await api(daemon, path, { key: TENANTS[asker].key });
          matrix.check(`${state} ${granted ? 'grant' : 'none'} ${surface} ${kind} (${owner}'s, asked by ${asker})`, res, r, { granted, path });
        }
      }
    }
  }
}

// The browse API (list and one resource) and the page's own files.
async function checkBrowse(matrix, daemon, state, resources) {
  for (const [kind, kindParam] of [['run', 'run'], ['v2_job', 'v2_job'], ['v1_job', 'v1_job']]) {
    for (const owner of Object.keys(TENANTS)) {
      const r = resources[owner][kind];
      for (const [asker, granted] of [[owner, true], [other(owner), false]]) {
        const key = TENANTS[asker].key;
        const list = await api(daemon, `/_runmirror/api/runs?kind=${kindParam}&limit=500`, { key });
        matrix.check(`${state} ${granted ? 'grant' : 'none'} browse-list ${kind} (${owner}'s)`, list, { id: r.id }, { granted });
        const path = `/_runmirror/api/runs/${encodeURIComponent(r.id)}?kind=${kindParam}`;
        const one = await api(daemon, path, { key });
        matrix.check(`${state} ${granted ? 'grant' : 'none'} browse-item ${kind} (${owner}'s)`, one, { id: r.id }, { granted, path });
      }
    }
  }
  // The page: its files hold no data, whoever asks; what it shows comes from the API above.
  for (const path of ['/_runmirror/ui/', '/_runmirror/ui/app.js']) {
    const res = await api(daemon, path);
    assert.equal(res.status, 200, path);
    for (const owner of Object.keys(TENANTS)) {
      for (const kind of Object.keys(SURFACES)) {
        matrix.cells += 1;
        if (leaks(res, resources[owner][kind])) matrix.leaks.push(`${state} page ${path} carries ${owner}'s ${kind}`);
      }
    }
  }
}

// A v1 job created through the daemon and finished upstream; the worker collects its result
// and run. Returns { id, runId }: its result names its run, not the job.
async function createV1Job(daemon, up, tenant) {
  const res = await api(daemon, JOBS, {
    key: tenant.key,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ extraction_agent_id: tenant.agent, file_id: `file-matrix-${tenant.project}` }),
  });
  assert.equal(res.status, 200, bodyText(res));
  const id = JSON.parse(res.body).id;
  const collected = await waitFor(() => up.count('GET', `${jobPath(id)}/result`) >= 1 && up.count('GET', byJobPath(id)) >= 1, {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  assert.ok(collected, `the worker collected ${id}'s result and run`);
  const result = await api(daemon, `${jobPath(id)}/result`, { key: tenant.key });
  return { id, runId: JSON.parse(result.body).run_id };
}

test('isolation matrix: 0 leaks in every cell, online, upstream down and offline, with --browse-scope tenant', async (t) => {
  const { daemon, up, defer } = await startStack(t, { upstream: { autoFinishMs: 500 }, daemon: { extraArgs: [...SCOPE, ...syncArgs()] } });
  const matrix = new Matrix();

  const resources = {
    alpha: { run: { id: 'run-alpha-success', jobId: up.run('run-alpha-success').jobId }, v2_job: { id: 'v2-alpha-completed' } },
    beta: { run: { id: 'run-beta-pending', jobId: up.run('run-beta-pending').jobId }, v2_job: { id: 'v2-beta-completed' } },
  };
  // A key is let into the events stream once runmirror has stored something for it; then every
  // status change below is heard (or not) by each tenant.
  const subs = {};
  for (const [name, tenant] of Object.entries(TENANTS)) {
    assert.equal((await api(daemon, runPath(resources[name].run.id), { key: tenant.key })).status, 200);
    subs[name] = await subscribeEvents(daemon, { key: tenant.key });
    assert.equal(subs[name].status, 200);
    defer(() => subs[name].close());
  }

  for (const [name, tenant] of Object.entries(TENANTS)) {
    resources[name].v1_job = await createV1Job(daemon, up, tenant);
  }
  // Each owner reads all of its own, so the store holds every representation.
  for (const [name, tenant] of Object.entries(TENANTS)) {
    for (const [kind, surfaces] of Object.entries(SURFACES)) {
      for (const pathOf of Object.values(surfaces)) {
        const res = await api(daemon, pathOf(resources[name][kind], tenant), { key: tenant.key });
        assert.equal(res.status, 200, `${name} reads its ${kind}: ${bodyText(res)}`);
      }
    }
  }
  // Status changes of every kind for both tenants: beta's pending run, the v2 pending jobs.
  await api(daemon, v2JobPath('v2-alpha-pending'), { key: 'key-alpha' });
  await api(daemon, v2JobPath('v2-beta-pending'), { key: 'key-beta' });
  up.finishRun('run-beta-pending', 'SUCCESS');
  up.v2.finish('v2-alpha-pending');
  up.v2.finish('v2-beta-pending');
  const heard = { alpha: ['v2-alpha-pending', resources.alpha.v1_job.id], beta: ['run-beta-pending', 'v2-beta-pending', resources.beta.v1_job.id] };
  for (const [name, ids] of Object.entries(heard)) {
    for (const id of ids) {
      await subs[name].waitFor((e) => e.event === 'run' && e.json?.run_id === id && /SUCCESS|COMPLETED/.test(e.json.new_status), {
        timeoutMs: 10_000,
        label: `${name} hears of its ${id}: `,
      });
    }
  }
  for (const [name, sub] of Object.entries(subs)) {
    const foreign = heard[other(name)];
    for (const id of foreign) {
      matrix.cells += 1;
      if (sub.events.some((e) => e.json?.run_id === id)) matrix.leaks.push(`online none events: ${name} heard of ${other(name)}'s ${id}`);
    }
    for (const id of heard[name]) {
      matrix.cells += 1; // heard, awaited above
    }
  }

  await checkRoutes(matrix, daemon, 'online', resources);
  await checkBrowse(matrix, daemon, 'online', resources);

  // Upstream down: every connection is dropped; stored copies are all the daemon has.
  up.setFault({ path: /./, destroy: true });
  await checkRoutes(matrix, daemon, 'upstream-down', resources);
  await checkBrowse(matrix, daemon, 'upstream-down', resources);
  up.clearFaults();

  await daemon.stop();
  const offline = await startDaemon({ db: daemon.db, offline: true, extraArgs: SCOPE });
  defer(() => offline.stop());
  await checkRoutes(matrix, offline, 'offline', resources);
  await checkBrowse(matrix, offline, 'offline', resources);

  t.diagnostic(`isolation matrix: ${matrix.cells} cells, ${matrix.leaks.length} leaks, ${matrix.misses.length} owner misses`);
  assert.deepEqual(matrix.leaks, [], 'leaks');
  assert.deepEqual(matrix.misses, [], 'the owner gets its resource in every cell');
});
