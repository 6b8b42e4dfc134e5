-- Runs at scale (a million and more): bodies compressed at rest, a search index without its own
-- copy of the text, no redundant indexes, and run counts kept up to date instead of counted.
-- Applied once, in one transaction, by src/store/migrations.cpp; later changes go in new
-- numbered files, never here.
--
-- Two SQL functions, registered by the store (src/store/sqlite_store.cpp) on the connection that
-- migrates, do what SQL cannot:
--   runmirror_pack_body(body)    the body as kept at rest (store/body_codec): a zstd frame as a
--                                BLOB when that is smaller, the text itself otherwise.
--   runmirror_search_data(body)  the text the search indexes for a body, packed or not
--                                (json/run_fields: search_data_text); NULL when there is none.

-- The runs table, rebuilt. |seq| is the search index's document id: an INTEGER PRIMARY KEY never
-- changes (not even in a VACUUM) and AUTOINCREMENT never hands a deleted run's number to another
-- run, so run_search_docs (migration 003) is no longer needed. |body| holds the packed body;
-- the other columns are as before.
CREATE TABLE runs_v4 (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    body                BLOB,
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

INSERT INTO runs_v4 (id, body, project_id, extraction_agent_id, job_id, file_id, file_name,
                     status, created_at, updated_at, fetched_at, deleted_at)
SELECT id, runmirror_pack_body(body), project_id, extraction_agent_id, job_id, file_id,
       file_name, status, created_at, updated_at, fetched_at, deleted_at
FROM runs ORDER BY rowid;

DROP TRIGGER run_search_insert;
DROP TRIGGER run_search_update;
DROP TRIGGER run_search_delete;
DROP TABLE run_search;
DROP TABLE run_search_docs;
DROP TABLE runs;  -- and its indexes
ALTER TABLE runs_v4 RENAME TO runs;

-- The indexes. 001's runs_by_agent and runs_by_project are gone: the browse indexes of 003 start
-- with the same columns and list_runs repeats their condition. The browse indexes that the
-- tenant's list pages walk carry project_id at the end, so the grant check reads the index
-- entry and a run's row (a few KiB) is read only for the items a page returns; OFFSET skips
-- cost index entries only.
CREATE INDEX runs_by_job ON runs (job_id);
CREATE INDEX runs_browse ON runs (created_at DESC, id DESC, project_id)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_status ON runs (status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_agent ON runs (extraction_agent_id, created_at DESC, id DESC, project_id)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_agent_status
    ON runs (extraction_agent_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_project ON runs (project_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_agent_summary ON runs (extraction_agent_id, project_id, status, created_at DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;

-- The search index: one document per stored, not deleted run, with document id runs.seq.
-- Contentless (content=''): it keeps only the index, not a second copy of the text. Deleting a
-- document therefore takes its text, which the store computes again from the stored body
-- (runmirror_search_data) in the same write that changes or tombstones the run; every write of
-- runs goes through the store, which keeps this index right (a plain SQL DELETE of a run leaves
-- its words behind, pointing at a seq no run will have again). Same columns and tokenizer as 003.
CREATE VIRTUAL TABLE run_search USING fts5(
    file_name, data, content = '', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO run_search (rowid, file_name, data)
SELECT seq, file_name, runmirror_search_data(body)
FROM runs WHERE body IS NOT NULL AND deleted_at IS NULL;

-- How many stored, not deleted runs each (agent, project, status) has: list_runs' total and the
-- agent summaries without counting a million index entries per request. Kept by triggers, so
-- every write of runs (and any later prune) keeps it right without knowing of it. Rows that
-- drop to 0 stay.
CREATE TABLE run_counts (
    extraction_agent_id TEXT NOT NULL,
    project_id          TEXT NOT NULL,
    status              TEXT NOT NULL,
    runs                INTEGER NOT NULL,
    PRIMARY KEY (extraction_agent_id, project_id, status)
) WITHOUT ROWID;

INSERT INTO run_counts (extraction_agent_id, project_id, status, runs)
SELECT extraction_agent_id, project_id, status, count(*)
FROM runs WHERE deleted_at IS NULL AND body IS NOT NULL
GROUP BY extraction_agent_id, project_id, status;

CREATE TRIGGER run_counts_insert AFTER INSERT ON runs
WHEN new.deleted_at IS NULL AND new.body IS NOT NULL
BEGIN
    INSERT INTO run_counts (extraction_agent_id, project_id, status, runs)
    VALUES (new.extraction_agent_id, new.project_id, new.status, 1)
    ON CONFLICT DO UPDATE SET runs = runs + 1;
END;

CREATE TRIGGER run_counts_update
AFTER UPDATE OF extraction_agent_id, project_id, status, body, deleted_at ON runs
WHEN old.extraction_agent_id IS NOT new.extraction_agent_id
     OR old.project_id IS NOT new.project_id OR old.status IS NOT new.status
     OR (old.deleted_at IS NULL AND old.body IS NOT NULL)
        <> (new.deleted_at IS NULL AND new.body IS NOT NULL)
BEGIN
    UPDATE run_counts SET runs = runs - 1
    WHERE old.deleted_at IS NULL AND old.body IS NOT NULL
      AND extraction_agent_id = old.extraction_agent_id AND project_id = old.project_id
      AND status = old.status;
    INSERT INTO run_counts (extraction_agent_id, project_id, status, runs)
    SELECT new.extraction_agent_id, new.project_id, new.status, 1
    WHERE new.deleted_at IS NULL AND new.body IS NOT NULL
    ON CONFLICT DO UPDATE SET runs = runs + 1;
END;

CREATE TRIGGER run_counts_delete AFTER DELETE ON runs
WHEN old.deleted_at IS NULL AND old.body IS NOT NULL
BEGIN
    UPDATE run_counts SET runs = runs - 1
    WHERE extraction_agent_id = old.extraction_agent_id AND project_id = old.project_id
      AND status = old.status;
END;
