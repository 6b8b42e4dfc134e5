// /_runmirror/metrics: Prometheus text format that promtool accepts, and every family moves
// when its event happens (requests by route, kind, cache outcome and status class; store and
// upstream latency; upstream outcomes; coalescing; memory cache; breaker; watches; store rows;
// connections).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { startStack, api, waitFor, singleDaemonInFleet } from '../support/daemon.mjs';
import { runPath, syncArgs } from '../support/sync_helpers.mjs';

singleDaemonInFleet('the counters are one process\'s');

const havePromtool = spawnSync('sh', ['-c', 'command -v promtool']).status === 0;

// { 'name{labels}': value } from the text format.
function parse(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

async function scrape(daemon) {
  const r = await api(daemon, '/_runmirror/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = r.body.toString();
  if (havePromtool) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    // promtool also lints (e.g. counters without _total); only errors fail.
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  }
  return parse(text);
}

const get = (m, key) => m[key] ?? 0;

test('metrics: valid for promtool, and each family moves with its event', async (t) => {
  if (!havePromtool) t.diagnostic('promtool not installed: format not checked by it (apt-get install prometheus)');
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: ['--upstream-failure-threshold', '2', ...syncArgs()] } });
  const before = await scrape(daemon);
  assert.equal(get(before, 'runmirror_build_info{version="' + Object.keys(before).find((k) => k.startsWith('runmirror_build_info')).match(/version="([^"]*)"/)[1] + '"}'), 1);

  const item = 'runmirror_requests_total{route="item_get",kind="run",cache="%",code="2xx"}';
  const series = (cache) => item.replace('%', cache);

  // A miss, then hits: the memory cache keeps a run from its second read from the store on, so
  // the third is answered from memory.
  for (let i = 0; i < 3; i += 1) {
    assert.equal((await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' })).status, 200);
  }
  // A refusal: only-if-cached and nothing stored.
  const refused = await api(daemon, runPath('run-alpha-error'), { key: 'key-alpha', headers: { 'cache-control': 'only-if-cached' } });
  assert.equal(refused.status, 504);
  // Pass-through.
  await api(daemon, '/api/v1/projects', { key: 'key-alpha' });
  // Coalescing: five concurrent misses of one slow run.
  up.setFault({ method: 'GET', path: runPath('run-alpha-pages'), respond: 'normal', delayMs: 300, times: 1 });
  await Promise.all(Array.from({ length: 5 }, () => api(daemon, runPath('run-alpha-pages'), { key: 'key-alpha' })));
  // A pending run read: watched.
  await api(daemon, runPath('run-alpha-pending'), { key: 'key-alpha' });

  const after = await scrape(daemon);
  // run-alpha-success, the five clients of the coalesced flight, run-alpha-pending.
  assert.equal(get(after, series('miss')) - get(before, series('miss')), 7, 'every client that was forwarded is a miss');
  assert.ok(get(after, series('hit')) >= 1, 'a hit');
  assert.equal(get(after, 'runmirror_requests_total{route="item_get",kind="run",cache="refused",code="5xx"}'), 1, 'the refusal');
  assert.ok(Object.keys(after).some((k) => k.startsWith('runmirror_requests_total{route="passthrough",kind="none",cache="passthrough"')), 'pass-through');
  assert.ok(get(after, 'runmirror_store_answer_seconds_count') >= 1, 'store answers timed');
  assert.ok(get(after, 'runmirror_upstream_exchange_seconds_count') >= 3, 'upstream exchanges timed');
  assert.ok(get(after, 'runmirror_upstream_requests_total{outcome="2xx"}') >= 3, 'upstream answers by class');
  assert.equal(get(after, 'runmirror_coalesced_requests_total') - get(before, 'runmirror_coalesced_requests_total'), 4, 'four waited for the first');
  assert.ok(get(after, 'runmirror_memory_cache_lookups_total{result="miss"}') > get(before, 'runmirror_memory_cache_lookups_total{result="miss"}'));
  assert.ok(get(after, 'runmirror_memory_cache_lookups_total{result="hit"}') >= 1);
  assert.ok(get(after, 'runmirror_client_connections') >= 1, 'the scrape itself is a connection');
  // The store's counts are reused for 5 s between scrapes.
  let counted = after;
  await waitFor(async () => {
    counted = await scrape(daemon);
    return get(counted, 'runmirror_store_rows{kind="run"}') >= 3;
  }, { timeoutMs: 8_000, intervalMs: 500 });
  assert.ok(get(counted, 'runmirror_store_rows{kind="run"}') >= 3, 'stored runs');
  assert.ok(get(counted, 'runmirror_store_file_bytes') > 0);
  assert.equal(get(counted, 'runmirror_watches{kind="run",state="active"}'), 1, 'the pending run is watched');
  assert.ok('runmirror_sync_poll_lag_seconds' in counted);
  assert.equal(get(after, 'runmirror_upstream_up'), 1);

  // The upstream fails: failures by cause, and the breaker opens.
  up.setFault({ path: /./, destroy: true });
  for (const id of ['run-alpha-spaced', 'run-alpha-spaced']) {
    await api(daemon, runPath(id), { key: 'key-alpha', headers: { 'cache-control': 'no-cache' } });
  }
  const down = await scrape(daemon);
  const failures = Object.entries(down).filter(([k]) => k.startsWith('runmirror_upstream_requests_total{outcome="') && !/outcome="\dxx"/.test(k));
  assert.ok(failures.some(([, v]) => v >= 2), `failures by cause: ${JSON.stringify(failures)}`);
  assert.equal(get(down, 'runmirror_upstream_up'), 0, 'the breaker is open');
});

test('metrics: the admin token guards them when set', async (t) => {
  const { daemon } = await startStack(t, { daemon: { extraArgs: ['--admin-token', 'tok'] } });
  assert.equal((await api(daemon, '/_runmirror/metrics')).status, 401);
  assert.equal((await api(daemon, '/_runmirror/metrics', { key: 'tok' })).status, 200);
});
