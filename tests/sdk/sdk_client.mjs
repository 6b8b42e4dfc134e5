// The official TypeScript SDK (@llamaindex/llama-cloud, pinned in package.json) for the SDK tests,
// pointed at a daemon through its baseURL override. Lives here, not in tests/support/, because the
// SDK is installed in tests/sdk/node_modules (`npm ci` in tests/sdk).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
let LlamaCloud;
let toFile;
let version;
try {
  ({ LlamaCloud, toFile } = await import('@llamaindex/llama-cloud'));
  const main = require.resolve('@llamaindex/llama-cloud');
  version = JSON.parse(readFileSync(path.join(path.dirname(main), 'package.json'), 'utf8')).version;
} catch (err) {
  throw new Error(`the SDK is not installed: run \`npm ci\` in tests/sdk (${err.message})`);
}

export const sdkVersion = version;
export { LlamaCloud, toFile };

// An SDK client for `daemon` with `apiKey`; no retries, so a failure shows as it is.
export function client(daemon, apiKey) {
  return new LlamaCloud({ apiKey, baseURL: daemon.url, maxRetries: 0, timeout: 20_000 });
}

// Page through runs.list(params) as the SDK's auto-paging does: every run id in order, and the
// Cache-Status header of each page.
export async function listRunPages(sdk, params) {
  const ids = [];
  const cacheStatuses = [];
  for await (const page of (await sdk.extraction.runs.list(params)).iterPages()) {
    ids.push(...page.getPaginatedItems().map((run) => run.id));
    cacheStatuses.push(page.response.headers.get('cache-status'));
  }
  return { ids, cacheStatuses };
}
