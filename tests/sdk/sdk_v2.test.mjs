// SDK 2.16.0 (Extract v2, `client.extract`) pointed at runmirror through its baseURL override,
// with the fake upstream behind the daemon. Every answer through the daemon must equal what the
// fake gives directly (the same SDK call against the fake, or the fake's own bytes).
// These assertions hold whether or not the daemon caches v2; caching assertions (what reaches
// the upstream, Cache-Status) belong beside them once the daemon mirrors v2.
// Needs `npm ci` in tests/sdk.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack } from '../support/daemon.mjs';
import { V2_EXTRACT, V2_BIG_JOBS, UNICODE_RAW } from '../support/fake_upstream.mjs';
import { clientV2, sdkV2Version, FAST_POLLING, listAllV2, rawBytes, failure } from './sdk_client_v2.mjs';

const EXPANDS = [[], ['configuration'], ['extract_metadata'], ['usage'], ['configuration', 'extract_metadata', 'usage']];
const SEEDED = ['v2-alpha-completed', 'v2-alpha-array', 'v2-alpha-spaced', 'v2-alpha-failed', 'v2-alpha-cancelled', 'v2-alpha-running', 'v2-alpha-pending'];
// Jobs created through the daemon move by time (not by polls), whoever polls them.
const TIMED = { runningAfterMs: 100, finalAfterMs: 400 };

test('the pinned SDK 2.x version is installed', () => {
  assert.equal(sdkV2Version, '2.16.0');
});

test('SDK 2: extract.get with and without each expand equals the fake, byte for byte', async (t) => {
  const { daemon, up } = await startStack(t);
  const via = clientV2(daemon, 'key-alpha');
  const direct = clientV2(up, 'key-alpha');
  for (const id of SEEDED) {
    for (const expand of EXPANDS) {
      const what = `${id} expand=${expand.join(',')}`;
      const answer = await rawBytes(via.extract.get(id, { expand }));
      assert.equal(answer.status, 200, what);
      assert.deepEqual(answer.body, up.v2.jobBytes(id, expand), what);
      assert.deepEqual(await via.extract.get(id, { expand }), await direct.extract.get(id, { expand }), what);
    }
  }
  const job = await via.extract.get('v2-alpha-completed', { expand: ['configuration'] });
  assert.equal(job.extract_result.vendor, UNICODE_RAW);
  assert.equal(job.configuration.version, '2026-01-15');

  for (const [id, expand] of [['v2-no-such-job', []], ['v2-alpha-completed', ['everything']]]) {
    const d = await failure(via.extract.get(id, { expand }));
    assert.deepEqual(d, await failure(direct.extract.get(id, { expand })), `${id} ${expand}`);
    assert.ok(d.status === 404 || d.status === 422, `${d.status}`);
  }
});

test('SDK 2: extract.list auto-paging and filters through the daemon equal the fake', async (t) => {
  const { daemon, up } = await startStack(t);
  const via = clientV2(daemon, 'key-alpha');
  const direct = clientV2(up, 'key-alpha');
  const ids = up.v2.listIds('key-alpha');
  const cases = [
    {},
    { page_size: 10 },
    { page_size: 7, status: 'COMPLETED' },
    { status: 'RUNNING' },
    { configuration_id: 'cfg-alpha-invoices', page_size: 4 },
    { job_ids: ['v2-big-007', 'v2-alpha-failed', 'v2-beta-completed'] },
    { created_at_on_or_after: JSON.parse(up.v2.jobRaw(ids[30])).created_at, created_at_on_or_before: JSON.parse(up.v2.jobRaw(ids[12])).created_at, page_size: 5 },
    { file_input: 'dfl-alpha-array' },
  ];
  for (const params of cases) {
    const through = await listAllV2(via, params);
    assert.deepEqual(through, await listAllV2(direct, params), JSON.stringify(params));
    assert.deepEqual(through.ids, up.v2.listIds('key-alpha', params), JSON.stringify(params));
  }
  assert.equal((await listAllV2(via, { page_size: 10 })).pages, 7);
  assert.equal((await listAllV2(via, {})).ids.length, V2_BIG_JOBS + 7);

  // Whole pages, expanded items included, are the fake's bytes.
  for (const params of [{ page_size: 60 }, { page_size: 20, expand: ['configuration', 'extract_metadata', 'usage'] }]) {
    const through = await rawBytes(via.extract.list(params));
    assert.equal(through.status, 200);
    assert.deepEqual(through.body, (await rawBytes(direct.extract.list(params))).body, JSON.stringify(params));
  }
  const expanded = [];
  for await (const job of via.extract.list({ page_size: 25, expand: ['usage'] })) expanded.push(job);
  const expandedDirect = [];
  for await (const job of direct.extract.list({ page_size: 25, expand: ['usage'] })) expandedDirect.push(job);
  assert.deepEqual(expanded, expandedDirect);
  assert.ok(expanded.every((job) => 'usage' in job && !('configuration' in job)));

  for (const params of [{ page_size: 0 }, { page_token: 'not-a-token' }, { status: 'DONE' }]) {
    const d = await failure(via.extract.list(params));
    assert.equal(d.status, 422, JSON.stringify(params));
    assert.deepEqual(d, await failure(direct.extract.list(params)), JSON.stringify(params));
  }
});

