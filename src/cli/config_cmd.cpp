// `runmirror config`: the settings `runmirror serve` would run with, given the same flags and
// environment, and where each came from. Every other command finds its store and upstream the
// same way, so this is also the answer to "which store does `runmirror runs` read?".
//
// The text form is a valid config file (secrets and unset values commented out), so
// `runmirror config > my.conf` is a starting point; --json is for scripts and tests.

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "config/load_options.hpp"

namespace runmirror {

namespace {

constexpr const char* help_text =
    "Usage: runmirror config [serve options] [--json]\n"
    "\n"
    "Prints the settings `runmirror serve` would use with the same options and environment,\n"
    "one `key = value` per line with where it came from: default, config file, environment\n"
    "(RUNMIRROR_*) or flag. Secrets (admin-token, LLAMA_CLOUD_API_KEY) are never printed, only\n"
    "whether they are set. runs, watches, mirror, purge and db read the same settings.\n"
    "\n"
    "The config file is the one --config or RUNMIRROR_CONFIG names, else the first that exists\n"
    "of: $XDG_CONFIG_HOME/runmirror/runmirror.conf (or ~/.config/runmirror/runmirror.conf),\n"
    "/etc/runmirror/runmirror.conf. --config /dev/null reads none.\n"
    "\n"
    "Options:\n"
    "  --json         one JSON object: config_file, config_found_by, settings [{key, value,\n"
    "                 source, secret}]\n"
    "  -h [ --help ]  print this help and exit\n"
    "  any option of `runmirror serve --help`\n";

std::string as_json(const load_result& loaded, const std::vector<std::string>& searched) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
    auto string = [&](const std::string& s) {
        out.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    };
    out.StartObject();
    out.Key("config_file");
    if (loaded.config_file.empty()) {
        out.Null();
    } else {
        string(loaded.config_file);
    }
    out.Key("config_found_by");
    string(loaded.config_found_by);
    out.Key("config_search_path");
    out.StartArray();
    for (const auto& path : searched)
        string(path);
    out.EndArray();
    out.Key("settings");
    out.StartArray();
    for (const auto& s : loaded.settings) {
        out.StartObject();
        out.Key("key");
        string(s.key);
        out.Key("value");
        string(s.value);
        out.Key("source");
        string(s.source);
        out.Key("secret");
        out.Bool(s.secret);
        out.EndObject();
    }
    out.EndArray();
    out.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string as_text(const load_result& loaded, const std::vector<std::string>& searched) {
    std::string out =
        "# Effective settings of `runmirror serve` (runmirror " RUNMIRROR_VERSION ")\n";
    if (loaded.config_file.empty()) {
        out += "# config file: none found; searched:";
        for (const auto& path : searched)
            out += " " + path;
        out += "\n";
    } else {
        out += "# config file: " + loaded.config_file + " (" + loaded.config_found_by + ")\n";
    }
    // An unset or redacted value would not read back as itself, so its line is a comment.
    auto line_of = [](const effective_setting& s) {
        if (s.value.empty()) return "# " + s.key + " is not set";
        if (s.secret) return "# " + s.key + " is set (redacted)";
        return s.key + " = " + s.value;
    };
    std::size_t width = 0;
    for (const auto& s : loaded.settings)
        width = std::max(width, line_of(s).size());
    for (const auto& s : loaded.settings) {
        std::string line = line_of(s);
        line.resize(width, ' ');
        out += line + "  # " + s.source + "\n";
    }
    return out;
}

}  // namespace

int config_command(const std::vector<std::string>& args) {
    if (wants_help(args)) {
        std::cout << help_text;
        return 0;
    }
    std::vector<std::string> serve_args;
    bool json = false;
    for (const auto& arg : args) {
        if (arg == "--json") {
            json = true;
        } else {
            serve_args.push_back(arg);
        }
    }
    const auto environment = process_environment();
    const load_result loaded = load_serve_options(serve_args, environment);
    if (!loaded.error.empty()) {
        std::cerr << "runmirror config: " << loaded.error << "\n";
        return 2;
    }
    if (loaded.version) {
        std::cout << "runmirror " << RUNMIRROR_VERSION << "\n";
        return 0;
    }
    const auto searched = config_search_path(environment);
    std::cout << (json ? as_json(loaded, searched) : as_text(loaded, searched));
    return 0;
}

}  // namespace runmirror
