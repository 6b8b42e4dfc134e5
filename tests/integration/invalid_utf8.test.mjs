// Upstream bytes that are not UTF-8: the runs routes relay and serve them unchanged (the store
// keeps the upstream's bytes), while every browse view (the browse API's run, list and search,
// the events stream, `runmirror runs show|list|export`) is valid JSON in valid UTF-8, with each
// ill-formed sequence shown as U+FFFD exactly where a WHATWG decoder (TextDecoder, a browser)
// puts it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { RUNMIRROR_BIN, startStack, api, waitFor } from '../support/daemon.mjs';
import { assertSameBytes, bodyText, cacheStatus } from '../support/checks.mjs';

const RUN_ID = 'run-hostile-utf8';
const RUN_PATH = `/api/v1/extraction/runs/${RUN_ID}`;

// A run whose strings hold every kind of ill-formed UTF-8: a lone continuation byte, an
// overlong '/', a UTF-16 surrogate, a code point past U+10FFFF, a byte that starts nothing, a
// sequence cut short before a quote; valid multi-byte text beside them stays as it is.
function hostileRun() {
  const parts = [
    '{"id":"', RUN_ID, '","extraction_agent_id":"agent-', [0xff], '","project_id":"p-alpha",',
    '"status":"SUCCESS","created_at":"2025-01-21T08:00:00.000000Z","updated_at":"2025-01-21T08:01:00.000000Z",',
    '"job_id":"job-', [0xc0, 0xaf], '","file_id":"file-h","file":{"id":"file-h","name":"Z', [0xfc], 'rich ',
    [0xe6, 0x9d], '.pdf"},"data":{"vendor":"hostile', [0x80], 'vendor","note":"', [0xed, 0xa0, 0x80], ' ',
    [0xf4, 0x90, 0x80, 0x80], ' Zürich 東京","k', [0xfe], '":1},"error":null,"config":{},"data_schema":{}}',
  ];
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const whatwg = new TextDecoder('utf-8'); // U+FFFD per maximal subpart, as runmirror does

function assertValidUtf8(bytes, label) {
  assert.doesNotThrow(() => strictUtf8.decode(bytes), `${label}: not valid UTF-8`);
}

// `runmirror runs ...args`, stdout as raw bytes.
function runsCli(args) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RUNMIRROR_')) env[k] = v;
  env.RUNMIRROR_CONFIG = '/dev/null'; // no config file from the search path
  const res = spawnSync(RUNMIRROR_BIN, ['runs', ...args], { env, timeout: 20_000 });
  if (res.error) throw res.error;
  assert.equal(res.status, 0, `runs ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

// GET /_runmirror/events, its bytes as they arrive.
function rawEvents(daemon) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const req = http.get(`${daemon.url}/_runmirror/events`, { agent: false }, (res) => {
      res.on('data', (c) => chunks.push(c));
      res.on('error', () => {});
      resolve({ status: res.statusCode, bytes: () => Buffer.concat(chunks), close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

test('invalid UTF-8 from upstream: runs routes byte-exact, browse views valid JSON with U+FFFD', async (t) => {
  const { daemon, up, defer, dir } = await startStack(t);
  const upstreamBytes = hostileRun();
  assert.throws(() => strictUtf8.decode(upstreamBytes), 'the test body must hold ill-formed UTF-8');
  // What a browser makes of those bytes: the reference for every browse view.
  const expected = JSON.parse(whatwg.decode(upstreamBytes));
  assert.equal(expected.file.name, 'Z\uFFFDrich \uFFFD.pdf');
  assert.equal(expected.data.note, '\uFFFD\uFFFD\uFFFD \uFFFD\uFFFD\uFFFD\uFFFD Zürich 東京');

  const events = await rawEvents(daemon);
  defer(() => events.close());
  assert.equal(events.status, 200);

  up.setFault({ method: 'GET', path: RUN_PATH, status: 200, body: upstreamBytes, times: 1 });
  const first = await api(daemon, RUN_PATH, { key: 'key-alpha' });
  assert.equal(first.status, 200, bodyText(first));
  assertSameBytes(first.body, upstreamBytes, 'relayed run');
  assert.match(cacheStatus(first), /stored/);
  const hit = await api(daemon, RUN_PATH, { key: 'key-alpha' });
  assert.match(cacheStatus(hit), /; hit/);
  assertSameBytes(hit.body, upstreamBytes, 'run served from the store');

  // The browse API: the run, the list, a search.
  const one = await api(daemon, `/_runmirror/api/runs/${RUN_ID}`);
  assert.equal(one.status, 200, bodyText(one));
  assertValidUtf8(one.body, 'browse API run');
  assert.deepEqual(JSON.parse(one.body.toString('utf8')), expected);
  assert.ok(one.body.includes(Buffer.from('"name":"Z\uFFFDrich \uFFFD.pdf"')), 'only the bad bytes change');

  for (const query of ['', `?q=hostile`, '?agent=' + encodeURIComponent('agent-\uFFFD')]) {
    const list = await api(daemon, `/_runmirror/api/runs${query}`);
    assert.equal(list.status, 200, bodyText(list));
    assertValidUtf8(list.body, `browse list ${query}`);
    const item = JSON.parse(list.body.toString('utf8')).items.find((r) => r.id === RUN_ID);
    if (query.startsWith('?agent=')) {
      // The filter matches stored bytes exactly: U+FFFD is not the byte 0xFF.
      assert.equal(item, undefined);
      continue;
    }
    assert.ok(item, `${query}: the run is listed`);
    assert.deepEqual(
      [item.extraction_agent_id, item.job_id, item.file_name],
      [expected.extraction_agent_id, expected.job_id, expected.file.name],
    );
  }
  const agents = await api(daemon, '/_runmirror/api/agents');
  assertValidUtf8(agents.body, 'browse agents');
  assert.ok(JSON.parse(agents.body.toString('utf8')).items.some((a) => a.extraction_agent_id === 'agent-\uFFFD'));

  // The events stream announced the run when it was first stored (in fleet mode, often by the
  // other daemon: its ids crossed between daemons byte for byte).
  await waitFor(() => events.bytes().includes(Buffer.from(RUN_ID)), { timeoutMs: 5_000 });
  const stream = events.bytes();
  assertValidUtf8(stream, 'events stream');
  const frame = stream.toString('utf8').split('\n\n').find((f) => f.includes(RUN_ID));
  const data = JSON.parse(frame.split('\n').find((l) => l.startsWith('data: ')).slice(6));
  assert.deepEqual([data.extraction_agent_id, data.job_id], ['agent-\uFFFD', 'job-\uFFFD\uFFFD']);

  // The CLI, reading the store directly.
  const shown = runsCli(['show', RUN_ID, '--db', daemon.db]);
  assertValidUtf8(shown, 'runs show');
  assert.deepEqual(JSON.parse(shown.toString('utf8')), expected);
  const listed = runsCli(['list', '--json', '--db', daemon.db]);
  assertValidUtf8(listed, 'runs list --json');
  const jsonl = path.join(dir, 'runs.jsonl');
  runsCli(['export', '--format', 'jsonl', '--out', jsonl, '--db', daemon.db]);
  const exported = await readFile(jsonl);
  assertValidUtf8(exported, 'export jsonl');
  assert.deepEqual(JSON.parse(exported.toString('utf8').trim()), expected);
  const csv = path.join(dir, 'runs.csv');
  runsCli(['export', '--format', 'csv', '--out', csv, '--db', daemon.db]);
  const csvBytes = await readFile(csv);
  assertValidUtf8(csvBytes, 'export csv');
  assert.ok(csvBytes.toString('utf8').includes('hostile\uFFFDvendor'));

  // And the store still holds the upstream's bytes: offline, the runs route serves them.
  const again = await api(daemon, RUN_PATH, { key: 'key-alpha' });
  assertSameBytes(again.body, upstreamBytes, 'run served from the store after browsing');
});
