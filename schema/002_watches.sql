-- Watches: what the sync worker polls upstream until it is final. Applied once, in one
-- transaction, by src/store/migrations.cpp; later changes go in new numbered files.

-- One row per watched run or job, kept after it ends so the CLI and browse API can show what
-- happened. A 'job' watch polls by job id until its run exists; it then becomes a 'run' watch
-- (same row, run_id filled in). At most one row per run id and one per job id: the store merges
-- rows that turn out to watch the same run. API keys are never stored: |tenant| (the SHA-256 of
-- the key) names whose key polls it. Times are unix milliseconds.
--
-- A watch is active while finished_at and given_up_at are both NULL. finished_at: the run
-- reached a final status or was deleted (last_status says which). given_up_at: the worker
-- stopped trying (give_up_reason says why).
CREATE TABLE watches (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('run', 'job')),
    run_id              TEXT,
    job_id              TEXT,
    tenant              TEXT NOT NULL,
    project_id          TEXT NOT NULL DEFAULT '',
    extraction_agent_id TEXT NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,  -- when watching (re)started; max age counts from here
    next_poll_at        INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,  -- consecutive answers without a change
    last_status         TEXT NOT NULL DEFAULT '',
    last_error          TEXT NOT NULL DEFAULT '',
    finished_at         INTEGER,
    given_up_at         INTEGER,
    give_up_reason      TEXT,
    updated_at          INTEGER NOT NULL,
    -- kind is redundant with run_id; these keep the two from disagreeing.
    CHECK ((kind = 'run' AND run_id IS NOT NULL) OR (kind = 'job' AND run_id IS NULL)),
    CHECK (run_id IS NOT NULL OR job_id IS NOT NULL),
    CHECK (finished_at IS NULL OR given_up_at IS NULL),
    CHECK ((given_up_at IS NULL) = (give_up_reason IS NULL))
);

-- The sync worker's question: active watches due by now, soonest first.
CREATE INDEX watches_due ON watches (next_poll_at, id)
    WHERE finished_at IS NULL AND given_up_at IS NULL;
-- NULLs are distinct in a unique index (SQLite and PostgreSQL alike), so a job watch without
-- its run and a run watch without a job do not collide.
CREATE UNIQUE INDEX watches_by_run ON watches (run_id);
CREATE UNIQUE INDEX watches_by_job ON watches (job_id);
