-- Runs, list pages and grants. Applied once, in one transaction, by src/store/migrations.cpp;
-- later changes go in new numbered files, never here.

-- One row per run id. |body| is the upstream's JSON exactly as received; NULL for a run known
-- only from a delete through the daemon. The other text columns are indexed copies pulled out
-- of |body| ('' when absent). Times are unix milliseconds.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY NOT NULL,
    body                TEXT,
    project_id          TEXT NOT NULL DEFAULT '',
    extraction_agent_id TEXT NOT NULL DEFAULT '',
    job_id              TEXT NOT NULL DEFAULT '',
    file_id             TEXT NOT NULL DEFAULT '',
    file_name           TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL DEFAULT '',
    updated_at          TEXT NOT NULL DEFAULT '',
    fetched_at          INTEGER NOT NULL,
    deleted_at          INTEGER
);

CREATE INDEX runs_by_job ON runs (job_id);
CREATE INDEX runs_by_agent ON runs (extraction_agent_id, created_at DESC, id DESC);
CREATE INDEX runs_by_project ON runs (project_id, created_at DESC, id DESC);

-- One cached list answer per tenant and normalised query (cache/list_key).
CREATE TABLE list_pages (
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    body       TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Projects a tenant (a hashed API key) was seen to read upstream; gates offline answers.
CREATE TABLE grants (
    tenant     TEXT NOT NULL,
    project_id TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, project_id)
);
