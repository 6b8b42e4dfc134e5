#pragma once
// Error responses as the LlamaCloud API shapes them: JSON {"detail": "..."}.

#include <string_view>

#include "runmirror/http_types.hpp"
#include "runmirror/result.hpp"

namespace runmirror {

// A response with |status|, Content-Type application/json and body {"detail": detail}.
response json_error(int status, std::string_view detail);

// The status a failed upstream exchange maps to: 504 for a timeout, 502 otherwise,
// 503 for offline.
int status_for_upstream_failure(errc code);

// |s| as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace runmirror
