// Self-check of the fake upstream's Extract v2 (tests/support/fake_v2.mjs), driven directly (no
// daemon) by SDK 2.16.0 the way an application calls it: if the SDK and the fake disagree, the
// daemon's v2 tests mean nothing. Needs `npm ci` in tests/sdk (scripts/test does it).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startFakeUpstream, v2JobPath, V2_EXTRACT, V2_BIG_JOBS, UNICODE_RAW, BIG_INTEGER } from '../support/fake_upstream.mjs';
import { cleanupStack, httpRequest } from '../support/daemon.mjs';
import { clientV2, sdkV2Version, FAST_POLLING, listAllV2, rawBytes } from '../sdk/sdk_client_v2.mjs';

async function fake(t, opts) {
  const defer = cleanupStack(t);
  const up = await startFakeUpstream(opts);
  defer(() => up.stop());
  return up;
}

const ALPHA_JOBS = V2_BIG_JOBS + 7;
const EXPANDED = ['configuration', 'extract_metadata', 'usage'];
const statusIs = (status) => (err) => {
  assert.equal(err.status, status, `got ${err.status}: ${err.message}`);
  return true;
};
const get = (up, pathAndQuery, key = 'key-alpha') =>
  httpRequest(`${up.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${key}` } });

test('SDK 2.16.0 is installed beside 1.8.0', () => {
  assert.equal(sdkV2Version, '2.16.0');
});

test('fake v2: get, with and without each expand, byte for byte', async (t) => {
  const up = await fake(t);
  const sdk = clientV2(up, 'key-alpha');

  const plain = await sdk.extract.get('v2-alpha-completed');
  assert.equal(plain.status, 'COMPLETED');
  assert.equal(plain.project_id, 'p-alpha');
  assert.equal(plain.configuration_id, 'cfg-alpha-invoices');
  assert.equal(plain.extract_result.vendor, UNICODE_RAW);
  assert.equal(plain.extract_result.vendor_escaped, UNICODE_RAW);
  assert.equal(plain.metadata.usage.num_pages_billed, plain.metadata.usage.num_pages_extracted);
  for (const member of EXPANDED) assert.ok(!(member in plain), `${member} is absent without expand`);

  for (const member of EXPANDED) {
    const job = await sdk.extract.get('v2-alpha-completed', { expand: [member] });
    for (const other of EXPANDED) assert.equal(other in job, other === member, `expand=${member}: ${other}`);
    const { body } = await rawBytes(sdk.extract.get('v2-alpha-completed', { expand: [member] }));
    assert.deepEqual(body, up.v2.jobBytes('v2-alpha-completed', [member]));
  }
  const full = await sdk.extract.get('v2-alpha-completed', { expand: EXPANDED });
  assert.equal(full.configuration.tier, 'agentic');
  assert.equal(full.configuration.version, '2026-01-15', 'the resolved version, not "latest"');
  assert.equal(full.extract_metadata.parse_job_id, 'pjb-v2-alpha-completed');
  assert.ok(full.usage.credits > 0);

  // Raw bytes: stable across reads, ~4 KB of extract_result, JSON a re-serialiser would change.
  const a = await rawBytes(sdk.extract.get('v2-alpha-completed', { expand: EXPANDED }));
  const b = await rawBytes(sdk.extract.get('v2-alpha-completed', { expand: EXPANDED }));
  assert.deepEqual(a.body, b.body);
  assert.deepEqual(a.body, up.v2.jobBytes('v2-alpha-completed', EXPANDED));
  const text = a.body.toString('utf8');
  for (const needle of [BIG_INTEGER, UNICODE_RAW, '1.0e+2', '-0.0', '"x_future_field"', '"x_future_config_knob"']) {
    assert.ok(text.includes(needle), `body lacks ${needle}`);
  }
  assert.ok(JSON.stringify(plain.extract_result).length > 3_500, 'a realistic extract_result');

  // The SDK repeats expand=; a comma list and any order give the same bytes.
  const sent = up.requests('GET', v2JobPath('v2-alpha-completed')).map((e) => e.search);
  assert.ok(sent.includes('?expand=configuration&expand=extract_metadata&expand=usage'), sent.join(' '));
  const comma = await get(up, `${v2JobPath('v2-alpha-completed')}?expand=usage,configuration,extract_metadata`);
  assert.equal(comma.status, 200);
  assert.deepEqual(comma.body, a.body);

  const array = await sdk.extract.get('v2-alpha-array');
  assert.ok(Array.isArray(array.extract_result) && array.extract_result.length === 3, 'per_page: an array');
  assert.ok(up.v2.jobRaw('v2-alpha-spaced').includes('"id": "v2-alpha-spaced", '), 'Python separators kept');
  const failed = await sdk.extract.get('v2-alpha-failed', { expand: ['usage'] });
  assert.equal(failed.extract_result, null);
  assert.match(failed.error_message, /timeout/);

  await assert.rejects(sdk.extract.get('v2-alpha-completed', { expand: ['everything'] }), statusIs(422));
  await assert.rejects(sdk.extract.get('v2-no-such-job'), (err) => {
    statusIs(404)(err);
    assert.deepEqual(err.error, { detail: 'Extract job v2-no-such-job not found' });
    return true;
  });
  assert.equal(up.count('GET', v2JobPath('v2-alpha-completed')), 12, 'every GET of it above is counted, the 422 included');
});

