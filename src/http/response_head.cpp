#include "http/response_head.hpp"

#include <array>
#include <charconv>
#include <string_view>

namespace runmirror {

namespace {

// The reason phrase is informative only (RFC 9112 section 4); these are the codes the daemon
// and LlamaCloud use, anything else goes out with an empty one.
std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "";
    }
}

bool is_framing(std::string_view name) {
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
           iequals(name, "connection") || iequals(name, "keep-alive");
}

void append_number(std::string& out, std::size_t n) {
    std::array<char, 24> digits;
    auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n);
    out.append(digits.data(), end);
}

}  // namespace

bool status_has_body(int status) {
    return !(status / 100 == 1 || status == 204 || status == 304);
}

std::string response_head(const response& r, bool keep_alive) {
    std::string out;
    out.reserve(256);
    out += "HTTP/1.1 ";
    append_number(out, static_cast<std::size_t>(r.status));
    out += ' ';
    out += reason_phrase(r.status);
    out += "\r\n";
    for (const auto& f : r.headers) {
        if (is_framing(f.name)) continue;
        out += f.name;
        out += ": ";
        out += f.value;
        out += "\r\n";
    }
    if (status_has_body(r.status)) {
        out += "Content-Length: ";
        append_number(out, r.body_size());
        out += "\r\n";
    }
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    return out;
}

}  // namespace runmirror
