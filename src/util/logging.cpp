#include "util/logging.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "http/json_error.hpp"

namespace runmirror {
namespace {

bool json_lines = false;

std::string to_lower(std::string_view text) {
    std::string name(text);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name;
}

spdlog::level::level_enum to_spdlog(log::level lvl) {
    switch (lvl) {
        case log::level::trace: return spdlog::level::trace;
        case log::level::debug: return spdlog::level::debug;
        case log::level::info: return spdlog::level::info;
        case log::level::warn: return spdlog::level::warn;
        case log::level::error: return spdlog::level::err;
    }
    return spdlog::level::err;
}

}  // namespace

bool is_log_level(std::string_view text) {
    const std::string name = to_lower(text);
    // spdlog maps any name it does not know to "off"; a typo must not silence the daemon.
    return spdlog::level::from_str(name) != spdlog::level::off || name == "off";
}

void setup_logging(const std::string& level, bool json) {
    if (!is_log_level(level)) {
        throw std::invalid_argument("unknown log level '" + level +
                                    "' (expected trace, debug, info, warn, error, critical, off)");
    }
    // stderr keeps stdout free for command output; colours only when stderr is a terminal.
    // A fresh logger each call, so calling this again (tests, reconfiguration) just replaces it.
    auto logger = std::make_shared<spdlog::logger>(
        "runmirror", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    // ISO-like local time with milliseconds, level, thread id: enough to follow one request
    // across the worker threads.
    if (json) {
        // One JSON object per line; log::write escapes the message (see json_lines).
        logger->set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":%v})");
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] [%t] %v");
    }
    json_lines = json;
    logger->set_level(spdlog::level::from_str(to_lower(level)));
    // Warnings and errors reach the terminal or journal even if the process dies right after.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

namespace log {

bool enabled(level lvl) noexcept {
    return spdlog::default_logger_raw()->should_log(to_spdlog(lvl));
}

void write(level lvl, std::string_view line) {
    if (json_lines) {
        spdlog::default_logger_raw()->log(to_spdlog(lvl), json_quote(line));
    } else {
        spdlog::default_logger_raw()->log(to_spdlog(lvl), line);
    }
}

}  // namespace log
}  // namespace runmirror
