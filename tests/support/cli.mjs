// Running the runmirror CLI from a test, without the harness's RUNMIRROR_* variables (so
// without a config file or a tenant secret from the environment), and checking its one-line
// errors.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';

import { RUNMIRROR_BIN, daemonEnv } from './daemon.mjs';

// `runmirror ...args`, synchronously: only while no daemon in this process needs the fake
// upstream (which runs on this event loop) to answer. { status, stdout, stderr }.
export function runmirror(args, env = {}, { timeoutMs = 60_000 } = {}) {
  const res = spawnSync(RUNMIRROR_BIN, args, { env: daemonEnv(env), encoding: 'utf8', timeout: timeoutMs });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

// The same without blocking the event loop, for commands run while a daemon serves.
export function runmirrorAsync(args, env = {}, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(RUNMIRROR_BIN, args, { env: daemonEnv(env), encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ status: err ? err.code : 0, stdout, stderr });
    });
  });
}

// |res| exited |status| with nothing on stdout and exactly one line on stderr, "<prefix>: ...",
// matching |pattern|.
export function oneLineError(res, status, prefix, pattern) {
  assert.equal(res.status, status, `exit status; stdout: ${res.stdout} stderr: ${res.stderr}`);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, new RegExp(`^${prefix}: [^\\n]+\\n$`), 'exactly one line on stderr');
  assert.match(res.stderr, pattern);
}
