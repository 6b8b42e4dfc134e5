// A deterministic fake of the LlamaCloud API, over HTTP or HTTPS, for the daemon's tests.
//
//   const up = await startFakeUpstream();            // or startFakeUpstream({ tls: { key, cert } })
//   up.url                                            // http://127.0.0.1:<port>
//   up.count('GET', '/api/v1/extraction/runs/run-alpha-success')
//   up.runBytes('run-alpha-success')                  // exact bytes the fake sends for that run
//   await up.stop(); await up.start();                // down and up again, same port, same data
//   await up.setMode('blackhole'); await up.setMode('serving');  // connection-level failures
//   up.v2.finish('v2-new-1'); up.v2.jobBytes('v2-alpha-completed', ['usage'])  // Extract v2, fake_v2.mjs
//
// Keys: key-alpha sees project p-alpha, key-beta sees p-beta, key-both sees both; any other key
// (or none) gets 401 {"detail":"Invalid API key"}. See fake_data.mjs for agents and runs.

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  KEYS,
  initialData,
  orderedRuns,
  buildRunRaw,
  buildAgentRaw,
  buildJobRaw,
  buildJobResultRaw,
  patternBytes,
} from './fake_data.mjs';
import { FakeExtractV2, V2_EXTRACT } from './fake_v2.mjs';

export { V2_EXTRACT, v2JobPath, V2_STATUSES, V2_FINAL, V2_EXPANDS, V2_BIG_JOBS } from './fake_v2.mjs';
export { KEYS, BIG_AGENT_RUNS, BIG_INTEGER, UNICODE_RAW, UNICODE_ESCAPED, patternBytes } from './fake_data.mjs';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 100;
const KEEP_BODY_BYTES = 64 * 1024; // bodies of logged requests are kept up to this size

// `autoFinishMs`: runs of v1 jobs created through the fake become SUCCESS that long after; so do v2
// jobs, unless `v2` says how they move (fake_v2.mjs: runningAfterPolls, finalAfterPolls, ...).
// 422 as the API answers a list without its required extraction_agent_id.
function missingAgentParam(res) {
  return sendJson(
    res,
    422,
    '{"detail":[{"type":"missing","loc":["query","extraction_agent_id"],"msg":"Field required","input":null}]}',
  );
}

export async function startFakeUpstream({ tls, autoFinishMs, v2, host = '127.0.0.1', port = 0 } = {}) {
  const up = new FakeUpstream({ tls, autoFinishMs, v2, host });
  await up.start(port);
  return up;
}

class FakeUpstream {
  constructor({ tls, autoFinishMs, v2, host }) {
    this.tls = tls;
    this.autoFinishMs = autoFinishMs;
    this.host = host;
    this.port = 0;
    this.server = null;
    this.standIn = null; // the blackhole or silent listener holding the port instead of the server
    this.mode = 'serving';
    this.sockets = new Set();
    this.timers = new Set();
    this.log = [];
    this.faults = [];
    this.data = initialData();
    this.v2 = new FakeExtractV2({
      sendJson,
      withAuth: (req, res, fn) => this.withAuth(req, res, fn),
      progress: v2 ?? (autoFinishMs !== undefined ? { finalAfterMs: autoFinishMs } : {}),
    });
  }

