// --threads 0 (the default) starts one worker thread per CPU the process may use: under
// `taskset -c 0` that is one, however many cores the machine has.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { RUNMIRROR_BIN, daemonEnv, makeTempDir, removeDir, cleanupStack, isThreadSanitizerBuild } from '../support/daemon.mjs';

function hasTaskset() {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}

test('taskset -c 0: one worker thread, and the log says why', { skip: !hasTaskset() && 'taskset (util-linux) not available' }, async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  // daemonEnv: the daemon refuses RUNMIRROR_* variables it does not know (the test runner's).
  const proc = spawn('taskset', ['-c', '0', RUNMIRROR_BIN, 'serve', '--offline', '--listen', '127.0.0.1:0', '--db', path.join(dir, 'rm.db')], {
    env: daemonEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  defer(async () => {
    proc.kill('SIGTERM');
    await exited;
  });
  let output = '';
  proc.stdout.on('data', (c) => (output += c));
  proc.stderr.on('data', (c) => (output += c));
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(output) && Date.now() < deadline) await sleep(20);
  assert.match(output, /listening on/, output);
  assert.match(output, /1 worker thread\(s\) \(affinity 1 CPUs, cgroup quota/, output);
  // taskset execs the daemon, so its pid is the daemon's; sessions run on its main thread. The
  // store's background search indexer is the one other thread (and ThreadSanitizer's own, on
  // its build).
  const tasks = readdirSync(`/proc/${proc.pid}/task`).length;
  const expected = isThreadSanitizerBuild() ? 3 : 2;
  assert.equal(tasks, expected, `threads of the daemon under taskset -c 0 (one worker, the store's indexer): ${tasks}`);
});
