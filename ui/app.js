// runmirror's offline UI: browse the mirrored extraction runs. Plain ES module, no framework,
// no build step; everything comes from this runmirror (the page under /_runmirror/ui/, the data
// from /_runmirror/api/*, live status changes from /_runmirror/events).
//
// Routes (hash): #/runs?kind=&agent=&status=&from=&to=&q=  the list (#/ is all agents' v1 runs)
//                #/runs/<id>[?q=]                             one v1 run (q: the search it was
//                                                             opened from, highlighted in it)
//                #/runs/<id>?kind=v2_job[&q=]                 one Extract v2 job
//                #/runs/<id>?kind=v1_job[&q=]                 one v1 extraction job
//                #/requests?cache=&status=                    the last requests answered
//                #/watches[?all=1]                            what the sync worker polls, and why
//                                                             each one waits
// kind is that of the browse API: v1 runs when absent, v2_job, v1_job, or all.

const API = new URL('../api/', document.baseURI); // /_runmirror/api/
const EVENTS = new URL('../events', document.baseURI); // /_runmirror/events
const HEALTH = new URL('../health', document.baseURI); // /_runmirror/health (open, no token)
// How often the upstream's state is asked while the page is visible: the daemon learns it from
// its own requests, so a few seconds is as prompt as it gets, and /health is cheap.
const HEALTH_POLL_MS = 3000;
const PAGE_SIZE = 50;
// Final statuses of every kind (v1 runs and jobs, v2 jobs): none of them means "not final" in
// another kind.
const FINAL = new Set(['SUCCESS', 'ERROR', 'CANCELLED', 'PARTIAL_SUCCESS', 'COMPLETED', 'FAILED']);
const STATUS_ORDER = ['SUCCESS', 'ERROR', 'PENDING', 'CREATED'];
const FILTER_KEYS = ['kind', 'agent', 'project', 'status', 'from', 'to', 'q'];

// The kinds of stored resource (the browse API's ?kind=). 'run' is the default and never written
// in a URL, so the page's older links (#/runs, #/runs/<id>) keep meaning v1 runs.
const KINDS = {
  run: { label: 'v1 run', one: 'run', many: 'runs', statuses: STATUS_ORDER },
  v2_job: {
    label: 'v2 job',
    one: 'v2 job',
    many: 'v2 jobs',
    statuses: ['COMPLETED', 'FAILED', 'CANCELLED', 'RUNNING', 'PENDING'],
  },
  v1_job: {
    label: 'v1 job',
    one: 'v1 job',
    many: 'v1 jobs',
    statuses: ['SUCCESS', 'PARTIAL_SUCCESS', 'ERROR', 'CANCELLED', 'PENDING'],
  },
};
const KIND_FILTERS = [
  ['', 'v1 runs'],
  ['v2_job', 'v2 jobs'],
  ['v1_job', 'v1 jobs'],
  ['all', 'All kinds'],
];
const isKind = (value) => typeof value === 'string' && Object.hasOwn(KINDS, value);
// A list's kind filter as the page keeps it: '' (v1 runs), another kind's name, or 'all'.
const kindFilter = (value) => (value === 'all' || (isKind(value) && value !== 'run') ? value : '');
// The kind of one resource (a summary's "kind", a route's): 'run' unless it names another.
const resourceKind = (value) => (isKind(value) ? value : 'run');
// "run"/"runs", "v2 job"/"v2 jobs", "run or v2 job"/"runs and v2 jobs" for a list's kind filter.
function noun(filter, n) {
  if (filter === 'all') return n === 1 ? 'run or v2 job' : 'runs and v2 jobs';
  const k = KINDS[resourceKind(filter)];
  return n === 1 ? k.one : k.many;
}
// The status choices of a list's kind filter.
function statusChoices(filter) {
  if (filter === 'all') return [...new Set(Object.values(KINDS).flatMap((k) => k.statuses))];
  return KINDS[resourceKind(filter)].statuses;
}
// Where one resource is shown.
const kindQuery = (kind) => (resourceKind(kind) === 'run' ? '' : `?kind=${resourceKind(kind)}`);
// |q|: the list's search, highlighted on the item's page.
function itemHash(kind, id, q) {
  const params = new URLSearchParams();
  if (resourceKind(kind) !== 'run') params.set('kind', resourceKind(kind));
  if (q) params.set('q', q);
  const qs = params.toString();
  return `#/runs/${encodeURIComponent(id)}${qs ? `?${qs}` : ''}`;
}
// Its path under /_runmirror/api/.
const itemApiPath = (kind, id) => `runs/${encodeURIComponent(id)}${kindQuery(kind)}`;
const DATA_ROWS_SHOWN = 200; // rows of a data table shown before "Show more"

const $ = (id) => document.getElementById(id);

// ---- small DOM helpers -------------------------------------------------------------------------

// h('a', { href: '#', class: 'x', onclick: fn }, 'text', child, ...): an element. Attributes
// whose value is null, undefined or false are left out; children may be strings, nodes, arrays.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let toastTimer = null;
function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 3000);
}

// ---- times ---------------------------------------------------------------------------------------

// Milliseconds since the epoch of an API timestamp ("2025-01-15T08:00:00.123456Z"; microseconds
// and a missing zone, taken as UTC, are accepted), or NaN.
function parseTime(s) {
  if (typeof s !== 'string' || !s) return NaN;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(s.trim());
  if (!m) return Date.parse(s);
  const frac = m[2] ? m[2].slice(0, 4) : '';
  return Date.parse(`${m[1]}${frac}${m[3] ?? 'Z'}`);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function formatLocal(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// <time> showing local time, with the stored value as its tooltip.
function timeEl(s) {
  const ms = parseTime(s);
  if (Number.isNaN(ms)) return h('span', { class: 'muted' }, s ? String(s) : '—');
  return h('time', { datetime: new Date(ms).toISOString(), title: `${s} (stored, UTC)` }, formatLocal(ms));
}

function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

// updated_at − created_at for a run in a final status; "—" while it runs.
function runDuration(status, createdAt, updatedAt) {
  if (!FINAL.has(status)) return '—';
  return formatDuration(parseTime(updatedAt) - parseTime(createdAt));
}

// "2025-01-15" (a date input) as an ISO instant for the API: the start of that local day for
// `from` (inclusive), the start of the next one for `to` (exclusive), so the whole day is in.
function dateBound(day, end) {
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(day ?? '');
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0)).toISOString();
}

// ---- status badges ---------------------------------------------------------------------------

function statusClass(status) {
  switch (status) {
    case 'SUCCESS':
    case 'PARTIAL_SUCCESS':
    case 'COMPLETED':
      return 's-success';
    case 'ERROR':
    case 'FAILED':
    case 'CANCELLED':
      return 's-error';
    case 'PENDING':
    case 'RUNNING':
      return 's-pending';
    default:
      return 's-other';
  }
}

function badge(status, count) {
  const text = status || 'UNKNOWN';
  return h(
    'span',
    { class: `badge ${statusClass(status)}`, dataset: { status: text } },
    text,
    count === undefined ? null : h('span', { class: 'n' }, String(count)),
  );
}

function setBadge(el, status) {
  el.className = `badge ${statusClass(status)}`;
  el.dataset.status = status;
  el.textContent = status;
}

// ---- lossless JSON -----------------------------------------------------------------------------
// The mirror keeps the upstream's bytes, and so must this page when it shows them: JSON.parse
// would round 123456789012345678901234567890 and reorder integer-like keys. Values become
//   { kind: 'object', entries: [[key, value], ...] }  { kind: 'array', items: [...] }
//   { kind: 'string', value }  { kind: 'number', raw }  { kind: 'bool', value }  { kind: 'null' }

