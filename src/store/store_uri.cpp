#include <string>
#include <string_view>

#include "runmirror/store.hpp"

namespace runmirror {

bool is_postgres_uri(std::string_view db) {
    return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

std::string store_display_name(std::string_view db) {
    if (!is_postgres_uri(db)) return std::string(db);
    std::string out(db);
    // postgresql://user:password@host/...: the password is between the first ':' of the user
    // info and the '@' that ends it (an '@' after the first '/' is not user info).
    const std::size_t start = out.find("://") + 3;
    const std::size_t at = out.find('@', start);
    const std::size_t slash = out.find('/', start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
        const std::size_t colon = out.find(':', start);
        if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    // ...?password=...&...: libpq takes it as a parameter too.
    for (std::size_t p = out.find("password="); p != std::string::npos;
         p = out.find("password=", p + 1)) {
        if (p == 0 || (out[p - 1] != '?' && out[p - 1] != '&')) continue;
        const std::size_t value = p + 9;
        const std::size_t end = out.find('&', value);
        out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
    }
    return out;
}

}  // namespace runmirror
