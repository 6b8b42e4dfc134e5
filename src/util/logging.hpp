#pragma once
// Logging: spdlog behind a small front. Log lines never carry keys: request logging goes
// through redact_target.
//
// Why a front: every translation unit that called spdlog directly paid about 4 s of compile
// time instantiating its logger templates; formatting with fmt's core and handing the finished
// line to one compiled function costs a fraction of a second.

#include <string>
#include <string_view>
#include <utility>

#include <fmt/core.h>

namespace runmirror {

// Sets the process's log level ("trace" .. "off", any case) and format (|json|: one JSON
// object per line: time, level, thread, msg); throws std::invalid_argument naming an unknown
// level.
void setup_logging(const std::string& level, bool json = false);

// Whether |text| names a log level setup_logging accepts.
bool is_log_level(std::string_view text);

namespace log {

enum class level { trace, debug, info, warn, error };

// Whether a line at |lvl| is written: the line is not even formatted otherwise.
bool enabled(level lvl) noexcept;
void write(level lvl, std::string_view line);

template <class... Args>
void at(level lvl, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(lvl)) write(lvl, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    at(level::debug, format, std::forward<Args>(args)...);
}
template <class... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    at(level::info, format, std::forward<Args>(args)...);
}
template <class... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
    at(level::warn, format, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    at(level::error, format, std::forward<Args>(args)...);
}

}  // namespace log
}  // namespace runmirror