function parseJson(text) {
  let i = 0;
  const n = text.length;
  const fail = (what) => {
    throw new SyntaxError(`invalid JSON at offset ${i}: ${what}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i += 1;
      else return;
    }
  };
  const string = () => {
    const start = i; // at the opening quote
    let escaped = false;
    for (i += 1; i < n; i += 1) {
      const c = text.charCodeAt(i);
      if (c === 92) {
        escaped = true;
        i += 1;
      } else if (c === 34) {
        i += 1;
        const slice = text.slice(start, i);
        return escaped ? JSON.parse(slice) : slice.slice(1, -1);
      }
    }
    return fail('unterminated string');
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth) => {
    if (depth > 2000) fail('nested too deeply');
    ws();
    const c = text[i];
    if (c === '{') {
      i += 1;
      const entries = [];
      ws();
      if (text[i] === '}') {
        i += 1;
        return { kind: 'object', entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i += 1;
        entries.push([key, value(depth + 1)]);
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === '}') {
          i += 1;
          return { kind: 'object', entries };
        } else fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i += 1;
      const items = [];
      ws();
      if (text[i] === ']') {
        i += 1;
        return { kind: 'array', items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === ']') {
          i += 1;
          return { kind: 'array', items };
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { kind: 'string', value: string() };
    if (text.startsWith('true', i)) {
      i += 4;
      return { kind: 'bool', value: true };
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return { kind: 'bool', value: false };
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return { kind: 'null' };
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m || !m[0]) fail('unexpected character');
    i += m[0].length;
    return { kind: 'number', raw: m[0] };
  };
  const v = value(0);
  ws();
  if (i !== n) fail('trailing characters');
  return v;
}

// The member |key| of an object value, or undefined.
function member(v, key) {
  if (!v || v.kind !== 'object') return undefined;
  for (const [k, x] of v.entries) if (k === key) return x;
  return undefined;
}

// A string member as a JS string; other kinds as their text; undefined when absent or null.
function memberText(v, key) {
  const x = member(v, key);
  if (!x || x.kind === 'null') return undefined;
  if (x.kind === 'string') return x.value;
  if (x.kind === 'number') return x.raw;
  if (x.kind === 'bool') return String(x.value);
  return undefined;
}

const isContainer = (v) => v && (v.kind === 'object' || v.kind === 'array');
const childCount = (v) => (v.kind === 'object' ? v.entries.length : v.items.length);

// Pretty JSON text of a value, numbers as they were written.
function stringify(v, indent = '') {
  switch (v.kind) {
    case 'null':
      return 'null';
    case 'bool':
      return String(v.value);
    case 'number':
      return v.raw;
    case 'string':
      return JSON.stringify(v.value);
    case 'array': {
      if (!v.items.length) return '[]';
      const inner = `${indent}  `;
      return `[\n${v.items.map((x) => inner + stringify(x, inner)).join(',\n')}\n${indent}]`;
    }
    default: {
      if (!v.entries.length) return '{}';
      const inner = `${indent}  `;
      return `{\n${v.entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${stringify(x, inner)}`).join(',\n')}\n${indent}}`;
    }
  }
}

// ---- search highlighting -------------------------------------------------------------------------
// The browse API's search (q) matches words as prefixes, ignoring case and accents, punctuation
// separating words (store::browse_runs). The page marks what matched by the same rules, in the
// list's rows and on the page of a run opened from a search.

// Folded text (lower case, accents removed) and, for each folded unit, where its character
// starts and ends in |text|.
function foldText(text) {
  let folded = '';
  const starts = [];
  const ends = [];
  for (let i = 0; i < text.length; ) {
    const ch = String.fromCodePoint(text.codePointAt(i));
    const f = ch.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    for (let k = 0; k < f.length; k += 1) {
      starts.push(i);
      ends.push(i + ch.length);
    }
    folded += f;
    i += ch.length;
  }
  return { folded, starts, ends };
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

// The words of a search, folded; [] for none.
function searchWords(q) {
  if (!q) return [];
  return foldText(q).folded.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

// [start, end) ranges of |text| where a word of |words| begins a word: merged, in order.
function matchRanges(text, words) {
  if (!words.length || !text) return [];
  const { folded, starts, ends } = foldText(text);
  const ranges = [];
  for (const word of words) {
    for (let j = folded.indexOf(word); j >= 0; j = folded.indexOf(word, j + 1)) {
      if (j > 0 && WORD_CHAR.test(folded[j - 1])) continue;
      ranges.push([starts[j], ends[j + word.length - 1]]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([...r]);
  }
  return merged;
}

// |text| with what |words| match wrapped in <mark class="hit">; the plain text when nothing does.
function highlighted(text, words) {
  const ranges = matchRanges(text, words);
  if (!ranges.length) return text;
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) frag.append(text.slice(at, start));
    frag.append(h('mark', { class: 'hit' }, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) frag.append(text.slice(at));
  return frag;
}

// What the run page being built highlights, and the containers to open: those on the way to the
// first match, so that it is in sight without opening everything.
const treeFocus = { words: [], open: new Set() };

function setTreeFocus(words, root) {
  treeFocus.words = words;
  treeFocus.open = new Set();
  if (!words.length || !root) return;
  const path = [];
  const find = (v) => {
    if (v.kind === 'string' || v.kind === 'number') return matchRanges(v.kind === 'string' ? v.value : v.raw, words).length > 0;
    if (!isContainer(v)) return false;
    path.push(v);
    const children = v.kind === 'object' ? v.entries.map(([, x]) => x) : v.items;
    for (const x of children) if (find(x)) return true;
    path.pop();
    return false;
  };
  if (find(root)) treeFocus.open = new Set(path);
}

// ---- rendering JSON values -------------------------------------------------------------------

function scalarEl(v) {
  switch (v.kind) {
    case 'string':
      return v.value === '' ? h('span', { class: 'v-empty' }, '(empty)') : h('span', { class: 'v-string' }, highlighted(v.value, treeFocus.words));
    case 'number':
      return h('span', { class: 'v-number' }, highlighted(v.raw, treeFocus.words));
    case 'bool':
      return h('span', { class: 'v-bool' }, String(v.value));
    case 'null':
      return h('span', { class: 'v-null' }, 'null');
    default:
      return h('span', {}, '');
  }
}

function summaryHint(v) {
  const n = childCount(v);
  if (v.kind === 'array') return n === 1 ? '[1 item]' : `[${n} items]`;
  return n === 1 ? '{1 key}' : `{${n} keys}`;
}

// An array whose items are all objects holding only scalars: shown as a table.
function isFlatRecordArray(v) {
  return (
    v.kind === 'array' &&
    v.items.length > 0 &&
    v.items.every((x) => x.kind === 'object' && x.entries.every(([, y]) => !isContainer(y) || childCount(y) === 0))
  );
}

// A value anywhere inside the data: scalars inline, containers as a collapsible tree (children
// are built the first time the node is opened, so a large document costs nothing until looked at).
function valueEl(v, { label, open = false } = {}) {
  if (!isContainer(v)) {
    if (label === undefined) return scalarEl(v);
    return h('span', {}, h('span', { class: 'tree-key' }, label), scalarEl(v));
  }
  if (childCount(v) === 0) {
    const empty = h('span', { class: 'v-empty' }, v.kind === 'array' ? '[] (empty)' : '{} (empty)');
    return label === undefined ? empty : h('span', {}, h('span', { class: 'tree-key' }, label), empty);
  }
  const summary = h(
    'summary',
    {},
    label === undefined ? null : h('span', { class: 'tree-key' }, label),
    h('span', { class: 'hint' }, summaryHint(v)),
  );
  const details = h('details', { class: 'tree' }, summary);
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    if (isFlatRecordArray(v)) {
      details.append(h('div', { class: 'nested-table table-wrap' }, recordTable(v.items, {})));
      return;
    }
    const list = h('ul', { class: 'tree-children' });
    if (v.kind === 'object') for (const [k, x] of v.entries) list.append(h('li', {}, valueEl(x, { label: k })));
    else v.items.forEach((x, idx) => list.append(h('li', {}, valueEl(x, { label: String(idx) }))));
    details.append(list);
  };
  details.addEventListener('toggle', () => details.open && build());
  details.buildChildren = build; // for "Expand all", which cannot wait for toggle events
  if (open || treeFocus.open.has(v)) {
    build();
    details.open = true;
  }
  return details;
}

// Opening every node of a huge document would freeze the page: "Expand all" stops after this many.
const EXPAND_ALL_LIMIT = 5000;

// Opens (or closes) every tree node inside |root|, children built on the way down.
function setTreesOpen(root, open) {
  if (!open) {
    for (const d of root.querySelectorAll('details.tree[open]')) d.open = false;
    return;
  }
  let budget = EXPAND_ALL_LIMIT;
  for (;;) {
    const closed = root.querySelectorAll('details.tree:not([open])');
    if (!closed.length) return;
    for (const d of closed) {
      if (budget-- <= 0) {
        toast(`Expanded the first ${EXPAND_ALL_LIMIT} nodes; open the rest one by one.`);
        return;
      }
      d.buildChildren?.();
      d.open = true;
    }
  }
}

// "Expand all" and "Collapse all" for the trees of the section they sit in.
function treeTools() {
  const inSection = (e) => e.target.closest('section') ?? $('main');
  return h(
    'div',
    { class: 'tree-tools' },
    h('button', { type: 'button', class: 'small', onclick: (e) => setTreesOpen(inSection(e), true) }, 'Expand all'),
    h('button', { type: 'button', class: 'small', onclick: (e) => setTreesOpen(inSection(e), false) }, 'Collapse all'),
  );
}

// An object as key/value rows.
function kvTable(obj, caption) {
  const body = h('tbody');
  for (const [k, v] of obj.entries) {
    body.append(h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, valueEl(v, { open: isContainer(v) && childCount(v) <= 8 }))));
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: 'kv' }, caption ? h('caption', { class: 'visually-hidden' }, caption) : null, body));
}

// Objects as a table: one row each, one column per key (in order of first appearance).
function recordTable(items, { caption, limit = Infinity }) {
  const columns = [];
  const seen = new Set();
  for (const item of items) {
    if (item.kind !== 'object') continue;
    for (const [k] of item.entries) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const table = h(
    'table',
    { class: 'data-table' },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'index' }, '#'), columns.map((c) => h('th', { scope: 'col' }, c)))),
  );
  const body = h('tbody');
  table.append(body);
  let shown = 0;
  const addRows = (count) => {
    const end = Math.min(items.length, shown + count);
    const frag = document.createDocumentFragment();
    for (; shown < end; shown += 1) {
      const item = items[shown];
      const tr = h('tr', {}, h('td', { class: 'index' }, String(shown + 1)));
      if (item.kind !== 'object') {
        tr.append(h('td', { colspan: Math.max(columns.length, 1) }, valueEl(item)));
      } else {
        const byKey = new Map(item.entries);
        for (const c of columns) {
          const v = byKey.get(c);
          tr.append(h('td', {}, v === undefined ? h('span', { class: 'v-empty' }, '—') : valueEl(v)));
        }
      }
      frag.append(tr);
    }
    body.append(frag);
  };
  addRows(limit);
  if (shown >= items.length) return table;
  const more = h('button', { type: 'button' });
  const label = () => (more.textContent = `Show ${Math.min(DATA_ROWS_SHOWN, items.length - shown)} more of ${items.length - shown} remaining rows`);
  label();
  more.addEventListener('click', () => {
    addRows(DATA_ROWS_SHOWN);
    if (shown >= items.length) more.remove();
    else label();
  });
  return h('div', {}, table, h('p', {}, more));
}

// The extracted `data` (a v2 job's `extract_result`): an array of objects as a table, an object
// as key/value rows. |what| names the resource in messages ("run", "job").
function dataEl(data, status, what = 'run') {
  if (!data || data.kind === 'null') {
    return h('p', { class: 'muted' }, FINAL.has(status) ? `This ${what} has no extracted data.` : `No data yet: the ${what} is ${status || 'not finished'}.`);
  }
  if (data.kind === 'array') {
    if (data.items.length === 0) return h('p', { class: 'muted' }, 'The extracted data is an empty list.');
    if (data.items.every((x) => x.kind === 'object')) {
      return h('div', { class: 'table-wrap' }, recordTable(data.items, { caption: 'Extracted data, one row per item', limit: DATA_ROWS_SHOWN }));
    }
    return valueEl(data, { open: true });
  }
  if (data.kind === 'object') return kvTable(data, 'Extracted data');
  return h('p', {}, scalarEl(data));
}

