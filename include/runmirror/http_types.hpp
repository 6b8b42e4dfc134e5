#pragma once
// The HTTP vocabulary that crosses module boundaries. Beast stays inside src/net/; every other
// module speaks these plain value types, so it can be unit-tested without sockets.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/body_file.hpp"

namespace runmirror {

struct header_field {
    std::string name;  // as received; compared case-insensitively
    std::string value;
};

using header_list = std::vector<header_field>;

// First value of header |name| (case-insensitive), or nullopt.
std::optional<std::string_view> find_header(const header_list& headers, std::string_view name);
// Replaces every field named |name| with one field, or appends it.
void set_header(header_list& headers, std::string_view name, std::string value);
void erase_header(header_list& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

// Who sends a request: its single "Authorization: Bearer" key and that key's tenant
// (util/tenant.hpp), both empty when it has none.
struct request_caller {
    std::string key;
    std::string tenant;
};

struct request {
    std::string method;  // "GET", "DELETE", ...
    std::string target;  // origin-form: path plus optional "?query"
    header_list headers;
    std::string body;
    // Worked out once by caller_of (util/tenant.hpp): the session and the run cache both need
    // it, on the hit path. Unset until then.
    std::optional<request_caller> caller;

    std::optional<std::string_view> header(std::string_view name) const {
        return find_header(headers, name);
    }
    std::string_view path() const;   // target without the query
    std::string_view query() const;  // after '?', without it; empty when none
};

struct response {
    int status = 200;
    header_list headers;
    std::string body;
    // Set instead of |body| when the bytes are shared with the store's memory (hits): they are
    // written to the client from there, never copied.
    std::shared_ptr<const std::string> shared_body;
    // Set instead of both when the bytes are in a sealed memory file (large cached pages): the
    // session sends them with sendfile. body_bytes() is empty then; body_size() is not.
    std::shared_ptr<const body_file> file_body;
    // How long the upstream exchange behind this answer took; < 0: there was none (for the
    // request log, never sent).
    double upstream_seconds = -1;

    // The bytes held in memory (|shared_body| or |body|).
    std::string_view body_bytes() const {
        return shared_body ? std::string_view(*shared_body) : std::string_view(body);
    }
    std::size_t body_size() const { return file_body ? file_body->size() : body_bytes().size(); }
    // The bytes wherever they are, as a copy: for tests and logs, not the hit path.
    std::string body_text() const {
        return file_body ? file_body->read() : std::string(body_bytes());
    }

    std::optional<std::string_view> header(std::string_view name) const {
        return find_header(headers, name);
    }
};

}  // namespace runmirror
