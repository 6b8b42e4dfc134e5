// The browse API (/_runmirror/api/agents, /runs, /runs/{id}): runs read through the daemon fill
// the store; the API then lists them newest first with keyset paging, filters, full-text search,
// serves a run's exact bytes, leaves deleted runs out, and refuses bad parameters with 400.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, api } from '../support/daemon.mjs';
import { assertSameBytes, bodyText, jsonError } from '../support/checks.mjs';
import { V2_EXTRACT, v2JobPath } from '../support/fake_v2.mjs';

const SUMMARY_FIELDS = [
  'id', 'kind', 'representation', 'extraction_agent_id', 'project_id', 'job_id', 'status', 'file_name', 'created_at', 'updated_at',
  'fetched_at',
];
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const DAY_MS = 86_400_000;
const LATER_MS = Date.UTC(2025, 0, 20, 8, 0, 0); // the fake's agent-alpha/beta runs start here

// A run the fake serves like its own, with `data` chosen by the test (bytes from JSON.stringify).
function addRun(up, { id, agentId = 'agent-alpha', projectId = 'p-alpha', status = 'SUCCESS', createdMs, data, fileName }) {
  const createdAt = new Date(createdMs).toISOString().replace(/Z$/, '000Z');
  const updatedAt = new Date(createdMs + 90_000).toISOString().replace(/Z$/, '000Z');
  const raw = JSON.stringify({
    id, extraction_agent_id: agentId, project_id: projectId, status, config: {}, data_schema: {}, from_ui: false,
    created_at: createdAt, updated_at: updatedAt, data, error: null, extraction_metadata: {},
    file: { id: `file-${id}`, name: fileName, project_id: projectId }, file_id: `file-${id}`, job_id: `job-${id}`,
  });
  up.data.runs.set(id, {
    n: 9_000, id, agentId, projectId, status, createdMs, createdAt, updatedAt, jobId: `job-${id}`,
    fileId: `file-${id}`, spaced: false, dataIsArray: false, deleted: false, raw,
  });
}

// Reads every agent's runs through the daemon, as an SDK pages them; returns the fake's runs.
async function fillStore(daemon, up) {
  addRun(up, {
    id: 'run-custom-quixote', createdMs: LATER_MS + 60_000, fileName: 'Lieferschein März.pdf',
    data: { vendor: 'Quixotic Widgets, Ltd.', note: 'said "hello"\nthen left', total: 4711 },
  });
  for (const agent of ['agent-big', 'agent-alpha', 'agent-beta']) {
    for (let skip = 0; ; skip += 100) {
      const res = await api(daemon, `/api/v1/extraction/runs?extraction_agent_id=${agent}&skip=${skip}&limit=100`, { key: 'key-both' });
      assert.equal(res.status, 200, bodyText(res));
      const page = JSON.parse(res.body.toString('utf8'));
      if (skip + page.items.length >= page.total) break;
    }
  }
  return [...up.data.runs.values()].filter((r) => !r.deleted);
}

// Browse order: created_at text descending, then id descending.
function browseOrder(runs) {
  return [...runs]
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    .map((r) => r.id);
}

async function getJson(daemon, pathAndQuery, { status = 200, headers } = {}) {
  const res = await api(daemon, pathAndQuery, { headers });
  assert.equal(res.status, status, `${pathAndQuery}: ${bodyText(res)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(res.body.toString('utf8'));
}

// Every page of /_runmirror/api/runs?<query>, following next_cursor; returns the ids.
async function walk(daemon, query, limit) {
  const ids = [];
  let cursor = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const page = await getJson(daemon, `/_runmirror/api/runs?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    assert.ok(page.items.length <= limit);
    ids.push(...page.items.map((r) => r.id));
    if (page.next_cursor === null) return ids;
    assert.equal(page.items.length, limit, 'only the last page is short');
    cursor = page.next_cursor;
  }
  throw new Error('too many pages');
}

