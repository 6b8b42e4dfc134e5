// The SDK pages through runs the mirror stored once the upstream is gone: first with the upstream
// stopped behind an online daemon (stale-if-error), then with the daemon in --offline mode.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, startDaemon, flagArgs } from '../support/daemon.mjs';
import { BIG_AGENT_RUNS } from '../support/fake_upstream.mjs';
import { client, listRunPages } from './sdk_client.mjs';

const PARAMS = { extraction_agent_id: 'agent-big' };

test('SDK: agent-big pages from the store with the upstream stopped, and offline', async (t) => {
  const { daemon, up, defer } = await startStack(t, {
    // List pages are stale at once, so with the upstream stopped every page read goes through
    // the failure path; short timeouts keep a regression from hanging the test.
    daemon: { extraArgs: flagArgs({ 'list-max-age-ms': 1, 'connect-timeout-ms': 500, 'total-timeout-ms': 3_000 }) },
  });
  const expected = up.listIds('agent-big');
  assert.equal(expected.length, BIG_AGENT_RUNS);
  const sdk = client(daemon, 'key-alpha');

  const online = await listRunPages(sdk, PARAMS);
  assert.deepEqual(online.ids, expected, 'online paging');
  assert.equal(up.count('GET', '/api/v1/extraction/runs'), 2, 'two pages fetched upstream');

  await up.stop();
  const stopped = await listRunPages(sdk, PARAMS);
  assert.deepEqual(stopped.ids, expected, 'the same client, upstream stopped: every stored run, in order');
  for (const [i, cs] of stopped.cacheStatuses.entries()) {
    assert.match(cs ?? '', /^runmirror;.*\bhit\b.*detail=stale-if-error/, `page ${i} with the upstream stopped: Cache-Status ${cs}`);
  }

  await daemon.stop();
  const offline = await startDaemon({ upstreamUrl: up.url, db: daemon.db, offline: true });
  defer(() => offline.stop());
  const fromOffline = await listRunPages(client(offline, 'key-alpha'), PARAMS);
  assert.deepEqual(fromOffline.ids, expected, '--offline: every stored run, in order');
  for (const [i, cs] of fromOffline.cacheStatuses.entries()) {
    assert.match(cs ?? '', /^runmirror;.*\bhit\b/, `offline page ${i}: Cache-Status ${cs}`);
  }
});
