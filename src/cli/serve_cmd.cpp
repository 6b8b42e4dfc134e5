// `runmirror serve`: options -> logging -> listening socket -> store -> server. Every failure
// ends in one line on stderr; exit code 2 for a bad command line or config, 1 when the daemon
// cannot run.

#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>

#include "cli/commands.hpp"
#include "config/load_options.hpp"
#include "runmirror/server.hpp"
#include "runmirror/store.hpp"
#include "store/memory_cache.hpp"
#include "util/logging.hpp"
#include "util/tenant_secret.hpp"

extern char** environ;  // POSIX; the options loader takes it as a plain list

namespace runmirror {

namespace {

std::vector<std::string> process_environment() {
    std::vector<std::string> out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        out.emplace_back(*entry);
    }
    return out;
}

}  // namespace

int serve_command(const std::vector<std::string>& args) {
    const load_result loaded = load_serve_options(args, process_environment());
    if (loaded.help) {
        std::cout << loaded.help_text;
        return 0;
    }
    if (loaded.version) {
        std::cout << "runmirror " << RUNMIRROR_VERSION << "\n";
        return 0;
    }
    if (!loaded.error.empty()) {
        std::cerr << "runmirror serve: " << loaded.error << "\n";
        return 2;
    }
    const serve_options& options = loaded.options;
    if (const std::string refusal = listen_refusal(options); !refusal.empty()) {
        std::cerr << "runmirror serve: " << refusal << "\n";
        return 2;
    }

    try {
        setup_logging(options.log_level, options.log_json);
    } catch (const std::invalid_argument& e) {
        // load_serve_options validated the level with the same rule; kept for safety.
        std::cerr << "runmirror serve: --log-level: " << e.what() << "\n";
        return 2;
    }

    // Bound before anything is created: a daemon that cannot listen (the port in use) must
    // leave no new store, secret or directory behind, and an existing store untouched.
    std::optional<listening_socket> listener;
    try {
        listener.emplace(options.listen);
    } catch (const std::exception& e) {
        std::cerr << "runmirror serve: " << e.what() << "\n";
        return 1;
    }
    // A PostgreSQL store has no file here: nothing to check or make room for.
    const bool on_postgres = is_postgres_uri(options.store.path);
    if (const std::string missing = postgres_secret_missing(options.store); !missing.empty()) {
        std::cerr << "runmirror serve: " << missing << "\n";
        return 2;
    }
    // The pruner stops once used_bytes() falls under the cap, and a PostgreSQL store's
    // relations do not shrink when rows go (VACUUM frees their space for reuse, not to the file
    // system): it would go on until every class it may prune was gone.
    if (on_postgres && options.retention.max_db_bytes > 0) {
        std::cerr << "runmirror serve: --max-db-size is for SQLite stores; a PostgreSQL store's "
                     "size is PostgreSQL's to manage\n";
        return 2;
    }
    // Before the secret is created beside it: a file that is not a store is refused as it is.
    try {
        if (!on_postgres) check_sqlite_store_file(options.store.path);
    } catch (const store_error& e) {
        std::cerr << "runmirror serve: " << e.what() << "\n";
        return 1;
    }

    // The loader only names the file; creating its directory is a side effect that belongs here.
    const std::filesystem::path db_dir =
        on_postgres ? std::filesystem::path()
                    : std::filesystem::path(options.store.path).parent_path();
    if (!db_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(db_dir, ec);
        if (ec) {
            std::cerr << "runmirror serve: cannot create directory " << db_dir << ": "
                      << ec.message() << "\n";
            return 1;
        }
    }

    // Before the store: converting an older store's tenants needs the secret.
    try {
        install_store_tenant_secret(options.store.path, options.store.tenant_secret_path,
                                    secret_use::create);
    } catch (const tenant_secret_error& e) {
        std::cerr << "runmirror serve: " << e.what() << "\n";
        return 1;
    }

    std::unique_ptr<store> db;
    try {
        db = with_memory_cache(
            open_store(options.store.path, {.watch_lease = options.store.watch_lease}),
            {.budget_bytes = options.store.memory_cache_bytes});
    } catch (const store_error& e) {
        std::cerr << "runmirror serve: " << e.what() << "\n";
        return 1;
    }
    log::info("runmirror {}: store {}, upstream {}, {}", RUNMIRROR_VERSION,
              store_display_name(options.store.path), options.upstream.url,
              options.cache.mode == serve_mode::offline ? "offline" : "online");
    log::info("config file {}", loaded.config_file.empty()
                                    ? std::string("none (defaults, environment and flags)")
                                    : loaded.config_file + " (" + loaded.config_found_by + ")");
    if (!options.listen.allowed_hosts.empty()) {
        std::string names;
        for (const auto& name : options.listen.allowed_hosts)
            names += (names.empty() ? "" : ", ") + name;
        log::info("also answering requests addressed to: {}", names);
    }

    try {
        return make_server(options, *db, std::move(*listener))->run();
    } catch (const std::exception& e) {
        std::cerr << "runmirror serve: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace runmirror
