#pragma once
// spdlog setup. Log lines never carry keys: request logging goes through redact_target.

#include <string>
#include <string_view>

namespace runmirror {

// Sets the default logger's level ("trace" .. "off"); throws std::invalid_argument naming an
// unknown level.
void setup_logging(const std::string& level);

}  // namespace runmirror