test('runs: newest first, summaries only, keyset pages that cover everything once', async (t) => {
  const { daemon, up } = await startStack(t);
  const runs = await fillStore(daemon, up);
  const expected = browseOrder(runs);
  assert.equal(expected.length, 139);

  const first = await getJson(daemon, '/_runmirror/api/runs');
  assert.equal(first.items.length, 50, 'default limit');
  assert.deepEqual(first.items.map((r) => r.id), expected.slice(0, 50));
  assert.equal(typeof first.next_cursor, 'string');
  for (const item of first.items) {
    assert.deepEqual(Object.keys(item), SUMMARY_FIELDS);
    const run = up.run(item.id);
    assert.equal(item.extraction_agent_id, run.agentId);
    assert.equal(item.project_id, run.projectId);
    assert.equal(item.job_id, run.jobId);
    assert.equal(item.status, run.status);
    assert.equal(item.created_at, run.createdAt);
    assert.equal(item.updated_at, run.updatedAt);
    assert.match(item.fetched_at, ISO_UTC_MS);
  }
  assert.equal(first.items.find((r) => r.id === 'run-custom-quixote').file_name, 'Lieferschein März.pdf');

  for (const limit of [1, 7, 50, 500]) {
    assert.deepEqual(await walk(daemon, '', limit), expected, `pages of ${limit}`);
  }
});

test('runs: paging stays stable while the daemon stores newer and older runs', async (t) => {
  const { daemon, up } = await startStack(t);
  const expected = browseOrder(await fillStore(daemon, up));

  const page1 = await getJson(daemon, '/_runmirror/api/runs?limit=10');
  assert.deepEqual(page1.items.map((r) => r.id), expected.slice(0, 10));

  // Newer than everything (a job created through the daemon), and one older than the cursor.
  const created = await api(daemon, '/api/v1/extraction/jobs', {
    key: 'key-alpha', method: 'POST', headers: { 'content-type': 'application/json' },
    body: '{"extraction_agent_id":"agent-alpha","file_id":"file-x"}',
  });
  assert.equal(created.status, 200, bodyText(created));
  assert.equal((await api(daemon, '/api/v1/extraction/runs/run-new-1', { key: 'key-alpha' })).status, 200);
  addRun(up, { id: 'run-custom-older', createdMs: LATER_MS - 6 * DAY_MS, fileName: 'older.pdf', data: { x: 1 } });
  assert.equal((await api(daemon, '/api/v1/extraction/runs/run-custom-older', { key: 'key-alpha' })).status, 200);

  const rest = [];
  let cursor = page1.next_cursor;
  while (cursor) {
    const page = await getJson(daemon, `/_runmirror/api/runs?limit=10&cursor=${cursor}`);
    rest.push(...page.items.map((r) => r.id));
    cursor = page.next_cursor;
  }
  const firstPage = new Set(page1.items.map((r) => r.id));
  const stillAhead = [...up.data.runs.values()].filter((r) => !firstPage.has(r.id) && r.id !== 'run-new-1');
  assert.deepEqual(rest, browseOrder(stillAhead));
  assert.ok(!rest.includes('run-new-1'), 'a run newer than the cursor does not shift later pages');
  assert.ok(rest.includes('run-custom-older'), 'a run older than the cursor appears in its place');
  assert.equal(new Set(rest).size, rest.length, 'no run twice');
  const top = await getJson(daemon, '/_runmirror/api/runs?limit=1');
  assert.equal(top.items[0].id, 'run-new-1');
});

