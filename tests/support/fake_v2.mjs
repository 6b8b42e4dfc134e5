// Extract v2 in the fake LlamaCloud API, as SDK 2.16.0 (`client.extract`) calls it:
//   POST   /api/v2/extract                    create (JSON: file_input + configuration | configuration_id)
//   GET    /api/v2/extract                    list, newest first, cursor paging (page_size, page_token)
//   GET    /api/v2/extract/{id}?expand=...    one job; expand adds configuration, extract_metadata, usage
//   DELETE /api/v2/extract/{id}               → {}; 404 from then on
//   POST   /api/v2/extract/{id}/cancel        → the job, CANCELLED (400 once it is final)
// FakeUpstream (fake_upstream.mjs) routes those paths here; its request log, faults, auth and
// sendJson serve v2 as they serve v1, so `up.count('GET', v2JobPath(id))` counts status polls.
//
// Test control, on `up.v2`:
//   up.v2.jobBytes(id, ['usage'])        exact bytes the fake sends for GET ?expand=usage
//   up.v2.setStatus(id, 'RUNNING')       move a job to any status (updated_at moves forward)
//   up.v2.finish(id, 'FAILED')           same, final statuses only (default COMPLETED)
//   up.v2.markDeleted(id)                deleted behind the daemon's back: 404, left out of lists
//   up.v2.listIds('key-alpha', { status: 'COMPLETED' })   ids in the upstream's list order
//   up.v2.createdIds()                   ids of the jobs created through POST, oldest first
// Jobs created through POST stay PENDING until a test moves them, unless progress says otherwise
// (startFakeUpstream({ v2: {...} }) or up.v2.setProgress({...})):
//   runningAfterPolls / finalAfterPolls  RUNNING / final on the job's Nth GET (that GET sees it)
//   runningAfterMs / finalAfterMs        RUNNING / final once that long has passed since creation
// The final status is COMPLETED, or FAILED when file_input contains "fail". Without v2 options,
// the fake's autoFinishMs (v1's) also finishes v2 jobs.
//
// Data: key-alpha sees project p-alpha, key-beta p-beta, key-both both (KEYS in fake_data.mjs).
// p-alpha holds v2-alpha-{completed,array,spaced,failed,cancelled,running,pending} and 60
// v2-big-NNN jobs; p-beta holds v2-beta-{completed,pending,failed}. Saved configurations:
// cfg-alpha-invoices, cfg-alpha-receipts (p-alpha), cfg-beta-contracts (p-beta).
//
// Bodies are assembled from raw strings (see fake_data.mjs): the same job state gives the same
// bytes on every read. Members come in one fixed order whatever the order of expand= values.

import { KEYS, BIG_INTEGER, UNICODE_RAW, UNICODE_ESCAPED, isoTimestamp, obj, q } from './fake_data.mjs';

export const V2_EXTRACT = '/api/v2/extract';
export const v2JobPath = (id) => `${V2_EXTRACT}/${encodeURIComponent(id)}`;
export const V2_STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
export const V2_FINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];
export const V2_EXPANDS = ['configuration', 'extract_metadata', 'usage'];
export const V2_BIG_JOBS = 60;
export const V2_DEFAULT_PAGE_SIZE = 50;
export const V2_MAX_PAGE_SIZE = 100;
export const V2_RESOLVED_VERSION = '2026-01-15'; // what "latest" (and no version) resolves to

const LIST_STATUSES = [...V2_STATUSES, 'THROTTLED'];
const BASE_MS = Date.UTC(2025, 1, 3, 9, 0, 0);
const NEW_JOB_BASE_MS = BASE_MS + 30 * 86_400_000;
const PLAIN_ID = /^[A-Za-z0-9._-]{1,200}$/;

// ---- bodies ------------------------------------------------------------------------------------

const SCHEMA_RAW =
  '{"type":"object","properties":{"invoice_number":{"type":"string"},"vendor":{"type":"string"},' +
  '"total_amount":{"type":"number"},"big":{"type":"integer"},"line_items":{"type":"array",' +
  '"items":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}}}}},' +
  '"required":["invoice_number"]}';