// data_schema: its fields as a table (nested properties as dotted paths), and the whole schema
// as a tree.
function schemaEl(schema, what = 'run') {
  if (!schema || schema.kind === 'null') return h('p', { class: 'muted' }, `No schema stored with this ${what}.`);
  const rows = [];
  const typeOf = (s) => {
    const t = member(s, 'type');
    let text = t ? (t.kind === 'array' ? t.items.map((x) => x.value ?? x.raw).join(' | ') : (t.value ?? '')) : '';
    if (!text && member(s, 'anyOf')) text = 'anyOf';
    if (!text && member(s, '$ref')) text = memberText(s, '$ref');
    const items = member(s, 'items');
    if (text === 'array' && items) text = `array of ${typeOf(items) || 'any'}`;
    return text;
  };
  const walk = (s, prefix, depth) => {
    const props = member(s, 'properties');
    if (!props || props.kind !== 'object' || depth > 6) return;
    const required = member(s, 'required');
    const req = new Set(required?.kind === 'array' ? required.items.map((x) => x.value) : []);
    for (const [name, p] of props.entries) {
      const path = prefix ? `${prefix}.${name}` : name;
      rows.push({ path, type: typeOf(p), required: req.has(name), description: memberText(p, 'description') ?? '' });
      walk(p, path, depth + 1);
      const items = member(p, 'items');
      if (items) walk(items, `${path}[]`, depth + 1);
    }
  };
  walk(schema, '', 0);
  const parts = [];
  if (rows.length) {
    parts.push(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'schema-table' },
          h('caption', { class: 'visually-hidden' }, 'Schema fields'),
          h('thead', {}, h('tr', {}, ['Field', 'Type', 'Required', 'Description'].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            rows.map((r) =>
              h('tr', {}, h('td', { class: 'mono' }, r.path), h('td', {}, r.type), h('td', {}, r.required ? 'yes' : ''), h('td', {}, r.description)),
            ),
          ),
        ),
      ),
    );
  }
  parts.push(h('h3', {}, 'Full schema'), valueEl(schema, { open: !rows.length }));
  return parts;
}

// ---- admin token or API key, and the API --------------------------------------------------------------------

// The admin token or API key the user entered: in this tab's memory only, never stored (a
// reload asks again), and sent as Authorization: Bearer.
let memoryToken = null;
function getToken() {
  return memoryToken;
}
function setToken(token) {
  memoryToken = token;
  $('forget-token').hidden = !token;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// One prompt at a time: every request that meets a 401 waits on the same one. Resolves with the
// new token, or null when the user cancels.
let tokenPrompt = null;
function askToken(rejected) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dialog = $('token-dialog');
    const form = $('token-form');
    const input = $('token-input');
    const error = $('token-error');
    error.hidden = !rejected;
    error.textContent = rejected ? 'That was not accepted. Check it and try again.' : '';
    input.value = '';
    const finish = (token) => {
      form.removeEventListener('submit', onSubmit);
      $('token-cancel').removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      tokenPrompt = null;
      resolve(token);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      setToken(token);
      finish(token);
      startEvents(); // EventSource cannot send the token: the stream is opened again with it
    };
    const onCancel = (e) => {
      e.preventDefault();
      finish(null);
    };
    form.addEventListener('submit', onSubmit);
    $('token-cancel').addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

// GET /_runmirror/api/<path>: parsed JSON, or the body's text with { text: true }. Asks for the
// admin token on a 401 and tries again with it; throws ApiError for other failures.
// |onResponse| sees the response of a successful read (its headers) before the body is read.
async function apiGet(path, { signal, text = false, onResponse } = {}) {
  const url = new URL(path, API);
  for (;;) {
    const token = getToken();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(url, { headers, signal, cache: 'no-store' });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'runmirror cannot be reached. Is the daemon running?');
    }
    if (res.status === 401) {
      const current = getToken();
      if (current !== token) continue; // another request got a new token meanwhile
      if (token) setToken(null);
      const next = await askToken(Boolean(token));
      if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
      if (!next) throw new ApiError(401, 'this runmirror needs its admin token or an API key (Retry to enter one).');
      continue;
    }
    if (!res.ok) {
      let detail = `${res.status} ${res.statusText}`;
      try {
        const body = await res.json();
        if (typeof body?.detail === 'string') detail = body.detail;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(res.status, detail);
    }
    onResponse?.(res);
    return text ? res.text() : res.json();
  }
}

// ---- agents (left column) ----------------------------------------------------------------------

const agentsState = { items: [], loaded: false };
let agentsTimer = null;

function scheduleAgentsRefresh() {
  if (agentsTimer) return;
  agentsTimer = setTimeout(() => {
    agentsTimer = null;
    loadAgents({ quiet: true });
  }, 1500);
}

async function loadAgents({ quiet = false } = {}) {
  const status = $('agents-status');
  if (!quiet) status.textContent = 'Loading agents…';
  try {
    const body = await apiGet('agents');
    agentsState.items = Array.isArray(body?.items) ? body.items : [];
    agentsState.loaded = true;
    status.textContent = agentsState.items.length ? '' : 'No v1 runs mirrored yet. Runs appear here once clients read them through runmirror.';
    renderAgents();
    // Names learned meanwhile, beside the ids already listed.
    for (const tr of listState.rows.values()) tr.querySelector('td.agent-col')?.replaceChildren(agentEl(tr.dataset.agent));
    return true;
  } catch (err) {
    if (quiet) return false;
    status.replaceChildren(
      h('span', { class: 'error-text' }, `Could not load agents: ${err.message}`),
      ' ',
      h('button', { type: 'button', class: 'link-button', onclick: () => loadAgents() }, 'Retry'),
    );
    return false;
  }
}

function statusCounts(byStatus) {
  const entries = Object.entries(byStatus ?? {}).filter(([, n]) => Number(n) > 0);
  entries.sort(([a], [b]) => {
    const ia = STATUS_ORDER.indexOf(a);
    const ib = STATUS_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return entries;
}

function renderAgents() {
  const route = currentRoute;
  const selected = route.view === 'runs' && route.filters.kind !== 'v2_job' ? route.filters.agent ?? '' : null;
  const total = agentsState.items.reduce((n, a) => n + (Number(a.runs) || 0), 0);
  const runsText = (n) => `${Number(n) || 0} run${Number(n) === 1 ? '' : 's'}`;
  const list = $('agents');
  const items = [
    h(
      'li',
      {},
      h(
        'a',
        { href: '#/runs', 'aria-current': selected === '' ? 'page' : null, dataset: { agent: '' } },
        h('span', { class: 'agent-name' }, 'All agents'),
        h('span', { class: 'agent-sub' }, h('span', {}, `${agentsState.items.length} agent${agentsState.items.length === 1 ? '' : 's'}`), h('span', {}, runsText(total))),
      ),
    ),
  ];
  for (const a of agentsState.items) {
    const id = a.extraction_agent_id;
    const counts = statusCounts(a.by_status);
    const latest = parseTime(a.latest_created_at);
    const label = `${a.name ? `${a.name} (${id})` : id}: ${runsText(a.runs)}${counts.length ? ` (${counts.map(([s, n]) => `${n} ${s.toLowerCase()}`).join(', ')})` : ''}`;
    items.push(
      h(
        'li',
        {},
        h(
          'a',
          {
            href: listHash({ agent: id }),
            'aria-current': selected === id ? 'page' : null,
            'aria-label': label,
            title: Number.isNaN(latest) ? null : `Latest run created ${formatLocal(latest)}`,
            dataset: { agent: id },
          },
          h('span', { class: 'agent-name' }, a.name || id),
          a.name ? h('span', { class: 'agent-id mono' }, id) : null,
          h('span', { class: 'agent-sub' }, h('span', { class: 'mono' }, a.project_id ?? ''), h('span', { class: 'agent-total' }, runsText(a.runs))),
          h('span', { class: 'agent-counts' }, counts.map(([s, n]) => badge(s, n))),
        ),
      ),
    );
  }
  list.replaceChildren(...items);
}

// ---- routing -------------------------------------------------------------------------------------

let currentRoute = { view: 'runs', filters: {} };
let lastListHash = '#/runs';
let lastListKind = ''; // its kind filter
let listShown = false; // whether a list was shown yet (else "back" goes to the open item's kind)

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  if (path === '/requests') {
    return { view: 'requests', filters: { cache: params.get('cache') ?? '', status: params.get('status') ?? '' } };
  }
  if (path === '/watches') return { view: 'watches', filters: { all: params.get('all') === '1' } };
  const m = /^\/runs\/(.+)$/.exec(path);
  if (m) {
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      // keep it as typed
    }
    return { view: 'run', id, kind: resourceKind(params.get('kind')), q: params.get('q') ?? '' };
  }
  const filters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v) filters[k] = v;
  }
  if (!kindFilter(filters.kind)) delete filters.kind; // "run" (or a kind this page does not know)
  return { view: 'runs', filters };
}

function listHash(filters) {
  const params = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = k === 'kind' ? kindFilter(filters.kind) : filters[k];
    if (v) params.set(k, v);
  }
  const qs = params.toString();
  return qs ? `#/runs?${qs}` : '#/runs';
}

function navigate(hash, { replace = false } = {}) {
  if (hash === location.hash) return;
  if (replace) {
    history.replaceState(null, '', hash);
    route();
  } else location.hash = hash;
}

