// runmirror's entry point: picks the subcommand and hands it the remaining arguments.

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace {

// Lists only the subcommands that exist.
constexpr const char* usage =
    "Usage: runmirror COMMAND [options]\n"
    "\n"
    "A caching proxy for LlamaCloud extraction runs.\n"
    "\n"
    "Commands:\n"
    "  serve      run the caching proxy daemon\n"
    "  watches    list the runs and jobs the sync worker is watching (reads the store)\n"
    "  runs       list, show and export the stored runs, offline (reads the store)\n"
    "  mirror     pull runs of some or all agents into the store for offline use\n"
    "  purge      forget one run or job in the store (never upstream): its next read is a miss\n"
    "  db         stats, check, vacuum or back up the store (safe while serving)\n"
    "  config     print the effective settings and where each came from (file, env, flag)\n"
    "\n"
    "Options:\n"
    "  -h [ --help ]  print this help and exit\n"
    "  --version      print the version and exit\n"
    "\n"
    "Run 'runmirror COMMAND --help' for a command's options.\n"
    "\n"
    "Every command reads the same config file: --config FILE, else $RUNMIRROR_CONFIG, else the\n"
    "first that exists of $XDG_CONFIG_HOME/runmirror/runmirror.conf (or\n"
    "~/.config/runmirror/runmirror.conf) and /etc/runmirror/runmirror.conf.\n";

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::cerr << usage;
        return 2;
    }
    const std::string& command = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());

    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << usage;
        return 0;
    }
    if (command == "--version") {
        std::cout << "runmirror " << RUNMIRROR_VERSION << "\n";
        return 0;
    }
    try {
        if (command == "serve") return runmirror::serve_command(rest);
        if (command == "watches") return runmirror::watches_command(rest);
        if (command == "runs") return runmirror::runs_command(rest);
        if (command == "mirror") return runmirror::mirror_command(rest);
        if (command == "db") return runmirror::db_command(rest);
        if (command == "config") return runmirror::config_command(rest);
        if (command == "purge") {
            std::vector<std::string> purge{"purge"};
            purge.insert(purge.end(), rest.begin(), rest.end());
            return runmirror::runs_command(purge);
        }
    } catch (const std::exception& e) {
        // Subcommands report their own failures; this is the last line of defence against
        // std::terminate and its core dump.
        std::cerr << "runmirror " << command << ": " << e.what() << "\n";
        return 1;
    }
    std::cerr << "runmirror: unknown command '" << command << "' (try 'runmirror --help')\n";
    return 2;
}
