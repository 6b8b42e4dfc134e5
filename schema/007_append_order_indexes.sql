-- Cheaper writes of runs, part two (bench/write_cost.cpp --breakdown measures the pages each
-- table and index costs a stored run). Applied once, in one transaction, by
-- src/store/migrations.cpp; later changes go in new numbered files, never here.
--
-- The browse indexes of 004 listed created_at DESC, id DESC: browse order. Runs arrive newest
-- last, so each new entry went to the left edge of its index, where SQLite rebalances the leaf
-- with its siblings on nearly every insert: each of these indexes cost 2 to 2.5 pages of WAL per
-- stored run. Ascending, a new run is appended at the right edge of its range. SQLite walks an
-- index backwards as cheaply as forwards, so "ORDER BY created_at DESC, id DESC" and the keyset
-- conditions use these as they used the old ones; the condition (stored, not deleted) and the
-- leading columns are unchanged.
--
-- Two indexes fewer to write for every stored run:
--   runs_browse_by_agent_status: runs_browse_by_agent carries status (and project_id) at its
--     end, so a browse by agent and status walks the agent's entries and tests the status in the
--     entry, never reading a run's row for it.
--   runs_agent_summary: run_counts keeps the newest created_at of each (agent, project, status)
--     beside the count, kept by the same triggers.
DROP INDEX runs_browse;
DROP INDEX runs_browse_by_status;
DROP INDEX runs_browse_by_agent;
DROP INDEX runs_browse_by_agent_status;
DROP INDEX runs_browse_by_project;
DROP INDEX runs_agent_summary;

CREATE INDEX runs_browse ON runs (created_at, id, project_id)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_status ON runs (status, created_at, id)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_agent ON runs (extraction_agent_id, created_at, id, project_id, status)
    WHERE deleted_at IS NULL AND body IS NOT NULL;
CREATE INDEX runs_browse_by_project ON runs (project_id, created_at, id)
    WHERE deleted_at IS NULL AND body IS NOT NULL;

-- latest_created_at: the newest created_at among the group's stored, not deleted runs ('' when
-- it has none). A run joining a group can only raise it; when the run that held it leaves a group
-- that keeps other runs, it is looked up again: a walk down runs_browse_by_agent from the
-- agent's newest entry to the first of that project and status, reading index entries only
-- ("+" keeps the planner off runs_browse_by_project, which would read a row per entry).
ALTER TABLE run_counts ADD COLUMN latest_created_at TEXT NOT NULL DEFAULT '';
UPDATE run_counts SET latest_created_at = coalesce(
    (SELECT r.created_at FROM runs AS r
     WHERE r.deleted_at IS NULL AND r.body IS NOT NULL
       AND r.extraction_agent_id = run_counts.extraction_agent_id
       AND +r.project_id = run_counts.project_id AND +r.status = run_counts.status
     ORDER BY r.created_at DESC LIMIT 1), '');

DROP TRIGGER run_counts_insert;
DROP TRIGGER run_counts_update;
DROP TRIGGER run_counts_delete;

CREATE TRIGGER run_counts_insert AFTER INSERT ON runs
WHEN new.deleted_at IS NULL AND new.body IS NOT NULL
BEGIN
    INSERT INTO run_counts (extraction_agent_id, project_id, status, runs, latest_created_at)
    VALUES (new.extraction_agent_id, new.project_id, new.status, 1, new.created_at)
    ON CONFLICT DO UPDATE SET runs = runs + 1,
        latest_created_at = max(latest_created_at, excluded.latest_created_at);
END;

-- AFTER: the updated row already shows its new values, so the look-up of the old group's newest
-- run no longer sees it there.
CREATE TRIGGER run_counts_update
AFTER UPDATE OF extraction_agent_id, project_id, status, created_at, body, deleted_at ON runs
WHEN old.extraction_agent_id IS NOT new.extraction_agent_id
     OR old.project_id IS NOT new.project_id OR old.status IS NOT new.status
     OR old.created_at IS NOT new.created_at
     OR (old.deleted_at IS NULL AND old.body IS NOT NULL)
        <> (new.deleted_at IS NULL AND new.body IS NOT NULL)
BEGIN
    UPDATE run_counts SET runs = runs - 1,
        latest_created_at = CASE WHEN runs <= 1 THEN ''
            WHEN latest_created_at > old.created_at THEN latest_created_at
            ELSE coalesce((SELECT r.created_at FROM runs AS r
                           WHERE r.deleted_at IS NULL AND r.body IS NOT NULL
                             AND r.extraction_agent_id = old.extraction_agent_id
                             AND +r.project_id = old.project_id AND +r.status = old.status
                           ORDER BY r.created_at DESC LIMIT 1), '') END
    WHERE old.deleted_at IS NULL AND old.body IS NOT NULL
      AND extraction_agent_id = old.extraction_agent_id AND project_id = old.project_id
      AND status = old.status;
    INSERT INTO run_counts (extraction_agent_id, project_id, status, runs, latest_created_at)
    SELECT new.extraction_agent_id, new.project_id, new.status, 1, new.created_at
    WHERE new.deleted_at IS NULL AND new.body IS NOT NULL
    ON CONFLICT DO UPDATE SET runs = runs + 1,
        latest_created_at = max(latest_created_at, excluded.latest_created_at);
END;

CREATE TRIGGER run_counts_delete AFTER DELETE ON runs
WHEN old.deleted_at IS NULL AND old.body IS NOT NULL
BEGIN
    UPDATE run_counts SET runs = runs - 1,
        latest_created_at = CASE WHEN runs <= 1 THEN ''
            WHEN latest_created_at > old.created_at THEN latest_created_at
            ELSE coalesce((SELECT r.created_at FROM runs AS r
                           WHERE r.deleted_at IS NULL AND r.body IS NOT NULL
                             AND r.extraction_agent_id = old.extraction_agent_id
                             AND +r.project_id = old.project_id AND +r.status = old.status
                           ORDER BY r.created_at DESC LIMIT 1), '') END
    WHERE extraction_agent_id = old.extraction_agent_id AND project_id = old.project_id
      AND status = old.status;
END;
