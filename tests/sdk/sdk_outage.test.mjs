// The SDK through an upstream outage: the circuit breaker may only make the daemon answer from its
// store sooner; it never refuses a request it has no stored answer for, and it never makes the SDK
// wait longer than the upstream's own failures do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCloud } from '@llamaindex/llama-cloud';

import { startStack, flagArgs, health } from '../support/daemon.mjs';
import { client } from './sdk_client.mjs';

const THRESHOLD = 3;

// A long first cool-down: the circuit is certainly still open when the upstream comes back.
function outageFlags({ connectMs = 1_000 } = {}) {
  return {
    pollIntervalMs: 60_000,
    extraArgs: flagArgs({
      'upstream-failure-threshold': THRESHOLD,
      'upstream-cooldown-ms': 30_000,
      'connect-timeout-ms': connectMs,
    }),
  };
}

async function openCircuit(sdk) {
  for (let i = 0; i < THRESHOLD; i += 1) {
    await assert.rejects(sdk.extraction.runs.get(`run-big-00${i}`));
  }
}

async function upstreamState(daemon) {
  return (await health(daemon)).json?.upstream?.state;
}

test('SDK, no retries: after an outage opened the circuit, a delete and a pass-through list sent at once succeed', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: outageFlags() });
  const sdk = client(daemon, 'key-alpha'); // maxRetries: 0
  await sdk.extraction.runs.get('run-alpha-success'); // stored, granted

  await up.stop();
  await openCircuit(sdk);
  assert.equal(await upstreamState(daemon), 'down');

  await up.start();
  const [deleted, agents] = await Promise.all([
    sdk.extraction.runs.delete('run-alpha-success'),
    sdk.extraction.extractionAgents.list({}),
  ]);
  assert.ok(deleted !== undefined);
  assert.ok(Array.isArray(agents) && agents.length > 0, `agents: ${JSON.stringify(agents)}`);
  assert.equal(up.count('DELETE', '/api/v1/extraction/runs/run-alpha-success'), 1);
  assert.equal(await upstreamState(daemon), 'up', 'the first success closed the circuit');

  // The delete went through the daemon: the run is gone for good.
  await assert.rejects(sdk.extraction.runs.get('run-alpha-success'), (err) => err.status === 404);
});

test('SDK, default retries: an uncached runs.get fails within 10 s with the upstream refusing', async (t) => {
  const { daemon, up } = await startStack(t, { daemon: outageFlags() });
  const sdk = new LlamaCloud({ apiKey: 'key-alpha', baseURL: daemon.url, timeout: 60_000 });
  await up.stop();
  await openCircuit(client(daemon, 'key-alpha'));

  const started = Date.now();
  await assert.rejects(sdk.extraction.runs.get('run-big-010'), (err) => {
    assert.ok([502, 503, 504].includes(err.status), `status ${err.status}: ${err.message}`);
    return true;
  });
  const ms = Date.now() - started;
  t.diagnostic(`uncached runs.get, upstream refusing, SDK default retries: failed after ${ms} ms`);
  assert.ok(ms < 10_000, `took ${ms} ms`);
});

test('SDK, default retries: an uncached runs.get fails within 3 connect timeouts plus 2 s with the upstream black-holed', async (t) => {
  const CONNECT_MS = 1_000;
  const { daemon, up } = await startStack(t, { daemon: outageFlags({ connectMs: CONNECT_MS }) });
  const sdk = new LlamaCloud({ apiKey: 'key-alpha', baseURL: daemon.url, timeout: 60_000 });
  await up.setMode('blackhole');
  await openCircuit(client(daemon, 'key-alpha'));

  const started = Date.now();
  await assert.rejects(sdk.extraction.runs.get('run-big-010'), (err) => {
    assert.ok([502, 503, 504].includes(err.status), `status ${err.status}: ${err.message}`);
    return true;
  });
  const ms = Date.now() - started;
  t.diagnostic(`uncached runs.get, upstream black-holed, SDK default retries: failed after ${ms} ms`);
  assert.ok(ms < 3 * CONNECT_MS + 2_000, `took ${ms} ms`);
  await up.setMode('serving');
});
