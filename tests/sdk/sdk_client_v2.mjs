// SDK 2.16.0 (@llamaindex/llama-cloud, installed as the npm alias `llama-cloud-2` beside 1.8.0):
// the Extract v2 client (`client.extract`). Lives here because the SDK is installed in
// tests/sdk/node_modules (`npm ci` in tests/sdk); tests elsewhere import this file by path.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
let LlamaCloud;
let version;
try {
  ({ LlamaCloud } = await import('llama-cloud-2'));
  version = JSON.parse(readFileSync(path.join(path.dirname(require.resolve('llama-cloud-2')), 'package.json'), 'utf8')).version;
} catch (err) {
  throw new Error(`SDK 2.16.0 is not installed: run \`npm ci\` in tests/sdk (${err.message})`);
}

export const sdkV2Version = version;
export { LlamaCloud as LlamaCloudV2 };

// A 2.x client for `target` (a daemon, a fake upstream, or a URL) with `apiKey`; no retries, so a
// failure shows as it is.
export function clientV2(target, apiKey) {
  const baseURL = typeof target === 'string' ? target : target.url;
  return new LlamaCloud({ apiKey, baseURL, maxRetries: 0, timeout: 20_000 });
}

// Fast polling for extract.run() / waitForCompletion() (seconds, as the SDK takes them).
export const FAST_POLLING = { pollingInterval: 0.1, backoff: 'constant' };

// Every job of extract.list(params), auto-paged, and the number of pages (requests) it took.
export async function listAllV2(sdk, params) {
  const ids = [];
  let pages = 0;
  for await (const page of (await sdk.extract.list(params)).iterPages()) {
    pages += 1;
    ids.push(...page.getPaginatedItems().map((job) => job.id));
  }
  return { ids, pages };
}

// The exact bytes of an SDK call's answer (e.g. rawBytes(sdk.extract.get(id))) and its status.
export async function rawBytes(apiPromise) {
  const res = await apiPromise.asResponse();
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

// An SDK call's error as { status, body }; throws when the call succeeds or fails without an
// HTTP status.
export async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    if (err.status === undefined) throw err;
    return { status: err.status, body: err.error };
  }
  throw new Error('the call succeeded');
}