function route() {
  const previous = currentRoute;
  currentRoute = parseHash();
  if (previous.view === 'runs') listState.scrollY = window.scrollY;
  clearTimeout(requestsState.timer);
  requestsState.ctrl?.abort();
  clearTimeout(watchesState.timer);
  watchesState.ctrl?.abort();
  if (currentRoute.view === 'requests') {
    showRequests(currentRoute.filters);
  } else if (currentRoute.view === 'watches') {
    showWatches(currentRoute.filters);
  } else if (currentRoute.view === 'run') {
    if (!listShown) {
      lastListKind = kindFilter(currentRoute.kind);
      lastListHash = listHash({ kind: lastListKind });
    }
    showRun(currentRoute.id, currentRoute.kind, { q: currentRoute.q });
  } else {
    listShown = true;
    lastListHash = listHash(currentRoute.filters);
    lastListKind = kindFilter(currentRoute.filters.kind);
    showRuns(currentRoute.filters, previous);
  }
  if (agentsState.loaded) renderAgents();
  $('nav-requests')?.setAttribute('aria-current', currentRoute.view === 'requests' ? 'page' : 'false');
  $('nav-watches')?.setAttribute('aria-current', currentRoute.view === 'watches' ? 'page' : 'false');
  const v2 = $('nav-v2');
  if (v2) v2.setAttribute('aria-current', currentRoute.view === 'runs' && currentRoute.filters.kind === 'v2_job' && !currentRoute.filters.agent ? 'page' : 'false');
}

// ---- recent requests -----------------------------------------------------------------------------

// What the daemon did with the last requests it answered (/_runmirror/api/requests), refreshed
// every few seconds while shown.
const requestsState = { timer: null, ctrl: null };
const CACHE_RESULTS = ['hit', 'stale', 'assembled', 'miss', 'revalidated', 'refused', 'write', 'passthrough', 'none'];
const CACHE_CLASS = { hit: 's-success', stale: 's-pending', assembled: 's-pending', refused: 's-error' };

function showRequests(filters) {
  document.title = 'Recent requests · runmirror';
  const select = (name, label, values) =>
    h(
      'label',
      {},
      `${label} `,
      h(
        'select',
        { name, onchange: (e) => navigate(requestsHash({ ...filters, [name]: e.target.value })) },
        h('option', { value: '' }, 'any'),
        values.map((v) => h('option', { value: v, selected: filters[name] === v }, v)),
      ),
    );
  const summary = h('p', { class: 'muted', role: 'status' }, 'Loading…');
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'runs requests', 'aria-label': 'Recent requests' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'Method', 'Path', 'Status', 'Cache', 'Kind', 'ms', 'Upstream ms', 'Bytes', 'Tenant'].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    tbody,
  );
  $('main').replaceChildren(
    h('h1', { id: 'list-title' }, 'Recent requests'),
    h('p', { class: 'muted' }, 'What runmirror did with each request: answered from the store (hit), asked upstream (miss), relayed (passthrough), ... Newest first; tenants as a short prefix of their keyed hash.'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, select('cache', 'Cache', CACHE_RESULTS), select('status', 'Status', ['2xx', '3xx', '4xx', '5xx'])),
    summary,
    h('div', { class: 'table-wrap' }, table),
  );
  const load = async () => {
    requestsState.ctrl?.abort();
    const ctrl = new AbortController();
    requestsState.ctrl = ctrl;
    const params = new URLSearchParams();
    for (const k of ['cache', 'status']) if (filters[k]) params.set(k, filters[k]);
    params.set('limit', '200');
    try {
      const body = await apiGet(`requests?${params}`, { signal: ctrl.signal });
      const items = Array.isArray(body?.items) ? body.items : [];
      summary.textContent = items.length ? `${items.length} request${items.length === 1 ? '' : 's'} (the daemon keeps the last ${body.kept})` : 'No requests yet.';
      tbody.replaceChildren(
        ...items.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, h('time', { datetime: r.at }, new Date(r.at).toLocaleTimeString())),
            h('td', {}, r.method),
            h('td', { class: 'path' }, r.path),
            h('td', {}, String(r.status || '–')),
            h('td', {}, h('span', { class: `badge ${CACHE_CLASS[r.cache] ?? ''}` }, r.cache)),
            h('td', {}, r.kind ?? '–'),
            h('td', { class: 'num' }, String(r.ms)),
            h('td', { class: 'num' }, r.upstream_ms === null ? '–' : String(r.upstream_ms)),
            h('td', { class: 'num' }, String(r.bytes)),
            h('td', { class: 'mono' }, r.tenant ?? '–'),
          ),
        ),
      );
    } catch (err) {
      if (err.name === 'AbortError') return;
      summary.replaceChildren(h('span', { class: 'error-text' }, `Could not load requests: ${err.message}`));
    }
    if (currentRoute.view === 'requests') requestsState.timer = setTimeout(load, 3000);
  };
  load();
}

function requestsHash(filters) {
  const params = new URLSearchParams();
  for (const k of ['cache', 'status']) if (filters[k]) params.set(k, filters[k]);
  const qs = params.toString();
  return qs ? `#/requests?${qs}` : '#/requests';
}

// ---- watches ------------------------------------------------------------------------------------

// What the sync worker polls upstream until final (/_runmirror/api/watches), and why each one
// waits: the daemon's own words (its "wait_text"), since only it knows which keys it holds, a
// 429's pause and its upstream's state. Refreshed every few seconds while shown.
const watchesState = { timer: null, ctrl: null };
// A watch's run_id is its resource's store key: the kind's prefix, then the id (v1 runs: none).
const STORE_PREFIXES = [
  ['v2/', 'v2_job'],
  ['v1job/', 'v1_job'],
];
function resourceOfStoreKey(key) {
  for (const [prefix, kind] of STORE_PREFIXES) if (key.startsWith(prefix)) return { kind, id: key.slice(prefix.length) };
  return { kind: 'run', id: key };
}
// Not green, not red: what a wait is, at a glance (the text says which).
const WAIT_CLASS = {
  finished: 's-success',
  polling: 's-success',
  due: 's-success',
  scheduled: 's-other',
  given_up: 's-error',
  no_key: 's-error',
  upstream_down: 's-error',
  offline: 's-pending',
  paused_by_429: 's-pending',
  rate_limited: 's-pending',
  no_free_slot: 's-pending',
  due_key_unknown: 's-pending',
};
const WAIT_LABEL = {
  finished: 'finished',
  given_up: 'given up',
  offline: 'offline',
  polling: 'polling now',
  no_key: 'no key',
  upstream_down: 'upstream down',
  paused_by_429: 'paused by 429',
  scheduled: 'scheduled',
  rate_limited: 'rate limited',
  no_free_slot: 'no free slot',
  due: 'due',
  due_key_unknown: 'due',
};