test('runs: filters by agent, project, status and created_at window', async (t) => {
  const { daemon, up } = await startStack(t);
  const runs = await fillStore(daemon, up);
  const ids = async (query) => (await getJson(daemon, `/_runmirror/api/runs?limit=500&${query}`)).items.map((r) => r.id);

  assert.deepEqual(await ids('agent=agent-big&status=ERROR'),
    browseOrder(runs.filter((r) => r.agentId === 'agent-big' && r.status === 'ERROR')));
  assert.deepEqual(await ids('agent=agent-big&status=error'), await ids('agent=agent-big&status=ERROR'), 'status in any case');
  assert.deepEqual(await ids('project=p-beta'), ['run-beta-pending', 'run-beta-error', 'run-beta-success']);
  assert.deepEqual(await ids('status=PENDING&project=p-alpha'),
    browseOrder(runs.filter((r) => r.status === 'PENDING' && r.projectId === 'p-alpha')));
  assert.deepEqual(await ids('agent=agent-nobody'), []);
  // Blank fields, as an HTML form sends them, filter nothing.
  assert.equal((await ids('agent=&project=&status=&from=&to=&q=&cursor=')).length, runs.length);

  // [from, to): agent-alpha's runs are at LATER_MS + 1..5 s; the custom one at + 60 s.
  const iso = (ms) => new Date(ms).toISOString();
  assert.deepEqual(await ids(`from=${iso(LATER_MS + 2_000)}&to=${iso(LATER_MS + 4_000)}`),
    ['run-alpha-pending', 'run-alpha-error']);
  assert.deepEqual(await ids(`from=${encodeURIComponent('2025-01-20T10:01:00+02:00')}`), ['run-custom-quixote']);
  assert.equal((await ids('to=2025-01-20')).length, 130, 'a date is midnight UTC; to is exclusive');
  assert.equal((await ids('from=2025-01-20')).length, 9);
});

test('runs: from/to over the whole calendar, 0001 to 9999; outside it, 400', async (t) => {
  const { daemon, up } = await startStack(t);
  // Past what 64-bit nanoseconds reach (2262-04-11): the parser once overflowed on these.
  addRun(up, { id: 'run-year-2300', createdMs: Date.UTC(2300, 5, 1), data: { n: 1 } });
  addRun(up, { id: 'run-year-9999', createdMs: Date.UTC(9999, 11, 31, 12, 0, 0), data: { n: 2 } });
  const runs = await fillStore(daemon, up);
  const ids = async (query) => (await getJson(daemon, `/_runmirror/api/runs?limit=500&${query}`)).items.map((r) => r.id);
  const all = browseOrder(runs);
  assert.equal(all[0], 'run-year-9999');
  assert.equal(all[1], 'run-year-2300');

  assert.deepEqual(await ids('to=9999-12-31'), all.slice(1), 'everything before 9999-12-31, exclusive');
  assert.deepEqual(await ids(`to=${encodeURIComponent('9999-12-31T23:59:59.999999999Z')}`), all);
  assert.deepEqual(await ids(`to=${encodeURIComponent('9999-12-31T14:00:00.000001+02:00')}`), all, 'to the microsecond');
  assert.deepEqual(await ids(`to=${encodeURIComponent('9999-12-31T14:00:00+02:00')}`), all.slice(1));
  assert.deepEqual(await ids('from=9999-12-31'), ['run-year-9999']);
  assert.deepEqual(await ids('from=2262-04-12&to=9999-12-31'), ['run-year-2300']);
  assert.deepEqual(await ids('from=0001-01-01'), all);
  assert.deepEqual(await ids('to=0001-01-02'), []);

  for (const [query, detail] of [
    ['to=0000-12-31', /^to: out of range: years 0001 to 9999/],
    ['from=0000-01-01', /^from: out of range: years 0001 to 9999/],
    [`from=${encodeURIComponent('9999-12-31T23:30:00-01:00')}`, /^from: out of range/],
    [`to=${encodeURIComponent('0001-01-01T00:00:00+00:01')}`, /^to: out of range/],
    ['to=10000-01-01', /^to: expected an ISO 8601/],
    ['to=9999-12-32', /^to: no such date/],
    [`to=${encodeURIComponent('9999-12-31T00:00:00+24:00')}`, /^to: no such UTC offset/],
  ]) {
    const res = await api(daemon, `/_runmirror/api/runs?${query}`);
    assert.equal(res.status, 400, `${query}: ${bodyText(res)}`);
    assert.match(jsonError(res).detail, detail, query);
  }
});

