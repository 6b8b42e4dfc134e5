#pragma once
// Builds serve_options from, in order (later wins): the config file, RUNMIRROR_* environment
// variables, and command-line flags. Validation happens here, once; errors name the key.

#include <optional>
#include <string>
#include <vector>

#include "runmirror/options.hpp"

namespace runmirror {

struct load_result {
    serve_options options;
    bool help = false;     // --help was given: print |help_text| and exit 0
    bool version = false;  // --version was given
    std::string help_text;
    std::string error;  // non-empty: a one-line message; exit non-zero
};

// |args| are the arguments after "serve". |environ| is the process environment (name=value).
load_result load_serve_options(const std::vector<std::string>& args,
                               const std::vector<std::string>& environ);

// The --db default: $RUNMIRROR_DATA_DIR/runmirror.db, else under $XDG_DATA_HOME or $HOME (see
// `runmirror serve --help`). Empty when none of them is set. |environ| as for load_serve_options.
std::string default_db_path(const std::vector<std::string>& environ);

}  // namespace runmirror
