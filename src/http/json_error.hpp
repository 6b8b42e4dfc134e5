#pragma once
// Error responses as the LlamaCloud API shapes them: JSON {"detail": "..."}.

#include <string_view>

#include "runmirror/http_types.hpp"
#include "runmirror/result.hpp"

namespace runmirror {

// A response with |status|, Content-Type application/json and body {"detail": detail}
// (json_quote: ill-formed UTF-8 in |detail| becomes U+FFFD).
response json_error(int status, std::string_view detail);

// The status a failed upstream exchange maps to: 504 for a timeout, 503 when offline or while
// the upstream is considered down, 502 otherwise.
int status_for_upstream_failure(errc code);

// |s| as a JSON string literal, quotes included; ill-formed UTF-8 in it becomes U+FFFD
// (util/utf8.hpp: valid_utf8), so the literal is always valid JSON.
std::string json_quote(std::string_view s);

}  // namespace runmirror