test('SDK 2: extract.create and run() through the daemon', async (t) => {
  const { daemon, up } = await startStack(t, { upstream: { v2: TIMED } });
  const via = clientV2(daemon, 'key-alpha');
  const direct = clientV2(up, 'key-alpha');

  const params = { file_input: 'dfl-sdk2-1', configuration: { data_schema: { type: 'object' }, extraction_target: 'per_page' } };
  const created = await rawBytes(via.extract.create(params));
  assert.equal(created.status, 200);
  const job = JSON.parse(created.body);
  assert.equal(job.status, 'PENDING');
  assert.deepEqual(created.body, up.v2.jobBytes(job.id), 'the create answer is the fake\'s bytes');
  const posts = up.requests('POST', V2_EXTRACT);
  assert.equal(posts.length, 1, 'extract.create reaches the upstream exactly once');
  assert.deepEqual(JSON.parse(posts[0].body), params);

  const done = await via.extract.waitForCompletion(job.id, { expand: ['extract_metadata'] }, FAST_POLLING);
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.extract_result.length, 3, 'per_page: one result per page');
  assert.deepEqual(done, await direct.extract.get(job.id, { expand: ['extract_metadata'] }));

  const ran = await via.extract.run({ file_input: 'dfl-sdk2-2', configuration_id: 'cfg-alpha-invoices', project_id: 'p-alpha' }, FAST_POLLING);
  assert.equal(ran.status, 'COMPLETED');
  assert.equal(ran.extract_result.vendor, UNICODE_RAW);
  assert.deepEqual(ran, await direct.extract.get(ran.id, { project_id: 'p-alpha' }));
  assert.deepEqual(up.v2.createdIds(), [job.id, ran.id]);

  await assert.rejects(via.extract.run({ file_input: 'dfl-sdk2-fail', configuration_id: 'cfg-alpha-invoices' }, FAST_POLLING), (err) => {
    assert.equal(err.name, 'PollingError');
    assert.match(err.message, /FAILED/);
    return true;
  });

  // A job the test moves by hand (no progress): waitForCompletion through the daemon sees it.
  up.v2.setProgress({});
  const manual = await via.extract.create({ file_input: 'dfl-sdk2-manual', configuration_id: 'cfg-alpha-receipts' });
  const waiting = via.extract.waitForCompletion(manual.id, undefined, FAST_POLLING);
  await new Promise((resolve) => setTimeout(resolve, 300));
  up.v2.finish(manual.id, 'COMPLETED');
  assert.deepEqual(await waiting, JSON.parse(up.v2.jobRaw(manual.id)));

  const bad = await failure(via.extract.create({ file_input: 'dfl-x' }));
  assert.equal(bad.status, 422);
  assert.deepEqual(bad, await failure(direct.extract.create({ file_input: 'dfl-x' })));
});

test('SDK 2: cancel and delete through the daemon', async (t) => {
  const { daemon, up } = await startStack(t);
  const via = clientV2(daemon, 'key-alpha');

  await via.extract.get('v2-alpha-pending');
  const cancelled = await rawBytes(via.extract.cancel('v2-alpha-pending'));
  assert.equal(cancelled.status, 200);
  assert.deepEqual(cancelled.body, up.v2.jobBytes('v2-alpha-pending'));
  assert.equal(JSON.parse(cancelled.body).status, 'CANCELLED');
  assert.equal((await via.extract.get('v2-alpha-pending')).status, 'CANCELLED');
  await assert.rejects(via.extract.waitForCompletion('v2-alpha-pending', undefined, FAST_POLLING), (err) => err.name === 'PollingError');
  assert.equal((await failure(via.extract.cancel('v2-alpha-pending'))).status, 400);

  await via.extract.get('v2-alpha-completed');
  assert.deepEqual(await via.extract.delete('v2-alpha-completed'), {});
  assert.equal(up.v2.job('v2-alpha-completed').deleted, true);
  for (const expand of EXPANDS) {
    // The daemon answers for a resource deleted through it (its tombstone), in its own words.
    const gone = await failure(via.extract.get('v2-alpha-completed', { expand }));
    assert.equal(gone.status, 404);
    assert.match(gone.body.detail, /not found/i);
  }
  assert.equal((await failure(via.extract.delete('v2-alpha-completed'))).status, 404);
  assert.ok(!(await listAllV2(via, {})).ids.includes('v2-alpha-completed'));
});

test('SDK 2: keys through the daemon: each sees its own jobs, unknown keys get 401', async (t) => {
  const { daemon, up } = await startStack(t);
  const alpha = clientV2(daemon, 'key-alpha');
  const beta = clientV2(daemon, 'key-beta');

  assert.equal((await alpha.extract.get('v2-alpha-completed')).project_id, 'p-alpha');
  assert.deepEqual(await failure(beta.extract.get('v2-alpha-completed')), await failure(clientV2(up, 'key-beta').extract.get('v2-alpha-completed')));
  assert.equal((await failure(beta.extract.get('v2-alpha-completed'))).status, 404);
  assert.deepEqual((await listAllV2(beta, {})).ids, up.v2.listIds('key-beta'));
  assert.deepEqual((await listAllV2(beta, {})).ids, ['v2-beta-failed', 'v2-beta-pending', 'v2-beta-completed']);

  const nobody = clientV2(daemon, 'key-nobody');
  for (const call of [() => nobody.extract.get('v2-alpha-completed'), () => nobody.extract.list(), () => nobody.extract.cancel('v2-alpha-pending')]) {
    assert.deepEqual(await failure(call()), { status: 401, body: { detail: 'Invalid API key' } });
  }
  assert.equal((await alpha.extract.get('v2-alpha-pending')).status, 'PENDING', 'the 401 cancel changed nothing');
});
