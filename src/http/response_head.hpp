#pragma once
// The bytes before a response body: status line, the response's headers, and the framing the
// daemon decides (Content-Length, Connection). Written by the session in one gather with the
// body, which therefore never has to be copied into a message object.

#include <string>

#include "runmirror/http_types.hpp"

namespace runmirror {

// 1xx, 204 and 304 answers have no body, and so no Content-Length.
bool status_has_body(int status);

// |r|'s head as HTTP/1.1, framing its body (body_size()) with a Content-Length. Framing headers in
// r.headers (Content-Length, Transfer-Encoding, Connection, Keep-Alive) are replaced, not
// repeated. |keep_alive| false adds "Connection: close".
std::string response_head(const response& r, bool keep_alive);

}  // namespace runmirror
