// The offline web UI (/_runmirror/ui/) end to end, in Debian's headless Chromium driven by
// playwright-core: the fake upstream and the daemon run as in the integration tests, runs are read
// through the daemon with a client key so the store has them, then a browser browses them.
//
//   RUNMIRROR_BIN=build/runmirror node --test tests/ui/      (after `npm ci` in tests/ui)
//
// Screenshots go to the test's temp dir and, when RUNMIRROR_SCREENSHOT_DIR is set, there too.
// Every request the page makes must go to the daemon: the UI works with no network.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { api, startDaemon, startStack, waitFor } from '../support/daemon.mjs';
import { BIG_INTEGER, UNICODE_RAW } from '../support/fake_upstream.mjs';
import { RUNS, readAll, runPath, syncArgs } from '../support/sync_helpers.mjs';
import { V2_EXTRACT, v2JobPath } from '../support/fake_v2.mjs';

const CHROMIUM = process.env.RUNMIRROR_CHROMIUM || '/usr/bin/chromium';
const ADMIN_TOKEN = 'ui-test-admin-token';
const ALPHA_RUNS = ['run-alpha-success', 'run-alpha-error', 'run-alpha-pending', 'run-alpha-pages', 'run-alpha-spaced'];
const UI_TIMEOUT_MS = 15_000;