// "in 3 s", "12 s ago": a poll time beside now.
function relativeTime(ms) {
  const delta = ms - Date.now();
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

function watchesHash(filters) {
  return filters.all ? '#/watches?all=1' : '#/watches';
}

function showWatches(filters) {
  document.title = 'Watches · runmirror';
  const summary = h('p', { class: 'muted', role: 'status', id: 'watches-summary' }, 'Loading…');
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'runs watches cards', 'aria-label': 'Watches' },
    h('thead', {}, h('tr', {}, ['Resource', 'Agent', 'Last status', 'Waiting', 'Next poll', 'Attempts', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody,
  );
  const wrap = h('div', { class: 'table-wrap', hidden: true }, table);
  const all = h('input', { type: 'checkbox', id: 'watches-all', checked: filters.all, onchange: (e) => navigate(watchesHash({ all: e.target.checked })) });
  $('main').replaceChildren(
    h('h1', { id: 'list-title' }, 'Watches'),
    h(
      'p',
      { class: 'muted' },
      'The runs and jobs the sync worker polls upstream until they are final, soonest poll first, with why each one waits. A watch polls with the API key of the client whose request made it (kept in memory only) or the service key (LLAMA_CLOUD_API_KEY): after a restart, a watch whose client has not called again has no key to poll with.',
    ),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, h('label', { class: 'check' }, all, ' Also show ended watches (finished or given up)')),
    summary,
    wrap,
  );
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  const row = (w) => {
    const key = w.run_id ?? '';
    const resource = key ? resourceOfStoreKey(key) : null;
    const what = resource
      ? h('a', { href: itemHash(resource.kind, resource.id) }, h('code', {}, resource.id))
      : h('span', {}, 'job ', h('code', {}, w.job_id ?? '?'), h('span', { class: 'muted' }, ' (run not known yet)'));
    const until = parseTime(w.wait_until);
    const waitClass = WAIT_CLASS[w.wait] ?? 's-other';
    const next = parseTime(w.next_poll_at);
    return h(
      'tr',
      { dataset: { watchId: String(w.id), wait: w.wait ?? '' } },
      cell('Resource', h('span', { class: 'kind-tag' }, resource ? KINDS[resource.kind].label : 'v1 job', ' · ', w.kind === 'job' ? 'by job' : 'by id'), h('br'), what),
      cell('Agent', w.extraction_agent_id ? h('span', { title: w.extraction_agent_id }, agentLabel(w.extraction_agent_id)) : h('span', { class: 'muted' }, '—')),
      cell('Last status', w.last_status ? badge(w.last_status) : h('span', { class: 'muted' }, 'not polled yet')),
      cell(
        'Waiting',
        h('span', { class: `badge wait ${waitClass}` }, WAIT_LABEL[w.wait] ?? w.wait ?? '?'),
        ' ',
        h('span', { class: 'wait-text' }, w.wait_text ?? ''),
        Number.isNaN(until) ? null : h('span', { class: 'muted' }, ` until ${formatLocal(until).slice(11)} (${relativeTime(until)})`),
      ),
      cell('Next poll', w.finished_at || w.given_up_at ? h('span', { class: 'muted' }, '—') : h('span', { title: w.next_poll_at }, Number.isNaN(next) ? '—' : relativeTime(next))),
      cell('Attempts', String(w.attempts ?? 0)),
      cell('Last error', w.last_error ? h('span', { class: 'error-text' }, w.last_error) : h('span', { class: 'muted' }, '—')),
    );
  };
  const load = async () => {
    watchesState.ctrl?.abort();
    const ctrl = new AbortController();
    watchesState.ctrl = ctrl;
    try {
      const body = await apiGet(`watches?limit=500${filters.all ? '&all=1' : ''}`, { signal: ctrl.signal });
      const items = Array.isArray(body?.items) ? body.items : [];
      const active = items.filter((w) => !w.finished_at && !w.given_up_at);
      const counts = new Map();
      for (const w of active) counts.set(WAIT_LABEL[w.wait] ?? w.wait, (counts.get(WAIT_LABEL[w.wait] ?? w.wait) ?? 0) + 1);
      summary.textContent = active.length
        ? `${active.length} active watch${active.length === 1 ? '' : 'es'}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}.`
        : filters.all && items.length
          ? 'No active watches: every watched run and job is final.'
          : 'No active watches: nothing is waiting to become final.';
      tbody.replaceChildren(...items.map(row));
      wrap.hidden = !items.length; // no empty box under "No active watches"
    } catch (err) {
      if (err.name === 'AbortError') return;
      summary.replaceChildren(h('span', { class: 'error-text' }, `Could not load watches: ${err.message}`));
    }
    if (currentRoute.view === 'watches') watchesState.timer = setTimeout(load, 3000);
  };
  load();
}

// ---- the run list --------------------------------------------------------------------------------

// The list shown last, kept when a run is opened, so going back shows it again at once, where it
// was scrolled to, without asking the API again.
const listState = {
  key: null,
  filters: {},
  items: [],
  next: null, // cursor of the next page; null when there is none
  loading: null, // AbortController of the request in flight
  rows: new Map(), // rowKey(kind, id) -> <tr>
  scrollY: 0,
  openedKey: null, // rowKey of the item opened from this list
  newRuns: 0,
  els: null,
};

// What upstream calls the agent (learned from its agents' list), or undefined.
function agentName(id) {
  return agentsState.items.find((x) => x.extraction_agent_id === id && x.name)?.name;
}

function agentLabel(id) {
  return agentName(id) || id;
}

// A list item's key: ids of different kinds may be equal.
const rowKey = (kind, id) => `${resourceKind(kind)}\n${id}`;

function listTitle(filters) {
  const kind = kindFilter(filters.kind);
  if (!filters.agent) return kind === 'v2_job' ? 'All v2 jobs' : kind === 'v1_job' ? 'All v1 jobs' : kind === 'all' ? 'All runs and v2 jobs' : 'All runs';
  if (kind === 'v2_job') return `v2 jobs of configuration ${filters.agent}`;
  if (kind === 'v1_job') return `v1 jobs of ${agentLabel(filters.agent)}`;
  return `${kind === 'all' ? 'Runs and v2 jobs' : 'Runs'} of ${agentLabel(filters.agent)}`;
}

function showRuns(filters, previous) {
  runState.ctrl?.abort(); // a run still loading must not replace the list when it arrives
  runState.ctrl = null;
  const key = listHash(filters);
  const main = $('main');
  const fromRun = previous?.view === 'run';
  const title = listTitle(filters);
  document.title = `${title} · runmirror`;

  // Typing in the search box changes the hash: keep the same form (and focus), only reload rows.
  if (listState.els && main.contains(listState.els.form) && previous?.view === 'runs') {
    listState.els.heading.textContent = title;
    listState.els.sub.replaceChildren(...listSubline(filters));
    syncForm(filters);
    if (listState.key !== key) reloadList(filters, key);
    return;
  }

  const els = buildListView(filters, title);
  main.replaceChildren(els.root);
  if (listState.key === key && listState.items.length) {
    // Back from a run: the same list, re-rendered from memory.
    renderRows(listState.items, { reset: true });
    updateFoot();
    showNewRunsNotice();
    requestAnimationFrame(() => {
      window.scrollTo(0, listState.scrollY);
      const link = listState.rows.get(listState.openedKey)?.querySelector('a');
      if (fromRun && link) link.focus({ preventScroll: true });
    });
  } else {
    reloadList(filters, key);
    if (fromRun) main.focus({ preventScroll: true });
  }
}

function buildListView(filters, title) {
  const heading = h('h1', { id: 'list-title', tabindex: '-1' }, title);
  const kind = h(
    'select',
    { id: 'f-kind', name: 'kind' },
    KIND_FILTERS.map(([value, label]) => h('option', { value }, label)),
  );
  const q = h('input', { id: 'f-q', type: 'search', name: 'q', autocomplete: 'off', spellcheck: 'false' });
  const status = h('select', { id: 'f-status', name: 'status' });
  const from = h('input', { id: 'f-from', type: 'date', name: 'from' });
  const to = h('input', { id: 'f-to', type: 'date', name: 'to' });
  const clear = h('button', { type: 'button', id: 'f-clear' }, 'Clear filters');
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    h('div', { class: 'field' }, h('label', { for: 'f-kind' }, 'Kind'), kind),
    h('div', { class: 'field grow' }, h('label', { for: 'f-q' }, 'Search'), q),
    h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), status),
    h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'Created from'), from),
    h('div', { class: 'field' }, h('label', { for: 'f-to' }, 'Created to'), to),
    h('div', { class: 'field' }, clear),
  );
  const formFilters = () => ({
    kind: kind.value,
    agent: currentRoute.filters?.agent,
    project: currentRoute.filters?.project,
    q: q.value.trim(),
    status: status.value,
    from: from.value,
    to: to.value,
  });
  let debounce = null;
  q.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => navigate(listHash(formFilters()), { replace: true }), 300);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(debounce);
    navigate(listHash(formFilters()), { replace: true });
  });
  for (const el of [kind, status, from, to]) el.addEventListener('change', () => navigate(listHash(formFilters())));
  // The kind is what is listed, not a filter of it: clearing the filters keeps it.
  clear.addEventListener('click', () => {
    clearTimeout(debounce);
    navigate(listHash({ kind: currentRoute.filters?.kind, agent: currentRoute.filters?.agent, project: currentRoute.filters?.project }));
  });

  const notice = h('div', { class: 'notice', hidden: true });
  const summary = h('p', { id: 'list-summary', class: 'muted', role: 'status' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'runs cards', 'aria-labelledby': 'list-title', 'aria-describedby': 'list-summary' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', class: 'kind-col' }, 'Kind'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col', class: 'file-col' }, 'File'),
        h('th', { scope: 'col' }, 'Created'),
        h('th', { scope: 'col', class: 'duration' }, 'Duration'),
        h('th', { scope: 'col', class: 'id-col' }, 'Run ID'),
        h('th', { scope: 'col', class: 'agent-col' }, 'Agent'),
      ),
    ),
    tbody,
  );
  // A click anywhere on a row opens it; the file name is the link (for keyboards and new tabs).
  tbody.addEventListener('click', (e) => {
    if (e.target.closest('a, button') || window.getSelection()?.toString()) return;
    const tr = e.target.closest('tr[data-run-id]');
    if (tr) navigate(itemHash(tr.dataset.kind, tr.dataset.runId, listState.filters.q));
  });
  const more = h('button', { type: 'button', id: 'load-more', hidden: true }, 'Load more');
  more.addEventListener('click', () => loadPage());
  const foot = h('div', { class: 'list-foot' }, more, h('span', { id: 'list-foot-status', class: 'muted' }));
  const sub = h('p', { class: 'muted' }, ...listSubline(filters));
  const root = h('div', {}, h('div', { class: 'list-head' }, heading, sub), form, notice, summary, h('div', { class: 'table-wrap' }, table), foot);
  const els = { root, heading, sub, form, kind, q, status, from, to, notice, summary, table, tbody, more, foot };
  listState.els = els;
  syncForm(filters);
  return els;
}

// Under the heading: which agent (a v2 job's configuration), and the way back to all of them.
function listSubline(filters) {
  if (!filters.agent) return [];
  const v2 = kindFilter(filters.kind) === 'v2_job';
  return [
    v2 ? 'Configuration ' : 'Agent ',
    h('code', {}, filters.agent),
    ' · ',
    h('a', { href: listHash({ ...filters, agent: undefined }) }, v2 ? 'show all configurations' : 'show all agents'),
  ];
}

const SEARCH_HINTS = {
  '': 'File name, run id, job id or extracted text',
  v2_job: 'Job id or extracted text',
  v1_job: 'File name, job id or extracted text',
  all: 'File name, id or extracted text',
};

function syncForm(filters) {
  const { kind, q, status, from, to, table } = listState.els;
  const k = kindFilter(filters.kind);
  kind.value = k;
  q.placeholder = SEARCH_HINTS[k];
  // The statuses of the kind listed; one from the address that is not among them still shows.
  const choices = statusChoices(k);
  const wanted = filters.status ?? '';
  const options = wanted && !choices.includes(wanted) ? [...choices, wanted] : choices;
  if (status.dataset.choices !== options.join(',')) {
    status.replaceChildren(h('option', { value: '' }, 'Any status'), ...options.map((s) => h('option', { value: s }, s)));
    status.dataset.choices = options.join(',');
  }
  if (document.activeElement !== q) q.value = filters.q ?? '';
  status.value = wanted;
  from.value = filters.from ?? '';
  to.value = filters.to ?? '';
  table.classList.toggle('one-agent', Boolean(filters.agent));
  table.classList.toggle('all-kinds', k === 'all');
  table.classList.toggle('v2-jobs', k === 'v2_job');
  table.querySelector('th.file-col').textContent = k === 'v2_job' ? 'Job' : k === 'all' ? 'File or job' : 'File';
  table.querySelector('th.id-col').textContent = k === 'all' ? 'ID' : k === 'v1_job' ? 'Job ID' : 'Run ID';
  table.querySelector('th.agent-col').textContent = k === 'v2_job' ? 'Configuration' : k === 'all' ? 'Agent or configuration' : 'Agent';
}

