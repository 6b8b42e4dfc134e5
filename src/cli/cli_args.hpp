#pragma once
// What every subcommand other than serve shares: strict argument parsing (no abbreviations,
// one-line errors naming the flag), the process environment, and finding the store exactly
// as serve would.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "runmirror/options.hpp"

namespace runmirror {

// A mistake on the command line: the command prints "runmirror CMD: what" and exits 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::vector<std::string> process_environment();

// Parses |args| against |desc| without guessing abbreviations; bare words are refused.
// Throws usage_error with a one-line message naming the flag.
boost::program_options::variables_map parse_command_args(
    const std::vector<std::string>& args, const boost::program_options::options_description& desc);

// True when --help or -h appears anywhere: help wins over mistakes elsewhere on the line.
bool wants_help(const std::vector<std::string>& args);

// serve's options for these flags (each passed only when given), so every command agrees
// with serve on the store, the upstream and their defaults. Throws usage_error.
serve_options serve_options_for(const std::vector<std::pair<std::string, std::string>>& flags,
                                const std::vector<std::string>& env);

// --limit: a whole number from 1 to |max|; throws usage_error naming the flag.
std::size_t parse_limit(std::string_view text, std::size_t max);

// Terminal cells taken by UTF-8 |text| (one per code point; no East Asian width rules).
std::size_t display_width(std::string_view text);

// Whether |path| holds a store: a missing or empty file is not one (opening it would create it).
bool store_exists(const std::string& path);

}  // namespace runmirror