// A fresh Chromium profile in `dir`; closed when the test ends. Returns { context, page, watch }:
// `watch.problems()` lists uncaught page errors, CSP refusals and requests that left the daemon.
async function openBrowser(t, dir, daemonUrl) {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  const userDataDir = await mkdtemp(path.join(dir, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    timezoneId: 'UTC', // date filters and shown times do not depend on the machine's zone
    locale: 'en-US',
    acceptDownloads: true,
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(UI_TIMEOUT_MS);

  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    // Chromium logs every 4xx answer: a 401 before the token is entered and the 404 of a run the
    // mirror lacks are part of the flows here. Anything else is a problem.
    if (msg.type() === 'error' && !/the server responded with a status of (401|404)\b/.test(text)) {
      problems.push(`console error: ${text}`);
    }
  });
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${daemonUrl}/`) && !url.startsWith('data:') && !url.startsWith('blob:')) {
      problems.push(`request outside the daemon: ${url}`);
    }
  });
  return { context, page, problems: () => problems };
}

// Saves a full-page screenshot as `name` in `dir` and in RUNMIRROR_SCREENSHOT_DIR (if set).
async function screenshot(t, page, dir, name) {
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  const shots = process.env.RUNMIRROR_SCREENSHOT_DIR;
  if (shots) {
    await mkdir(shots, { recursive: true });
    await copyFile(file, path.join(shots, name));
    t.diagnostic(`screenshot: ${path.join(shots, name)}`);
  } else {
    t.diagnostic(`screenshot: ${file} (removed with the temp dir; set RUNMIRROR_SCREENSHOT_DIR to keep it)`);
  }
}

// The run ids of the list's rows, in order.
const rowIds = (page) => page.locator('table.runs tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.runId));

async function waitForRowIds(page, predicate, label) {
  let last = [];
  const deadline = Date.now() + UI_TIMEOUT_MS;
  for (;;) {
    last = await rowIds(page);
    if (predicate(last)) return last;
    if (Date.now() > deadline) assert.fail(`${label}: rows never matched; last: ${JSON.stringify(last)}`);
    await page.waitForTimeout(50);
  }
}

const badgeOf = (page, runId) => page.locator(`table.runs tbody tr[data-run-id="${runId}"] .badge`);

test('ui: token prompt, agents, search, a run with its data, download, array data, errors', { timeout: 120_000 }, async (t) => {
  const { daemon, up, dir } = await startStack(t, { daemon: { extraArgs: ['--admin-token', ADMIN_TOKEN, ...syncArgs()] } });
  // The store learns runs by being read through the daemon with a client key.
  await readAll(daemon, ALPHA_RUNS.map(runPath), { key: 'key-alpha' });
  await readAll(daemon, ['run-beta-success', 'run-beta-error'].map(runPath), { key: 'key-beta' });

  // The assets themselves need no token (a browser cannot send one when it navigates).
  const index = await api(daemon, '/_runmirror/ui/');
  assert.equal(index.status, 200, `GET /_runmirror/ui/: ${index.status} ${index.body.toString('utf8').slice(0, 200)}`);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.equal(index.headers['cache-control'], 'no-cache');
  const again = await api(daemon, '/_runmirror/ui/', { headers: { 'if-none-match': index.headers.etag } });
  assert.equal(again.status, 304);
  const redirect = await api(daemon, '/_runmirror/ui');
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, '/_runmirror/ui/');

  const { context, page, problems } = await openBrowser(t, dir, daemon.url);
  await page.goto(`${daemon.url}/_runmirror/ui`);
  assert.equal(new URL(page.url()).pathname, '/_runmirror/ui/', 'the slash-less path redirects to the page');

  // 401 from the API: the page asks for the token. A wrong one is refused, the right one kept.
  const dialog = page.getByRole('dialog', { name: 'Admin token or API key required' });
  await dialog.waitFor();
  await page.locator('#token-input').fill('not-the-token');
  await page.keyboard.press('Enter');
  await page.locator('#token-error').getByText('not accepted').waitFor();
  await page.locator('#token-input').fill(ADMIN_TOKEN);
  await dialog.getByRole('button', { name: 'Use token' }).click();
  await dialog.waitFor({ state: 'hidden' });
  // Kept in the tab's memory only: nothing in the browser's storage.
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);

  // Agents on the left, with their run counts by status.
  const alpha = page.locator('#agents a[data-agent="agent-alpha"]');
  await alpha.waitFor();
  const alphaText = await alpha.innerText();
  assert.match(alphaText, /5 runs/, `agent-alpha entry: ${alphaText}`);
  assert.equal(await alpha.locator('.badge[data-status="SUCCESS"] .n').innerText(), '3');
  assert.equal(await alpha.locator('.badge[data-status="ERROR"] .n').innerText(), '1');
  await page.locator('#agents a[data-agent="agent-beta"]').waitFor();
  // With the token the event stream is open too (read with fetch: EventSource cannot send it).
  await page.locator('#live[data-state="on"]').waitFor();

  // Pick the agent: its runs, newest first.
  await alpha.click();
  const expectedAlpha = up.listIds('agent-alpha');
  await waitForRowIds(page, (ids) => ids.length === 5, 'agent-alpha');
  assert.deepEqual(await rowIds(page), expectedAlpha, 'runs newest first');
  assert.equal(await alpha.getAttribute('aria-current'), 'page');
  assert.equal(await badgeOf(page, 'run-alpha-error').innerText(), 'ERROR');

  // Search (the q filter, server-side).
  await page.locator('#f-q').fill('alpha-success');
  const found = await waitForRowIds(page, (ids) => ids.includes('run-alpha-success') && ids.length < 5, 'search alpha-success');
  assert.ok(!found.includes('run-alpha-error'), `search results: ${found}`);
  assert.match(page.url(), /q=alpha-success/, 'the search is in the address, so back and reload keep it');
  await screenshot(t, page, dir, 'ui-search.png');

  // Open the run: its data as a readable table, exactly as upstream wrote it.
  await page.locator('tr[data-run-id="run-alpha-success"] td.file a').click();
  await page.locator('h1', { hasText: 'invoice-run-alpha-success.pdf' }).waitFor();
  assert.match(page.url(), /#\/runs\/run-alpha-success\?q=alpha-success$/, 'the search goes along, to be highlighted');
  const data = page.locator('section[aria-labelledby="sec-data"]');
  const cell = (key) => data.locator('table.kv > tbody > tr', { has: page.locator(`th:text-is("${key}")`) }).locator('td');
  assert.equal(await cell('city').innerText(), UNICODE_RAW);
  assert.equal(await cell('city_escaped').innerText(), UNICODE_RAW, '\\u escapes shown decoded');
  assert.equal(await cell('big').innerText(), BIG_INTEGER, 'a big integer is shown exactly, not rounded');
  assert.equal(await cell('amount').innerText(), '1.0e+2');
  // Nested values are a collapsible tree.
  const nested = cell('nested').locator('details.tree').first();
  await nested.locator('summary').first().waitFor();
  const schema = page.locator('section[aria-labelledby="sec-schema"]');
  assert.match(await schema.innerText(), /line_items/);
  assert.match(await page.locator('section[aria-labelledby="sec-config"]').innerText(), /extraction_mode/);
  await screenshot(t, page, dir, 'ui-run.png');

  // Download JSON gives the stored bytes.
  const stored = await api(daemon, '/_runmirror/api/runs/run-alpha-success', { key: ADMIN_TOKEN });
  assert.equal(stored.status, 200);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
  assert.equal(download.suggestedFilename(), 'run-alpha-success.json');
  const downloaded = await readFile(await download.path());
  assert.ok(downloaded.equals(stored.body), 'the download is the stored JSON, byte for byte');
  assert.ok(downloaded.includes(Buffer.from(BIG_INTEGER)));

  // Copy JSON puts the same text on the clipboard.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: daemon.url });
  await page.getByRole('button', { name: 'Copy JSON' }).click();
  await page.getByText('JSON copied to the clipboard').waitFor({ state: 'attached' });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), stored.body.toString('utf8'));

  // Back to the list: the search and its rows are still there, and the keyboard focus is on the
  // run just left, so Enter opens it again.
  await page.getByRole('link', { name: '← Back to runs' }).click();
  await waitForRowIds(page, (ids) => ids.includes('run-alpha-success') && ids.length < 5, 'back to the list');
  assert.equal(await page.locator('#f-q').inputValue(), 'alpha-success');
  await page.waitForFunction(() => document.activeElement?.closest('tr')?.dataset.runId === 'run-alpha-success');
  await page.keyboard.press('Enter');
  await page.locator('h1', { hasText: 'invoice-run-alpha-success.pdf' }).waitFor();
  await page.goBack();
  await waitForRowIds(page, (ids) => ids.includes('run-alpha-success') && ids.length < 5, 'back again');

  // A run whose data is an array of objects: a table, one row per item, a column per key.
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/run-alpha-pages`);
  const pages = page.locator('section[aria-labelledby="sec-data"] table.data-table').first();
  await pages.waitFor();
  const headers = await pages.locator(':scope > thead th').allInnerTexts();
  for (const h of ['city', 'amount', 'big', 'line_items']) assert.ok(headers.includes(h), `columns ${JSON.stringify(headers)} lack ${h}`);
  assert.equal(await pages.locator(':scope > tbody > tr').count(), 2);

  // A failed run shows its error.
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/run-alpha-error`);
  const error = page.locator('section[aria-labelledby="sec-error"]');
  await error.waitFor();
  assert.match(await error.innerText(), /Extraction failed on page \d+: "timeout"/);

  // A run the mirror does not hold.
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/run-not-mirrored`);
  await page.getByText('This run is not in the mirror.').waitFor();

  // Recent requests: what the daemon did with each, with its cache result and latency.
  await page.getByRole('link', { name: /Recent requests/ }).click();
  const requestRows = page.locator('table.requests tbody tr');
  await requestRows.first().waitFor();
  const caches = await page.locator('table.requests tbody tr td:nth-child(5)').allInnerTexts();
  assert.ok(caches.length > 0 && caches.every((c) => ['hit', 'stale', 'assembled', 'miss', 'revalidated', 'refused', 'write', 'passthrough', 'none'].includes(c)), JSON.stringify(caches));
  assert.ok(caches.includes('miss'), `the runs read through the daemon were misses: ${JSON.stringify(caches)}`);
  await page.locator('select[name="cache"]').selectOption('miss');
  await page.waitForFunction(() => location.hash === '#/requests?cache=miss');
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('table.requests tbody tr td:nth-child(5)')].map((td) => td.textContent);
    return cells.length > 0 && cells.every((c) => c === 'miss');
  });

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});

