// One configuration for every command: serve, mirror, runs, watches and config find the same
// config file on the search path (~/.config/runmirror/runmirror.conf here), so a user who
// started the daemon with it reads the same store and reaches the same upstream from any
// directory without a flag. `runmirror config` shows the effective settings and their sources.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { RUNMIRROR_BIN, api, cleanupStack, daemonEnv, makeTempDir, removeDir, startDaemon } from '../support/daemon.mjs';
import { startFakeUpstream } from '../support/fake_upstream.mjs';

// A user's environment: HOME is `home`, no RUNMIRROR_CONFIG, so the search path decides.
const userEnv = (home, extra = {}) => daemonEnv({ HOME: home, XDG_CONFIG_HOME: undefined, XDG_DATA_HOME: undefined, RUNMIRROR_CONFIG: undefined, ...extra });

function cli(home, args, extra = {}) {
  // From the filesystem root: nothing may depend on the working directory.
  const res = spawnSync(RUNMIRROR_BIN, args, { env: userEnv(home, extra), cwd: '/', encoding: 'utf8', timeout: 20_000 });
  if (res.error) throw res.error;
  return res;
}

function mirror(home, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNMIRROR_BIN, ['mirror', ...args], {
      env: userEnv(home, { LLAMA_CLOUD_API_KEY: 'key-alpha' }),
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

async function setup(t) {
  const defer = cleanupStack(t);
  const home = await makeTempDir();
  defer(() => removeDir(home));
  const up = await startFakeUpstream();
  defer(() => up.stop());
  const confDir = path.join(home, '.config', 'runmirror');
  await mkdir(confDir, { recursive: true });
  const conf = path.join(confDir, 'runmirror.conf');
  // A relative db: relative to the file's directory, wherever the command runs.
  await writeFile(conf, `upstream = ${up.url}\ndb = store/mirror.db\nlist-max-age-ms = 0\n`);
  return { defer, home, up, conf, db: path.join(confDir, 'store', 'mirror.db') };
}

test('serve, mirror, runs and watches use the store and upstream of the config file on the search path', async (t) => {
  const { defer, home, up, db } = await setup(t);

  const pulled = await mirror(home, ['--agent', 'agent-big']);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.ok(up.count('GET', '/api/v1/extraction/runs') >= 1, "mirror asked the config file's upstream");

  const listed = cli(home, ['runs', 'list', '--json', '--limit', '1000', '--agent', 'agent-big']);
  assert.equal(listed.status, 0, listed.stderr);
  const ids = listed.stdout.trim().split('\n').map((l) => JSON.parse(l).id);
  assert.deepEqual(new Set(ids), new Set(up.listIds('agent-big')), 'runs lists what mirror stored');

  const watches = cli(home, ['watches', '--json', '--all']);
  assert.equal(watches.status, 0, watches.stderr);

  // The daemon, started with no --db and no --upstream, serves the same store offline.
  const daemon = await startDaemon({ db: false, offline: true, env: { HOME: home, RUNMIRROR_CONFIG: undefined, XDG_CONFIG_HOME: undefined } });
  defer(() => daemon.stop());
  const res = await api(daemon, `/api/v1/extraction/runs/${ids[0]}`, { key: 'key-alpha' });
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(JSON.parse(res.body).id, ids[0]);
  const ready = JSON.parse((await api(daemon, '/_runmirror/ready')).body);
  assert.equal(ready.upstream.url, up.url, "the daemon's upstream is the config file's");
  assert.match(daemon.output(), /config file .*runmirror\.conf \(search path\)/, 'the start-up line names the file');

  const shown = JSON.parse(cli(home, ['config', '--json']).stdout);
  assert.equal(shown.config_found_by, 'search path');
  const dbSetting = shown.settings.find((s) => s.key === 'db');
  assert.equal(dbSetting.value, db);
  assert.match(dbSetting.source, /^config file .*runmirror\.conf: db$/);
});

test('runmirror config: sources, redaction, one-line errors', async (t) => {
  const { home, conf, up } = await setup(t);
  const res = cli(home, ['config', '--threads', '3'], { RUNMIRROR_ADMIN_TOKEN: 'tok-very-secret', LLAMA_CLOUD_API_KEY: 'llx-very-secret' });
  assert.equal(res.status, 0, res.stderr);
  assert.ok(!res.stdout.includes('very-secret'), 'no secret in the output');
  const line = (key) => res.stdout.split('\n').find((l) => l.startsWith(`${key} =`) || l.startsWith(`# ${key} `));
  assert.match(line('threads'), /^threads = 3 +# --threads$/);
  assert.match(line('upstream'), new RegExp(`^upstream = ${up.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +# config file ${conf}: upstream$`));
  assert.match(line('admin-token'), /^# admin-token is set \(redacted\) +# environment RUNMIRROR_ADMIN_TOKEN$/);
  assert.match(line('LLAMA_CLOUD_API_KEY'), /is set \(redacted\)/);
  assert.match(line('poll-interval-ms'), /^poll-interval-ms = 1000 +# default$/);
  assert.match(res.stdout, new RegExp(`# config file: ${conf} \\(search path\\)`));

  // The printed settings read back as a config file giving the same settings.
  const copy = path.join(home, 'copy.conf');
  await writeFile(copy, res.stdout);
  const again = cli(home, ['config', '--config', copy, '--json'], { RUNMIRROR_CONFIG: '/dev/null' });
  assert.equal(again.status, 0, again.stderr);
  const values = (json) => Object.fromEntries(JSON.parse(json).settings.filter((s) => !s.secret).map((s) => [s.key, s.value]));
  assert.deepEqual(values(again.stdout), values(cli(home, ['config', '--threads', '3', '--json']).stdout));

  const bad = cli(home, ['config', '--threads', 'many']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^runmirror config: --threads: expected/);
  await writeFile(conf, 'lisen = 1.2.3.4:5\n');
  const typo = cli(home, ['runs', 'list']);
  assert.equal(typo.status, 2, 'a broken config file on the search path is an error for every command');
  assert.match(typo.stderr, /unknown option 'lisen'/);
});