test('fake v2: list auto-pages with a cursor, newest first', async (t) => {
  const up = await fake(t);
  const sdk = clientV2(up, 'key-alpha');

  const byTen = await listAllV2(sdk, { page_size: 10 });
  assert.equal(byTen.ids.length, ALPHA_JOBS);
  assert.equal(new Set(byTen.ids).size, ALPHA_JOBS);
  assert.equal(byTen.pages, 7);
  assert.deepEqual(byTen.ids, up.v2.listIds('key-alpha'));
  const created = byTen.ids.map((id) => JSON.parse(up.v2.jobRaw(id)).created_at);
  for (let i = 1; i < created.length; i += 1) assert.ok(created[i - 1] > created[i], `${created[i - 1]} > ${created[i]}`);
  assert.notDeepEqual(byTen.ids.slice(7), [...byTen.ids.slice(7)].sort().reverse(), 'list order differs from id order');
  const queries = up.requests('GET', V2_EXTRACT).map((e) => e.query);
  assert.equal(queries[0].page_token, undefined);
  assert.ok(queries.slice(1).every((q) => q.page_token && q.page_size === '10'), 'the SDK sends page_token and keeps page_size');

  const all = [];
  for await (const job of sdk.extract.list()) all.push(job.id);
  assert.deepEqual(all, byTen.ids, 'default page size (50): same jobs');

  // Raw pages: each item is the job's own bytes; the last page says there is no next one.
  const first = await get(up, `${V2_EXTRACT}?page_size=60`);
  const page1 = JSON.parse(first.body);
  assert.equal(page1.items.length, 60);
  assert.equal(typeof page1.next_page_token, 'string');
  for (const item of page1.items) assert.ok(first.body.includes(up.v2.jobBytes(item.id)), `raw bytes of ${item.id}`);
  const second = await get(up, `${V2_EXTRACT}?page_size=60&page_token=${page1.next_page_token}`);
  const page2 = JSON.parse(second.body);
  assert.deepEqual([...page1.items, ...page2.items].map((j) => j.id), byTen.ids);
  assert.equal(page2.next_page_token, null);
  const again = await get(up, `${V2_EXTRACT}?page_size=60&page_token=${page1.next_page_token}`);
  assert.deepEqual(again.body, second.body, 'a page is byte-stable');

  const expanded = await sdk.extract.list({ page_size: 5, expand: ['configuration', 'extract_metadata'] });
  for (const job of expanded.items) {
    assert.ok('configuration' in job && 'extract_metadata' in job && !('usage' in job), job.id);
  }

  await assert.rejects(sdk.extract.list({ page_size: 0 }), statusIs(422));
  await assert.rejects(sdk.extract.list({ page_size: 101 }), statusIs(422));
  await assert.rejects(sdk.extract.list({ page_token: 'not-a-token' }), statusIs(422));
  await assert.rejects(sdk.extract.list({ status: 'DONE' }), statusIs(422));
  await assert.rejects(sdk.extract.list({ created_at_on_or_after: 'yesterday' }), statusIs(422));
});

