// Deterministic data set of the fake LlamaCloud API.
//
// Every JSON body the fake sends about runs is assembled here from raw strings, never with
// JSON.stringify of a JS object: the daemon must store and return the upstream's bytes, so the
// bodies deliberately hold things a re-serialiser would change (escaped and raw unicode, an integer
// larger than 2^64, `1.0e+2`, `-0.0`, unknown fields, a few bodies with spaces after separators).

export const KEYS = {
  'key-alpha': ['p-alpha'],
  'key-beta': ['p-beta'],
  'key-both': ['p-alpha', 'p-beta'],
};

export const BIG_AGENT_RUNS = 130;
export const BIG_INTEGER = '123456789012345678901234567890';
// The same text written twice in the run's `data`: once as raw UTF-8, once with \u escapes.
export const UNICODE_RAW = 'Zürich – 東京 é';
export const UNICODE_ESCAPED = String.raw`Z\u00fcrich \u2013 \u6771\u4eac \u00e9`;

const BASE_MS = Date.UTC(2025, 0, 15, 8, 0, 0);

// "2025-01-15T08:00:00.123456Z": microseconds like the real API, always UTC.
export function isoTimestamp(ms, micros = 0) {
  const s = new Date(ms).toISOString(); // 2025-01-15T08:00:00.123Z
  return `${s.slice(0, 23)}${String(micros % 1000).padStart(3, '0')}Z`;
}