test('ui: paging with Load more, status and date filters, live status badges', { timeout: 120_000 }, async (t) => {
  const { daemon, up, dir } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  // agent-big's 130 runs by two list pages; agent-alpha's by id (the pending one gets watched).
  await readAll(daemon, [0, 100].map((skip) => `${RUNS}?extraction_agent_id=agent-big&limit=100&skip=${skip}`), { key: 'key-alpha' });
  await readAll(daemon, ALPHA_RUNS.map(runPath), { key: 'key-alpha' });

  const { page, problems } = await openBrowser(t, dir, daemon.url);
  await page.goto(`${daemon.url}/_runmirror/ui/`);
  const big = page.locator('#agents a[data-agent="agent-big"]');
  await big.waitFor();
  assert.match(await big.innerText(), /130 runs/);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no token configured: no prompt');

  // Server-side paging: 50 at a time, in the upstream's order (newest first).
  await big.click();
  const all = up.listIds('agent-big');
  await waitForRowIds(page, (ids) => ids.length === 50, 'first page');
  const more = page.getByRole('button', { name: 'Load more' });
  await more.click();
  await waitForRowIds(page, (ids) => ids.length === 100, 'second page');
  await more.click();
  const ids = await waitForRowIds(page, (x) => x.length === 130, 'third page');
  assert.deepEqual(ids, all, 'every run once, newest first');
  await more.waitFor({ state: 'hidden' });
  assert.match(await page.locator('#list-summary').innerText(), /all 130 runs/);

  // Status filter.
  await page.locator('#f-status').selectOption('ERROR');
  const errors = all.filter((id) => up.run(id).status === 'ERROR');
  assert.ok(errors.length > 0);
  await waitForRowIds(page, (x) => x.length === errors.length && x.every((id) => errors.includes(id)), 'ERROR only');
  for (const status of await page.locator('table.runs tbody .badge').allInnerTexts()) assert.equal(status, 'ERROR');
  assert.match(page.url(), /status=ERROR/);

  // Date filter, all agents: agent-big's runs are from 2025-01-15, agent-alpha's from 2025-01-20.
  await page.locator('#agents a[data-agent=""]').click();
  await waitForRowIds(page, (x) => x.length === 50, 'all agents');
  await page.locator('#f-from').fill('2025-01-20');
  await waitForRowIds(page, (x) => x.length === ALPHA_RUNS.length && x.every((id) => ALPHA_RUNS.includes(id)), 'created from 2025-01-20');
  await page.locator('#f-to').fill('2025-01-19');
  await waitForRowIds(page, (x) => x.length === 0, 'an empty range');
  await page.getByText('No runs match these filters.').waitFor();
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await waitForRowIds(page, (x) => x.length === 50, 'filters cleared');

  // Live: the pending run turns SUCCESS upstream; the sync worker notices and the badge follows.
  await page.locator('#agents a[data-agent="agent-alpha"]').click();
  await waitForRowIds(page, (x) => x.length === ALPHA_RUNS.length, 'agent-alpha');
  assert.equal(await badgeOf(page, 'run-alpha-pending').innerText(), 'PENDING');
  await page.locator('#live[data-state="on"]').waitFor();
  up.finishRun('run-alpha-pending', 'SUCCESS');
  await page.locator('tr[data-run-id="run-alpha-pending"] .badge[data-status="SUCCESS"]').waitFor({ timeout: 15_000 });
  // The agent's counts follow too (read again from the API).
  await page.locator('#agents a[data-agent="agent-alpha"] .badge[data-status="SUCCESS"] .n', { hasText: '4' }).waitFor({ timeout: 10_000 });
  await screenshot(t, page, dir, 'ui-runs.png');

  // Keyboard: "/" jumps to the search box.
  await page.locator('#list-title').focus();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-q');

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});

