// (c) GET /api/v1/extraction/runs paged like the SDK (skip += len(items) while below total).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startStack, api } from '../support/daemon.mjs';
import { assertSameBytes, cacheStatus, bodyText } from '../support/checks.mjs';

const LIST = '/api/v1/extraction/runs';

// Page through an agent's runs as the SDK does. `limit` undefined: the first request carries no
// skip/limit at all (the SDK's default), later ones only skip.
async function pageAll(daemon, up, { agent, key, limit }) {
  const ids = [];
  const pages = [];
  let skip = 0;
  let total = null;
  for (let guard = 0; guard < 50; guard += 1) {
    const params = new URLSearchParams({ extraction_agent_id: agent });
    if (skip > 0) params.set('skip', String(skip));
    if (limit !== undefined) params.set('limit', String(limit));
    const res = await api(daemon, `${LIST}?${params}`, { key });
    assert.equal(res.status, 200, `page at skip=${skip}: ${bodyText(res)}`);
    cacheStatus(res, `page at skip=${skip}: `);
    const page = JSON.parse(res.body);
    assert.ok(Array.isArray(page.items), 'page has items');
    assert.equal(typeof page.total, 'number', 'page has total');
    for (const item of page.items) {
      // Items are the upstream's raw run bytes, not a re-serialisation.
      assert.ok(res.body.includes(up.runBytes(item.id)), `page at skip=${skip}: item ${item.id} is not the upstream's raw bytes`);
    }
    pages.push(page);
    ids.push(...page.items.map((r) => r.id));
    total = page.total;
    skip += page.items.length;
    if (page.items.length === 0 || skip >= total) break;
  }
  return { ids, pages, total };
}

test('paging agent-big with skip/limit gives the upstream\'s order; list-only runs then answer GET by id', async (t) => {
  const { daemon, up } = await startStack(t);
  const expected = up.listIds('agent-big');
  const { ids, pages, total } = await pageAll(daemon, up, { agent: 'agent-big', key: 'key-alpha', limit: 50 });
  assert.equal(total, 130);
  assert.equal(pages.length, 3);
  assert.deepEqual(ids, expected);

  // Runs seen only in list pages (never fetched by id) are served by id from the store.
  for (const status of ['SUCCESS', 'ERROR']) {
    const id = ids.slice(60).find((x) => JSON.parse(up.runRaw(x)).status === status);
    const p = `${LIST}/${id}`;
    const res = await api(daemon, p, { key: 'key-alpha' });
    assert.equal(res.status, 200, bodyText(res));
    assertSameBytes(res.body, up.runBytes(id), `${status} run ${id} seen only in a list page`);
    assert.match(cacheStatus(res), /\bhit\b/, `${id} should be a hit`);
    assert.equal(up.count('GET', p), 0, `${id} was in a list page: GET by id must not reach the upstream`);
  }
});

test('SDK-style paging without skip/limit on the first request', async (t) => {
  const { daemon, up } = await startStack(t);
  const { ids, pages } = await pageAll(daemon, up, { agent: 'agent-big', key: 'key-alpha' });
  assert.equal(pages.length, 2, 'upstream default limit is 100');
  assert.deepEqual(ids, up.listIds('agent-big'));
  assert.equal(ids.length, 130);
});

test('a cached list page is never served to a key without a grant for the project', async (t) => {
  const { daemon, up } = await startStack(t);
  const q = `${LIST}?extraction_agent_id=agent-alpha&skip=0&limit=10`;
  const alpha = await api(daemon, q, { key: 'key-alpha' });
  assert.equal(alpha.status, 200);
  assert.equal(up.count('GET', LIST), 1);

  const beta = await api(daemon, q, { key: 'key-beta' });
  assert.equal(up.count('GET', LIST), 2, 'key-beta\'s list request must be forwarded');
  assert.equal(beta.status, 404, `key-beta must get the upstream's 404, got ${beta.status}: ${bodyText(beta)}`);
  assert.ok(!beta.body.includes(Buffer.from('run-alpha-success')), 'the 404 must not carry key-alpha\'s page');
  cacheStatus(beta, 'key-beta list: ');
});

test('a short agent list is byte-for-byte the runs of that agent, newest first', async (t) => {
  const { daemon, up } = await startStack(t);
  const { ids } = await pageAll(daemon, up, { agent: 'agent-alpha', key: 'key-alpha', limit: 2 });
  assert.deepEqual(ids, up.listIds('agent-alpha'));
});
