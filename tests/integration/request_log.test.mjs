// The request log: the last requests in memory at /_runmirror/api/requests (filters, scoped to
// a key's own requests with --browse-scope tenant), and the access log file (--access-log,
// --log-format text|json): one line per request, never the key nor the query string.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { startStack, startDaemon, api, waitFor, makeTempDir, singleDaemonInFleet } from '../support/daemon.mjs';
import { runPath } from '../support/sync_helpers.mjs';

singleDaemonInFleet('the request log is one process\'s memory, the access log file one process\'s lines');

const json = (r) => JSON.parse(r.body);

async function stackWithAccessLog(t, extra = []) {
  const logDir = await makeTempDir();
  const file = path.join(logDir, 'access.log');
  const stack = await startStack(t, { daemon: { extraArgs: ['--access-log', file, ...extra] } });
  return { ...stack, file };
}

test('request log: recent requests with cache result and latency, filtered; the access log has one line each, no key, no query', async (t) => {
  const { daemon, file } = await stackWithAccessLog(t);
  const secretQuery = '?token=query-secret-123';
  await api(daemon, runPath('run-alpha-success') + secretQuery, { key: 'key-alpha-secret' }); // 401 from upstream: unknown key
  await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' }); // miss
  await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' }); // hit
  await api(daemon, '/api/v1/projects', { key: 'key-alpha' }); // pass-through

  // A pass-through is recorded once its relay has ended, which is after the client has the
  // whole answer: on another thread the next request can come first.
  let all;
  await waitFor(async () => {
    all = json(await api(daemon, '/_runmirror/api/requests'));
    return all.items.some((i) => i.path === '/api/v1/projects');
  }, { timeoutMs: 3_000 });
  assert.equal(all.kept, 1000);
  const mine = all.items.filter((i) => i.path.startsWith('/api/'));
  assert.deepEqual(
    mine.map((i) => [i.method, i.path, i.cache, i.status]),
    [
      ['GET', '/api/v1/projects', 'passthrough', 404], // the fake upstream has no such route
      ['GET', runPath('run-alpha-success'), 'hit', 200],
      ['GET', runPath('run-alpha-success'), 'miss', 200],
      ['GET', runPath('run-alpha-success'), 'miss', 401],
    ],
    'newest first, with what the daemon did',
  );
  const [pass, hit, miss] = mine;
  assert.ok(miss.ms >= 0 && miss.upstream_ms !== null && miss.upstream_ms >= 0, JSON.stringify(miss));
  assert.equal(hit.upstream_ms, null, 'a hit had no upstream exchange');
  assert.ok(hit.bytes > 0);
  assert.equal(pass.route, 'passthrough');
  assert.match(hit.tenant, /^[0-9a-f]{12}$/, 'a short tenant prefix');
  assert.notEqual(hit.tenant, mine[3].tenant, 'two keys, two tenants');

  const hits = json(await api(daemon, '/_runmirror/api/requests?cache=hit')).items;
  assert.deepEqual(hits.map((i) => i.path), [runPath('run-alpha-success')]);
  const errors = json(await api(daemon, '/_runmirror/api/requests?status=4xx')).items;
  assert.ok(errors.some((i) => i.status === 401) && errors.every((i) => i.status >= 400 && i.status < 500), JSON.stringify(errors));
  const byTenant = json(await api(daemon, `/_runmirror/api/requests?tenant=${hit.tenant.slice(0, 6)}`)).items;
  assert.ok(byTenant.every((i) => i.tenant === hit.tenant) && byTenant.length >= 3);
  for (const bad of ['cache=maybe', 'status=2xy', 'route=nope', 'limit=0', 'colour=red']) {
    const r = await api(daemon, `/_runmirror/api/requests?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.ok(json(r).detail, bad);
  }

  const ok = await waitFor(async () => (await readFile(file, 'utf8')).includes('/api/v1/projects'), { timeoutMs: 3_000 });
  assert.ok(ok, 'the access log has the pass-through line');
  const text = await readFile(file, 'utf8');
  const lines = text.trim().split('\n').filter((l) => l.includes(' /api/'));
  assert.equal(lines.length, 4, text);
  assert.match(lines[1], /^\S+Z GET \/api\/v1\/extraction\/runs\/run-alpha-success 200 miss run [\d.]+ms up=[\d.]+ms \d+B tenant=[0-9a-f]{12}$/);
  for (const secret of ['key-alpha', 'query-secret-123', 'token=']) assert.ok(!text.includes(secret), `${secret} in the access log`);
});

test('request log: --log-format json writes JSON lines; --browse-scope tenant shows a key its own requests only', async (t) => {
  const { daemon, file } = await stackWithAccessLog(t, ['--log-format', 'json', '--browse-scope', 'tenant']);
  await api(daemon, runPath('run-alpha-success'), { key: 'key-alpha' });
  await api(daemon, runPath('run-beta-pending'), { key: 'key-beta' });
  const alpha = json(await api(daemon, '/_runmirror/api/requests', { key: 'key-alpha' })).items;
  assert.deepEqual(alpha.filter((i) => i.path.startsWith('/api/')).map((i) => i.path), [runPath('run-alpha-success')]);
  assert.equal((await api(daemon, '/_runmirror/api/requests')).status, 401);

  await waitFor(async () => (await readFile(file, 'utf8')).includes('run-beta-pending'), { timeoutMs: 3_000 });
  for (const line of (await readFile(file, 'utf8')).trim().split('\n')) {
    const entry = JSON.parse(line);
    assert.ok(entry.at && entry.method && entry.path && 'cache' in entry, line);
  }
  // The daemon's own log is JSON lines too.
  const logLines = daemon.output().split('\n').filter((l) => l.startsWith('{'));
  assert.ok(logLines.length >= 2, daemon.output());
  for (const l of logLines) assert.ok(JSON.parse(l).msg !== undefined, l);
});

test('request log: an access log that cannot be opened stops the start with one line', async (t) => {
  await assert.rejects(
    startDaemon({ db: '/tmp/runmirror-never.db', offline: true, extraArgs: ['--access-log', '/nonexistent/dir/access.log'], startTimeoutMs: 3_000 }),
    /cannot open \/nonexistent\/dir\/access\.log/,
  );
});
