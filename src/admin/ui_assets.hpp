#pragma once
// /_runmirror/ui/: the offline web page (ui/*), compiled into the binary by
// cmake/embed_ui.cmake, so it works with no network and never reads the source tree.
//
// The assets hold no data: the page asks the browse API for everything, with the admin token
// the user types in. So they are served without the token (a browser cannot send one when it
// navigates), and admin_routes.cpp calls serve_ui() before its token check.

#include <optional>
#include <span>
#include <string_view>

#include "runmirror/http_types.hpp"

namespace runmirror {

// One file of ui/, as embedded at build time.
struct ui_asset {
    std::string_view name;          // "index.html", "app.js": the file name under ui/
    std::string_view content_type;  // from the extension, with "; charset=utf-8" for text
    std::string_view etag;          // strong: "\"<sha256 of the bytes, hex>\"", quotes included
    std::string_view body;
};

// Every file of ui/, sorted by name. Defined in the generated source.
std::span<const ui_asset> embedded_ui_assets();

// The asset named |name| ("index.html"), or nullptr.
const ui_asset* find_ui_asset(std::string_view name);

// The answer for a request under /_runmirror/ui, or nullopt when |req| is not for the UI (any
// other path, or an asset that does not exist; the caller answers 404 then):
//   /_runmirror/ui                 301 to /_runmirror/ui/ (so relative URLs in the page work)
//   /_runmirror/ui/ and /_runmirror/ui/index.html    index.html
//   /_runmirror/ui/<file>          that file of ui/
// GET and HEAD only (405 otherwise). Every answer carries Cache-Control: no-cache and its
// strong ETag; an If-None-Match that matches it gets 304 with no body.
std::optional<response> serve_ui(const request& req);

}  // namespace runmirror
