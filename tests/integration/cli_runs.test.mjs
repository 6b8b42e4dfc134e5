// `runmirror runs list|show|export`: runs read through the daemon fill the store; the CLI then
// reads it directly, with the daemon running or stopped. Exports are checked byte for byte
// (JSON Lines) and against RFC 4180 (CSV: commas, quotes, line breaks, unicode, array data).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { RUNMIRROR_BIN, startStack, api } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';
import { v2JobPath } from '../support/fake_v2.mjs';

const LATER_MS = Date.UTC(2025, 0, 20, 8, 0, 0); // the fake's agent-alpha/beta runs start here
const BOM = '\uFEFF';
const FIXED_COLUMNS = ['id', 'extraction_agent_id', 'status', 'file_name', 'created_at', 'updated_at', 'error'];

// Runs `runmirror runs ...args` without the harness's RUNMIRROR_* variables.
function runs(args) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RUNMIRROR_')) env[k] = v;
  env.RUNMIRROR_CONFIG = '/dev/null'; // no config file from the search path
  const res = spawnSync(RUNMIRROR_BIN, ['runs', ...args], { env, encoding: 'utf8', timeout: 20_000 });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function ok(res) {
  assert.equal(res.status, 0, `exit status; stderr: ${res.stderr}`);
  return res;
}

