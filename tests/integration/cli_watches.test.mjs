// `runmirror watches`: reads the sync worker's watches straight from the store, with the daemon
// running or stopped; never creates a store; one line and exit 1 or 2 on failure.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { RUNMIRROR_BIN, startStack, startDaemon, api, makeTempDir, removeDir, cleanupStack, waitFor } from '../support/daemon.mjs';
import { bodyText } from '../support/checks.mjs';

const FIELDS = [
  'id', 'kind', 'run_id', 'job_id', 'extraction_agent_id', 'project_id', 'next_poll_at', 'attempts',
  'last_status', 'last_error', 'created_at', 'finished_at', 'given_up_at', 'give_up_reason',
  // Why it waits, as far as the store tells (the daemon's /_runmirror/api/watches knows more).
  'wait', 'wait_text', 'wait_until',
];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// Runs `runmirror watches ...args` with none of the test harness's RUNMIRROR_* variables, so
// only `env` says where the store is. Returns { status, stdout, stderr }.
function watches(args, { env = {} } = {}) {
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RUNMIRROR_')) clean[k] = v;
  }
  const res = spawnSync(RUNMIRROR_BIN, ['watches', ...args], {
    env: { ...clean, RUNMIRROR_CONFIG: '/dev/null', ...env }, // no config file from the search path
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

// JSON Lines -> objects, each checked for the exact field set and time formats.
function parseLines(stdout) {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'output ends with a newline');
  return lines.map((line) => {
    const w = JSON.parse(line);
    assert.deepEqual(Object.keys(w), FIELDS, `fields of ${line}`);
    for (const key of ['next_poll_at', 'created_at']) assert.match(w[key], ISO_UTC, `${key} of ${line}`);
    for (const key of ['finished_at', 'given_up_at']) {
      if (w[key] !== null) assert.match(w[key], ISO_UTC, `${key} of ${line}`);
    }
    return w;
  });
}

function oneLineError(res, status, pattern) {
  assert.equal(res.status, status, `exit status; stderr: ${res.stderr}`);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, /^runmirror watches: [^\n]+\n$/, 'exactly one line on stderr');
  assert.match(res.stderr, pattern);
}

// A store made by the daemon itself (so its schema is the real one), then stopped.
async function daemonMadeStore(t) {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const db = path.join(dir, 'rm.db');
  const d = await startDaemon({ db, offline: true });
  assert.equal((await d.stop()).code, 0);
  return { dir, db };
}