test('fake v2: list filters (status, configuration_id, job_ids, created_at bounds, file_input)', async (t) => {
  const up = await fake(t);
  const sdk = clientV2(up, 'key-alpha');
  const jobsOf = async (params) => {
    const out = [];
    for await (const job of sdk.extract.list({ page_size: 7, ...params })) out.push(job);
    return out;
  };

  for (const status of ['COMPLETED', 'FAILED', 'CANCELLED', 'RUNNING', 'PENDING']) {
    const jobs = await jobsOf({ status });
    assert.ok(jobs.length > 0, status);
    assert.ok(jobs.every((j) => j.status === status), status);
    assert.deepEqual(jobs.map((j) => j.id), up.v2.listIds('key-alpha', { status }));
  }
  assert.deepEqual(await jobsOf({ status: 'THROTTLED' }), [], 'THROTTLED is a valid filter');

  const invoices = await jobsOf({ configuration_id: 'cfg-alpha-invoices' });
  assert.ok(invoices.length > 10 && invoices.every((j) => j.configuration_id === 'cfg-alpha-invoices'));

  const wanted = ['v2-big-007', 'v2-alpha-failed', 'v2-beta-completed', 'v2-no-such-job'];
  const picked = await jobsOf({ job_ids: wanted });
  assert.deepEqual(picked.map((j) => j.id), ['v2-alpha-failed', 'v2-big-007'], 'only visible ones, newest first');
  assert.ok(up.requests('GET', V2_EXTRACT).at(-1).search.includes('job_ids=v2-big-007&job_ids=v2-alpha-failed'), 'the SDK repeats job_ids=');
  const comma = JSON.parse((await get(up, `${V2_EXTRACT}?job_ids=v2-big-007,v2-alpha-failed`)).body);
  assert.deepEqual(comma.items.map((j) => j.id), ['v2-alpha-failed', 'v2-big-007'], 'a comma list works too');

  // Bounds are inclusive, to the microsecond.
  const ids = up.v2.listIds('key-alpha');
  const newest = JSON.parse(up.v2.jobRaw(ids[10])).created_at;
  const oldest = JSON.parse(up.v2.jobRaw(ids[19])).created_at;
  const window = await jobsOf({ created_at_on_or_after: oldest, created_at_on_or_before: newest });
  assert.deepEqual(window.map((j) => j.id), ids.slice(10, 20));
  const afterOnly = await jobsOf({ created_at_on_or_after: newest });
  assert.deepEqual(afterOnly.map((j) => j.id), ids.slice(0, 11));
  const dateOnly = await jobsOf({ created_at_on_or_before: '2025-02-04' });
  assert.ok(dateOnly.length > 0 && dateOnly.every((j) => j.created_at < '2025-02-04'));

  const byFile = await jobsOf({ file_input: 'dfl-alpha-running' });
  assert.deepEqual(byFile.map((j) => j.id), ['v2-alpha-running']);
  assert.deepEqual(up.v2.listIds('key-alpha', { status: 'COMPLETED', configuration_id: 'cfg-alpha-receipts' }),
    (await jobsOf({ status: 'COMPLETED', configuration_id: 'cfg-alpha-receipts' })).map((j) => j.id));
});