export function q(s) {
  // A JSON string literal for plain ASCII identifiers (ids, names): no escaping needed.
  if (!/^[\x20-\x7e]*$/.test(s) || /["\\]/.test(s)) throw new Error(`not a plain string: ${s}`);
  return `"${s}"`;
}

// Build `{"k":v,...}` from [key, rawValue] pairs; `spaced` uses Python's default separators.
export function obj(pairs, spaced = false) {
  const colon = spaced ? ': ' : ':';
  const comma = spaced ? ', ' : ',';
  return `{${pairs.map(([k, v]) => `${q(k)}${colon}${v}`).join(comma)}}`;
}

const CONFIG_RAW = obj([
  ['extraction_target', q('PER_DOC')],
  ['extraction_mode', q('BALANCED')],
  ['chunk_mode', q('PAGE')],
  ['high_resolution_mode', 'false'],
  ['invalidate_cache', 'false'],
  ['cite_sources', 'false'],
  ['use_reasoning', 'false'],
  ['confidence_scores', 'false'],
  ['multimodal_fast_mode', 'false'],
  ['citation_bbox', 'false'],
  ['num_pages_context', 'null'],
  ['page_range', 'null'],
  ['system_prompt', String.raw`"Extract \"totals\" only\nPer line."`],
  ['priority', 'null'],
  ['extract_model', 'null'],
  ['parse_model', 'null'],
  ['x_future_config_knob', '{"levels":[1,2,3],"enabled":true}'],
]);

const SCHEMA_RAW =
  '{"type":"object","properties":{"city":{"type":"string"},"amount":{"type":"number"},' +
  '"big":{"type":"integer"},"line_items":{"type":"array","items":{"type":"object"}}},' +
  '"required":["city"]}';

function dataRaw(n) {
  return obj([
    ['city', `"${UNICODE_RAW}"`],
    ['city_escaped', `"${UNICODE_ESCAPED}"`],
    ['amount', '1.0e+2'],
    ['big', BIG_INTEGER],
    ['negative_zero', '-0.0'],
    ['n', String(n)],
    ['line_items', `[{"sku":"A-${n}","qty":${n}},{"sku":"B","qty":0,"tags":["x",` + String.raw`"\ud83d\ude00"` + ',"😀"]}]'],
    ['nested', '{"deep":{"flags":[true,false,null],"empty_obj":{},"empty_arr":[]}}'],
  ]);
}

function metadataRaw(n) {
  return `{"field_metadata":{"city":{"confidence":0.97}},"usage":{"num_pages_extracted":${(n % 5) + 1},"num_document_tokens":${1000 + n},"num_output_tokens":${50 + n}}}`;
}

function fileRaw(run) {
  return obj([
    ['id', q(run.fileId)],
    ['name', q(`invoice-${run.id}.pdf`)],
    ['project_id', q(run.projectId)],
    ['file_size', String(10_000 + run.n)],
    ['file_type', q('application/pdf')],
    ['created_at', q(run.createdAt)],
    ['data_source_id', 'null'],
    ['x_unknown_file_field', '{"kept":true}'],
  ]);
}

// The raw bytes (as a string) of one ExtractRun, from its current state.
export function buildRunRaw(run) {
  let data = 'null';
  let error = 'null';
  let metadata = '{}';
  if (run.status === 'SUCCESS') {
    data = run.dataIsArray ? `[${dataRaw(run.n)},${dataRaw(run.n + 1000)}]` : dataRaw(run.n);
    metadata = metadataRaw(run.n);
  } else if (run.status === 'ERROR') {
    error = `"Extraction failed on page ${run.n}: \\"timeout\\" – retry later"`;
  }
  return obj(
    [
      ['id', q(run.id)],
      ['extraction_agent_id', q(run.agentId)],
      ['project_id', q(run.projectId)],
      ['status', q(run.status)],
      ['config', CONFIG_RAW],
      ['data_schema', SCHEMA_RAW],
      ['from_ui', 'false'],
      ['created_at', q(run.createdAt)],
      ['updated_at', q(run.updatedAt)],
      ['data', data],
      ['error', error],
      ['extraction_metadata', metadata],
      ['file', fileRaw(run)],
      ['file_id', q(run.fileId)],
      ['job_id', q(run.jobId)],
      ['x_future_field', '{"since":"2026-01","values":[1,2.5e-3,-0.0,1E2]}'],
    ],
    run.spaced,
  );
}

export function buildAgentRaw(agent) {
  return obj([
    ['id', q(agent.id)],
    ['name', q(agent.name)],
    ['project_id', q(agent.projectId)],
    ['config', CONFIG_RAW],
    ['data_schema', SCHEMA_RAW],
    ['created_at', q(isoTimestamp(BASE_MS - 86_400_000))],
    ['updated_at', q(isoTimestamp(BASE_MS - 86_400_000))],
    ['custom_configuration', 'null'],
  ]);
}

const JOB_STATUS = { CREATED: 'PENDING', PENDING: 'PENDING', SUCCESS: 'SUCCESS', ERROR: 'ERROR' };

export function buildJobRaw(run, agent) {
  return obj([
    ['id', q(run.jobId)],
    ['extraction_agent', buildAgentRaw(agent)],
    ['status', q(JOB_STATUS[run.status])],
    ['error', run.status === 'ERROR' ? q('Extraction failed') : 'null'],
    ['file', fileRaw(run)],
    ['file_id', q(run.fileId)],
  ]);
}

export function buildJobResultRaw(run) {
  return obj([
    ['run_id', q(run.id)],
    ['extraction_agent_id', q(run.agentId)],
    ['data', run.dataIsArray ? `[${dataRaw(run.n)},${dataRaw(run.n + 1000)}]` : dataRaw(run.n)],
    ['extraction_metadata', metadataRaw(run.n)],
  ]);
}

// A fresh, mutable copy of the whole data set.
export function initialData() {
  const agents = new Map();
  const runs = new Map();
  const addAgent = (id, projectId, name) => agents.set(id, { id, projectId, name });

  addAgent('agent-big', 'p-alpha', 'Big invoices agent');
  addAgent('agent-alpha', 'p-alpha', 'Alpha receipts agent');
  addAgent('agent-beta', 'p-beta', 'Beta contracts agent');
  addAgent('agent-empty', 'p-beta', 'Beta agent without runs');

  let n = 0;
  const addRun = (id, agentId, status, createdMs, extra = {}) => {
    const agent = agents.get(agentId);
    const suffix = id.replace(/^run-/, '');
    const micros = (n * 7919) % 1000;
    const run = {
      n,
      id,
      agentId,
      projectId: agent.projectId,
      status,
      createdMs,
      createdAt: isoTimestamp(createdMs, micros),
      updatedAt: isoTimestamp(createdMs + 45_000, micros),
      jobId: `job-${suffix}`,
      fileId: `file-${suffix}`,
      spaced: n % 11 === 4,
      dataIsArray: false,
      deleted: false,
      ...extra,
    };
    run.raw = buildRunRaw(run);
    runs.set(id, run);
    n += 1;
    return run;
  };

  // agent-big: 130 runs. Creation order is a permutation of the id order (37 is coprime with
  // 130), so a mirror that sorts by id instead of created_at gets a different order.
  for (let i = 0; i < BIG_AGENT_RUNS; i += 1) {
    const id = `run-big-${String(i).padStart(3, '0')}`;
    const slot = (i * 37) % BIG_AGENT_RUNS;
    let status = 'SUCCESS';
    if (i % 10 === 3) status = 'ERROR';
    if (i % 25 === 5) status = 'PENDING';
    addRun(id, 'agent-big', status, BASE_MS + slot * 97_000 + i);
  }

  const later = BASE_MS + 5 * 86_400_000;
  addRun('run-alpha-success', 'agent-alpha', 'SUCCESS', later + 1_000);
  addRun('run-alpha-error', 'agent-alpha', 'ERROR', later + 2_000);
  addRun('run-alpha-pending', 'agent-alpha', 'PENDING', later + 3_000);
  addRun('run-alpha-pages', 'agent-alpha', 'SUCCESS', later + 4_000, { dataIsArray: true });
  addRun('run-alpha-spaced', 'agent-alpha', 'SUCCESS', later + 5_000, { spaced: true });

  addRun('run-beta-success', 'agent-beta', 'SUCCESS', later + 6_000);
  addRun('run-beta-error', 'agent-beta', 'ERROR', later + 7_000);
  addRun('run-beta-pending', 'agent-beta', 'PENDING', later + 8_000);

  return { agents, runs, nextNewRun: 1, nextUpload: 1, newRunBaseMs: BASE_MS + 30 * 86_400_000 };
}

// Runs of one agent in the upstream's list order (created_at descending), deleted ones left out.
export function orderedRuns(data, agentId) {
  return [...data.runs.values()]
    .filter((r) => r.agentId === agentId && !r.deleted)
    .sort((a, b) => b.createdMs - a.createdMs);
}

// Deterministic byte stream for uploads and downloads: byte at offset o is BLOCK[o % BLOCK_LEN].
// The period is a prime, so chunk boundaries never line up with it.
const BLOCK_LEN = 65_521;
const DOUBLE_BLOCK = (() => {
  const b = Buffer.alloc(BLOCK_LEN * 2);
  let x = 0x2545f491;
  for (let i = 0; i < BLOCK_LEN; i += 1) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  b.copy(b, BLOCK_LEN, 0, BLOCK_LEN);
  return b;
})();

export function patternBytes(offset, length) {
  const out = Buffer.allocUnsafe(length);
  let written = 0;
  while (written < length) {
    const start = (offset + written) % BLOCK_LEN;
    const n = Math.min(length - written, BLOCK_LEN);
    DOUBLE_BLOCK.copy(out, written, start, start + n);
    written += n;
  }
  return out;
}