function reloadList(filters, key) {
  listState.loading?.abort();
  listState.loading = null;
  listState.key = key;
  listState.filters = { ...filters };
  listState.items = [];
  listState.next = null;
  listState.newRuns = 0;
  listState.openedKey = null;
  renderRows([], { reset: true });
  showNewRunsNotice();
  loadPage({ first: true });
}

async function loadPage({ first = false } = {}) {
  const els = listState.els;
  if (!first && (!listState.next || listState.loading)) return;
  const filters = listState.filters;
  const params = new URLSearchParams();
  if (kindFilter(filters.kind)) params.set('kind', filters.kind);
  if (filters.agent) params.set('agent', filters.agent);
  if (filters.project) params.set('project', filters.project);
  if (filters.status) params.set('status', filters.status);
  const fromIso = dateBound(filters.from, false);
  const toIso = dateBound(filters.to, true);
  if (fromIso) params.set('from', fromIso);
  if (toIso) params.set('to', toIso);
  if (filters.q) params.set('q', filters.q);
  params.set('limit', String(PAGE_SIZE));
  if (!first) params.set('cursor', listState.next);

  const ctrl = new AbortController();
  listState.loading = ctrl;
  const key = listState.key;
  els.table.setAttribute('aria-busy', 'true');
  els.more.disabled = true;
  const many = noun(filters.kind, 2);
  setFootStatus(first ? `Loading ${many}…` : `Loading more ${many}…`);
  try {
    const page = await apiGet(`runs?${params}`, { signal: ctrl.signal });
    if (listState.key !== key || listState.loading !== ctrl) return;
    const items = Array.isArray(page?.items) ? page.items : [];
    listState.items.push(...items);
    listState.next = page?.next_cursor || null;
    renderRows(items);
    // Keyboard users carry on from the first new row.
    if (!first && items.length) listState.rows.get(rowKey(items[0].kind, items[0].id))?.querySelector('a')?.focus();
  } catch (err) {
    if (err.name === 'AbortError' || listState.key !== key) return;
    setFootStatus('');
    els.summary.replaceChildren(
      h('span', { class: 'error-text' }, `Could not load ${many}: ${err.message}`),
      ' ',
      h('button', { type: 'button', class: 'link-button', onclick: () => (first ? reloadList(filters, key) : loadPage()) }, 'Retry'),
    );
    return;
  } finally {
    if (listState.loading === ctrl) listState.loading = null;
    els.table.removeAttribute('aria-busy');
    els.more.disabled = false;
  }
  updateFoot();
}

function setFootStatus(text) {
  const el = listState.els?.foot.querySelector('#list-foot-status');
  if (el) el.textContent = text;
}

function updateFoot() {
  const { summary, more } = listState.els;
  const n = listState.items.length;
  const kind = listState.filters.kind;
  const filtered = Object.keys(listState.filters).some((k) => !['kind', 'agent', 'project'].includes(k) && listState.filters[k]);
  const one = noun(kind, 1);
  const many = noun(kind, 2);
  more.hidden = !listState.next;
  setFootStatus('');
  if (n === 0) {
    summary.textContent = filtered ? `No ${many} match these filters.` : `No ${many} mirrored for this selection yet.`;
  } else if (listState.next) {
    summary.textContent = `Showing the newest ${n} ${filtered ? `matching ${many}` : many}; more are available.`;
  } else if (filtered) {
    summary.textContent = n === 1 ? `1 ${one} matches.` : `All ${n} matching ${many} shown.`;
  } else {
    summary.textContent = n === 1 ? `Showing the only ${one}.` : `Showing all ${n} ${many}.`;
  }
}

// One row: a v1 run (named by its file) or a v2 job (by its id: a job's summary has no file name).
function runRow(run) {
  const kind = resourceKind(run.kind);
  const q = listState.filters.q;
  const words = searchWords(q);
  const href = itemHash(kind, run.id, q);
  const name = run.file_name || run.file?.name;
  const link =
    kind === 'v2_job'
      ? h('a', { href, 'aria-label': `v2 job ${run.id}` }, name ? highlighted(name, words) : h('code', {}, highlighted(run.id, words)))
      : h('a', { href }, name ? highlighted(name, words) : '(no file name)');
  return h(
    'tr',
    { dataset: { runId: run.id, kind, agent: run.extraction_agent_id ?? '' } },
    h('td', { class: 'kind-col', 'data-label': 'Kind' }, h('span', { class: `kind-tag k-${kind}` }, KINDS[kind].label)),
    h('td', { class: 'status', 'data-label': 'Status' }, badge(run.status)),
    h('td', { class: 'file', 'data-label': kind === 'v2_job' ? 'Job' : 'File' }, link),
    h('td', { class: 'time', 'data-label': 'Created' }, timeEl(run.created_at)),
    h('td', { class: 'duration', 'data-label': 'Duration' }, runDuration(run.status, run.created_at, run.updated_at)),
    h('td', { class: 'id id-col', 'data-label': 'ID' }, highlighted(run.id, words)),
    h('td', { class: 'agent-col', 'data-label': kind === 'v2_job' ? 'Configuration' : 'Agent' }, agentEl(run.extraction_agent_id)),
  );
}

// An agent's name beside its id, when upstream named it (the agents' list); else its id.
function agentEl(id) {
  if (!id) return '';
  const name = agentName(id);
  if (!name) return h('span', { class: 'mono' }, id);
  return h('span', { class: 'agent-named' }, h('span', { class: 'agent-label' }, name), ' ', h('span', { class: 'mono muted agent-id' }, id));
}

function renderRows(items, { reset = false } = {}) {
  const { tbody } = listState.els;
  if (reset) {
    tbody.replaceChildren();
    listState.rows = new Map();
  }
  const frag = document.createDocumentFragment();
  for (const run of items) {
    const tr = runRow(run);
    listState.rows.set(rowKey(run.kind, run.id), tr);
    frag.append(tr);
  }
  tbody.append(frag);
}

function showNewRunsNotice() {
  const notice = listState.els?.notice;
  if (!notice) return;
  if (!listState.newRuns) {
    notice.hidden = true;
    return;
  }
  const n = listState.newRuns;
  notice.replaceChildren(
    h('span', {}, `${n} new ${noun(listState.filters.kind, n)} mirrored since this list was loaded.`),
    h('button', { type: 'button', onclick: () => reloadList(listState.filters, listState.key) }, 'Show them'),
  );
  notice.hidden = false;
}

// ---- one run or v2 job ------------------------------------------------------------------------

const runState = { id: null, kind: 'run', ctrl: null, raw: null, q: '' };
const showingRun = (id, kind) => currentRoute.view === 'run' && currentRoute.id === id && currentRoute.kind === resourceKind(kind);

// "← Back to runs" (or to v2 jobs, or to both): to the list this page was opened from.
function backLink() {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: lastListHash }, `← Back to ${noun(lastListKind, 2)}`));
}

// |q|: the search the item was opened from, highlighted in it (a refresh keeps the last one).
async function showRun(id, kind = 'run', { refresh = false, q = '' } = {}) {
  kind = resourceKind(kind);
  const main = $('main');
  if (!refresh) {
    listState.openedKey = rowKey(kind, id);
    runState.q = q;
  }
  runState.ctrl?.abort();
  const ctrl = new AbortController();
  runState.ctrl = ctrl;
  runState.id = id;
  runState.kind = kind;
  const back = backLink();
  const label = kind === 'run' ? 'Run' : KINDS[kind].label;
  const heading = () => h('h1', { tabindex: '-1' }, `${label} `, h('code', {}, id));
  const what = kind === 'run' ? 'run' : 'job';
  if (!refresh) {
    document.title = `${label} ${id} · runmirror`;
    runState.raw = null;
    main.replaceChildren(back, heading(), h('p', { class: 'muted', role: 'status' }, `Loading ${what}…`));
  }
  let raw;
  // Which stored body this is: "plain", or "expand=..." for a v2 job only ever read with one.
  let representation = 'plain';
  const onResponse = (res) => {
    representation = res.headers.get('Runmirror-Representation') || 'plain';
  };
  try {
    raw = await apiGet(itemApiPath(kind, id), { signal: ctrl.signal, text: true, onResponse });
  } catch (err) {
    if (err.name === 'AbortError' || runState.ctrl !== ctrl || !showingRun(id, kind)) return;
    if (refresh) return; // keep what is shown
    const message = err.status === 404 ? `This ${KINDS[kind].one} is not in the mirror.` : `Could not load the ${what}: ${err.message}`;
    main.replaceChildren(back, heading(), h('p', { class: 'notice error', role: 'alert' }, message));
    main.querySelector('h1').focus();
    return;
  }
  if (runState.ctrl !== ctrl || !showingRun(id, kind)) return;
  runState.ctrl = null;
  runState.raw = raw;
  let run;
  try {
    run = parseJson(raw);
  } catch (err) {
    main.replaceChildren(back, heading(), h('p', { class: 'notice error' }, `The stored JSON could not be read: ${err.message}`), h('pre', { class: 'raw-json' }, raw));
    return;
  }
  const scrollY = window.scrollY;
  // A v1 job's data comes with its result, later (v1JobView).
  setTreeFocus(searchWords(runState.q), kind === 'v2_job' ? member(run, 'extract_result') : kind === 'run' ? member(run, 'data') : null);
  const view =
    kind === 'v2_job' ? v2JobView(id, run, raw, back, representation) : kind === 'v1_job' ? v1JobView(id, run, raw, back, ctrl) : runView(id, run, raw, back);
  main.replaceChildren(...view);
  if (refresh) {
    window.scrollTo(0, scrollY);
    return;
  }
  const hit = main.querySelector('section[aria-labelledby="sec-data"] mark.hit');
  main.querySelector('h1').focus({ preventScroll: Boolean(hit) });
  hit?.scrollIntoView({ block: 'center' });
}

