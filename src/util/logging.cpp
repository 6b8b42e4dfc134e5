#include "util/logging.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace runmirror {

void setup_logging(const std::string& level) {
    std::string name = level;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // spdlog maps any name it does not know to "off"; a typo must not silence the daemon.
    const auto parsed = spdlog::level::from_str(name);
    if (parsed == spdlog::level::off && name != "off") {
        throw std::invalid_argument("unknown log level '" + level +
                                    "' (expected trace, debug, info, warn, error, critical, off)");
    }

    // stderr keeps stdout free for command output; colours only when stderr is a terminal.
    // A fresh logger each call, so calling this again (tests, reconfiguration) just replaces it.
    auto logger = std::make_shared<spdlog::logger>(
        "runmirror", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    // ISO-like local time with milliseconds, level, thread id: enough to follow one request
    // across the worker threads.
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] [%t] %v");
    logger->set_level(parsed);
    // Warnings and errors reach the terminal or journal even if the process dies right after.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace runmirror