test('a missing store: one line, exit 1, and nothing is created', async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const db = path.join(dir, 'sub', 'missing.db');
  oneLineError(watches(['--db', db]), 1, new RegExp(`no store at ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));
  assert.ok(!existsSync(path.join(dir, 'sub')), 'no directory created');

  // The default location is checked the same way.
  oneLineError(watches([], { env: { RUNMIRROR_DATA_DIR: dir } }), 1, /no store at .*runmirror\.db\n$/);
  assert.ok(!existsSync(path.join(dir, 'runmirror.db')), 'no default store created');
});

test('bad command lines: one line, exit 2', () => {
  oneLineError(watches(['--bogus']), 2, /--bogus: unknown option/);
  oneLineError(watches(['--limit', '0']), 2, /--limit: expected an integer/);
  oneLineError(watches(['--limit', 'ten']), 2, /--limit: expected an integer/);
  oneLineError(watches(['--limit']), 2, /--limit: missing value/);
  oneLineError(watches(['--json=yes']), 2, /--json: takes no value/);
  oneLineError(watches(['runs']), 2, /unexpected argument 'runs'/);
  oneLineError(watches(['--config', '/nonexistent/runmirror.conf']), 2, /--config: cannot read/);
});

test('--help describes every flag and exits 0', () => {
  const res = watches(['--help']);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^Usage: runmirror watches \[options\]/);
  for (const flag of ['--db PATH', '--config FILE', '--all', '--json', '--limit N']) {
    assert.ok(res.stdout.includes(flag), `help mentions ${flag}`);
  }
  assert.match(spawnSync(RUNMIRROR_BIN, ['--help'], { encoding: 'utf8' }).stdout, /\n {2}watches /, 'top-level help lists it');
});

test('an empty store: a message for the table, nothing for --json', async (t) => {
  const { db } = await daemonMadeStore(t);
  const table = watches(['--db', db]);
  assert.equal(table.status, 0, table.stderr);
  assert.equal(table.stdout, 'no active watches\n');
  const json = watches(['--db', db, '--all', '--json']);
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.stdout, '');
});

test('a PENDING run read through the daemon is listed, with the daemon running and stopped', async (t) => {
  const { daemon } = await startStack(t);
  const res = await api(daemon, '/api/v1/extraction/runs/run-alpha-pending', { key: 'key-alpha' });
  assert.equal(res.status, 200, bodyText(res));

  // While the daemon runs (and may be writing): the store is WAL, the reader is not blocked.
  const find = (stdout) => parseLines(stdout).find((w) => w.run_id === 'run-alpha-pending');
  const listed = await waitFor(() => {
    const out = watches(['--db', daemon.db, '--json']);
    assert.equal(out.status, 0, out.stderr);
    return find(out.stdout);
  });
  assert.ok(listed, `the daemon recorded no watch for the PENDING run\n${daemon.describe()}`);
  assert.equal(listed.kind, 'run');
  assert.equal(listed.job_id, 'job-alpha-pending');
  assert.equal(listed.extraction_agent_id, 'agent-alpha');
  assert.equal(listed.project_id, 'p-alpha');
  assert.equal(listed.finished_at, null);
  assert.equal(listed.given_up_at, null);
  assert.equal(listed.give_up_reason, null);

  assert.equal((await daemon.stop()).code, 0);
  const table = watches(['--db', daemon.db]);
  assert.equal(table.status, 0, table.stderr);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  assert.match(header, /^KIND +RUN +JOB +AGENT +NEXT POLL +ATTEMPTS +LAST STATUS +WAITING +LAST ERROR$/);
  const row = rows.find((r) => r.includes('run-alpha-pending'));
  assert.ok(row, `table lists the run:\n${table.stdout}`);
  assert.match(row, /^run +run-alpha-pending +job-alpha-pending +agent-alpha +(due|in \d+[smhd]) +\d+ /);
  // Columns line up: each cell starts where its header does.
  assert.equal(row.indexOf('job-alpha-pending'), header.indexOf('JOB'));
  assert.equal(row.indexOf('agent-alpha'), header.indexOf('AGENT'));

  const after = find(watches(['--db', daemon.db, '--json']).stdout);
  assert.equal(after?.id, listed.id, 'the same watch after the daemon stopped');
});

// Ended watches and awkward text cannot be produced on demand through the daemon, so they are
// written into a daemon-made store with the sqlite3 shell.
test('--all lists ended watches; text is escaped in JSON and cut to fit in the table', async (t) => {
  if (spawnSync('sqlite3', ['-version']).error) {
    t.skip('no sqlite3 shell');
    return;
  }
  const { dir, db } = await daemonMadeStore(t);
  const now = Date.now();
  const longError = `upstream 503:\n${'Service Unavailable. '.repeat(10)}`;
  const sql = `
    INSERT INTO watches (kind, run_id, job_id, tenant, project_id, extraction_agent_id, created_at,
                         next_poll_at, attempts, last_status, last_error, updated_at)
      VALUES ('run', 'run-soon', NULL, 't', 'p-1', 'agent-1', ${now - 60_000}, ${now + 600_000}, 3,
              'PENDING', '${longError}', ${now}),
             ('job', NULL, 'job-due', 't', '', 'agent-1', ${now - 1_000}, ${now - 500}, 0, '', '', ${now});
    INSERT INTO watches (kind, run_id, job_id, tenant, created_at, next_poll_at, attempts, last_status,
                         updated_at, finished_at)
      VALUES ('run', 'run-done', 'job-done', 't', ${now - 500_000}, ${now - 400_000}, 1, 'SUCCESS',
              ${now}, ${now - 300_000});
    INSERT INTO watches (kind, run_id, job_id, tenant, created_at, next_poll_at, attempts, last_status,
                         last_error, updated_at, given_up_at, give_up_reason)
      VALUES ('run', 'run-old', NULL, 't', ${now - 90_000_000}, ${now - 4_000_000}, 40, 'PENDING',
              'said "no" \\ Zürich', ${now}, ${now - 3_600_000}, 'max age reached');`;
  const inserted = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
  assert.equal(inserted.status, 0, inserted.stderr);

  // Active only, soonest first.
  const active = parseLines(watches(['--db', db, '--json']).stdout);
  assert.deepEqual(active.map((w) => w.run_id ?? w.job_id), ['job-due', 'run-soon']);
  assert.equal(active[0].run_id, null, 'a job watch without its run has run_id null');
  assert.equal(active[0].project_id, null, 'an unknown project is null');
  assert.equal(active[1].last_error, longError, 'JSON has the whole error, newline included');
  assert.equal(active[1].next_poll_at, new Date(now + 600_000).toISOString());
  // Why each waits: the store alone cannot tell whether the daemon holds the tenant's key.
  assert.equal(active[0].wait, 'due_key_unknown');
  assert.match(active[0].wait_text, /not visible from the store/);
  assert.equal(active[0].wait_until, null);
  assert.equal(active[1].wait, 'scheduled');
  assert.equal(active[1].wait_until, active[1].next_poll_at);

  // --all: then the ended ones, most recently ended first.
  const all = parseLines(watches(['--db', db, '--json', '--all']).stdout);
  assert.deepEqual(all.map((w) => w.run_id ?? w.job_id), ['job-due', 'run-soon', 'run-done', 'run-old']);
  assert.equal(all[2].finished_at, new Date(now - 300_000).toISOString());
  assert.equal(all[3].given_up_at, new Date(now - 3_600_000).toISOString());
  assert.equal(all[3].give_up_reason, 'max age reached');
  assert.equal(all[3].last_error, 'said "no" \\ Zürich');

  // --limit cuts the list and says so on stderr only.
  const limited = watches(['--db', db, '--json', '--all', '--limit', '1']);
  assert.equal(parseLines(limited.stdout).length, 1);
  assert.match(limited.stderr, /showing the first 1/);

  // The table: active rows first, NEXT POLL relative, the long error cut to the width.
  const table = watches(['--db', db], { env: { COLUMNS: '120' } });
  assert.equal(table.status, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3, table.stdout);
  assert.match(lines[1], /^job +- +job-due +agent-1 +due +0 +- +key not visible here +-$/);
  assert.match(lines[2], /^run +run-soon +- +agent-1 +in (9|10)m +3 +PENDING +- +upstream 503: Service \S*\.\.\.$/);
  for (const line of lines) assert.ok(line.length <= 120, `fits in 120 columns: ${line}`);

  const ended = watches(['--db', db, '--all'], { env: { COLUMNS: '200' } }).stdout.trimEnd().split('\n');
  assert.match(ended[0], /LAST STATUS +WAITING +ENDED +REASON +LAST ERROR$/);
  assert.match(ended[3], /^run +run-done +job-done +- +- +1 +SUCCESS +- +finished 5m ago +- +-$/);
  assert.match(ended[4], /^run +run-old +- +- +- +40 +PENDING +- +gave up 1h ago +max age reached +said "no" \\ Zürich$/);
  const ended3 = parseLines(watches(['--db', db, '--json', '--all']).stdout);
  assert.deepEqual(ended3.map((w) => w.wait), ['due_key_unknown', 'scheduled', 'finished', 'given_up']);
  assert.equal(ended3[3].wait_text, 'given up: max age reached');

  // The store is found as serve finds it: a config file's db, RUNMIRROR_DB.
  const conf = path.join(dir, 'rm.conf');
  await writeFile(conf, `db = ${db}\n`);
  assert.equal(watches(['--config', conf, '--json']).stdout, watches(['--db', db, '--json']).stdout);
  const byEnv = watches(['--json'], { env: { RUNMIRROR_DB: db } });
  assert.equal(parseLines(byEnv.stdout).length, 2);
});
