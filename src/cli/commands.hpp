#pragma once
// The subcommands main() dispatches to. Each takes the arguments after its own name and
// returns the process exit code: 0 success, 1 a runtime failure, 2 a usage error.

#include <string>
#include <vector>

namespace runmirror {

// `runmirror serve`: loads the options, opens the store and runs the daemon until it stops.
int serve_command(const std::vector<std::string>& args);
// `runmirror watches`: lists the sync worker's watches from the store; never creates one.
int watches_command(const std::vector<std::string>& args);
// `runmirror runs list|show|export`: browses the stored runs offline; reads the store, never
// writes a run (opening it may apply pending migrations, as for watches).
int runs_command(const std::vector<std::string>& args);

// `runmirror mirror`: pulls runs of some or all agents into the store for offline use.
int mirror_command(const std::vector<std::string>& args);

// `runmirror db stats|check|vacuum|backup FILE`: looks after the store file; never creates or
// migrates one.
int db_command(const std::vector<std::string>& args);
// `runmirror config`: prints the effective settings and where each came from; reads no store.
int config_command(const std::vector<std::string>& args);

}  // namespace runmirror