test('ui: Extract v2 jobs: the kind choice, a job opened from the list and by its address, search', { timeout: 120_000 }, async (t) => {
  const { daemon, up, dir } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  // Two v1 runs and some v2 jobs of key-alpha, read through the daemon so the store has them
  // (the unfinished ones get watched).
  const V1 = ['run-alpha-success', 'run-alpha-error'];
  const V2 = ['v2-alpha-completed', 'v2-alpha-array', 'v2-alpha-failed', 'v2-alpha-running', 'v2-alpha-pending'];
  await readAll(daemon, V1.map(runPath), { key: 'key-alpha' });
  await readAll(daemon, V2.map(v2JobPath), { key: 'key-alpha' });
  const v2Order = up.v2.listIds('key-alpha').filter((id) => V2.includes(id)); // newest first
  const v1Order = up.listIds('agent-alpha').filter((id) => V1.includes(id));
  assert.equal(v2Order.length, V2.length);

  const { page, problems } = await openBrowser(t, dir, daemon.url);
  await page.goto(`${daemon.url}/_runmirror/ui/`);
  await page.locator('#live[data-state="on"]').waitFor();

  // The list shows v1 runs until told otherwise; the kind is a labelled choice, kept in the URL.
  await waitForRowIds(page, (ids) => ids.length === V1.length, 'v1 runs by default');
  assert.deepEqual(await rowIds(page), v1Order);
  const kind = page.getByLabel('Kind');
  assert.equal(await kind.inputValue(), '');
  await kind.selectOption({ label: 'v2 jobs' });
  await waitForRowIds(page, (ids) => ids.length === V2.length, 'v2 jobs');
  assert.deepEqual(await rowIds(page), v2Order, 'v2 jobs, newest first');
  assert.match(page.url(), /#\/runs\?kind=v2_job$/);
  assert.equal(await page.locator('#list-title').innerText(), 'All v2 jobs');
  assert.equal(await badgeOf(page, 'v2-alpha-running').innerText(), 'RUNNING');
  assert.match(await page.locator('#list-summary').innerText(), /all 5 v2 jobs/);
  assert.equal(await page.locator('#nav-v2').getAttribute('aria-current'), 'page');
  // v2 statuses to filter by.
  const statuses = await page.locator('#f-status option').allInnerTexts();
  for (const s of ['COMPLETED', 'FAILED', 'RUNNING']) assert.ok(statuses.includes(s), `status choices ${statuses}`);
  await page.locator('#f-status').selectOption('FAILED');
  await waitForRowIds(page, (ids) => ids.length === 1 && ids[0] === 'v2-alpha-failed', 'FAILED v2 jobs');
  assert.match(page.url(), /kind=v2_job/);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await waitForRowIds(page, (ids) => ids.length === V2.length, 'filters cleared, still v2 jobs');
  assert.equal(await kind.inputValue(), 'v2_job', 'clearing the filters keeps the kind');

  // All kinds: every row says which it is.
  await kind.selectOption({ label: 'All kinds' });
  const allIds = await waitForRowIds(page, (ids) => ids.length === V1.length + V2.length, 'all kinds');
  assert.deepEqual(new Set(allIds), new Set([...V1, ...V2]));
  assert.match(page.url(), /kind=all/);
  const kindCell = (id) => page.locator(`table.runs tbody tr[data-run-id="${id}"] td.kind-col`);
  assert.equal(await kindCell('v2-alpha-completed').innerText(), 'v2 job');
  assert.equal(await kindCell('run-alpha-success').innerText(), 'v1 run');
  assert.ok(await kindCell('run-alpha-success').isVisible(), 'the kind column is shown for all kinds');

  // Full-text search over extract_result, through the same search box.
  const invoice = JSON.parse(up.v2.jobRaw('v2-alpha-completed')).extract_result.invoice_number;
  await page.locator('#f-q').fill(invoice);
  await waitForRowIds(page, (ids) => ids.length === 1 && ids[0] === 'v2-alpha-completed', `search ${invoice}`);
  assert.match(page.url(), new RegExp(`q=${invoice}`));
  await screenshot(t, page, dir, 'ui-v2-search.png');

  // Open the job from the list: its status, times, project, configuration, extracted result.
  await page.locator('tr[data-run-id="v2-alpha-completed"] td.file a').click();
  await page.locator('h1', { hasText: 'v2-alpha-completed' }).waitFor();
  assert.match(page.url(), new RegExp(`#/runs/v2-alpha-completed\\?kind=v2_job&q=${invoice}$`));
  assert.equal(await page.locator('.run-title .badge').innerText(), 'COMPLETED');
  const meta = await page.locator('dl.meta').innerText();
  for (const text of ['p-alpha', 'dfl-alpha-completed', 'cfg-alpha-invoices', 'Created', 'Updated']) assert.ok(meta.includes(text), `meta lacks ${text}: ${meta}`);
  const result = page.locator('section[aria-labelledby="sec-data"]');
  const cell = (key) => result.locator('table.kv > tbody > tr', { has: page.locator(`th:text-is("${key}")`) }).locator('td');
  assert.equal(await cell('invoice_number').innerText(), invoice);
  assert.equal(await cell('vendor').innerText(), UNICODE_RAW);
  assert.equal(await cell('big').innerText(), BIG_INTEGER, 'a big integer is shown exactly');
  assert.match(await page.locator('section[aria-labelledby="sec-config"]').innerText(), /cfg-alpha-invoices/);
  // The stored JSON: the page's viewer, and Download gives the stored bytes.
  const stored = await api(daemon, '/_runmirror/api/runs/v2-alpha-completed?kind=v2_job');
  assert.equal(stored.status, 200);
  await page.getByText('Show the stored JSON, formatted').click();
  assert.match(await page.locator('pre.raw-json').innerText(), /"extract_result": \{/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSON' }).click()]);
  assert.equal(download.suggestedFilename(), 'v2-alpha-completed.json');
  assert.ok((await readFile(await download.path())).equals(stored.body), 'the download is the stored job, byte for byte');
  await screenshot(t, page, dir, 'ui-v2-job.png');

  // Back to the list it came from, the search still there.
  await page.getByRole('link', { name: '← Back to runs and v2 jobs' }).click();
  await waitForRowIds(page, (ids) => ids.length === 1 && ids[0] === 'v2-alpha-completed', 'back to the search');
  assert.equal(await page.locator('#f-q').inputValue(), invoice);

  // By its address: a failed job shows its error; an array result is a table; unknown ids say so.
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/v2-alpha-failed?kind=v2_job`);
  assert.match(await page.locator('section[aria-labelledby="sec-error"]').innerText(), /Extraction failed on page \d+/);
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/v2-alpha-array?kind=v2_job`);
  const pagesTable = page.locator('section[aria-labelledby="sec-data"] table.data-table').first();
  await pagesTable.waitFor();
  assert.equal(await pagesTable.locator(':scope > tbody > tr').count(), 3, 'one row per page');
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/v2-not-mirrored?kind=v2_job`);
  await page.getByText('This v2 job is not in the mirror.').waitFor();

  // A job only ever read with ?expand= is listed and opened as that stored representation.
  const expanded = await api(daemon, `${v2JobPath('v2-alpha-cancelled')}?expand=usage`, { key: 'key-alpha' });
  assert.equal(expanded.status, 200, expanded.body.toString('utf8'));
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs?kind=v2_job`);
  await waitForRowIds(page, (ids) => ids.length === V2.length + 1 && ids.includes('v2-alpha-cancelled'), 'the expanded-only job listed');
  await page.locator('tr[data-run-id="v2-alpha-cancelled"] td.file a').click();
  await page.locator('h1', { hasText: 'v2-alpha-cancelled' }).waitFor();
  assert.equal(await page.locator('#representation').innerText(), 'expand=usage');
  assert.equal(await page.locator('.run-title .badge').innerText(), 'CANCELLED');
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/v2-alpha-completed?kind=v2_job`);
  await page.locator('h1', { hasText: 'v2-alpha-completed' }).waitFor();
  assert.equal(await page.locator('#representation').count(), 0, 'a plain job says nothing of it');

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});

test('ui: Extract v2 jobs live: a list badge, a new job announced, an open job following its status', { timeout: 120_000 }, async (t) => {
  const { daemon, up, dir } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  const V2 = ['v2-alpha-completed', 'v2-alpha-running', 'v2-alpha-pending'];
  await readAll(daemon, [runPath('run-alpha-pending'), ...V2.map(v2JobPath)], { key: 'key-alpha' });
  const { page, problems } = await openBrowser(t, dir, daemon.url);

  // A job finishing upstream turns COMPLETED on the list (the sync worker polls it) ...
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs?kind=v2_job`);
  await page.locator('#live[data-state="on"]').waitFor();
  await waitForRowIds(page, (ids) => ids.length === V2.length, 'v2 jobs');
  assert.equal(await badgeOf(page, 'v2-alpha-running').innerText(), 'RUNNING');
  assert.equal(await page.locator('tr[data-run-id="v2-alpha-running"] td.duration').innerText(), '—');
  up.v2.finish('v2-alpha-running', 'COMPLETED');
  await page.locator('tr[data-run-id="v2-alpha-running"] .badge[data-status="COMPLETED"]').waitFor({ timeout: 15_000 });
  await page.locator('tr[data-run-id="v2-alpha-running"] td.duration', { hasText: /\d s/ }).waitFor();

  // ... a v1 run newly mirrored is no new v2 job (once the page has its event, the agent's counts
  // are read again) ...
  await readAll(daemon, [runPath('run-alpha-success')], { key: 'key-alpha' });
  await page.locator('#agents a[data-agent="agent-alpha"] .badge[data-status="SUCCESS"] .n', { hasText: '1' }).waitFor({ timeout: 10_000 });
  assert.ok(await page.locator('main .notice').first().isHidden(), 'no new v2 job announced for a v1 run');

  // ... a job created through the daemon is announced on the v2 list ...
  const created = await api(daemon, `${V2_EXTRACT}?project_id=p-alpha`, {
    key: 'key-alpha',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ file_input: 'dfl-ui-new', configuration_id: 'cfg-alpha-invoices' }),
  });
  assert.equal(created.status, 200, created.body.toString('utf8'));
  const newId = JSON.parse(created.body).id;
  await page.getByText('1 new v2 job mirrored since this list was loaded.').waitFor();
  await page.getByRole('button', { name: 'Show them' }).click();
  await waitForRowIds(page, (ids) => ids.length === V2.length + 1 && ids.includes(newId), 'the new job listed');

  // ... and an open job follows its status, its result appearing once it is COMPLETED.
  await page.locator(`tr[data-run-id="${newId}"] td.file a`).click();
  await page.locator('.run-title .badge[data-status="PENDING"]').waitFor();
  await page.getByText('No data yet: the job is PENDING.').waitFor();
  up.v2.finish(newId, 'COMPLETED');
  await page.locator('.run-title .badge[data-status="COMPLETED"]').waitFor({ timeout: 15_000 });
  await page.locator('section[aria-labelledby="sec-data"] table.kv').first().waitFor();
  await screenshot(t, page, dir, 'ui-v2-live.png');

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});