// ExtractConfiguration as the API answers it: every member, defaults filled in, version resolved.
function configurationRaw({ target = 'per_doc', tier = 'agentic', prompt = 'null', schema = SCHEMA_RAW } = {}) {
  return obj([
    ['data_schema', schema],
    ['cite_sources', 'false'],
    ['confidence_scores', 'true'],
    ['disable_cache', 'false'],
    ['extraction_target', q(target)],
    ['max_pages', 'null'],
    ['parse_config_id', 'null'],
    ['parse_tier', 'null'],
    ['sheet_names', 'null'],
    ['spreadsheet_mode', 'false'],
    ['system_prompt', prompt],
    ['target_pages', 'null'],
    ['tier', q(tier)],
    ['version', q(V2_RESOLVED_VERSION)],
    ['x_future_config_knob', '{"levels":[1,2,3],"enabled":true}'],
  ]);
}

const CONFIGURATIONS = new Map([
  ['cfg-alpha-invoices', { projectId: 'p-alpha', raw: configurationRaw({ prompt: String.raw`"Extract \"totals\" only\nPer line."` }) }],
  ['cfg-alpha-receipts', { projectId: 'p-alpha', raw: configurationRaw({ tier: 'cost_effective' }) }],
  ['cfg-beta-contracts', { projectId: 'p-beta', raw: configurationRaw({ tier: 'agentic_plus' }) }],
]);

const CONFIG_DEFAULTS = {
  cite_sources: false,
  confidence_scores: false,
  disable_cache: false,
  extraction_target: 'per_doc',
  max_pages: null,
  parse_config_id: null,
  parse_tier: null,
  sheet_names: null,
  spreadsheet_mode: false,
  system_prompt: null,
  target_pages: null,
  tier: 'agentic',
  version: 'latest',
};

// An inline configuration from a create body: defaults filled in, "latest" resolved; null and a
// message when it is not a configuration.
function normaliseConfiguration(c) {
  if (!c || typeof c !== 'object' || Array.isArray(c)) return { error: 'configuration must be an object' };
  if (!c.data_schema || typeof c.data_schema !== 'object' || Array.isArray(c.data_schema)) {
    return { error: 'configuration.data_schema must be an object' };
  }
  const unknown = Object.keys(c).filter((k) => k !== 'data_schema' && !(k in CONFIG_DEFAULTS));
  if (unknown.length) return { error: `configuration has unknown fields: ${unknown.join(', ')}` };
  const out = { data_schema: c.data_schema, ...CONFIG_DEFAULTS };
  for (const k of Object.keys(CONFIG_DEFAULTS)) if (c[k] !== undefined) out[k] = c[k];
  if (!['per_doc', 'per_page', 'per_table_row'].includes(out.extraction_target)) {
    return { error: 'configuration.extraction_target must be per_doc, per_page or per_table_row' };
  }
  if (out.version === 'latest') out.version = V2_RESOLVED_VERSION;
  return { raw: JSON.stringify(out), target: out.extraction_target };
}

// One line item of extract_result (about 130 bytes).
function lineItemRaw(n, i) {
  return obj([
    ['sku', q(`SKU-${n}-${String(i).padStart(2, '0')}`)],
    ['description', `"Widget ${i} – Größe M, ${UNICODE_ESCAPED}"`],
    ['qty', String((i * 7 + n) % 13)],
    ['unit_price', i % 4 === 0 ? '1.0e+1' : `${i}.50`],
    ['tags', i % 5 === 0 ? String.raw`["x","\ud83d\ude00","😀"]` : '[]'],
  ]);
}

function documentRaw(n, items, extra = []) {
  const lines = [];
  for (let i = 0; i < items; i += 1) lines.push(lineItemRaw(n, i));
  return obj([
    ...extra,
    ['invoice_number', q(`INV-${String(n).padStart(6, '0')}`)],
    ['vendor', `"${UNICODE_RAW}"`],
    ['vendor_escaped', `"${UNICODE_ESCAPED}"`],
    ['currency', q('EUR')],
    ['total_amount', '1.0e+2'],
    ['big', BIG_INTEGER],
    ['negative_zero', '-0.0'],
    ['n', String(n)],
    ['line_items', `[${lines.join(',')}]`],
    ['notes', String.raw`"Paid \"in full\".\nThank you – merci – 谢谢"`],
    ['nested', '{"deep":{"flags":[true,false,null],"empty_obj":{},"empty_arr":[]}}'],
  ]);
}

