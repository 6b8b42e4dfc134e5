-- Kinds of resource (include/runmirror/resource_kind.hpp): the runs table holds every kind the
-- mirror serves, v1 runs and v2 extract jobs, in one shape. Applied once, in one transaction,
-- by src/store/migrations.cpp; later changes go in new numbered files, never here.
--
-- Adding a column with a constant default rewrites no row, so a store of a million runs
-- upgrades without reading a body. The primary key stays the id alone: ids of kinds after the
-- first carry their kind's prefix ("v2/...", resource_kind::store_prefix), which keeps them
-- apart from v1 run ids without rebuilding the table.
--
-- |variant|: which representation the body is, for kinds whose answers depend on a query
-- parameter (v2 "expand=usage"); '' for the plain one. A variant row's id is its plain row's
-- id, '?', and the variant, so deleting one resource finds all of them in one range of ids.
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE runs ADD COLUMN variant TEXT NOT NULL DEFAULT '';

-- run_counts counts v1 runs only (list totals and agent summaries are v1 runs' notions): 007's
-- triggers, each with the kind in its WHEN. (A v2 job's owner is a configuration id, never an
-- agent id, so 007's look-ups of an agent's newest run need no kind test.)
DROP TRIGGER run_counts_insert;
DROP TRIGGER run_counts_update;
DROP TRIGGER run_counts_delete;

CREATE TRIGGER run_counts_insert AFTER INSERT ON runs
WHEN new.kind = 'run' AND new.deleted_at IS NULL AND new.body IS NOT NULL
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
WHEN new.kind = 'run' AND (old.extraction_agent_id IS NOT new.extraction_agent_id
     OR old.project_id IS NOT new.project_id OR old.status IS NOT new.status
     OR old.created_at IS NOT new.created_at
     OR (old.deleted_at IS NULL AND old.body IS NOT NULL)
        <> (new.deleted_at IS NULL AND new.body IS NOT NULL))
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
WHEN old.kind = 'run' AND old.deleted_at IS NULL AND old.body IS NOT NULL
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