function oneLineError(res, status, action, pattern) {
  assert.equal(res.status, status, `exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, new RegExp(`^runmirror runs ${action}: [^\\n]+\\n$`), 'exactly one line on stderr');
  assert.match(res.stderr, pattern);
}

// A run the fake serves like its own; `dataRaw` is the raw JSON text of its "data".
function addRun(up, { id, status = 'SUCCESS', createdMs, dataRaw, fileName }) {
  const iso = (ms) => new Date(ms).toISOString().replace(/Z$/, '000Z');
  const fields = {
    id, extraction_agent_id: 'agent-alpha', project_id: 'p-alpha', status, created_at: iso(createdMs),
    updated_at: iso(createdMs + 200_000),
  };
  const head = JSON.stringify(fields).slice(0, -1);
  const file = JSON.stringify({ id: `file-${id}`, name: fileName });
  const raw = `${head},"data":${dataRaw},"error":null,"file":${file},"file_id":"file-${id}","job_id":"job-${id}"}`;
  JSON.parse(raw); // the test's own bytes must be JSON
  up.data.runs.set(id, {
    n: 9_000, id, agentId: 'agent-alpha', projectId: 'p-alpha', status, createdMs, createdAt: fields.created_at,
    updatedAt: fields.updated_at, jobId: `job-${id}`, fileId: `file-${id}`, deleted: false, raw,
  });
}

const TRICKY_DATA =
  '{"name":"Smith, John","quote":"He said \\"hi\\"","multi":"line1\\nline2\\r\\nline3",' +
  '"unicode":"Zürich \\u6771\\u4eac 😀","num":1.0e+2,"big":123456789012345678901234567890,' +
  '"nested":{"a":[1,2.50]},"flag":false,"nothing":null,"id":"clashes with a fixed column"}';

// Reads agent-alpha's and agent-beta's runs through the daemon (plus two of the test's own).
async function fillStore(daemon, up) {
  addRun(up, { id: 'run-csv-tricky', createdMs: LATER_MS + 60_000, dataRaw: TRICKY_DATA, fileName: 'a "quoted", name.pdf' });
  addRun(up, { id: 'run-recent', createdMs: Date.now() - 2 * 86_400_000, dataRaw: '{"word":"recent"}', fileName: 'recent.pdf' });
  for (const agent of ['agent-alpha', 'agent-beta']) {
    const res = await api(daemon, `/api/v1/extraction/runs?extraction_agent_id=${agent}&limit=100`, { key: 'key-both' });
    assert.equal(res.status, 200, bodyText(res));
  }
}

// RFC 4180: fields separated by commas, records ended by CRLF, a field with a comma, quote or line
// break quoted with its quotes doubled. Throws on anything else.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"' && field === '') {
      i += 1;
      for (;;) {
        assert.ok(i < text.length, 'unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        field += text[i];
        i += 1;
      }
      assert.ok(text[i] === ',' || text.startsWith('\r\n', i), `a quoted field ends at a separator (offset ${i})`);
      continue;
    }
    if (text[i] === ',') {
      row.push(field);
      field = '';
      i += 1;
    } else if (text.startsWith('\r\n', i)) {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      assert.ok(!'"\r\n'.includes(text[i]), `bare ${JSON.stringify(text[i])} outside quotes at offset ${i}`);
      field += text[i];
      i += 1;
    }
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  assert.deepEqual(row, []);
  return rows;
}

test('list: a table newest first, filters, --json, --limit; the daemon running or stopped', async (t) => {
  const { daemon, up } = await startStack(t);
  await fillStore(daemon, up);
  const db = daemon.db;

  for (const phase of ['daemon running', 'daemon stopped']) {
    if (phase === 'daemon stopped') assert.equal((await daemon.stop()).code, 0);
    const table = ok(runs(['list', '--db', db, '--agent', 'agent-alpha'])).stdout.split('\n');
    assert.equal(table.pop(), '');
    assert.match(table[0], /^ID +AGENT +STATUS +FILE +CREATED +DURATION$/, phase);
    const rows = table.slice(1).map((line) => line.split(/ {2,}/));
    assert.deepEqual(rows.map((r) => r[0]), [
      'run-recent', 'run-csv-tricky', 'run-alpha-spaced', 'run-alpha-pages', 'run-alpha-pending', 'run-alpha-error',
      'run-alpha-success',
    ], phase);
    // Columns line up: every cell of a column starts where its header does.
    const starts = ['ID', 'AGENT', 'STATUS', 'FILE', 'CREATED', 'DURATION'].map((h) => table[0].indexOf(h));
    const success = table.find((line) => line.startsWith('run-alpha-success '));
    assert.deepEqual(starts.map((s) => success.slice(s).split(/ {2,}/)[0]),
      ['run-alpha-success', 'agent-alpha', 'SUCCESS', 'invoice-run-alpha-success.pdf', '2025-01-20 08:00:01', '45s']);
    const pending = table.find((line) => line.startsWith('run-alpha-pending '));
    assert.equal(pending.slice(starts[5]).trim(), '-', 'no duration before a run is final');
    assert.equal(table.find((l) => l.startsWith('run-csv-tricky ')).slice(starts[5]).trim(), '3m20s');
  }

  const json = ok(runs(['list', '--db', db, '--status', 'error', '--json']));
  const items = json.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(items.map((r) => r.id), ['run-beta-error', 'run-alpha-error']);
  assert.deepEqual(Object.keys(items[0]), [
    'id', 'kind', 'representation', 'extraction_agent_id', 'project_id', 'job_id', 'status', 'file_name', 'created_at',
    'updated_at', 'fetched_at',
  ]);
  assert.equal(json.stderr, '');

  const search = ok(runs(['list', '--db', db, '--search', 'smith zur', '--json']));
  assert.deepEqual(search.stdout.trim().split('\n').map((l) => JSON.parse(l).id), ['run-csv-tricky']);

  const recent = ok(runs(['list', '--db', db, '--since', '7d', '--json']));
  assert.deepEqual(recent.stdout.trim().split('\n').map((l) => JSON.parse(l).id), ['run-recent']);
  assert.equal(ok(runs(['list', '--db', db, '--since', '1d'])).stdout, 'no runs\n');
  const since = ok(runs(['list', '--db', db, '--since', '2025-01-20T08:00:05Z', '--json']));
  assert.equal(since.stdout.trim().split('\n').length, 6, 'alpha-spaced, three beta, tricky, recent');

  const cut = ok(runs(['list', '--db', db, '--limit', '2', '--json']));
  assert.equal(cut.stdout.trim().split('\n').length, 2);
  assert.match(cut.stderr, /^runmirror runs list: showing the first 2; use --limit N for more\n$/);
});

test('list: dates over the whole calendar, 0001 to 9999; --since outside it is one line, exit 2', async (t) => {
  const { daemon, up } = await startStack(t);
  // Past what 64-bit nanoseconds reach (2262-04-11): the date parser once overflowed on these.
  addRun(up, { id: 'run-year-9999', createdMs: Date.UTC(9999, 11, 31, 12, 0, 0), dataRaw: '{}', fileName: 'far.pdf' });
  addRun(up, { id: 'run-year-2300', createdMs: Date.UTC(2300, 5, 1), dataRaw: '{}', fileName: 'near.pdf' });
  await fillStore(daemon, up);
  const db = daemon.db;

  const table = ok(runs(['list', '--db', db, '--limit', '2'])).stdout.split('\n');
  const starts = ['CREATED', 'DURATION'].map((h) => table[0].indexOf(h));
  const cells = (id) => starts.map((s) => table.find((l) => l.startsWith(`${id} `)).slice(s).split(/ {2,}/)[0]);
  assert.deepEqual(cells('run-year-9999'), ['9999-12-31 12:00:00', '3m20s']);
  assert.deepEqual(cells('run-year-2300'), ['2300-06-01 00:00:00', '3m20s']);

  const ids = (since) => ok(runs(['list', '--db', db, '--since', since, '--json'])).stdout.trim().split('\n')
    .map((l) => JSON.parse(l).id);
  assert.deepEqual(ids('9999-12-31'), ['run-year-9999']);
  assert.deepEqual(ids('2262-04-12T00:00:00+01:00'), ['run-year-9999', 'run-year-2300']);
  assert.equal(ids('0001-01-01').length, ok(runs(['list', '--db', db, '--json'])).stdout.trim().split('\n').length);

  oneLineError(runs(['list', '--since', '0000-12-31', '--db', db]), 2, 'list', /--since: out of range: years 0001 to 9999/);
  oneLineError(runs(['list', '--since', '9999-12-31T23:30:00-01:00', '--db', db]), 2, 'list', /--since: out of range/);
  oneLineError(runs(['list', '--since', '2025-02-30', '--db', db]), 2, 'list', /--since: no such date/);
  oneLineError(runs(['list', '--since', '10000-01-01', '--db', db]), 2, 'list', /--since: expected an ISO 8601/);
});

test('show: the stored run indented, --data, numbers exactly as stored; missing and deleted runs', async (t) => {
  const { daemon, up } = await startStack(t);
  await fillStore(daemon, up);
  const db = daemon.db;

  const shown = ok(runs(['show', 'run-alpha-success', '--db', db])).stdout;
  assert.ok(shown.startsWith('{\n  "id": "run-alpha-success",\n'), shown.slice(0, 80));
  assert.ok(shown.endsWith('}\n'));
  assert.ok(shown.includes('"big": 123456789012345678901234567890,'), 'big integers kept');
  assert.ok(shown.includes('"amount": 1.0e+2,'), 'number text kept');
  assert.deepEqual(JSON.parse(shown), JSON.parse(up.runRaw('run-alpha-success')));

  const data = ok(runs(['show', 'run-csv-tricky', '--data', '--db', db])).stdout;
  assert.deepEqual(JSON.parse(data), JSON.parse(up.runRaw('run-csv-tricky')).data);
  assert.ok(data.includes('"num": 1.0e+2'));
  assert.equal(ok(runs(['show', 'run-alpha-pending', '--data', '--db', db])).stdout, 'null\n');

  oneLineError(runs(['show', 'run-nope', '--db', db]), 1, 'show', /no run run-nope in the store/);
  const del = await api(daemon, '/api/v1/extraction/runs/run-alpha-error', { key: 'key-alpha', method: 'DELETE' });
  assert.equal(del.status, 200, bodyText(del));
  oneLineError(runs(['show', 'run-alpha-error', '--db', db]), 1, 'show', /run run-alpha-error was deleted/);
  assert.ok(!ok(runs(['list', '--db', db])).stdout.includes('run-alpha-error'), 'deleted runs are not listed');
});

test('--kind v2_job: a job read only with ?expand= is listed, shown and exported once, as a stored variant', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  const reads = [
    ['v2-alpha-completed', ''],
    ['v2-alpha-completed', '?expand=usage'],
    ['v2-alpha-spaced', '?expand=usage'],
    ['v2-alpha-spaced', '?expand=configuration'],
  ];
  for (const [id, query] of reads) {
    const res = await api(daemon, `${v2JobPath(id)}${query}`, { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
  }
  const db = daemon.db;
  const order = up.v2.listIds('key-alpha').filter((id) => id === 'v2-alpha-completed' || id === 'v2-alpha-spaced');
  const bytes = {
    'v2-alpha-completed': up.v2.jobRaw('v2-alpha-completed'),
    'v2-alpha-spaced': up.v2.jobRaw('v2-alpha-spaced', ['configuration']),
  };

  const listed = ok(runs(['list', '--kind', 'v2_job', '--json', '--db', db]));
  const items = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(items.map((i) => i.id), order, 'each job once');
  assert.deepEqual(items.map((i) => i.representation), order.map((id) => (id === 'v2-alpha-spaced' ? 'expand=configuration' : 'plain')));
  assert.deepEqual(
    ok(runs(['list', '--kind', 'all', '--json', '--db', db])).stdout.trim().split('\n').map((l) => JSON.parse(l).id),
    order,
  );
  const table = ok(runs(['list', '--kind', 'v2_job', '--db', db])).stdout.split('\n');
  assert.equal(table.filter((l) => l.startsWith('v2-alpha-spaced ')).length, 1, table.join('\n'));

  const out = path.join(dir, 'jobs.jsonl');
  const exported = ok(runs(['export', '--kind', 'v2_job', '--format', 'jsonl', '--out', out, '--db', db]));
  assert.match(exported.stderr, /: 2 runs written/);
  assert.deepEqual((await readFile(out, 'utf8')).split('\n'), [...order.map((id) => bytes[id]), '']);

  const shown = ok(runs(['show', 'v2-alpha-spaced', '--kind', 'v2_job', '--db', db]));
  assert.deepEqual(JSON.parse(shown.stdout), JSON.parse(bytes['v2-alpha-spaced']));
  assert.match(shown.stderr, /^runmirror runs show: v2-alpha-spaced is stored only as expand=configuration; showing that\n$/);
  const plain = ok(runs(['show', 'v2-alpha-completed', '--kind', 'v2_job', '--db', db]));
  assert.deepEqual(JSON.parse(plain.stdout), JSON.parse(bytes['v2-alpha-completed']));
  assert.equal(plain.stderr, '');
  oneLineError(runs(['show', 'v2-alpha-spaced', '--db', db]), 1, 'show', /no run v2-alpha-spaced in the store/);
  oneLineError(runs(['show', 'v2-alpha-spaced', '--kind', 'v3', '--db', db]), 2, 'show', /--kind: expected run or v2_job/);
});

test('export jsonl: the stored bytes, one run per line, newest first', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  await fillStore(daemon, up);
  const out = path.join(dir, 'runs.jsonl');

  const res = ok(runs(['export', '--format', 'jsonl', '--agent', 'agent-alpha', '--out', out, '--db', daemon.db]));
  assert.match(res.stderr, /^runmirror runs export: 7 runs written to .*runs\.jsonl\n$/);
  const bytes = await readFile(out);
  const lines = bytes.toString('utf8').split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  const ids = ['run-recent', 'run-csv-tricky', 'run-alpha-spaced', 'run-alpha-pages', 'run-alpha-pending', 'run-alpha-error',
    'run-alpha-success'];
  assert.equal(lines.length, ids.length);
  ids.forEach((id, i) => assert.equal(lines[i], up.runRaw(id), `line ${i} is the stored bytes of ${id}`));

  const failed = ok(runs(['export', '--format', 'jsonl', '--status', 'error', '--out', out, '--db', daemon.db]));
  assert.match(failed.stderr, /2 runs written/);
  assert.equal((await readFile(out, 'utf8')).split('\n').length, 3);
});

test('export csv: RFC 4180, UTF-8 BOM, data keys as columns, one row per array item', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  await fillStore(daemon, up);
  const out = path.join(dir, 'runs.csv');
  const res = ok(runs(['export', '--format', 'csv', '--agent', 'agent-alpha', '--out', out, '--db', daemon.db]));
  assert.match(res.stderr, /^runmirror runs export: 7 runs, 8 rows written to /);

  const text = await readFile(out, 'utf8');
  assert.ok(text.startsWith(BOM), 'UTF-8 byte order mark');
  const [header, ...rows] = parseCsv(text.slice(1));
  assert.deepEqual(header, [
    ...FIXED_COLUMNS,
    'word', // run-recent, the newest, comes first
    'name', 'quote', 'multi', 'unicode', 'num', 'big', 'nested', 'flag', 'nothing', 'data.id',
    'city', 'city_escaped', 'amount', 'negative_zero', 'n', 'line_items',
  ]);
  for (const row of rows) assert.equal(row.length, header.length, 'every row has every column');
  const byId = (id) => rows.filter((r) => r[0] === id).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));

  const [tricky] = byId('run-csv-tricky');
  const run = up.run('run-csv-tricky');
  assert.deepEqual(tricky, {
    id: 'run-csv-tricky', extraction_agent_id: 'agent-alpha', status: 'SUCCESS', file_name: 'a "quoted", name.pdf',
    created_at: run.createdAt, updated_at: run.updatedAt, error: '', word: '',
    name: 'Smith, John', quote: 'He said "hi"', multi: 'line1\nline2\r\nline3', unicode: 'Zürich 東京 😀', num: '1.0e+2',
    big: '123456789012345678901234567890', nested: '{"a":[1,2.50]}', flag: 'false', nothing: '',
    'data.id': 'clashes with a fixed column',
    city: '', city_escaped: '', amount: '', negative_zero: '', n: '', line_items: '',
  });
  // The raw lines show the quoting itself.
  assert.ok(text.includes('"Smith, John","He said ""hi""","line1\nline2\r\nline3",Zürich 東京 😀,1.0e+2,'));

  const pages = byId('run-alpha-pages');
  assert.equal(pages.length, 2, 'array data: one row per item');
  const items = JSON.parse(up.runRaw('run-alpha-pages')).data;
  assert.equal(pages[0].n, String(items[0].n));
  assert.equal(pages[1].n, String(items[1].n));
  assert.equal(pages[0].city, 'Zürich – 東京 é');
  assert.equal(pages[0].city_escaped, 'Zürich – 東京 é', '\\u escapes decoded');
  assert.equal(pages[0].amount, '1.0e+2');
  assert.equal(pages[0].negative_zero, '-0.0');
  assert.equal(pages[0].line_items, JSON.stringify(items[0].line_items), 'nested values as compact JSON');

  const [pending] = byId('run-alpha-pending');
  assert.equal(pending.status, 'PENDING');
  assert.ok(header.slice(FIXED_COLUMNS.length).every((h) => pending[h] === ''), 'no data, empty cells');
  const [failed] = byId('run-alpha-error');
  assert.equal(failed.error, JSON.parse(up.runRaw('run-alpha-error')).error, 'the error column holds its message');
  assert.ok(failed.error.length > 0);
});

test('export csv: control characters as visible symbols, --out - to standard output', async (t) => {
  const { daemon, up } = await startStack(t);
  // NUL, BEL, ESC, DEL and a tab inside the data, and an error message with a BEL.
  addRun(up, {
    id: 'run-controls', createdMs: LATER_MS + 120_000, fileName: 'c.pdf',
    dataRaw: '{"text":"a\\u0000b\\u0007c\\u001bd\\u007fe\\tf"}',
  });
  const run = up.data.runs.get('run-controls');
  run.raw = run.raw.replace('"error":null', '"error":"boom\\u0007"');
  JSON.parse(run.raw);
  const res = await api(daemon, '/api/v1/extraction/runs/run-controls', { key: 'key-both' });
  assert.equal(res.status, 200, bodyText(res));

  const csv = ok(runs(['export', '--format', 'csv', '--out', '-', '--db', daemon.db]));
  assert.match(csv.stderr, /^runmirror runs export: 1 run, 1 row written to standard output\n$/);
  assert.ok(csv.stdout.startsWith(BOM));
  assert.ok(!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(csv.stdout), 'no raw control characters');
  const [header, row] = parseCsv(csv.stdout.slice(1));
  const cells = Object.fromEntries(header.map((h, i) => [h, row[i]]));
  assert.equal(cells.text, 'a\u2400b\u2407c\u241bd\u2421e\tf', 'U+2400 + code; DEL U+2421; tab kept');
  assert.equal(cells.error, 'boom\u2407');

  const jsonl = ok(runs(['export', '--format', 'jsonl', '--out', '-', '--db', daemon.db]));
  assert.equal(jsonl.stdout, `${run.raw}\n`, 'the stored bytes, on standard output');
  assert.equal(existsSync(path.join(process.cwd(), '-')), false, 'no file named -');
});

test('--status is checked against the kind\'s statuses, in any case; a wrong one is one line, exit 2', async (t) => {
  const { daemon, up } = await startStack(t);
  await fillStore(daemon, up);
  const db = daemon.db;
  oneLineError(runs(['list', '--status', 'DONE', '--db', db]), 2, 'list',
    /--status: expected one of CREATED, PENDING, SUCCESS, ERROR \(any case\) for --kind run, got 'DONE'/);
  oneLineError(runs(['list', '--kind', 'v2_job', '--status', 'success', '--db', db]), 2, 'list',
    /--status: expected one of PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, THROTTLED .* got 'success'/);
  oneLineError(runs(['export', '--format', 'jsonl', '--out', '-', '--status', 'DONE', '--db', db]), 2, 'export',
    /--status: expected one of/);
  assert.match(ok(runs(['list', '--status', 'error', '--db', db])).stdout, /run-alpha-error/);
  assert.match(ok(runs(['list', '--kind', 'v1_job', '--status', 'partial_success', '--db', db])).stdout, /^no runs\n$/);
  assert.match(ok(runs(['list', '--kind', 'all', '--status', 'Completed', '--db', db])).stdout, /^(no runs\n|ID )/);
});

test('export writes the whole file or nothing; bad command lines exit 2', async (t) => {
  const { daemon, up, dir } = await startStack(t);
  await fillStore(daemon, up);
  const db = daemon.db;

  const keep = path.join(dir, 'keep.csv');
  await writeFile(keep, 'old contents');
  oneLineError(runs(['export', '--format', 'csv', '--out', keep, '--db', path.join(dir, 'missing.db')]), 1, 'export',
    /no store at/);
  assert.equal(await readFile(keep, 'utf8'), 'old contents', 'untouched after a failure');

  // The rename fails (a directory is in the way) after everything was written: no file, no leftovers.
  const blocked = path.join(dir, 'blocked');
  await mkdir(path.join(blocked, 'inside'), { recursive: true });
  const before = await readdir(dir);
  oneLineError(runs(['export', '--format', 'jsonl', '--out', blocked, '--db', db]), 1, 'export', /cannot write .*blocked/);
  assert.deepEqual(await readdir(dir), before, 'no temporary file left behind');
  oneLineError(runs(['export', '--format', 'jsonl', '--out', path.join(dir, 'no', 'such', 'dir.jsonl'), '--db', db]), 1,
    'export', /cannot write/);
  assert.ok(!existsSync(path.join(dir, 'no')));

  oneLineError(runs(['export', '--format', 'xml', '--out', keep, '--db', db]), 2, 'export', /--format: expected jsonl or csv/);
  oneLineError(runs(['export', '--out', keep, '--db', db]), 2, 'export', /--format jsonl\|csv is required/);
  oneLineError(runs(['export', '--format', 'csv', '--db', db]), 2, 'export', /--out FILE is required/);
  oneLineError(runs(['list', '--limit', '0', '--db', db]), 2, 'list', /--limit: expected an integer/);
  oneLineError(runs(['list', '--since', 'last week', '--db', db]), 2, 'list', /--since: expected an ISO 8601/);
  oneLineError(runs(['list', '--bogus', '--db', db]), 2, 'list', /--bogus: unknown option/);
  oneLineError(runs(['list', 'extra', '--db', db]), 2, 'list', /unexpected argument 'extra'/);
  oneLineError(runs(['show', '--db', db]), 2, 'show', /missing the run ID/);
  oneLineError(runs(['show', 'a', 'b', '--db', db]), 2, 'show', /unexpected argument 'b'/);
  const unknown = runs(['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^runmirror runs: unknown action 'frobnicate'/);

  const help = ok(runs(['export', '--help']));
  for (const flag of ['--format', '--out FILE', '--agent ID', '--status S', '--since WHEN', '--search TEXT', '--db PATH']) {
    assert.ok(help.stdout.includes(flag), `export --help mentions ${flag}`);
  }
  assert.match(ok(runs(['--help'])).stdout, /^Usage: runmirror runs ACTION/);
  assert.match(spawnSync(RUNMIRROR_BIN, ['--help'], { encoding: 'utf8' }).stdout, /\n {2}runs /, 'top-level help lists it');
});