test('runs: q searches the extracted data and file names, not the rest', async (t) => {
  const { daemon, up } = await startStack(t);
  await fillStore(daemon, up);
  const ids = async (q, extra = '') =>
    (await getJson(daemon, `/_runmirror/api/runs?limit=500&q=${encodeURIComponent(q)}${extra}`)).items.map((r) => r.id);

  assert.deepEqual(await ids('quixotic'), ['run-custom-quixote']);
  assert.deepEqual(await ids('QUIX widg'), ['run-custom-quixote'], 'words are prefixes, all must match');
  assert.deepEqual(await ids('4711'), ['run-custom-quixote'], 'numbers');
  assert.deepEqual(await ids('hello then'), ['run-custom-quixote'], 'text after an escaped newline');
  assert.deepEqual(await ids('lieferschein marz'), ['run-custom-quixote'], 'file name, accents folded');
  assert.deepEqual(await ids('invoice-run-beta-success.pdf'), ['run-beta-success'], 'file name as a phrase');
  // The fake's SUCCESS runs all hold Zürich (raw and \u-escaped) and 東京 in their data.
  const success = await ids('zurich');
  assert.ok(success.length > 100);
  assert.deepEqual(await ids('東京'), success);
  assert.deepEqual(await ids('zurich', '&agent=agent-beta'), ['run-beta-success']);
  assert.deepEqual(await ids('Extraction failed'), [], 'error text is not extracted data');
  assert.deepEqual(await ids('totals'), [], 'config text is not extracted data');
  assert.deepEqual(await ids('"unbalanced AND ( NEAR'), [], 'FTS5 syntax in q is plain text');
});