test('fake v2: create, then run() and waitForCompletion() poll to a final status', async (t) => {
  const up = await fake(t, { v2: { runningAfterPolls: 1, finalAfterPolls: 3 } });
  const sdk = clientV2(up, 'key-alpha');

  const inline = await sdk.extract.create({
    file_input: 'dfl-inline-1',
    configuration: { data_schema: { type: 'object', properties: { total: { type: 'number' } } }, tier: 'cost_effective' },
  });
  assert.equal(inline.status, 'PENDING');
  assert.equal(inline.id, 'v2-new-1');
  assert.equal(inline.project_id, 'p-alpha');
  assert.equal(inline.configuration_id, null);
  assert.equal(inline.extract_result, null);
  const post = up.requests('POST', V2_EXTRACT)[0];
  assert.deepEqual(JSON.parse(post.body), {
    file_input: 'dfl-inline-1',
    configuration: { data_schema: { type: 'object', properties: { total: { type: 'number' } } }, tier: 'cost_effective' },
  });
  const withConfig = await sdk.extract.get(inline.id, { expand: ['configuration'] });
  assert.equal(withConfig.status, 'RUNNING', 'first poll: RUNNING');
  assert.equal(withConfig.configuration.tier, 'cost_effective');
  assert.equal(withConfig.configuration.version, '2026-01-15');
  assert.equal(withConfig.configuration.extraction_target, 'per_doc', 'defaults filled in');

  // run(): create, then polls GET /api/v2/extract/{id} until final.
  const started = Date.now();
  const done = await sdk.extract.run({ file_input: 'dfl-run-1', configuration_id: 'cfg-alpha-invoices', project_id: 'p-alpha' }, FAST_POLLING);
  assert.ok(Date.now() - started < 2_000, 'constant 0.1 s polling');
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.configuration_id, 'cfg-alpha-invoices');
  assert.equal(done.extract_result.vendor, UNICODE_RAW);
  const polls = up.requests('GET', v2JobPath(done.id));
  assert.equal(polls.length, 3, 'PENDING → RUNNING (1st poll) → COMPLETED (3rd)');
  assert.ok(polls.every((e) => e.search === '?project_id=p-alpha'), 'run() polls with the project_id it created with, no expand');
  assert.equal(up.requests('POST', V2_EXTRACT).at(-1).search, '?project_id=p-alpha');

  // FAILED (file_input with "fail") rejects with the SDK's PollingError.
  await assert.rejects(sdk.extract.run({ file_input: 'dfl-will-fail', configuration_id: 'cfg-alpha-invoices' }, FAST_POLLING), (err) => {
    assert.equal(err.name, 'PollingError');
    assert.match(err.message, /failed with status: FAILED \| Error: Extraction failed/);
    return true;
  });

  // Moved by the test: waitForCompletion() sees it on its next poll.
  up.v2.setProgress({});
  const manual = await sdk.extract.create({ file_input: 'dfl-manual', configuration_id: 'cfg-alpha-receipts' });
  const waiting = sdk.extract.waitForCompletion(manual.id, { expand: ['usage'] }, FAST_POLLING);
  await new Promise((resolve) => setTimeout(resolve, 350));
  assert.equal(up.v2.job(manual.id).status, 'PENDING', 'no progress options: stays PENDING');
  up.v2.setStatus(manual.id, 'RUNNING');
  up.v2.finish(manual.id, 'COMPLETED');
  const finished = await waiting;
  assert.equal(finished.status, 'COMPLETED');
  assert.ok(finished.usage.credits > 0, 'waitForCompletion passes its query (expand) on');
  assert.equal(finished.updated_at > finished.created_at, true);

  await assert.rejects(sdk.extract.create({ file_input: 'dfl-x' }), statusIs(422));
  await assert.rejects(sdk.extract.create({ file_input: 'dfl-x', configuration_id: 'cfg-alpha-invoices', configuration: { data_schema: {} } }), statusIs(422));
  await assert.rejects(sdk.extract.create({ file_input: 'dfl-x', configuration: { data_schema: {}, tier: 'turbo', bogus: 1 } }), statusIs(422));
  await assert.rejects(sdk.extract.create({ file_input: 'dfl-x', configuration_id: 'cfg-beta-contracts' }), statusIs(404));
  assert.deepEqual(up.v2.createdIds(), ['v2-new-1', 'v2-new-2', 'v2-new-3', 'v2-new-4']);
});

test('fake v2: progress by time, like v1 autoFinishMs', async (t) => {
  const up = await fake(t, { autoFinishMs: 300 });
  const sdk = clientV2(up, 'key-alpha');
  const job = await sdk.extract.create({ file_input: 'dfl-timed', configuration_id: 'cfg-alpha-invoices' });
  assert.equal((await sdk.extract.get(job.id)).status, 'PENDING');
  const done = await sdk.extract.waitForCompletion(job.id, undefined, FAST_POLLING);
  assert.equal(done.status, 'COMPLETED');
  const polls = up.count('GET', v2JobPath(job.id));
  assert.ok(polls >= 2 && polls <= 10, `${polls} polls in ~0.3 s`);
  const listed = await sdk.extract.list({ job_ids: [job.id] });
  assert.equal(listed.items[0].status, 'COMPLETED');
});