// Copy JSON and Download JSON: the stored bytes, exactly.
function jsonActions(id, raw) {
  const copy = h('button', { type: 'button', id: 'copy-json' }, 'Copy JSON');
  copy.addEventListener('click', () => copyText(raw));
  const download = h('button', { type: 'button', id: 'download-json' }, 'Download JSON');
  download.addEventListener('click', () => downloadText(raw, `${id}.json`));
  return h('div', { class: 'actions' }, copy, download);
}

const section = (title, idPart, ...content) =>
  h('section', { class: 'card', 'aria-labelledby': `sec-${idPart}` }, h('h2', { id: `sec-${idPart}` }, title), ...content);

// The whole stored document, pretty-printed on demand (Copy and Download give the exact bytes).
function rawSection(value, raw) {
  const rawDetails = h('details', {}, h('summary', {}, 'Show the stored JSON, formatted'));
  rawDetails.addEventListener('toggle', () => {
    if (rawDetails.open && rawDetails.childElementCount === 1) rawDetails.append(h('pre', { class: 'raw-json', tabindex: '0' }, stringify(value)));
  });
  return section('Stored JSON', 'raw', h('p', { class: 'muted' }, `${new Blob([raw]).size.toLocaleString()} bytes, exactly as mirrored from the upstream.`), rawDetails);
}

// A member holding an error: its text, or its JSON.
function errorSection(error) {
  if (!error || error.kind === 'null') return null;
  return section('Error', 'error', h('pre', { class: 'error-box' }, error.kind === 'string' ? error.value : stringify(error)));
}

function runView(id, run, raw, back) {
  const status = memberText(run, 'status') ?? '';
  const file = member(run, 'file');
  const fileName = memberText(file, 'name');
  const createdAt = memberText(run, 'created_at');
  const updatedAt = memberText(run, 'updated_at');
  const agent = memberText(run, 'extraction_agent_id');
  const project = memberText(run, 'project_id');
  document.title = `${fileName || id} · runmirror`;

  const meta = h('dl', { class: 'meta' });
  const row = (label, ...value) => meta.append(h('dt', {}, label), h('dd', {}, ...value));
  row('Run ID', h('code', {}, id));
  const jobId = memberText(run, 'job_id');
  if (jobId) row('Job ID', h('code', {}, jobId));
  if (agent) row('Agent', h('a', { href: listHash({ agent }) }, agentLabel(agent)), agentName(agent) ? [' ', h('code', { class: 'muted' }, agent)] : null);
  if (project) row('Project', h('code', {}, project));
  row('Created', timeEl(createdAt));
  row('Updated', timeEl(updatedAt));
  row('Duration', runDuration(status, createdAt, updatedAt));
  if (file && file.kind === 'object') {
    const size = memberText(file, 'file_size');
    const type = memberText(file, 'file_type');
    row('File', fileName ?? '(no name)', size || type ? h('span', { class: 'muted' }, ` · ${[type, size && `${Number(size).toLocaleString()} bytes`].filter(Boolean).join(' · ')}`) : null);
    const fileId = memberText(file, 'id');
    if (fileId) row('File ID', h('code', {}, fileId));
  }

  const out = [
    back,
    h('div', { class: 'run-title' }, h('h1', { tabindex: '-1' }, fileName ? highlighted(fileName, treeFocus.words) : h('code', {}, id)), badge(status)),
    jsonActions(id, raw),
    meta,
  ];
  out.push(errorSection(member(run, 'error')));
  out.push(section('Extracted data', 'data', treeTools(), dataEl(member(run, 'data'), status)));
  out.push(section('Schema', 'schema', schemaEl(member(run, 'data_schema'))));
  const config = member(run, 'config');
  out.push(section('Configuration', 'config', config?.kind === 'object' ? kvTable(config, 'Configuration') : h('p', { class: 'muted' }, 'No configuration stored with this run.')));
  const metadata = member(run, 'extraction_metadata');
  if (metadata && isContainer(metadata) && childCount(metadata)) out.push(section('Extraction metadata', 'metadata', valueEl(metadata, { open: false })));
  out.push(rawSection(run, raw));
  return out.filter(Boolean);
}

// A v1 extraction job (GET /api/v1/extraction/jobs/{id}): id, extraction_agent {id, name,
// project_id, ...}, status, error, file, file_id. Its result (stored once the job is final, as
// the representation "result": run_id, data, extraction_metadata) is loaded after it, and names
// the run the job made.
function v1JobView(id, job, raw, back, ctrl) {
  const status = memberText(job, 'status') ?? '';
  const agentObj = member(job, 'extraction_agent');
  const agent = memberText(agentObj, 'id');
  const project = memberText(agentObj, 'project_id');
  const file = member(job, 'file');
  const fileName = memberText(file, 'name');
  document.title = `${fileName || id} · v1 job · runmirror`;

  const meta = h('dl', { class: 'meta' });
  const row = (label, ...value) => meta.append(h('dt', {}, label), h('dd', {}, ...value));
  row('Job ID', h('code', {}, id));
  if (agent) row('Agent', h('a', { href: listHash({ kind: 'v1_job', agent }) }, memberText(agentObj, 'name') || agent));
  if (project) row('Project', h('code', {}, project));
  if (fileName) row('File', fileName);
  const fileId = memberText(job, 'file_id') ?? memberText(file, 'id');
  if (fileId) row('File ID', h('code', {}, fileId));
  const runRowEl = h('dd', { id: 'job-run' }, h('span', { class: 'muted' }, '…'));
  meta.append(h('dt', {}, 'Run'), runRowEl);

  const result = h('div', { id: 'job-result' }, h('p', { class: 'muted', role: 'status' }, 'Loading the result…'));
  apiGet(`runs/${encodeURIComponent(id)}?kind=v1_job&representation=result`, { signal: ctrl.signal, text: true })
    .then((text) => {
      const value = parseJson(text);
      const runId = memberText(value, 'run_id');
      runRowEl.replaceChildren(runId ? h('a', { href: itemHash('run', runId) }, h('code', {}, runId)) : h('span', { class: 'muted' }, 'not named'));
      setTreeFocus(searchWords(runState.q), member(value, 'data'));
      result.replaceChildren(treeTools(), dataEl(member(value, 'data'), status));
    })
    .catch((err) => {
      if (err.name === 'AbortError') return;
      runRowEl.replaceChildren(h('span', { class: 'muted' }, 'not stored'));
      const why = err.status === 404 ? (FINAL.has(status) ? 'No result is stored for this job.' : 'The job is not finished: no result yet.') : `Could not load the result: ${err.message}`;
      result.replaceChildren(h('p', { class: 'muted' }, why));
    });

  const out = [
    back,
    h('div', { class: 'run-title' }, h('h1', { tabindex: '-1' }, fileName || h('code', {}, id)), badge(status)),
    jsonActions(id, raw),
    meta,
  ];
  out.push(errorSection(member(job, 'error')));
  out.push(section('Result', 'data', result));
  out.push(rawSection(job, raw));
  return out.filter(Boolean);
}

// An Extract v2 job (GET /api/v2/extract/{id}): id, project_id, file_input, status, created_at,
// updated_at, configuration_id, error_message, extract_result, metadata; `configuration`,
// `extract_metadata` and `usage` only in the forms read with ?expand=.
function v2JobView(id, job, raw, back, representation = 'plain') {
  const status = memberText(job, 'status') ?? '';
  const createdAt = memberText(job, 'created_at');
  const updatedAt = memberText(job, 'updated_at');
  const project = memberText(job, 'project_id');
  const fileInput = memberText(job, 'file_input');
  const configurationId = memberText(job, 'configuration_id');
  document.title = `v2 job ${id} · runmirror`;

  const meta = h('dl', { class: 'meta' });
  const row = (label, ...value) => meta.append(h('dt', {}, label), h('dd', {}, ...value));
  row('Kind', 'Extract v2 job');
  row('Job ID', h('code', {}, id));
  if (project) row('Project', h('code', {}, project));
  if (fileInput) row('File input', h('code', {}, fileInput));
  if (configurationId) {
    row('Configuration', h('a', { href: listHash({ kind: 'v2_job', agent: configurationId }), title: 'v2 jobs of this saved configuration' }, configurationId));
  } else {
    row('Configuration', h('span', { class: 'muted' }, 'inline (given with the job)'));
  }
  row('Created', timeEl(createdAt));
  row('Updated', timeEl(updatedAt));
  row('Duration', runDuration(status, createdAt, updatedAt));
  // A job only ever read with ?expand= is stored only in that form, which is what is shown.
  if (representation !== 'plain') {
    row('Stored as', h('code', { id: 'representation' }, representation), ' (only read with this expand)');
  }

  const out = [
    back,
    h('div', { class: 'run-title' }, h('h1', { tabindex: '-1' }, 'v2 job ', h('code', {}, id)), badge(status)),
    jsonActions(id, raw),
    meta,
  ];
  out.push(errorSection(member(job, 'error_message')));
  out.push(section('Extracted result', 'data', treeTools(), dataEl(member(job, 'extract_result'), status, 'job')));

  // The configuration is part of the job's body only when it was read with expand=configuration.
  const configuration = member(job, 'configuration') ?? member(job, 'config');
  if (configuration?.kind === 'object') {
    const rest = { kind: 'object', entries: configuration.entries.filter(([k]) => k !== 'data_schema') };
    out.push(section('Schema', 'schema', schemaEl(member(configuration, 'data_schema'), 'job')));
    out.push(section('Configuration', 'config', rest.entries.length ? kvTable(rest, 'Configuration') : h('p', { class: 'muted' }, 'Only the schema.')));
  } else {
    out.push(
      section(
        'Configuration',
        'config',
        h(
          'p',
          { class: 'muted' },
          configurationId
            ? ['The job ran with the saved configuration ', h('code', {}, configurationId), '. Its settings are not in the stored job: the upstream includes them only when a job is read with ', h('code', {}, 'expand=configuration'), '.']
            : ['Not in the stored job: the upstream includes a job\u2019s configuration only when it is read with ', h('code', {}, 'expand=configuration'), '.'],
        ),
      ),
    );
  }
  for (const [key, title] of [
    ['extract_metadata', 'Extraction metadata'],
    ['metadata', 'Metadata'],
    ['usage', 'Usage'],
  ]) {
    const v = member(job, key);
    if (v && isContainer(v) && childCount(v)) out.push(section(title, key.replace('_', '-'), valueEl(v, { open: key !== 'extract_metadata' })));
  }
  out.push(rawSection(job, raw));
  return out.filter(Boolean);
}

