-- A count of the changes to what list pages show, so that the store may remember where a list
-- page ended and start the next one there (an index seek) instead of walking past every run
-- before it (OFFSET). Applied once, in one transaction, by src/store/migrations.cpp; later
-- changes go in new numbered files, never here.
--
-- A remembered position (src/store/page_ends.hpp) is trusted only while |changes| is what it
-- was when the position was remembered. What moves a position: which runs are stored and not
-- deleted (the browse indexes' condition), and a run's id, created_at, agent or project (their
-- order and filters). Triggers keep the count, so writes by any process, and any later prune,
-- count without knowing of it. Other updates (a refreshed body, fetched_at, status) leave it.
--
-- Version 5 also marks a store that may hold LZ4 bodies (src/store/body_codec.cpp), written by
-- the same builds: a build that knows only up to 004 refuses the store (migrations.cpp) rather
-- than failing on those rows as corrupt.
CREATE TABLE run_changes (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    changes  INTEGER NOT NULL
);
INSERT INTO run_changes (only_row, changes) VALUES (1, 0);

CREATE TRIGGER run_changes_insert AFTER INSERT ON runs
BEGIN
    UPDATE run_changes SET changes = changes + 1;
END;

CREATE TRIGGER run_changes_update
AFTER UPDATE OF id, created_at, extraction_agent_id, project_id, body, deleted_at ON runs
WHEN old.id IS NOT new.id OR old.created_at IS NOT new.created_at
     OR old.extraction_agent_id IS NOT new.extraction_agent_id
     OR old.project_id IS NOT new.project_id OR old.deleted_at IS NOT new.deleted_at
     OR (old.body IS NULL) <> (new.body IS NULL)
BEGIN
    UPDATE run_changes SET changes = changes + 1;
END;

CREATE TRIGGER run_changes_delete AFTER DELETE ON runs
BEGIN
    UPDATE run_changes SET changes = changes + 1;
END;