// About 4 KB either way: one document (per_doc), or one object per page (per_page, per_table_row).
function resultRaw(job) {
  if (job.target === 'per_doc') return documentRaw(job.n, 30);
  const pages = [1, 2, 3].map((page) => documentRaw(job.n * 10 + page, 9, [['page', String(page)]]));
  return `[${pages.join(',')}]`;
}

function extractMetadataRaw(job) {
  const field = `{"confidence":0.97,"citation":[{"page":1,"matching_text":"INV-${String(job.n).padStart(6, '0')}"}]}`;
  const doc = `{"invoice_number":${field},"total_amount":{"confidence":0.91},"vendor":{"confidence":0.88}}`;
  const fieldMetadata =
    job.target === 'per_doc'
      ? `{"document_metadata":${doc},"page_metadata":null,"row_metadata":null}`
      : `{"document_metadata":null,"page_metadata":[${doc},${doc},${doc}],"row_metadata":null}`;
  return obj([
    ['field_metadata', fieldMetadata],
    ['parse_job_id', q(`pjb-${job.id}`)],
    ['parse_tier', q('agentic')],
  ]);
}

const pages = (job) => (job.n % 5) + 1;

function usageRaw(job) {
  if (job.status === 'COMPLETED') {
    return `{"credits":${pages(job) * 20},"extract_credits":${pages(job) * 15},"parse_credits":${pages(job) * 5}}`;
  }
  if (job.status === 'FAILED') return `{"credits":${pages(job) * 5},"extract_credits":0,"parse_credits":${pages(job) * 5}}`;
  return '{"credits":null,"extract_credits":null,"parse_credits":null}';
}

// The raw bytes (as a string) of one ExtractV2Job with the given expansions (a Set).
export function buildV2JobRaw(job, expand = new Set()) {
  const completed = job.status === 'COMPLETED';
  const pairs = [
    ['id', q(job.id)],
    ['project_id', q(job.projectId)],
    ['file_input', q(job.fileInput)],
    ['status', q(job.status)],
    ['created_at', q(job.createdAt)],
    ['updated_at', q(job.updatedAt)],
    ['configuration_id', job.configurationId ? q(job.configurationId) : 'null'],
  ];
  if (expand.has('configuration')) pairs.push(['configuration', job.configurationRaw]);
  pairs.push(['error_message', job.status === 'FAILED' ? job.errorMessageRaw : 'null']);
  pairs.push(['extract_result', completed ? resultRaw(job) : 'null']);
  if (expand.has('extract_metadata')) pairs.push(['extract_metadata', completed ? extractMetadataRaw(job) : 'null']);
  pairs.push(['metadata', completed ? `{"usage":{"num_pages_billed":${pages(job)},"num_pages_extracted":${pages(job)}}}` : 'null']);
  if (expand.has('usage')) pairs.push(['usage', usageRaw(job)]);
  pairs.push(['x_future_field', '{"since":"2026-03","values":[1,2.5e-3,-0.0,1E2]}']);
  return obj(pairs, job.spaced);
}

// ---- data set ----------------------------------------------------------------------------------

function newJob(fields) {
  const micros = (fields.n * 7919) % 1000;
  const job = {
    status: 'PENDING',
    configurationId: null,
    target: 'per_doc',
    spaced: false,
    deleted: false,
    auto: false, // created through POST: moves as `progress` says
    polls: 0, // GETs of this job
    changes: 0, // status changes since creation: updated_at is created_at + 7 s per change
    createdRealMs: Date.now(),
    ...fields,
    micros,
    createdUs: fields.createdMs * 1000 + micros,
    createdAt: isoTimestamp(fields.createdMs, micros),
  };
  if (!job.configurationRaw) job.configurationRaw = CONFIGURATIONS.get(job.configurationId)?.raw ?? configurationRaw();
  job.updatedAt = job.createdAt;
  return job;
}

