#include "cli/cli_args.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include <boost/program_options/parsers.hpp>

#include "config/load_options.hpp"

extern char** environ;  // POSIX

namespace runmirror {

namespace po = boost::program_options;

std::vector<std::string> process_environment() {
    std::vector<std::string> out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        out.emplace_back(*entry);
    }
    return out;
}

po::variables_map parse_command_args(const std::vector<std::string>& args,
                                     const po::options_description& desc) {
    namespace style = po::command_line_style;
    po::variables_map vm;
    try {
        // No guessing, as for serve: "--a" must not silently mean --all.
        const po::parsed_options parsed = po::command_line_parser(args)
                                              .options(desc)
                                              .style(style::default_style & ~style::allow_guessing)
                                              .run();
        for (const auto& option : parsed.options) {
            // Without a positional description, a bare word comes back with no name.
            if (option.string_key.empty()) {
                throw usage_error("unexpected argument '" + option.value.front() + "'");
            }
        }
        po::store(parsed, vm);
    } catch (const po::unknown_option& e) {
        throw usage_error(e.get_option_name() + ": unknown option");
    } catch (const po::invalid_command_line_syntax& e) {
        if (e.kind() == po::invalid_syntax::missing_parameter ||
            e.kind() == po::invalid_syntax::empty_adjacent_parameter) {
            throw usage_error(e.get_option_name() + ": missing value");
        }
        if (e.kind() == po::invalid_syntax::extra_parameter) {
            throw usage_error(e.get_option_name() + ": takes no value");
        }
        throw usage_error(e.what());
    } catch (const po::multiple_occurrences& e) {
        throw usage_error(e.get_option_name() + ": given more than once");
    } catch (const po::error& e) {
        throw usage_error(e.what());
    }
    return vm;
}

bool wants_help(const std::vector<std::string>& args) {
    return std::find(args.begin(), args.end(), "--help") != args.end() ||
           std::find(args.begin(), args.end(), "-h") != args.end();
}

serve_options serve_options_for(const std::vector<std::pair<std::string, std::string>>& flags,
                                const std::vector<std::string>& env) {
    std::vector<std::string> serve_args;
    for (const auto& [flag, value] : flags)
        serve_args.insert(serve_args.end(), {flag, value});
    load_result loaded = load_serve_options(serve_args, env);
    if (!loaded.error.empty()) throw usage_error(loaded.error);
    return loaded.options;
}

std::size_t parse_limit(std::string_view text, std::size_t max) {
    std::size_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || n < 1 || n > max) {
        throw usage_error("--limit: expected an integer from 1 to " + std::to_string(max) +
                          ", got '" + std::string(text) + "'");
    }
    return n;
}

std::size_t display_width(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

bool store_exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0 &&
           !ec;
}

}  // namespace runmirror