test('fake v2: cancel and delete', async (t) => {
  const up = await fake(t);
  const sdk = clientV2(up, 'key-alpha');

  const cancelled = await sdk.extract.cancel('v2-alpha-pending');
  assert.equal(cancelled.status, 'CANCELLED');
  assert.deepEqual(cancelled, JSON.parse(up.v2.jobRaw('v2-alpha-pending')));
  assert.equal((await sdk.extract.get('v2-alpha-pending')).status, 'CANCELLED');
  await assert.rejects(sdk.extract.waitForCompletion('v2-alpha-pending', undefined, FAST_POLLING), (err) => err.name === 'PollingError');
  await assert.rejects(sdk.extract.cancel('v2-alpha-pending'), statusIs(400));
  await assert.rejects(sdk.extract.cancel('v2-alpha-completed'), statusIs(400));
  assert.equal((await sdk.extract.cancel('v2-alpha-running')).status, 'CANCELLED');
  assert.equal(up.count('POST', v2JobPath('v2-alpha-running') + '/cancel'), 1);

  assert.deepEqual(await sdk.extract.delete('v2-alpha-spaced'), {});
  await assert.rejects(sdk.extract.get('v2-alpha-spaced'), statusIs(404));
  await assert.rejects(sdk.extract.get('v2-alpha-spaced', { expand: ['usage'] }), statusIs(404));
  await assert.rejects(sdk.extract.delete('v2-alpha-spaced'), statusIs(404));
  await assert.rejects(sdk.extract.cancel('v2-alpha-spaced'), statusIs(404));
  const { ids } = await listAllV2(sdk, { page_size: 100 });
  assert.equal(ids.length, ALPHA_JOBS - 1);
  assert.ok(!ids.includes('v2-alpha-spaced'));

  up.v2.markDeleted('v2-big-001');
  await assert.rejects(sdk.extract.get('v2-big-001'), statusIs(404));

  up.reset();
  assert.equal((await sdk.extract.get('v2-alpha-spaced')).status, 'COMPLETED', 'reset() brings the data set back');
  assert.equal((await sdk.extract.get('v2-alpha-pending')).status, 'PENDING');
});

test('fake v2: each key sees its own projects; unknown keys get 401', async (t) => {
  const up = await fake(t);
  const alpha = clientV2(up, 'key-alpha');
  const beta = clientV2(up, 'key-beta');
  const both = clientV2(up, 'key-both');

  assert.deepEqual((await listAllV2(beta, {})).ids, ['v2-beta-failed', 'v2-beta-pending', 'v2-beta-completed']);
  assert.equal((await listAllV2(both, { page_size: 100 })).ids.length, ALPHA_JOBS + 3);
  assert.deepEqual((await listAllV2(both, { project_id: 'p-beta' })).ids, (await listAllV2(beta, {})).ids);
  await assert.rejects(beta.extract.list({ project_id: 'p-alpha' }), statusIs(404));

  await assert.rejects(beta.extract.get('v2-alpha-completed'), statusIs(404));
  await assert.rejects(beta.extract.cancel('v2-alpha-pending'), statusIs(404));
  await assert.rejects(beta.extract.delete('v2-alpha-completed'), statusIs(404));
  await assert.rejects(both.extract.get('v2-alpha-completed', { project_id: 'p-beta' }), statusIs(404));
  assert.equal((await both.extract.get('v2-alpha-completed')).id, 'v2-alpha-completed');
  assert.equal((await alpha.extract.get('v2-alpha-pending')).status, 'PENDING', 'beta could not cancel it');

  const made = await beta.extract.create({ file_input: 'dfl-beta-new', configuration: { data_schema: { type: 'object' } } });
  assert.equal(made.project_id, 'p-beta');
  await assert.rejects(alpha.extract.get(made.id), statusIs(404));
  assert.equal((await listAllV2(beta, {})).ids[0], made.id, 'the new job lists first');
  await assert.rejects(alpha.extract.create({ file_input: 'dfl-x', configuration: { data_schema: {} }, project_id: 'p-beta' }), statusIs(404));

  const nobody = clientV2(up, 'key-nobody');
  await assert.rejects(nobody.extract.get('v2-alpha-completed'), (err) => {
    statusIs(401)(err);
    assert.deepEqual(err.error, { detail: 'Invalid API key' });
    return true;
  });
  await assert.rejects(nobody.extract.list(), statusIs(401));
  await assert.rejects(nobody.extract.create({ file_input: 'dfl-x', configuration_id: 'cfg-alpha-invoices' }), statusIs(401));
  await assert.rejects(nobody.extract.cancel('v2-alpha-pending'), statusIs(401));
  await assert.rejects(nobody.extract.delete('v2-alpha-pending'), statusIs(401));
  const anonymous = await httpRequest(`${up.url}${v2JobPath('v2-alpha-completed')}`);
  assert.equal(anonymous.status, 401);
});