function applyStatus(job, status, errorMessage) {
  job.status = status;
  job.changes += 1;
  job.updatedAt = isoTimestamp(job.createdMs + job.changes * 7_000, job.micros);
  job.errorMessageRaw =
    status === 'FAILED'
      ? errorMessage !== undefined
        ? JSON.stringify(errorMessage)
        : `"Extraction failed on page ${pages(job)}: \\"timeout\\" – retry later"`
      : 'null';
}

// A fresh, mutable copy of the v2 data set.
export function initialV2Data() {
  const jobs = new Map();
  let n = 0;
  const add = (id, projectId, status, createdMs, extra = {}) => {
    const job = newJob({ n, id, projectId, createdMs, fileInput: `dfl-${id.replace(/^v2-/, '')}`, ...extra });
    if (status !== 'PENDING') applyStatus(job, status);
    jobs.set(id, job);
    n += 1;
  };

  // Creation order is a permutation of the id order (37 is coprime with 60).
  for (let i = 0; i < V2_BIG_JOBS; i += 1) {
    let status = 'COMPLETED';
    if (i % 10 === 3) status = 'FAILED';
    if (i % 17 === 9) status = 'CANCELLED';
    if (i % 25 === 5) status = 'RUNNING';
    if (i % 25 === 6) status = 'PENDING';
    const configurationId = ['cfg-alpha-receipts', 'cfg-alpha-invoices', null][i % 3];
    const slot = (i * 37) % V2_BIG_JOBS;
    add(`v2-big-${String(i).padStart(3, '0')}`, 'p-alpha', status, BASE_MS + slot * 61_000 + i, {
      configurationId,
      spaced: i % 11 === 4,
    });
  }

  const later = BASE_MS + 2 * 86_400_000;
  add('v2-alpha-completed', 'p-alpha', 'COMPLETED', later + 1_000, { configurationId: 'cfg-alpha-invoices' });
  add('v2-alpha-array', 'p-alpha', 'COMPLETED', later + 2_000, {
    target: 'per_page',
    configurationRaw: configurationRaw({ target: 'per_page' }),
  });
  add('v2-alpha-spaced', 'p-alpha', 'COMPLETED', later + 3_000, { spaced: true });
  add('v2-alpha-failed', 'p-alpha', 'FAILED', later + 4_000, { configurationId: 'cfg-alpha-receipts' });
  add('v2-alpha-cancelled', 'p-alpha', 'CANCELLED', later + 5_000);
  add('v2-alpha-running', 'p-alpha', 'RUNNING', later + 6_000, { configurationId: 'cfg-alpha-invoices' });
  add('v2-alpha-pending', 'p-alpha', 'PENDING', later + 7_000);

  add('v2-beta-completed', 'p-beta', 'COMPLETED', later + 8_000, { configurationId: 'cfg-beta-contracts' });
  add('v2-beta-pending', 'p-beta', 'PENDING', later + 9_000, { configurationId: 'cfg-beta-contracts' });
  add('v2-beta-failed', 'p-beta', 'FAILED', later + 10_000);

  return { jobs, nextNew: 1, created: [] };
}

// ---- query parameters --------------------------------------------------------------------------

// Every value of a repeatable parameter; a value may also be a comma list. Empty values (what the
// SDK sends for null) are dropped.
function multiParam(url, name) {
  return url.searchParams
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

// A single-valued parameter; empty (the SDK's null) counts as absent.
function param(url, name) {
  const v = url.searchParams.get(name);
  return v === null || v === '' ? null : v;
}

// An ISO 8601 date or date-time (UTC when no offset) in microseconds since the epoch, or null.
export function parseTimestampUs(s) {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?(?:\.(\d{1,6})\d*)?)?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return null;
  let zone = m[5] ?? 'Z';
  if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? ':00'}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) return null;
  return ms * 1000 + Number((m[4] ?? '').padEnd(6, '0'));
}

class BadParam extends Error {
  constructor(loc, msg, input) {
    super(msg);
    this.body = JSON.stringify({ detail: [{ type: 'value_error', loc, msg, input }] });
  }
}

function parseExpand(url) {
  const expand = multiParam(url, 'expand');
  for (const e of expand) {
    if (!V2_EXPANDS.includes(e)) throw new BadParam(['query', 'expand'], `expand must be one of ${V2_EXPANDS.join(', ')}`, e);
  }
  return new Set(expand);
}

