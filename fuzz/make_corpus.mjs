// Writes the seed corpora under fuzz/corpus/<target>/ from what the tests already use: the fake
// upstream's answers (runs, list pages, v1 jobs and results, v2 jobs in every expand, agents),
// the HTTP Garden smuggling payloads (tests/corpora), and requests, queries, dates and numbers
// as the SDKs, the web page and people send them. Run it again after changing the fakes:
//   node fuzz/make_corpus.mjs
// Each file is named by the SHA-1 of its bytes, as libFuzzer names what it adds.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  buildAgentRaw, buildJobRaw, buildJobResultRaw, initialData, orderedRuns,
} from '../tests/support/fake_data.mjs';
import { buildV2JobRaw, initialV2Data } from '../tests/support/fake_v2.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

function writeCorpus(target, seeds) {
  const dir = path.join(here, 'corpus', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const seed of seeds) {
    const bytes = Buffer.isBuffer(seed) ? seed : Buffer.from(seed, 'utf8');
    writeFileSync(path.join(dir, createHash('sha1').update(bytes).digest('hex')), bytes);
  }
  console.log(`${target}: ${seeds.length} seeds`);
}

// --- json_ingest: upstream bodies of every kind ------------------------------------------------
const data = initialData();
const runs = [...data.runs.values()];
const pick = ['run-alpha-success', 'run-alpha-error', 'run-alpha-pending', 'run-alpha-pages', 'run-alpha-spaced',
  'run-big-003', 'run-big-005'].map((id) => data.runs.get(id));
const json = [...pick.map((r) => r.raw)];
const alpha = orderedRuns(data, 'agent-alpha').slice(0, 3);
json.push(`{"items":[${alpha.map((r) => r.raw).join(',')}],"total":5,"skip":0,"limit":3}`);
json.push('{"items":[],"total":0,"skip":0,"limit":100}');
const agent = data.agents.get('agent-alpha');
json.push(`[${[...data.agents.values()].map(buildAgentRaw).join(',')}]`);
json.push(buildJobRaw(pick[0], agent));
json.push(`[${pick.slice(0, 2).map((r) => buildJobRaw(r, agent)).join(',')}]`);
json.push(buildJobResultRaw(pick[0]));
const v2 = initialV2Data();
const jobs = [...v2.jobs.values()];
for (const job of jobs.slice(0, 4)) json.push(buildV2JobRaw(job));
json.push(buildV2JobRaw(jobs[0], new Set(['configuration', 'extract_metadata', 'usage'])));
json.push(`{"items":[${jobs.slice(0, 2).map((j) => buildV2JobRaw(j)).join(',')}],"next_page_token":"tok-2"}`);
json.push(`{"items":[${buildV2JobRaw(jobs[2])}],"next_page_token":null}`);
// Bodies the failure tests and the hostile-input tests use: cut short, not JSON, not UTF-8.
json.push(pick[0].raw.slice(0, pick[0].raw.length >> 1));
json.push('{"detail":"Extraction run not found"}');
json.push(Buffer.concat([Buffer.from('{"id":"r\xff","status":"SUCCESS","file":{"name":"Z', 'latin1'),
  Buffer.from([0xfc, 0xe6, 0x9d]), Buffer.from('"},"data":{"k":[0,-0.0,1e999,"\\ud800"]}}')]));
json.push('0');
writeCorpus('json_ingest', json);

