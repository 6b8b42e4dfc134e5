-- Cheaper writes of runs (bench/write_cost.cpp measures them).
--
-- The full-text index (run_search, schema/004) is brought up to date in batches rather than in
-- each write of a run: indexing one run touched about five pages of the FTS5 tables (a new
-- segment, the structure and averages records, %_idx, %_docsize), a quarter of what a stored
-- run cost the disk. A stored run now only joins the runs table; src/store/sqlite_store.cpp
-- indexes every run past |indexed_through| about a second later (a background batch), and
-- always before a search is answered, so a search never misses a stored run.
--
-- |indexed_through|: every run with seq <= it that is stored and not deleted is in run_search;
-- none with a larger seq is. seq only grows (AUTOINCREMENT), so new runs are always past it.
-- A store upgraded to this version has every run indexed already: nothing is rewritten.
CREATE TABLE run_search_state (
    only_row        INTEGER PRIMARY KEY CHECK (only_row = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO run_search_state (only_row, indexed_through)
SELECT 1, max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0),
            coalesce((SELECT max(seq) FROM runs), 0));

-- When a run was last fetched, if a later fetch brought exactly the stored bytes. A list page
-- refreshed every few seconds re-stores the same runs: setting runs.fetched_at rewrote each
-- run's own page (about 2 KiB of body each, so one page per run); these narrow rows pack a
-- whole page's runs into a page or two. A run written with new bytes drops its row here.
-- Readers take coalesce(run_refreshed.fetched_at, runs.fetched_at).
CREATE TABLE run_refreshed (
    seq        INTEGER PRIMARY KEY,  -- runs.seq
    fetched_at INTEGER NOT NULL
);