test('runs/{id}: the exact stored bytes; deleted runs gone everywhere', async (t) => {
  const { daemon, up } = await startStack(t);
  await fillStore(daemon, up);

  for (const id of ['run-alpha-spaced', 'run-alpha-pages', 'run-custom-quixote']) {
    const res = await api(daemon, `/_runmirror/api/runs/${id}`);
    assert.equal(res.status, 200, bodyText(res));
    assert.equal(res.headers['content-type'], 'application/json');
    assertSameBytes(res.body, up.runBytes(id), id);
  }
  const missing = await api(daemon, '/_runmirror/api/runs/run-that-never-was');
  assert.equal(missing.status, 404);
  assert.match(jsonError(missing).detail, /run-that-never-was/);
  assert.equal((await api(daemon, '/_runmirror/api/runs/run%2Dalpha%2Dpages')).status, 200, 'percent-decoded');

  const del = await api(daemon, '/api/v1/extraction/runs/run-custom-quixote', { key: 'key-alpha', method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  assert.equal((await api(daemon, '/_runmirror/api/runs/run-custom-quixote')).status, 404);
  assert.deepEqual((await getJson(daemon, '/_runmirror/api/runs?q=quixotic')).items, []);
  const all = await walk(daemon, '', 500);
  assert.ok(!all.includes('run-custom-quixote'));
  const alpha = (await getJson(daemon, '/_runmirror/api/agents')).items.find((a) => a.extraction_agent_id === 'agent-alpha');
  assert.equal(alpha.runs, 5, 'agent counts leave it out');
});

// v2 jobs read through the daemon, each with the expand sets given ([] is the plain read).
async function readV2(daemon, reads) {
  for (const [id, expands] of Object.entries(reads)) {
    for (const expand of expands) {
      const query = expand.length ? `?expand=${expand.join(',')}` : '';
      const res = await api(daemon, `${v2JobPath(id)}${query}`, { key: 'key-alpha' });
      assert.equal(res.status, 200, `${id}${query}: ${bodyText(res)}`);
    }
  }
}

test('v2 jobs read only with ?expand=: listed once, opened as a stored variant that says which', async (t) => {
  const { daemon, up, defer } = await startStack(t);
  await readV2(daemon, {
    'v2-alpha-completed': [[], ['usage']], // plain and a variant: listed by the plain one
    'v2-alpha-spaced': [['usage'], ['configuration']], // variants only: by the first, "configuration"
    'v2-alpha-failed': [['usage', 'configuration']],
  });
  const ids = ['v2-alpha-completed', 'v2-alpha-spaced', 'v2-alpha-failed'];
  const order = up.v2.listIds('key-alpha').filter((id) => ids.includes(id)); // newest first
  const want = {
    'v2-alpha-completed': { representation: 'plain', bytes: up.v2.jobBytes('v2-alpha-completed') },
    'v2-alpha-spaced': { representation: 'expand=configuration', bytes: up.v2.jobBytes('v2-alpha-spaced', ['configuration']) },
    'v2-alpha-failed': {
      representation: 'expand=configuration,usage',
      bytes: up.v2.jobBytes('v2-alpha-failed', ['configuration', 'usage']),
    },
  };

  const listed = (await getJson(daemon, '/_runmirror/api/runs?kind=v2_job')).items;
  assert.deepEqual(listed.map((i) => i.id), order, 'each job once, newest first');
  for (const item of listed) {
    assert.deepEqual(Object.keys(item), SUMMARY_FIELDS);
    assert.equal(item.kind, 'v2_job');
    assert.equal(item.representation, want[item.id].representation, item.id);
    assert.equal(item.status, JSON.parse(up.v2.jobRaw(item.id)).status);
  }
  assert.deepEqual((await getJson(daemon, '/_runmirror/api/runs?kind=all')).items.map((i) => i.id), order);
  assert.deepEqual((await getJson(daemon, '/_runmirror/api/runs')).items, [], 'no v1 runs were read');
  for (const limit of [1, 2]) assert.deepEqual(await walk(daemon, 'kind=v2_job', limit), order, `pages of ${limit}`);
  assert.deepEqual((await getJson(daemon, '/_runmirror/api/runs?kind=v2_job&status=FAILED')).items.map((i) => i.id), ['v2-alpha-failed']);
  // extract_result is searched in the variant standing in for a job.
  const invoice = JSON.parse(up.v2.jobRaw('v2-alpha-spaced')).extract_result.invoice_number;
  assert.deepEqual(
    (await getJson(daemon, `/_runmirror/api/runs?kind=v2_job&q=${encodeURIComponent(invoice)}`)).items.map((i) => i.id),
    ['v2-alpha-spaced'],
  );

  // runs/{id}: the plain body when stored, else the variant listed; the header says which.
  for (const id of ids) {
    const res = await api(daemon, `/_runmirror/api/runs/${id}?kind=v2_job`);
    assert.equal(res.status, 200, `${id}: ${bodyText(res)}`);
    assert.equal(res.headers['runmirror-representation'], want[id].representation, id);
    assertSameBytes(res.body, want[id].bytes, id);
  }
  const v1 = await api(daemon, '/_runmirror/api/runs/v2-alpha-spaced');
  assert.equal(v1.status, 404, 'not a v1 run');
  assert.equal((await api(daemon, '/_runmirror/api/runs/v2-alpha-running?kind=v2_job')).status, 404, 'never read');

  // A job deleted through the daemon is gone in every representation.
  const del = await api(daemon, v2JobPath('v2-alpha-failed'), { key: 'key-alpha', method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  assert.equal((await api(daemon, '/_runmirror/api/runs/v2-alpha-failed?kind=v2_job')).status, 404);
  const after = (await getJson(daemon, '/_runmirror/api/runs?kind=v2_job')).items.map((i) => i.id);
  assert.deepEqual(after, order.filter((id) => id !== 'v2-alpha-failed'));

  // A list assembled for an SDK (offline) holds plain jobs only: a variant is never served in
  // place of the plain representation.
  await daemon.stop();
  const offline = await startDaemon({ db: daemon.db, offline: true });
  defer(() => offline.stop());
  const page = await api(offline, `${V2_EXTRACT}?page_size=50`, { key: 'key-alpha' });
  assert.equal(page.status, 200, bodyText(page));
  assert.match(String(page.headers['cache-status']), /detail=assembled/);
  assert.deepEqual(JSON.parse(page.body).items.map((i) => i.id), ['v2-alpha-completed']);
  const browsed = (await getJson(offline, '/_runmirror/api/runs?kind=v2_job')).items.map((i) => i.id);
  assert.deepEqual(browsed, after, 'browsing offline shows the same');
});

test('agents: one summary per agent, counts by status, most recent first', async (t) => {
  const { daemon, up } = await startStack(t);
  const runs = await fillStore(daemon, up);
  const { items } = await getJson(daemon, '/_runmirror/api/agents');
  assert.deepEqual(items.map((a) => a.extraction_agent_id), ['agent-alpha', 'agent-beta', 'agent-big']);
  for (const a of items) {
    assert.deepEqual(Object.keys(a), ['extraction_agent_id', 'name', 'project_id', 'runs', 'by_status', 'latest_created_at']);
    assert.equal(a.name, null, 'no agents list was read: no name known');
    const mine = runs.filter((r) => r.agentId === a.extraction_agent_id);
    assert.equal(a.project_id, mine[0].projectId);
    assert.equal(a.runs, mine.length);
    const count = (s) => mine.filter((r) => r.status === s).length;
    assert.deepEqual(a.by_status, { CREATED: 0, PENDING: count('PENDING'), SUCCESS: count('SUCCESS'), ERROR: count('ERROR') });
    assert.equal(a.latest_created_at, mine.map((r) => r.createdAt).sort().at(-1));
  }
  const big = items.find((a) => a.extraction_agent_id === 'agent-big');
  assert.equal(big.runs, 130);
  assert.ok(big.by_status.ERROR > 0 && big.by_status.PENDING > 0);
});

test('bad parameters are 400 with a detail naming them; other methods 405', async (t) => {
  const { daemon } = await startStack(t);
  const bad = async (query, pattern) => {
    const res = await api(daemon, `/_runmirror/api/runs?${query}`);
    assert.equal(res.status, 400, `${query}: ${bodyText(res)}`);
    assert.match(jsonError(res).detail, pattern, query);
  };
  await bad('limit=0', /^limit: /);
  await bad('limit=501', /^limit: /);
  await bad('limit=ten', /^limit: /);
  await bad('limit=-1', /^limit: /);
  await bad('from=yesterday', /^from: expected an ISO 8601/);
  await bad('to=2025-02-30', /^to: /);
  await bad('from=2025-02-01&to=2025-01-01', /from must not be later than to/);
  await bad('cursor=bm90IGEgY3Vyc29y', /^cursor: /);
  await bad('cursor=%%%', /invalid query string/);
  await bad('agent_id=a', /unknown parameter 'agent_id'/);
  await bad('agent=a&agent=b', /'agent' given more than once/);

  // An empty store answers, empty.
  assert.deepEqual(await getJson(daemon, '/_runmirror/api/runs'), { items: [], next_cursor: null });
  assert.deepEqual(await getJson(daemon, '/_runmirror/api/agents'), { items: [] });

  for (const path of ['/_runmirror/api/runs', '/_runmirror/api/agents', '/_runmirror/api/runs/x']) {
    const res = await api(daemon, path, { method: 'POST', body: '' });
    assert.equal(res.status, 405, path);
    // One resource can also be forgotten here (DELETE, see purge.test.mjs).
    assert.equal(res.headers.allow, path.endsWith('/x') ? 'GET, DELETE' : 'GET', path);
    jsonError(res);
  }
  // The watches route is untouched and unknown paths stay 404.
  assert.equal((await api(daemon, '/_runmirror/api/watches')).status, 200);
  assert.equal((await api(daemon, '/_runmirror/api/runsx')).status, 404);
});

test('the browse API takes the admin token when one is configured', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: { extraArgs: ['--admin-token', 'sesame'] } });
  await fillStore(daemon, up);
  for (const path of ['/_runmirror/api/runs', '/_runmirror/api/agents', '/_runmirror/api/runs/run-alpha-pages']) {
    assert.equal((await api(daemon, path)).status, 401, path);
    assert.equal((await api(daemon, path, { headers: { authorization: 'Bearer wrong' } })).status, 401, path);
    assert.equal((await api(daemon, path, { headers: { authorization: 'Bearer sesame' } })).status, 200, path);
    assert.equal((await api(daemon, path, { headers: { 'x-runmirror-token': 'sesame' } })).status, 200, path);
  }
});
