#include "http/json_error.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "util/utf8.hpp"

namespace runmirror {

std::string json_quote(std::string_view s) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    // Details quote what clients and the upstream sent, which need not be UTF-8.
    const std::string text = valid_utf8(s);
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return std::string(buffer.GetString(), buffer.GetSize());
}

response json_error(int status, std::string_view detail) {
    response r;
    r.status = status;
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = "{\"detail\":" + json_quote(detail) + "}";
    return r;
}

int status_for_upstream_failure(errc code) {
    switch (code) {
        case errc::timeout:
            return 504;
        case errc::offline:
        case errc::unavailable:
            return 503;
        default:
            return 502;
    }
}

}  // namespace runmirror
