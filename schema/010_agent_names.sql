-- Agent names (include/runmirror/browse.hpp: agent_name), learned from the upstream's
-- extraction-agents answers: those relayed to clients through the daemon and those
-- `runmirror mirror` reads. Applied once, in one transaction, by src/store/migrations.cpp;
-- later changes go in new numbered files, never here.
--
-- Keyed by agent and project, not by agent alone: browsing shows a name only beside an agent
-- summary of the same project, which a tenant-scoped viewer sees only with a grant for that
-- project, so a name never tells a viewer of one project about another's agents. The latest
-- answer wins (an agent renamed upstream is renamed here). learned_at: Unix milliseconds.
CREATE TABLE agent_names (
    extraction_agent_id TEXT NOT NULL,
    project_id          TEXT NOT NULL,
    name                TEXT NOT NULL,
    learned_at          INTEGER NOT NULL,
    PRIMARY KEY (extraction_agent_id, project_id)
) WITHOUT ROWID;