// --- http_request: the first byte picks the read size (see http_request.cpp) --------------------
const crlf = (lines, body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
const host = 'Host: 127.0.0.1:8787';
const auth = 'Authorization: Bearer key-alpha';
const requests = [
  crlf(['GET /api/v1/extraction/runs/run-alpha-success HTTP/1.1', host, auth, 'Accept: application/json']),
  crlf(['GET /api/v1/extraction/runs?extraction_agent_id=agent-alpha&skip=0&limit=100 HTTP/1.1', host, auth]),
  crlf(['GET /api/v1/extraction/runs/by-job/job-alpha-success HTTP/1.1', host, auth]),
  crlf(['DELETE /api/v1/extraction/runs/run-alpha-error HTTP/1.1', host, auth, 'Content-Length: 0']),
  crlf(['GET /api/v2/extract/v2-alpha-done?expand=usage%2Cconfiguration HTTP/1.1', host, auth]),
  crlf(['GET /api/v2/extract?configuration_id=cfg-1&page_size=50&page_token=runmirror.abc HTTP/1.1', host, auth]),
  crlf(['POST /api/v2/extract HTTP/1.1', host, auth, 'Content-Type: application/json', 'Content-Length: 44'],
    '{"configuration_id":"cfg-1","file_input":"f"}'.slice(0, 44)),
  crlf(['POST /api/v2/extract/job-1/cancel HTTP/1.1', host, auth, 'Content-Length: 0']),
  crlf(['GET /api/v1/extraction/jobs/job-1/result HTTP/1.1', host, auth]),
  crlf(['POST /api/v1/extraction/jobs/file HTTP/1.1', host, auth, 'Transfer-Encoding: chunked',
    'Content-Type: multipart/form-data; boundary=x'], '5\r\n--x--\r\n0\r\n\r\n'),
  crlf(['GET /_runmirror/health HTTP/1.1', host]),
  crlf(['HEAD /_runmirror/ready HTTP/1.1', host]),
  crlf(['GET /_runmirror/api/runs?kind=all&from=2025-01-15&to=9999-12-31&q=invoice&limit=10 HTTP/1.1', host]),
  crlf(['GET /_runmirror/api/runs?from=2025-01-15T10%3A00%3A00%2B02%3A00&status=success&agent=agent-1 HTTP/1.1', host]),
  crlf(['GET /_runmirror/api/runs/r-2?kind=run HTTP/1.1', host, 'X-Runmirror-Token: t']),
  crlf(['GET /_runmirror/api/runs/job-1?kind=v2_job&representation=expand%3Dusage HTTP/1.1', host]),
  crlf(['GET /_runmirror/api/agents HTTP/1.1', host, 'Origin: http://127.0.0.1:8787']),
  crlf(['GET /_runmirror/api/watches?all=1&limit=5 HTTP/1.1', host]),
  crlf(['GET /_runmirror/ui/ HTTP/1.1', host, 'Sec-Fetch-Site: same-origin']),
  crlf(['GET /api/v1/projects HTTP/1.1', host, auth, 'Cache-Control: no-cache, max-age=0']),
  // Found by this target: an id holding '?' named another resource's stored representation.
  crlf(['GET /api/v2/extract/abc%3Fusage HTTP/1.1', host, auth]),
];
const http = [];
for (const r of requests) {
  http.push(Buffer.concat([Buffer.from([0xff]), Buffer.from(r)]));
  http.push(Buffer.concat([Buffer.from([0x06]), Buffer.from(r)]));
}
const garden = JSON.parse(readFileSync(path.join(repo, 'tests/corpora/http-garden-payloads.json'), 'utf8'));
for (const p of garden) http.push(Buffer.concat([Buffer.from([0xff]), Buffer.from(p.hex, 'hex')]));
writeCorpus('http_request', http);

// --- query_key: list and browse queries ----------------------------------------------------------
writeCorpus('query_key', [
  'extraction_agent_id=agent-alpha&skip=0&limit=100',
  'limit=50&extraction_agent_id=agent-alpha',
  'extraction_agent_id=a%20b&project_id=p%2Falpha&skip=100&limit=100',
  'configuration_id=cfg-1&page_size=50&page_token=runmirror.eyJ0IjoxfQ&status=COMPLETED',
  'expand=usage,configuration&expand=extract_metadata',
  'expand=usage%2Cconfiguration',
  'job_ids=j1&job_ids=j2&page_size=100&organization_id=',
  'a=1&&b=2&=&c',
  'q=Z%C3%BCrich+%E6%9D%B1&kind=all',
  'skip=-1&limit=99999999999999999999',
  '%ZZ',
  '',
]);

// --- parsers: the first byte picks the parser (see parsers.cpp) -----------------------------------
const sel = (n, text) => Buffer.concat([Buffer.from([n]), Buffer.from(text, 'utf8')]);
writeCorpus('parsers', [
  sel(0, '2025-01-15'), sel(0, '2025-01-15T08:00:00.123456Z'), sel(0, '2025-01-15T10:00:00+02:00'),
  sel(0, '9999-12-31T23:59:59.999999999-01:00'), sel(0, '0001-01-01T00:00:00+00:01'), sel(0, '2024-02-29 08:00'),
  sel(0, runs[0].createdAt),
  sel(1, '120'), sel(1, '1.5'), sel(1, 'Sun, 06 Nov 1994 08:49:37 GMT'), sel(1, 'Fri, 31 Dec 9999 23:59:60 GMT'),
  sel(2, '\x00' + '12'), sel(2, '\x05' + '127.0.0.1:8787'), sel(2, '\x05' + '[::1]:0'),
  sel(2, '\x06' + 'https://api.cloud.llamaindex.ai'), sel(2, '\x01' + '18446744073709551616'),
  sel(3, 'LOCALHOST.'), sel(3, '[0:0::1]:8787'), sel(3, 'user@127.0.0.1:80'), sel(3, '127.000.0.1'),
  sel(4, 'Zürich – 東京'), Buffer.concat([Buffer.from([4]), Buffer.from([0x61, 0xf1, 0x80, 0x80, 0xe1, 0x80, 0xc2, 0x62])]),
  sel(5, 'WyIyMDI1LTAxLTE1VDA4OjAwOjAwWiIsInItMSJd'),
  sel(6, '150000 100000'), sel(6, 'max 100000'), sel(6, '0::/user.slice/x.scope\n'),
]);