  get url() {
    return `${this.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
  }

  // Listen; after stop(), start() listens again on the same port (data and log are kept).
  async start(port = this.port) {
    if (this.server) throw new Error('fake upstream already running');
    await this.closeStandIn();
    const handler = (req, res) => this.handle(req, res);
    const server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    server.keepAliveTimeout = 5_000;
    const trackSocket = (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    };
    server.on('connection', trackSocket); // the TCP socket, also under TLS
    server.on('clientError', (err, socket) => socket.destroy());
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = server.address().port;
    this.mode = 'serving';
  }

  // Stop listening and drop every open connection. Safe to call twice.
  async stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.closeStandIn();
    this.mode = 'refused';
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  // What the fake's port does, for failures below HTTP (data, log and faults are kept):
  //   'serving'    the fake answers (after start())
  //   'refused'    nothing listens: connects are refused (after stop())
  //   'blackhole'  a listener that never accepts, its queue full: connects never complete
  //   'silent'     connections are accepted and never read from nor answered; under TLS the
  //                handshake never completes
  async setMode(mode) {
    if (!['serving', 'refused', 'blackhole', 'silent'].includes(mode)) throw new Error(`unknown mode ${mode}`);
    await this.stop();
    if (mode === 'serving') await this.start();
    if (mode === 'blackhole') this.standIn = await startBlackhole(this.host, this.port);
    if (mode === 'silent') this.standIn = await startSilentListener(this.host, this.port);
    this.mode = mode;
  }

  async closeStandIn() {
    const standIn = this.standIn;
    this.standIn = null;
    if (standIn) await standIn.close();
  }

  // Back to the initial data set, an empty log and no faults.
  reset() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.data = initialData();
    this.v2.reset();
    this.log = [];
    this.faults = [];
  }

  clearLog() {
    this.log = [];
  }

  // ---- request log -------------------------------------------------------------------------

  // Logged requests whose method (null: any) and pathname (string: exact, RegExp: test) match.
  requests(method = null, path = null) {
    return this.log.filter((e) => {
      if (method && e.method !== method.toUpperCase()) return false;
      if (path === null || path === undefined) return true;
      return typeof path === 'string' ? e.path === path : path.test(e.path);
    });
  }

  count(method = null, path = null) {
    return this.requests(method, path).length;
  }

  // Requests for `pathAndQuery`: same pathname, and every query parameter it names with the same
  // value (others may be present, in any order).
  countRequest(method, pathAndQuery) {
    const want = new URL(pathAndQuery, 'http://fake.invalid');
    return this.requests(method, want.pathname).filter((e) =>
      [...want.searchParams].every(([k, v]) => e.query[k] === v),
    ).length;
  }

  // ---- data --------------------------------------------------------------------------------

  run(id) {
    const r = this.data.runs.get(id);
    if (!r) throw new Error(`fake upstream has no run ${id}`);
    return r;
  }

  runRaw(id) {
    return this.run(id).raw;
  }

  runBytes(id) {
    return Buffer.from(this.run(id).raw, 'utf8');
  }

  // Run ids of an agent in the upstream's order (created_at descending).
  listIds(agentId) {
    return orderedRuns(this.data, agentId).map((r) => r.id);
  }

  // Delete a run as another client would, behind the daemon's back: upstream answers 404 for it
  // from now on and leaves it out of list pages.
  markDeleted(id) {
    this.run(id).deleted = true;
  }

  // Add `count` runs to `agentId` (created on first use, in `projectId`), ids `${prefix}-N`
  // counting on from the last call; newest last. Final: SUCCESS, every 7th ERROR. Returns the new
  // ids. For the crash and soak suites, which need many distinct runs.
  addRuns(prefix, count, { agentId = 'agent-many', projectId = 'p-alpha' } = {}) {
    if (!this.data.agents.has(agentId)) {
      this.data.agents.set(agentId, { id: agentId, projectId, name: `Agent ${agentId}` });
    }
    const agent = this.data.agents.get(agentId);
    this.data.added ??= { n: 0, baseMs: this.data.newRunBaseMs + 365 * 86_400_000 };
    const ids = [];
    for (let i = 0; i < count; i += 1) {
      const n = this.data.added.n++;
      const createdMs = this.data.added.baseMs + n * 1_000;
      const at = new Date(createdMs).toISOString().replace(/Z$/, '000Z');
      const run = {
        n: 100_000 + n,
        id: `${prefix}-${n}`,
        agentId,
        projectId: agent.projectId,
        status: n % 7 === 3 ? 'ERROR' : 'SUCCESS',
        createdMs,
        createdAt: at,
        updatedAt: at,
        jobId: `job-${prefix}-${n}`,
        fileId: `file-${prefix}-${n}`,
        spaced: n % 11 === 4,
        dataIsArray: n % 13 === 5,
        deleted: false,
      };
      run.raw = buildRunRaw(run);
      this.data.runs.set(run.id, run);
      ids.push(run.id);
    }
    return ids;
  }

  // Move a run (CREATED/PENDING) to SUCCESS or ERROR; its updated_at moves forward.
  finishRun(id, status = 'SUCCESS') {
    if (status !== 'SUCCESS' && status !== 'ERROR') throw new Error(`not a final status: ${status}`);
    const r = this.run(id);
    r.status = status;
    r.updatedAt = new Date(Date.now()).toISOString().replace(/Z$/, '000Z');
    r.raw = buildRunRaw(r);
    return r.raw;
  }

  // Faults are checked in order before routing. A fault is
  //   { method?, path: string | RegExp, status?, body?, headers?, delayMs?, hang?, destroy?, respond?,
  //     bodyDelayMs?, times? }
  // `hang` never answers, `destroy` drops the connection, `times` (default: forever) counts uses.
  // Without `respond`, the fault answers `status` (default 500) with `body` after `delayMs`.
  // With `respond`, the request is routed as usual after `delayMs`, and its JSON answer is sent:
  //   'normal'        as it is (a slow upstream)
  //   'invalid-json'  with complete framing, but only the first half of the body: not JSON
  //   'truncated'     with the full Content-Length, half the body, then the connection closes (FIN)
  //   'reset'         with the full Content-Length, half the body, then a TCP reset (RST)
  //   'stalled'       with the full Content-Length, half the body, then nothing (left open)
  //   'slow-body'     with the full Content-Length, half the body, the rest `bodyDelayMs` later
  setFault(fault) {
    if (fault.respond && !RESPOND_MODES.includes(fault.respond)) throw new Error(`unknown respond mode ${fault.respond}`);
    this.faults.push({ times: Infinity, ...fault });
  }

  clearFaults() {
    this.faults = [];
  }

  // ---- HTTP --------------------------------------------------------------------------------

  handle(req, res) {
    const url = new URL(req.url, 'http://fake.invalid');
    const entry = {
      method: req.method,
      url: req.url,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams), // a repeated parameter: its last value
      search: url.search, // the query as sent, '' or '?...'
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      bodyBytes: 0,
      body: Buffer.alloc(0),
      complete: false, // the whole body arrived (false: the connection was cut mid-request)
      answered: false, // the HTTP server sent a complete answer (not cut short, not dropped)
      at: Date.now(),
    };
    this.log.push(entry);
    req.on('end', () => {
      entry.complete = true;
    });

    const fault = this.faults.find(
      (f) =>
        f.times > 0 &&
        (!f.method || f.method.toUpperCase() === req.method) &&
        (typeof f.path === 'string' ? f.path === url.pathname : f.path.test(url.pathname)),
    );
    res.on('finish', () => {
      entry.answered = true;
    });
    let delayMs = 0;
    if (fault) {
      fault.times -= 1;
      if (!fault.respond) {
        this.applyFault(fault, req, res, entry);
        return;
      }
      res.respond = fault.respond; // read by sendJson
      res.bodyDelayMs = fault.bodyDelayMs ?? 0;
      delayMs = fault.delayMs ?? 0;
    }

    // Streaming routes count the body themselves; every other route reads it here first.
    if (req.method === 'POST' && url.pathname === '/api/v1/files') {
      this.uploadFile(req, res, entry);
      return;
    }
    const chunks = [];
    let kept = 0;
    req.on('data', (c) => {
      entry.bodyBytes += c.length;
      if (kept < KEEP_BODY_BYTES) {
        chunks.push(c);
        kept += c.length;
      }
    });
    req.on('end', () => {
      entry.body = Buffer.concat(chunks);
      const route = () => {
        try {
          this.route(req, res, url, entry);
        } catch (err) {
          sendJson(res, 500, `{"detail":${JSON.stringify(`fake upstream error: ${err.message}`)}}`);
        }
      };
      if (delayMs === 0) return route();
      const t = setTimeout(() => {
        this.timers.delete(t);
        route();
      }, delayMs);
      this.timers.add(t);
    });
    req.on('error', () => {});
  }

  applyFault(fault, req, res, entry) {
    req.on('data', (c) => {
      entry.bodyBytes += c.length;
    });
    req.resume();
    if (fault.hang) return;
    if (fault.destroy) {
      req.socket.destroy();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      const body = fault.body ?? `{"detail":"fault injected: ${fault.status ?? 500}"}`;
      sendJson(res, fault.status ?? 500, body, fault.headers);
    }, fault.delayMs ?? 0);
    this.timers.add(t);
  }

  // The key's projects, or null after answering 401.
  auth(req, res) {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const projects = m ? KEYS[m[1]] : undefined;
    if (!projects) {
      sendJson(res, 401, '{"detail":"Invalid API key"}');
      return null;
    }
    return projects;
  }

  route(req, res, url, entry) {
    const p = url.pathname;
    const m = req.method;
    let g;

    if (p === '/api/v1/echo' || p.startsWith('/api/v1/echo/')) return this.echo(req, res, url, entry);
    if (p === V2_EXTRACT || p.startsWith(`${V2_EXTRACT}/`)) return this.v2.route(req, res, url, entry);

    if (p === '/api/v1/extraction/runs') {
      if (m !== 'GET') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.listRuns(res, url, projects));
    }
    if ((g = /^\/api\/v1\/extraction\/runs\/by-job\/([^/]+)$/.exec(p))) {
      if (m !== 'GET') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.runByJob(res, url, projects, decodeURIComponent(g[1])));
    }
    if ((g = /^\/api\/v1\/extraction\/runs\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(g[1]);
      if (m === 'GET') return this.withAuth(req, res, (projects) => this.getRun(res, url, projects, id));
      if (m === 'DELETE') return this.withAuth(req, res, (projects) => this.deleteRun(res, url, projects, id));
      return methodNotAllowed(res);
    }
    if (p === '/api/v1/extraction/jobs') {
      if (m === 'GET') return this.withAuth(req, res, (projects) => this.listJobs(res, url, projects));
      if (m !== 'POST') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.createJob(res, projects, entry.body));
    }
    if (p === '/api/v1/extraction/jobs/file') {
      if (m !== 'POST') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.createJobFromUpload(req, res, projects, entry));
    }
    if (p === '/api/v1/extraction/run') {
      if (m !== 'POST') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.createStatelessJob(res, projects, entry));
    }
    if ((g = /^\/api\/v1\/extraction\/jobs\/([^/]+)(\/result)?$/.exec(p))) {
      if (m !== 'GET') return methodNotAllowed(res);
      const jobId = decodeURIComponent(g[1]);
      return this.withAuth(req, res, (projects) => this.getJob(res, projects, jobId, Boolean(g[2])));
    }
    if (p === '/api/v1/extraction/extraction-agents') {
      if (m !== 'GET') return methodNotAllowed(res);
      return this.withAuth(req, res, (projects) => this.listAgents(res, url, projects));
    }
    if ((g = /^\/api\/v1\/files\/([^/]+)\/content$/.exec(p))) {
      if (m !== 'GET') return methodNotAllowed(res);
      return this.withAuth(req, res, () => this.download(req, res, url));
    }
    return sendJson(res, 404, '{"detail":"Not Found"}');
  }

  withAuth(req, res, fn) {
    const projects = this.auth(req, res);
    if (projects) fn(projects);
  }

  visibleRun(projects, id, url) {
    const r = this.data.runs.get(id);
    if (!r || r.deleted || !projects.includes(r.projectId)) return null;
    const wanted = url.searchParams.get('project_id');
    if (wanted && wanted !== r.projectId) return null;
    return r;
  }

  listRuns(res, url, projects) {
    const agentId = url.searchParams.get('extraction_agent_id');
    if (!agentId) return missingAgentParam(res);
    const skip = intParam(url, 'skip', 0);
    const limit = intParam(url, 'limit', DEFAULT_LIMIT);
    if (skip === null || skip < 0 || limit === null || limit < 1 || limit > MAX_LIMIT) {
      return sendJson(res, 422, '{"detail":"skip must be >= 0 and limit within 1..100"}');
    }
    const agent = this.data.agents.get(agentId);
    if (!agent || !projects.includes(agent.projectId)) {
      return sendJson(res, 404, '{"detail":"Extraction agent not found"}');
    }
    const all = orderedRuns(this.data, agentId);
    const page = all.slice(skip, skip + limit);
    const body = `{"items":[${page.map((r) => r.raw).join(',')}],"total":${all.length},"skip":${skip},"limit":${limit}}`;
    return sendJson(res, 200, body);
  }

  getRun(res, url, projects, id) {
    const r = this.visibleRun(projects, id, url);
    if (!r) return sendJson(res, 404, '{"detail":"Extraction run not found"}');
    return sendJson(res, 200, r.raw);
  }

  runByJob(res, url, projects, jobId) {
    const r = [...this.data.runs.values()].find((x) => x.jobId === jobId);
    const visible = r && this.visibleRun(projects, r.id, url);
    if (!visible) return sendJson(res, 404, '{"detail":"Extraction run not found for job"}');
    return sendJson(res, 200, visible.raw);
  }

  deleteRun(res, url, projects, id) {
    const r = this.visibleRun(projects, id, url);
    if (!r) return sendJson(res, 404, '{"detail":"Extraction run not found"}');
    r.deleted = true;
    return sendJson(res, 200, '{}');
  }

  createJob(res, projects, body) {
    let params;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return sendJson(res, 422, '{"detail":"body is not JSON"}');
    }
    const plainId = (v) => typeof v === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(v);
    if (!plainId(params?.extraction_agent_id) || !plainId(params?.file_id)) {
      return sendJson(res, 422, '{"detail":"extraction_agent_id and file_id are required ids"}');
    }
    return this.startJob(res, projects, params.extraction_agent_id, params.file_id);
  }

  // POST /jobs/file: multipart with an extraction_agent_id field and a file part.
  createJobFromUpload(req, res, projects, entry) {
    if (!/^multipart\/form-data/.test(req.headers['content-type'] ?? '')) {
      return sendJson(res, 422, '{"detail":"multipart/form-data expected"}');
    }
    const text = entry.body.toString('latin1');
    const agentId = /name="extraction_agent_id"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n/.exec(text)?.[1];
    if (!agentId || !/name="file"/.test(text)) {
      return sendJson(res, 422, '{"detail":"extraction_agent_id and file are required"}');
    }
    const fileId = `file-upload-${crypto.createHash('sha256').update(entry.body).digest('hex').slice(0, 12)}`;
    return this.startJob(res, projects, agentId, fileId);
  }

  // POST /extraction/run: a stateless extraction (JSON: config, data_schema and file_id, file or
  // text), run by the key's default agent: the first agent of its first project.
  createStatelessJob(res, projects, entry) {
    let params;
    try {
      params = JSON.parse(entry.body.toString('utf8'));
    } catch {
      return sendJson(res, 422, '{"detail":"body is not JSON"}');
    }
    if (!params?.config || !params?.data_schema) {
      return sendJson(res, 422, '{"detail":"config and data_schema are required"}');
    }
    const agent = [...this.data.agents.values()].find((a) => a.projectId === projects[0]);
    const fileId = typeof params.file_id === 'string' ? params.file_id : 'file-inline';
    return this.startJob(res, projects, agent.id, fileId);
  }

  // A new job (and its run, PENDING) for the agent, answered with the job.
  startJob(res, projects, agentId, fileId) {
    const agent = this.data.agents.get(agentId);
    if (!agent || !projects.includes(agent.projectId)) {
      return sendJson(res, 404, '{"detail":"Extraction agent not found"}');
    }
    const n = this.data.nextNewRun++;
    const createdMs = this.data.newRunBaseMs + n * 1_000;
    const run = {
      n: 10_000 + n,
      id: `run-new-${n}`,
      agentId: agent.id,
      projectId: agent.projectId,
      status: 'PENDING',
      createdMs,
      createdAt: new Date(createdMs).toISOString().replace(/Z$/, '000Z'),
      updatedAt: new Date(createdMs).toISOString().replace(/Z$/, '000Z'),
      jobId: `job-new-${n}`,
      fileId,
      spaced: false,
      dataIsArray: false,
      deleted: false,
    };
    run.raw = buildRunRaw(run);
    this.data.runs.set(run.id, run);
    if (this.autoFinishMs !== undefined) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.finishRun(run.id, 'SUCCESS');
      }, this.autoFinishMs);
      this.timers.add(t);
    }
    return sendJson(res, 200, buildJobRaw(run, agent));
  }

  // GET /jobs?extraction_agent_id=A: every job of the agent, as a plain array, newest first.
  listJobs(res, url, projects) {
    const agentId = url.searchParams.get('extraction_agent_id');
    if (!agentId) return missingAgentParam(res);
    const agent = this.data.agents.get(agentId);
    if (!agent || !projects.includes(agent.projectId)) {
      return sendJson(res, 404, '{"detail":"Extraction agent not found"}');
    }
    const jobs = orderedRuns(this.data, agentId).filter((r) => r.jobId);
    return sendJson(res, 200, `[${jobs.map((r) => buildJobRaw(r, agent)).join(',')}]`);
  }

  getJob(res, projects, jobId, wantResult) {
    const r = [...this.data.runs.values()].find((x) => x.jobId === jobId);
    if (!r || !projects.includes(r.projectId)) return sendJson(res, 404, '{"detail":"Extraction job not found"}');
    if (!wantResult) return sendJson(res, 200, buildJobRaw(r, this.data.agents.get(r.agentId)));
    if (r.status !== 'SUCCESS') {
      return sendJson(res, 400, `{"detail":"Extraction job ${jobId} has no result: status ${r.status}"}`);
    }
    return sendJson(res, 200, buildJobResultRaw(r));
  }

  listAgents(res, url, projects) {
    const wanted = url.searchParams.get('project_id');
    if (wanted && !projects.includes(wanted)) return sendJson(res, 404, '{"detail":"Project not found"}');
    const agents = [...this.data.agents.values()].filter((a) =>
      wanted ? a.projectId === wanted : projects.includes(a.projectId),
    );
    return sendJson(res, 200, `[${agents.map(buildAgentRaw).join(',')}]`);
  }

  // POST /api/v1/files: the body is hashed as it streams in and never held in memory.
  uploadFile(req, res, entry) {
    const projects = this.auth(req, res);
    if (!projects) {
      req.resume();
      return;
    }
    const hash = crypto.createHash('sha256');
    req.on('data', (c) => {
      entry.bodyBytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const id = `file-up-${this.data.nextUpload++}`;
      const body = JSON.stringify({
        id,
        name: 'upload',
        project_id: projects[0],
        bytes: entry.bodyBytes,
        sha256: hash.digest('hex'),
        content_type: req.headers['content-type'] ?? null,
        transfer_encoding: req.headers['transfer-encoding'] ?? null,
        content_length: req.headers['content-length'] ?? null,
      });
      sendJson(res, 200, body);
    });
    req.on('error', () => {});
  }

  // GET /api/v1/files/{id}/content?bytes=N: N pattern bytes, chunked, written with backpressure.
  download(req, res, url) {
    const total = intParam(url, 'bytes', 1024);
    if (total === null || total < 0) return sendJson(res, 422, '{"detail":"bad bytes"}');
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
    let offset = 0;
    const CHUNK = 64 * 1024;
    const pump = () => {
      while (offset < total) {
        const n = Math.min(CHUNK, total - offset);
        const ok = res.write(patternBytes(offset, n));
        offset += n;
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  }

  // Any method on /api/v1/echo[/...]: reflects the request as JSON.
  //   ?status=N      answer with status N (204 and 304 without a body)
  //   ?resphop=1     also send hop-by-hop response headers a proxy must drop
  echo(req, res, url, entry) {
    const status = intParam(url, 'status', 200) ?? 200;
    const headers = { 'x-echo-end-to-end': 'kept' };
    if (url.searchParams.get('resphop') === '1') {
      headers.connection = 'keep-alive, X-Resp-Hop';
      headers['x-resp-hop'] = 'must-be-removed';
      headers['keep-alive'] = 'timeout=5';
      headers['proxy-authenticate'] = 'Basic realm="fake"';
    }
    if (status === 204 || status === 304) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const q = req.url.indexOf('?');
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      path: url.pathname,
      query: q >= 0 ? req.url.slice(q + 1) : '',
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: entry.bodyBytes,
      bodySha256: crypto.createHash('sha256').update(entry.body).digest('hex'),
    });
    sendJson(res, status, body, headers);
  }
}

const RESPOND_MODES = ['normal', 'invalid-json', 'truncated', 'reset', 'stalled', 'slow-body'];

// Send a JSON answer, broken as `res.respond` asks (see setFault).
function sendJson(res, status, body, headers = {}) {
  const buf = Buffer.from(body, 'utf8');
  const head = { 'content-type': 'application/json', 'content-length': buf.length, ...headers };
  const half = buf.subarray(0, buf.length >> 1);
  switch (res.respond ?? 'normal') {
    case 'normal':
      res.writeHead(status, head);
      res.end(buf);
      return;
    case 'invalid-json':
      res.writeHead(status, { ...head, 'content-length': half.length });
      res.end(half);
      return;
    case 'stalled':
      res.writeHead(status, head);
      res.write(half);
      return;
    case 'slow-body': {
      res.writeHead(status, head);
      res.write(half);
      const timer = setTimeout(() => res.end(buf.subarray(half.length)), res.bodyDelayMs);
      res.socket.once('close', () => clearTimeout(timer));
      return;
    }
    default:
      sendCutShort(res.socket, status, head, half, res.respond);
  }
}

// Write a response head and part of its body straight to the socket (bypassing the HTTP server,
// which would refuse to send less than Content-Length), then end the connection: a FIN for
// 'truncated', a RST for 'reset'.
function sendCutShort(socket, status, head, part, how) {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Status'}`];
  for (const [k, v] of Object.entries(head)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  socket.write(part, () => {
    // Give the reader a moment to take the partial answer in before the connection goes.
    setTimeout(() => {
      if (socket.destroyed) return;
      if (how === 'reset' && typeof socket.resetAndDestroy === 'function' && !socket.encrypted) socket.resetAndDestroy();
      else if (how === 'reset') socket.destroy();
      else socket.end();
    }, 20);
  });
}

// A listener on host:port that never accepts, its accept queue filled, so that further
// connects hang in SYN-SENT (Linux drops a SYN when the accept queue of the listener is full).
// Node accepts connections as soon as they arrive, so the listener is a small python3 process
// (listen(0), never accept); it exits when its stdin closes, even if this process dies.
// Throws if a probe connect still completes: then the blackhole does not hold on this system.
export async function startBlackhole(host, port) {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    's.bind((sys.argv[1], int(sys.argv[2])))',
    's.listen(0)',
    'print("ready", flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const py = spawn(process.env.PYTHON || 'python3', ['-c', script, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  py.stdout.on('data', (c) => (output += c));
  py.stderr.on('data', (c) => (output += c));
  const exited = new Promise((resolve) => py.on('close', resolve));
  py.on('error', (err) => (output += `\n${err.message}`));
  const fillers = [];
  const close = async () => {
    for (const s of fillers) s.destroy();
    py.stdin.end();
    py.kill();
    await exited;
  };
  try {
    const ready = await Promise.race([
      new Promise((resolve) => py.stdout.on('data', () => output.includes('ready') && resolve(true))),
      exited.then(() => false),
      sleep(10_000, false, { ref: false }),
    ]);
    if (!ready) throw new Error(`blackhole listener did not start: ${output}`);
    // Fill the accept queue: connect until a connect does not complete.
    for (let i = 0; ; i += 1) {
      const { connected, socket } = await tryConnect(host, port, 200);
      if (!connected) {
        socket.destroy();
        break;
      }
      fillers.push(socket);
      if (i > 64) throw new Error('blackhole: the accept queue never filled');
    }
    const probe = await tryConnect(host, port, 300);
    probe.socket.destroy();
    if (probe.connected) throw new Error('blackhole: a connect still completed after the queue was filled');
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}

// Resolves { connected, socket } once the connect completes or fails, or after `ms`.
function tryConnect(host, port, ms) {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const timer = setTimeout(() => resolve({ connected: false, socket }), ms);
    socket.on('connect', () => {
      clearTimeout(timer);
      resolve({ connected: true, socket });
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve({ connected: false, socket });
    });
  });
}

// A listener on host:port that accepts connections and never reads from or writes to them.
async function startSilentListener(host, port) {
  const sockets = new Set();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function methodNotAllowed(res) {
  sendJson(res, 405, '{"detail":"Method Not Allowed"}');
}

// A non-negative integer query parameter, `dflt` when absent, null when malformed.
function intParam(url, name, dflt) {
  const v = url.searchParams.get(name);
  if (v === null) return dflt;
  return /^\d{1,12}$/.test(v) ? Number(v) : null;
}