const encodeToken = (job) => Buffer.from(`${job.createdUs}|${job.id}`, 'utf8').toString('base64url');

function decodeToken(token) {
  const m = /^(\d{1,20})\|([A-Za-z0-9._-]+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m || encodeToken({ createdUs: m[1], id: m[2] }) !== token) return null;
  return { createdUs: Number(m[1]), id: m[2] };
}

// Newest first; ties by id, descending.
const newestFirst = (a, b) => b.createdUs - a.createdUs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

// ---- the routes --------------------------------------------------------------------------------

export class FakeExtractV2 {
  // sendJson(res, status, body, headers) and withAuth(req, res, fn(projects)) are the host's.
  constructor({ sendJson, withAuth, progress = {} }) {
    this.sendJson = sendJson;
    this.withAuth = withAuth;
    this.progress = { ...progress };
    this.data = initialV2Data();
  }

  reset() {
    this.data = initialV2Data();
  }

  setProgress(progress = {}) {
    this.progress = { ...progress };
  }

  // ---- test control ----

  job(id) {
    const j = this.data.jobs.get(id);
    if (!j) throw new Error(`fake upstream has no v2 job ${id}`);
    return j;
  }

  jobRaw(id, expand = []) {
    return buildV2JobRaw(this.job(id), new Set(expand));
  }

  jobBytes(id, expand = []) {
    return Buffer.from(this.jobRaw(id, expand), 'utf8');
  }

  // Add `count` final jobs to `projectId`, ids `${prefix}-N` counting on from the last call
  // (COMPLETED, every 7th FAILED), newer than every other job. Returns their ids. For the crash
  // suite, which needs many distinct jobs.
  addJobs(prefix, count, { projectId = 'p-alpha' } = {}) {
    this.data.added ??= 0;
    const ids = [];
    for (let i = 0; i < count; i += 1) {
      const n = this.data.added++;
      const id = `${prefix}-${n}`;
      const job = newJob({ n: 100_000 + n, id, projectId, createdMs: NEW_JOB_BASE_MS + 365 * 86_400_000 + n * 1_000, fileInput: `dfl-${id}` });
      applyStatus(job, n % 7 === 3 ? 'FAILED' : 'COMPLETED');
      this.data.jobs.set(id, job);
      ids.push(id);
    }
    return ids;
  }

  // Move a job to any status; updated_at moves 7 s past the previous change. Returns the raw body.
  setStatus(id, status, { errorMessage } = {}) {
    if (!V2_STATUSES.includes(status)) throw new Error(`not a v2 status: ${status}`);
    const j = this.job(id);
    applyStatus(j, status, errorMessage);
    return buildV2JobRaw(j);
  }

  finish(id, status = 'COMPLETED', opts = {}) {
    if (!V2_FINAL.includes(status)) throw new Error(`not a final v2 status: ${status}`);
    return this.setStatus(id, status, opts);
  }

  markDeleted(id) {
    this.job(id).deleted = true;
  }

  createdIds() {
    return [...this.data.created];
  }

  // Ids a key sees in GET /api/v2/extract with these filters (query names, arrays for job_ids),
  // every page, in the upstream's order.
  listIds(key, filters = {}) {
    const url = new URL(V2_EXTRACT, 'http://fake.invalid');
    for (const [k, v] of Object.entries(filters)) {
      for (const x of [v].flat()) url.searchParams.append(k, String(x));
    }
    return this.select(KEYS[key] ?? [], url).map((j) => j.id);
  }

  // ---- HTTP ----

