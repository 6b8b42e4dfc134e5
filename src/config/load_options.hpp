#pragma once
// Builds serve_options from, in order (later wins): the config file, RUNMIRROR_* environment
// variables, and command-line flags. Validation happens here, once; errors name the key.

#include <optional>
#include <string>
#include <vector>

#include "runmirror/options.hpp"

namespace runmirror {

// One setting as it took effect: its value as the daemon will use it (secrets redacted), and
// where it came from: "default", "config file PATH: key", "environment RUNMIRROR_X", "--flag".
struct effective_setting {
    std::string key;
    std::string value;  // empty: not set
    std::string source;
    bool secret = false;  // the value is redacted; only whether it is set is shown
};

struct load_result {
    serve_options options;
    // The config file read, and how it was found ("--config", "environment RUNMIRROR_CONFIG",
    // "search path"); both empty when no file was named and none was found on the search path.
    std::string config_file;
    std::string config_found_by;
    std::vector<effective_setting> settings;  // every file/env/flag key, in --help order
    bool help = false;                        // --help was given: print |help_text| and exit 0
    bool version = false;                     // --version was given
    std::string help_text;
    std::string error;  // non-empty: a one-line message; exit non-zero
};

// |args| are the arguments after "serve". |environ| is the process environment (name=value).
load_result load_serve_options(const std::vector<std::string>& args,
                               const std::vector<std::string>& environ);

// Where a config file is looked for when neither --config nor $RUNMIRROR_CONFIG names one, in
// order; the first that exists is read: $XDG_CONFIG_HOME/runmirror/runmirror.conf (else
// $HOME/.config/runmirror/runmirror.conf), then /etc/runmirror/runmirror.conf.
std::vector<std::string> config_search_path(const std::vector<std::string>& environ);

// Empty when the daemon may listen where |options| say; otherwise the one-line reason it must
// not: an address beyond loopback without an admin token would hand every stored run to
// whoever reaches the port. Only `serve` asks; other commands read the same options to find
// the store, and listen nowhere.
std::string listen_refusal(const serve_options& options);

// Empty unless |store| is a PostgreSQL database without a tenant secret file named; then the
// one-line reason a command that keys tenants (serve, mirror) must not start. Daemons sharing a
// database must share the secret too, so there is no default location for it.
std::string postgres_secret_missing(const store_options& store);

// The --db default: $RUNMIRROR_DATA_DIR/runmirror.db, else under $XDG_DATA_HOME or $HOME (see
// `runmirror serve --help`). Empty when none of them is set. |environ| as for load_serve_options.
std::string default_db_path(const std::vector<std::string>& environ);

}  // namespace runmirror