async function copyText(text) {
  try {
    if (!navigator.clipboard?.writeText) throw new Error('no async clipboard');
    await navigator.clipboard.writeText(text);
    toast('JSON copied to the clipboard');
    return;
  } catch {
    // Not a secure context, or permission denied: the old way.
  }
  const area = h('textarea', { class: 'visually-hidden', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  toast(ok ? 'JSON copied to the clipboard' : 'Copying is not allowed here: use Download JSON');
}

function downloadText(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- live updates and the upstream's state ------------------------------------------------------
// EventSource when no token is needed; with a token, the same stream read through fetch(), since
// EventSource cannot send an Authorization header. Reconnects quietly, with backoff.
//
// The indicator in the top bar says two things: whether this page gets live updates (the events
// stream), and what the daemon knows of its upstream (/_runmirror/health, asked every few
// seconds). It is green only when both are well: a connected stream says nothing about whether
// the upstream answers, and a person must not read "Live" while runs are served from the store.

const live = { es: null, ctrl: null, timer: null, retryMs: 1000, connectedBefore: false, started: false, stream: 'off' };
const upstreamState = { state: 'unknown', downSince: null, mode: 'online', reachable: true, timer: null };

function setLive(stream) {
  live.stream = stream;
  renderLive();
}

// "12:03" today, "2025-01-15 12:03" another day: when the upstream went down.
function shortTime(ms) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return d.toDateString() === new Date().toDateString() ? hm : `${formatLocal(ms).slice(0, 10)} ${hm}`;
}

function renderLive() {
  const el = $('live');
  const u = upstreamState;
  let state;
  let text;
  if (!u.reachable) {
    state = 'retry';
    text = 'runmirror not reachable';
  } else if (u.mode === 'offline' || u.state === 'offline') {
    state = 'offline';
    text = 'Offline mode · serving from the store';
  } else if (u.state === 'down') {
    state = 'down';
    const since = parseTime(u.downSince);
    const down = `upstream down${Number.isNaN(since) ? '' : ` since ${shortTime(since)}`} (serving from the store)`;
    text = live.stream === 'on' ? `Live · ${down}` : down[0].toUpperCase() + down.slice(1);
  } else if (live.stream === 'on') {
    state = u.state === 'up' ? 'on' : 'connecting';
    text = u.state === 'up' ? 'Live · upstream up' : 'Live';
  } else {
    state = live.stream;
    text = live.stream === 'retry' ? 'Reconnecting…' : 'Live updates off';
  }
  el.dataset.state = state;
  el.dataset.upstream = u.reachable ? u.state : 'unknown';
  el.title = u.state === 'down' ? 'The upstream does not answer: runs are served from the store; new ones wait.' : 'Live updates from /_runmirror/events; the upstream\u2019s state from /_runmirror/health';
  $('live-text').textContent = text;
}

async function pollHealth() {
  clearTimeout(upstreamState.timer);
  try {
    const res = await fetch(HEALTH, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const body = await res.json();
    upstreamState.reachable = true;
    upstreamState.mode = body?.mode ?? 'online';
    upstreamState.state = body?.upstream?.state ?? 'unknown';
    upstreamState.downSince = body?.upstream?.down_since ?? null;
  } catch {
    upstreamState.reachable = false;
  }
  renderLive();
  if (!document.hidden) upstreamState.timer = setTimeout(pollHealth, HEALTH_POLL_MS);
}

function stopEvents() {
  live.es?.close();
  live.es = null;
  live.ctrl?.abort();
  live.ctrl = null;
  clearTimeout(live.timer);
  live.timer = null;
}

function startEvents() {
  live.started = true;
  stopEvents();
  const token = getToken();
  if (token) streamEvents(token);
  else openEventSource();
}

function scheduleReconnect() {
  stopEvents();
  setLive('retry');
  live.timer = setTimeout(startEvents, live.retryMs);
  live.retryMs = Math.min(live.retryMs * 2, 30_000);
}

function onConnected() {
  setLive('on');
  live.retryMs = 1000;
  if (live.connectedBefore) catchUp(); // events may have been missed while disconnected
  live.connectedBefore = true;
}

function openEventSource() {
  const es = new EventSource(EVENTS);
  live.es = es;
  es.addEventListener('open', onConnected);
  es.addEventListener('run', (e) => onEventFrame('run', e.data));
  es.addEventListener('dropped', (e) => onEventFrame('dropped', e.data));
  es.addEventListener('error', () => {
    if (live.es !== es) return;
    // EventSource retries by itself after a dropped connection, but gives up for good on an
    // HTTP error (a 401, say): then we retry, more slowly each time.
    if (es.readyState === EventSource.CLOSED) scheduleReconnect();
    else setLive('retry');
  });
}

async function streamEvents(token) {
  const ctrl = new AbortController();
  live.ctrl = ctrl;
  try {
    const res = await fetch(EVENTS, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token}` }, signal: ctrl.signal, cache: 'no-store' });
    if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
    onConnected();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of frame.split('\n')) {
          if (!line || line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
        if (data.length) onEventFrame(event, data.join('\n'));
      }
    }
  } catch (err) {
    if (err.name === 'AbortError' || live.ctrl !== ctrl) return;
  }
  if (live.ctrl === ctrl) scheduleReconnect();
}

function onEventFrame(event, data) {
  if (event === 'dropped') {
    catchUp();
    return;
  }
  if (event !== 'run') return;
  let ev;
  try {
    ev = JSON.parse(data);
  } catch {
    return;
  }
  onRunEvent(ev);
}

function onRunEvent(ev) {
  scheduleAgentsRefresh();
  const id = ev.run_id;
  if (typeof id !== 'string' || !id) return;
  // The stream names each event's kind ("run", "v2_job"): ids of different kinds may be equal.
  const kind = resourceKind(ev.kind);
  const items = listState.items.filter((x) => x.id === id && resourceKind(x.kind) === kind);
  for (const item of items) {
    item.status = ev.new_status;
    const tr = listState.rows.get(rowKey(item.kind, id));
    if (tr) {
      const b = tr.querySelector('.badge');
      if (b) setBadge(b, ev.new_status);
      tr.classList.remove('changed');
      void tr.offsetWidth; // restart the highlight
      tr.classList.add('changed');
    }
    if (FINAL.has(ev.new_status)) refreshListItem(item);
  }
  if (!items.length && !ev.old_status && listState.key !== null) {
    // One the mirror did not know: count it if it belongs to the list on screen.
    const f = listState.filters;
    const listed = kindFilter(f.kind);
    if ((!f.agent || f.agent === ev.extraction_agent_id) && (!f.status || f.status === ev.new_status)) {
      if (listed === 'all' || kind === resourceKind(listed)) countNewItem();
    }
  }
  if (currentRoute.view === 'run' && currentRoute.id === id && kind === currentRoute.kind) {
    toast(`This ${currentRoute.kind === 'v2_job' ? 'v2 job' : 'run'} is now ${ev.new_status}`);
    showRun(id, currentRoute.kind, { refresh: true });
  }
}

function countNewItem() {
  listState.newRuns += 1;
  showNewRunsNotice();
}

// A run or job of the list turned final: read it again for its new updated_at (the duration).
async function refreshListItem(item) {
  const kind = resourceKind(item.kind);
  try {
    const run = await apiGet(itemApiPath(kind, item.id));
    if (!run || !listState.items.includes(item)) return;
    item.status = run.status ?? item.status;
    item.updated_at = run.updated_at ?? item.updated_at;
    const tr = listState.rows.get(rowKey(kind, item.id));
    const cell = tr?.querySelector('td.duration');
    if (cell) cell.textContent = runDuration(item.status, item.created_at, item.updated_at);
  } catch {
    // the badge is already right; the duration waits for the next reload
  }
}

// After a gap in the event stream: counts again, and the open run or job if it was not final.
function catchUp() {
  scheduleAgentsRefresh();
  if (currentRoute.view === 'run' && runState.raw) {
    try {
      const status = memberText(parseJson(runState.raw), 'status');
      if (!FINAL.has(status)) showRun(currentRoute.id, currentRoute.kind, { refresh: true });
    } catch {
      // nothing to refresh
    }
  }
}

// ---- start -------------------------------------------------------------------------------------

function onKey(e) {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable) return;
  const q = $('f-q');
  if (q) {
    e.preventDefault();
    q.focus();
    q.select();
  }
}

async function start() {
  $('forget-token').hidden = !getToken();
  $('forget-token').addEventListener('click', () => {
    setToken(null);
    location.reload();
  });
  document.addEventListener('keydown', onKey);
  // "#main" would be taken for a route: move the focus instead of the hash.
  document.querySelector('.skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    $('main').focus();
  });
  window.addEventListener('hashchange', route);
  // The upstream's state is asked while the page is seen, and at once when it is seen again.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) pollHealth();
  });
  pollHealth();
  route();
  // Events open once the API has answered, so a needed token is known by then.
  if (await loadAgents()) startEvents();
  else {
    const retry = setInterval(async () => {
      if (live.started) clearInterval(retry);
      else if (await loadAgents({ quiet: true })) {
        clearInterval(retry);
        startEvents();
      }
    }, 5000);
  }
}

start();