  route(req, res, url, entry) {
    const p = url.pathname;
    const m = req.method;
    let g;
    const run = (fn) =>
      this.withAuth(req, res, (projects) => {
        try {
          fn(projects);
        } catch (err) {
          if (err instanceof BadParam) return this.sendJson(res, 422, err.body);
          throw err;
        }
      });
    if (p === V2_EXTRACT || p === `${V2_EXTRACT}/`) {
      if (m === 'GET') return run((projects) => this.list(res, url, projects));
      if (m === 'POST') return run((projects) => this.create(res, url, projects, entry.body));
      return this.methodNotAllowed(res);
    }
    if ((g = /^\/api\/v2\/extract\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(g[1]);
      if (m === 'GET') return run((projects) => this.get(res, url, projects, id));
      if (m === 'DELETE') return run((projects) => this.remove(res, url, projects, id));
      return this.methodNotAllowed(res);
    }
    if ((g = /^\/api\/v2\/extract\/([^/]+)\/cancel$/.exec(p))) {
      if (m !== 'POST') return this.methodNotAllowed(res);
      const id = decodeURIComponent(g[1]);
      return run((projects) => this.cancel(res, url, projects, id));
    }
    return this.sendJson(res, 404, '{"detail":"Not Found"}');
  }

  methodNotAllowed(res) {
    this.sendJson(res, 405, '{"detail":"Method Not Allowed"}');
  }

  // Moves a job created through POST as `progress` says; `polled`: this is a GET of the job.
  advance(job, polled) {
    if (!job.auto || V2_FINAL.includes(job.status)) return;
    if (polled) job.polls += 1;
    const { runningAfterPolls, finalAfterPolls, runningAfterMs, finalAfterMs } = this.progress;
    const age = Date.now() - job.createdRealMs;
    const reached = (polls, ms) => (polls !== undefined && job.polls >= polls) || (ms !== undefined && age >= ms);
    if (reached(finalAfterPolls, finalAfterMs)) applyStatus(job, /fail/i.test(job.fileInput) ? 'FAILED' : 'COMPLETED');
    else if (job.status === 'PENDING' && reached(runningAfterPolls, runningAfterMs)) applyStatus(job, 'RUNNING');
  }

  // The job if this key (and the request's project_id, when given) may see it.
  visible(projects, url, id) {
    const j = this.data.jobs.get(id);
    if (!j || j.deleted || !projects.includes(j.projectId)) return null;
    const wanted = param(url, 'project_id');
    if (wanted && wanted !== j.projectId) return null;
    return j;
  }

  notFound(res, id) {
    this.sendJson(res, 404, `{"detail":${JSON.stringify(`Extract job ${id} not found`)}}`);
  }

  get(res, url, projects, id) {
    const expand = parseExpand(url);
    const j = this.visible(projects, url, id);
    if (!j) return this.notFound(res, id);
    this.advance(j, true);
    return this.sendJson(res, 200, buildV2JobRaw(j, expand));
  }

  remove(res, url, projects, id) {
    const j = this.visible(projects, url, id);
    if (!j) return this.notFound(res, id);
    j.deleted = true;
    return this.sendJson(res, 200, '{}');
  }

  cancel(res, url, projects, id) {
    const j = this.visible(projects, url, id);
    if (!j) return this.notFound(res, id);
    this.advance(j, false);
    if (V2_FINAL.includes(j.status)) {
      return this.sendJson(res, 400, `{"detail":${JSON.stringify(`Extract job ${id} is ${j.status} and cannot be cancelled`)}}`);
    }
    applyStatus(j, 'CANCELLED');
    return this.sendJson(res, 200, buildV2JobRaw(j));
  }

  // The projects a request may see: the key's, narrowed by project_id (404 if the key lacks it).
  scope(projects, url) {
    const wanted = param(url, 'project_id');
    if (!wanted) return projects;
    if (!projects.includes(wanted)) throw new NotFound('Project not found');
    return [wanted];
  }

  // Jobs matching the list filters of `url`, newest first, before paging.
  select(projects, url) {
    const scoped = this.scope(projects, url);
    const status = param(url, 'status');
    if (status && !LIST_STATUSES.includes(status)) {
      throw new BadParam(['query', 'status'], `status must be one of ${LIST_STATUSES.join(', ')}`, status);
    }
    const bound = (name) => {
      const v = param(url, name);
      if (v === null) return null;
      const us = parseTimestampUs(v);
      if (us === null) throw new BadParam(['query', name], 'Input should be a valid datetime', v);
      return us;
    };
    const after = bound('created_at_on_or_after');
    const before = bound('created_at_on_or_before');
    const configurationId = param(url, 'configuration_id');
    const fileInput = param(url, 'file_input') ?? param(url, 'document_input_value');
    const jobIds = multiParam(url, 'job_ids');
    const out = [];
    for (const j of this.data.jobs.values()) {
      if (j.deleted || !scoped.includes(j.projectId)) continue;
      this.advance(j, false);
      if (status && j.status !== status) continue;
      if (configurationId && j.configurationId !== configurationId) continue;
      if (fileInput && j.fileInput !== fileInput) continue;
      if (jobIds.length && !jobIds.includes(j.id)) continue;
      if (after !== null && j.createdUs < after) continue;
      if (before !== null && j.createdUs > before) continue;
      out.push(j);
    }
    return out.sort(newestFirst);
  }

  list(res, url, projects) {
    const expand = parseExpand(url);
    let pageSize = V2_DEFAULT_PAGE_SIZE;
    const size = param(url, 'page_size');
    if (size !== null) {
      pageSize = /^\d{1,6}$/.test(size) ? Number(size) : NaN;
      if (!(pageSize >= 1 && pageSize <= V2_MAX_PAGE_SIZE)) {
        throw new BadParam(['query', 'page_size'], `page_size must be within 1..${V2_MAX_PAGE_SIZE}`, size);
      }
    }
    let cursor = null;
    const token = param(url, 'page_token');
    if (token !== null) {
      cursor = decodeToken(token);
      if (!cursor) throw new BadParam(['query', 'page_token'], 'Invalid page_token', token);
    }
    let all;
    try {
      all = this.select(projects, url);
    } catch (err) {
      if (err instanceof NotFound) return this.sendJson(res, 404, JSON.stringify({ detail: err.message }));
      throw err;
    }
    const start = cursor ? all.filter((j) => newestFirst(j, cursor) <= 0).length : 0;
    const page = all.slice(start, start + pageSize);
    const more = start + pageSize < all.length;
    const next = more ? q(encodeToken(page[page.length - 1])) : 'null';
    const items = page.map((j) => buildV2JobRaw(j, expand)).join(',');
    return this.sendJson(res, 200, `{"items":[${items}],"next_page_token":${next},"total_size":null}`);
  }

  create(res, url, projects, body) {
    let params;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      throw new BadParam(['body'], 'JSON decode error', null);
    }
    if (!params || typeof params !== 'object' || Array.isArray(params)) throw new BadParam(['body'], 'Input should be an object', null);
    if (typeof params.file_input !== 'string' || !PLAIN_ID.test(params.file_input)) {
      throw new BadParam(['body', 'file_input'], 'file_input must be a file id or a parse job id', params.file_input ?? null);
    }
    const hasConfig = params.configuration !== undefined && params.configuration !== null;
    const hasConfigId = params.configuration_id !== undefined && params.configuration_id !== null;
    if (hasConfig === hasConfigId) {
      throw new BadParam(['body'], 'Provide exactly one of configuration or configuration_id', null);
    }
    const wanted = param(url, 'project_id');
    if (wanted && !projects.includes(wanted)) return this.sendJson(res, 404, '{"detail":"Project not found"}');
    let projectId = wanted ?? projects[0];
    let configurationRawText;
    let target = 'per_doc';
    if (hasConfigId) {
      const saved = CONFIGURATIONS.get(params.configuration_id);
      if (!saved || !projects.includes(saved.projectId) || (wanted && wanted !== saved.projectId)) {
        return this.sendJson(res, 404, `{"detail":${JSON.stringify(`Configuration ${params.configuration_id} not found`)}}`);
      }
      projectId = saved.projectId;
      configurationRawText = saved.raw;
    } else {
      const c = normaliseConfiguration(params.configuration);
      if (c.error) throw new BadParam(['body', 'configuration'], c.error, null);
      configurationRawText = c.raw;
      target = c.target;
    }
    const k = this.data.nextNew++;
    const job = newJob({
      n: 1_000 + k,
      id: `v2-new-${k}`,
      projectId,
      createdMs: NEW_JOB_BASE_MS + k * 1_000,
      fileInput: params.file_input,
      configurationId: hasConfigId ? params.configuration_id : null,
      configurationRaw: configurationRawText,
      target,
      auto: true,
    });
    this.data.jobs.set(job.id, job);
    this.data.created.push(job.id);
    return this.sendJson(res, 200, buildV2JobRaw(job));
  }
}

class NotFound extends Error {}