test('ui: v1 jobs: the kind choice, a job with its stored result and a link to its run', { timeout: 120_000 }, async (t) => {
  const { daemon, dir } = await startStack(t, { upstream: { autoFinishMs: 300 }, daemon: { pollIntervalMs: 200 } });
  const created = await api(daemon, '/api/v1/extraction/jobs', {
    key: 'key-alpha',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ extraction_agent_id: 'agent-alpha', file_id: 'file-ui-job' }),
  });
  assert.equal(created.status, 200, created.body.toString('utf8'));
  const jobId = JSON.parse(created.body).id;
  // The sync worker follows the job to SUCCESS, then stores its result.
  const resultPath = `/_runmirror/api/runs/${jobId}?kind=v1_job&representation=result`;
  const stored = await waitFor(async () => {
    const r = await api(daemon, resultPath);
    return r.status === 200 && JSON.parse(r.body);
  }, { timeoutMs: 10_000 });
  assert.ok(stored, 'the job\'s result is stored');

  const { page, problems } = await openBrowser(t, dir, daemon.url);
  await page.goto(`${daemon.url}/_runmirror/ui/`);
  await page.getByLabel('Kind').selectOption({ label: 'v1 jobs' });
  await waitForRowIds(page, (ids) => ids.length === 1 && ids[0] === jobId, 'v1 jobs');
  assert.match(page.url(), /#\/runs\?kind=v1_job$/);
  assert.equal(await page.locator('#list-title').innerText(), 'All v1 jobs');
  assert.equal(await badgeOf(page, jobId).innerText(), 'SUCCESS');

  await page.locator(`tr[data-run-id="${jobId}"] td.file a`).click();
  await page.locator('#job-run a').waitFor();
  assert.match(page.url(), new RegExp(`#/runs/${jobId}\\?kind=v1_job$`));
  assert.equal(await page.locator('.run-title .badge').innerText(), 'SUCCESS');
  const meta = await page.locator('dl.meta').innerText();
  for (const text of [jobId, 'Alpha receipts agent', 'p-alpha', 'file-ui-job']) assert.ok(meta.includes(text), `meta lacks ${text}: ${meta}`);
  const result = page.locator('section[aria-labelledby="sec-data"]');
  const cell = (key) => result.locator('table.kv > tbody > tr', { has: page.locator(`th:text-is("${key}")`) }).locator('td');
  assert.equal(await cell('city').innerText(), UNICODE_RAW, 'the result\'s data');
  await screenshot(t, page, dir, 'ui-v1-job.png');

  // Its run, one click away.
  assert.equal(await page.locator('#job-run a').innerText(), stored.run_id);
  await page.locator('#job-run a').click();
  await page.locator('dl.meta', { hasText: stored.run_id }).waitFor();
  assert.match(page.url(), new RegExp(`#/runs/${stored.run_id}$`));
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/job-not-mirrored?kind=v1_job`);
  await page.getByText('This v1 job is not in the mirror.').waitFor();

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});

// Whether the page scrolls sideways (it must not, down to 420 px).
const pageScrollWidth = (page) => page.evaluate(() => document.documentElement.scrollWidth);

test('ui: operating it: the upstream\'s state, watches and why they wait, agent names, search hits, 420 px', { timeout: 120_000 }, async (t) => {
  const { daemon: first, up, dir, defer } = await startStack(t, { daemon: { extraArgs: syncArgs() } });
  // Agent names come from the upstream's agents list, read through the daemon.
  const agents = await api(first, '/api/v1/extraction/extraction-agents?project_id=p-alpha', { key: 'key-alpha' });
  assert.equal(agents.status, 200, agents.body.toString('utf8'));
  await readAll(first, ALPHA_RUNS.map(runPath), { key: 'key-alpha' });
  // A restart: the pending run's watch is in the store; its tenant's key was in memory only. One
  // failed request marks the upstream down, for a minute.
  assert.equal((await first.stop()).code, 0);
  const daemon = await startDaemon({
    upstreamUrl: up.url,
    db: first.db,
    extraArgs: [...syncArgs(), '--upstream-failure-threshold', '1', '--upstream-cooldown-ms', '60000'],
  });
  defer(() => daemon.stop());

  const { page, problems } = await openBrowser(t, dir, daemon.url);
  await page.goto(`${daemon.url}/_runmirror/ui/`);
  const alpha = page.locator('#agents a[data-agent="agent-alpha"]');
  await alpha.locator('.agent-name', { hasText: 'Alpha receipts agent' }).waitFor();
  assert.equal(await alpha.locator('.agent-id').innerText(), 'agent-alpha', 'the id beside the name');
  await page.locator('#live[data-state="on"]').waitFor();
  assert.equal(await page.locator('#live-text').innerText(), 'Live · upstream up');

  // Watches: the pending run waits for a key for its tenant, and the page says so.
  await page.getByRole('link', { name: /Watches/ }).click();
  const pending = page.locator('table.watches tbody tr', { hasText: 'run-alpha-pending' });
  await pending.waitFor();
  assert.equal(await pending.getAttribute('data-wait'), 'no_key');
  const pendingText = await pending.innerText();
  assert.match(pendingText, /no key for its tenant yet/);
  assert.match(pendingText, /Alpha receipts agent/, 'the agent by its name');
  assert.match(await page.locator('#watches-summary').innerText(), /1 active watch: 1 no key/);
  await screenshot(t, page, dir, 'ui-watches.png');
  // Its client comes back: the key is known again, and the watch is polled (the view asked
  // again at once, rather than at its next refresh).
  await readAll(daemon, [runPath('run-alpha-success')], { key: 'key-alpha' });
  await page.getByLabel('Also show ended watches').check();
  await page.locator('table.watches tbody tr[data-wait]:not([data-wait="no_key"])', { hasText: 'run-alpha-pending' }).waitFor({ timeout: 10_000 });

  // Search: hits marked in the list's rows ...
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs?q=invoice`);
  await waitForRowIds(page, (ids) => ids.includes('run-alpha-success'), 'search invoice');
  assert.equal(await page.locator('tr[data-run-id="run-alpha-success"] td.file mark.hit').innerText(), 'invoice');
  assert.match(await page.locator('tr[data-run-id="run-alpha-success"] td.agent-col').innerText(), /Alpha receipts agent/);
  // ... and in the run's data, its tree opened down to the first hit (line_items[1].tags[0]).
  await page.locator('#f-q').fill('x');
  await page.waitForFunction(() => location.hash === '#/runs?q=x');
  await waitForRowIds(page, (ids) => ids.includes('run-alpha-success') && ids.length < ALPHA_RUNS.length, 'search x (runs with data)');
  await page.locator('tr[data-run-id="run-alpha-success"] td.file a').click();
  await page.locator('h1', { hasText: 'invoice-run-alpha-success.pdf' }).waitFor();
  assert.match(page.url(), /#\/runs\/run-alpha-success\?q=x$/);
  const data = page.locator('section[aria-labelledby="sec-data"]');
  const hit = data.locator('mark.hit').first();
  await hit.waitFor();
  assert.equal(await hit.innerText(), 'x');
  assert.ok(await hit.isVisible(), 'the first hit is in sight');
  const opened = await hit.evaluate((m) => {
    const states = [];
    for (let d = m.closest('details'); d; d = d.parentElement.closest('details')) states.push(d.open);
    return states;
  });
  assert.ok(opened.length >= 2 && opened.every(Boolean), `every tree node above the hit is open: ${JSON.stringify(opened)}`);
  assert.match(await page.locator('dl.meta').innerText(), /Alpha receipts agent agent-alpha/, 'the run names its agent');
  // Accents and case do not matter, as in the search itself.
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/run-alpha-success?q=zurich`);
  await data.locator('mark.hit', { hasText: 'Zürich' }).first().waitFor();
  // Expand all, collapse all.
  const closedNodes = () => data.locator('details.tree:not([open])').count();
  assert.ok((await closedNodes()) > 0, 'some nodes start closed');
  await data.getByRole('button', { name: 'Expand all' }).click();
  assert.equal(await closedNodes(), 0, 'expand all opens every node, however deep');
  assert.ok((await data.locator('details.tree[open]').count()) >= 4);
  await data.getByRole('button', { name: 'Collapse all' }).click();
  assert.equal(await data.locator('details.tree[open]').count(), 0);
  await screenshot(t, page, dir, 'ui-search-tree.png');

  // The upstream goes away: the page says so (never a green "Live"), and why watches wait.
  await up.stop();
  const failed = await api(daemon, '/api/v1/extraction/extraction-agents', { key: 'key-alpha' });
  assert.ok(failed.status >= 500, `the pass-through fails: ${failed.status}`);
  await page.locator('#live[data-state="down"]').waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#live-text').innerText(), /^Live · upstream down since \d\d:\d\d \(serving from the store\)$/);
  await page.getByRole('link', { name: /Watches/ }).click();
  await page.locator('table.watches tbody tr[data-wait="upstream_down"]', { hasText: 'run-alpha-pending' }).waitFor();

  // 420 px wide: no sideways scroll on the list, a run, the watches.
  await page.setViewportSize({ width: 420, height: 800 });
  assert.ok((await pageScrollWidth(page)) <= 420, `watches at 420 px: scrollWidth ${await pageScrollWidth(page)}`);
  await screenshot(t, page, dir, 'ui-420-watches.png');
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs`);
  await waitForRowIds(page, (ids) => ids.length === ALPHA_RUNS.length, 'the list at 420 px');
  assert.ok((await pageScrollWidth(page)) <= 420, `the list at 420 px: scrollWidth ${await pageScrollWidth(page)}`);
  await screenshot(t, page, dir, 'ui-420-list.png');
  await page.goto(`${daemon.url}/_runmirror/ui/#/runs/run-alpha-pages`);
  await page.locator('section[aria-labelledby="sec-data"] table.data-table').first().waitFor();
  await data.getByRole('button', { name: 'Expand all' }).click();
  assert.ok((await pageScrollWidth(page)) <= 420, `a run at 420 px: scrollWidth ${await pageScrollWidth(page)}`);
  await screenshot(t, page, dir, 'ui-420-run.png');

  assert.deepEqual(problems(), [], 'no page errors, no CSP refusals, no request outside the daemon');
});
