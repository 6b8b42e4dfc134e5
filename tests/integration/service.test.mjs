// Running as a systemd service (conf/runmirror.service): the daemon tells the service manager
// it is ready once it listens (Type=notify), and that it stops on SIGTERM; the unit file passes
// `systemd-analyze verify` where systemd's tools are installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { REPO_ROOT, RUNMIRROR_BIN, cleanupStack, health, makeTempDir, removeDir, startDaemon, waitFor, singleDaemonInFleet } from '../support/daemon.mjs';

singleDaemonInFleet('systemd notifications and signals are one process\'s');

// A NOTIFY_SOCKET for the daemon: a Unix datagram socket read by a small Python process (Node
// has no Unix datagram sockets), each message printed on one line with newlines as '|'.
async function notifySocket(dir) {
  const socketPath = path.join(dir, 'notify.sock');
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg = s.recv(4096).decode()
    print(msg.replace("\\n", "|"), flush=True)
`;
  const proc = spawn('python3', ['-c', script, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = [];
  proc.stdout.on('data', (d) => (lines = lines.concat(d.toString().split('\n').filter(Boolean))));
  await waitFor(() => lines.includes('bound'), { timeoutMs: 5_000 });
  return { socketPath, messages: () => lines.filter((l) => l !== 'bound'), stop: () => proc.kill() };
}

test('the daemon says READY=1 once it listens and STOPPING=1 on SIGTERM (Type=notify)', async (t) => {
  const defer = cleanupStack(t);
  const dir = await makeTempDir();
  defer(() => removeDir(dir));
  const notify = await notifySocket(dir);
  defer(() => notify.stop());

  const daemon = await startDaemon({ offline: true, env: { NOTIFY_SOCKET: notify.socketPath } });
  defer(() => daemon.stop());
  await waitFor(() => notify.messages().some((m) => m.startsWith('READY=1')));
  const ready = notify.messages().find((m) => m.startsWith('READY=1'));
  assert.match(ready, new RegExp(`STATUS=listening on 127\\.0\\.0\\.1:${daemon.port}`));
  assert.equal((await health(daemon)).status, 200, 'ready means it answers');

  daemon.proc.kill('SIGTERM');
  await waitFor(() => notify.messages().some((m) => m.startsWith('STOPPING=1')));
});

test('conf/runmirror.service passes systemd-analyze verify', async (t) => {
  if (spawnSync('systemd-analyze', ['--version']).error) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  const dir = await makeTempDir();
  try {
    // The unit names the installed binary; verify it against this build's.
    const unit = (await readFile(path.join(REPO_ROOT, 'conf', 'runmirror.service'), 'utf8')).replaceAll(
      '/usr/local/bin/runmirror',
      RUNMIRROR_BIN,
    );
    const file = path.join(dir, 'runmirror.service');
    await writeFile(file, unit);
    const res = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // Warnings about the host (no running systemd, users it does not know) are not the unit's.
    const problems = res.stderr.split('\n').filter((l) => l.includes('runmirror.service') && !/Failed to (connect|create|look up)|is not a valid user|unknown user/i.test(l));
    assert.deepEqual(problems, [], res.stderr);
  } finally {
    await removeDir(dir);
  }
});
