-- Browsing stored runs offline (store::browse_runs, store::agent_summaries): full-text search
-- over what each run extracted, and indexes for the browse filters. Applied once, in one
-- transaction, by src/store/migrations.cpp; later changes go in new numbered files.

-- The search index holds one document per stored, not deleted run. FTS5 finds documents by
-- integer rowid, and runs has no INTEGER PRIMARY KEY, so VACUUM may renumber its rowids;
-- run_search_docs gives each indexed run a document id of its own that never moves.
CREATE TABLE run_search_docs (
    docid  INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE
);

-- file_name: the run's file name. data: every string and number under the run's "data",
-- space-separated, strings unescaped (so "Z\u00fcrich" is found as "Zürich" and "zurich"),
-- numbers as SQLite renders them (integers beyond 64 bits and reals may differ from the
-- upstream's text). An FTS5 table that keeps its own copy of the text, rather than a
-- contentless one: deleting from it needs only the rowid, never the old text recomputed.
CREATE VIRTUAL TABLE run_search USING fts5(
    file_name, data, tokenize = 'unicode61 remove_diacritics 2'
);

-- Kept in sync by triggers, so every write path (put_run, put_runs, tombstone_run and any
-- later prune) keeps the index right without knowing of it. The data text is NULL when a body
-- is not valid JSON: json_tree would raise an error, and an odd body must never make storing
-- the run fail.
CREATE TRIGGER run_search_insert AFTER INSERT ON runs
WHEN new.body IS NOT NULL AND new.deleted_at IS NULL
BEGIN
    INSERT INTO run_search_docs (run_id) VALUES (new.id);
    INSERT INTO run_search (rowid, file_name, data)
    SELECT docid, new.file_name,
           CASE WHEN json_valid(new.body) THEN
               (SELECT group_concat(value, ' ') FROM json_tree(new.body, '$.data')
                WHERE type IN ('text', 'integer', 'real'))
           END
    FROM run_search_docs WHERE run_id = new.id;
END;

-- put_run's upsert fires this, not the insert trigger. A refresh that brought the same bytes
-- (the common case for a final run) changes nothing searchable and skips the reindexing; a
-- tombstone removes the run from the index.
CREATE TRIGGER run_search_update AFTER UPDATE OF body, file_name, deleted_at ON runs
WHEN old.body IS NOT new.body OR old.file_name IS NOT new.file_name
     OR (old.deleted_at IS NULL) <> (new.deleted_at IS NULL)
BEGIN
    DELETE FROM run_search
    WHERE rowid = (SELECT docid FROM run_search_docs WHERE run_id = old.id);
    DELETE FROM run_search_docs WHERE run_id = old.id;
    INSERT INTO run_search_docs (run_id)
    SELECT new.id WHERE new.body IS NOT NULL AND new.deleted_at IS NULL;
    INSERT INTO run_search (rowid, file_name, data)
    SELECT docid, new.file_name,
           CASE WHEN json_valid(new.body) THEN
               (SELECT group_concat(value, ' ') FROM json_tree(new.body, '$.data')
                WHERE type IN ('text', 'integer', 'real'))
           END
    FROM run_search_docs WHERE run_id = new.id;
END;

CREATE TRIGGER run_search_delete AFTER DELETE ON runs
BEGIN
    DELETE FROM run_search
    WHERE rowid = (SELECT docid FROM run_search_docs WHERE run_id = old.id);
    DELETE FROM run_search_docs WHERE run_id = old.id;
END;

-- Runs stored before this migration.
INSERT INTO run_search_docs (run_id)
SELECT id FROM runs WHERE body IS NOT NULL AND deleted_at IS NULL;
INSERT INTO run_search (rowid, file_name, data)
SELECT d.docid, r.file_name,
       CASE WHEN json_valid(r.body) THEN
           (SELECT group_concat(value, ' ') FROM json_tree(r.body, '$.data')
            WHERE type IN ('text', 'integer', 'real'))
       END
FROM run_search_docs AS d JOIN runs AS r ON r.id = d.run_id;

-- The browse queries. Each index is partial, holding only what browsing may show (stored, not
-- deleted), and the queries repeat that condition, so they walk an index in browse order
-- (created_at DESC, id DESC) and touch a run's row (a few KiB of body) only for the items they
-- return. Checking the condition on the rows instead costs a page read per run: with 100,000
-- runs, half a second for a search or the agent summaries.
CREATE INDEX runs_browse ON runs (created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_status ON runs (status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_agent ON runs (extraction_agent_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_agent_status
    ON runs (extraction_agent_id, status, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_project ON runs (project_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
-- Covers store::agent_summaries: counts and the newest created_at from the index alone.
CREATE INDEX runs_agent_summary ON runs (extraction_agent_id, project_id, status, created_at)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
