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

import { api, startStack } from '../support/daemon.mjs';
import { BIG_INTEGER, UNICODE_RAW } from '../support/fake_upstream.mjs';
import { RUNS, readAll, runPath, syncArgs } from '../support/sync_helpers.mjs';

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
  const dialog = page.getByRole('dialog', { name: 'Admin token required' });
  await dialog.waitFor();
  await page.locator('#token-input').fill('not-the-token');
  await page.keyboard.press('Enter');
  await page.locator('#token-error').getByText('not accepted').waitFor();
  await page.locator('#token-input').fill(ADMIN_TOKEN);
  await dialog.getByRole('button', { name: 'Use token' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('runmirror.adminToken')), ADMIN_TOKEN);

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
  assert.match(page.url(), /#\/runs\/run-alpha-success$/);
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
