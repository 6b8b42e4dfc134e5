#include "util/tenant.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

#include "util/trim.hpp"

namespace runmirror {

namespace {

constexpr std::string_view whitespace = " \t";

}  // namespace

std::string tenant_of_key(std::string_view api_key) {
    // On the hit path, where a client sends the same key with every request. EVP_Digest with
    // EVP_sha256() looks the algorithm up in OpenSSL's provider tables on every call, which
    // costs more than the hash: the thread remembers its last answer instead.
    thread_local std::string last_key;
    thread_local std::string last_tenant;
    if (!last_tenant.empty() && api_key == last_key) return last_tenant;

    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(api_key.data(), api_key.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
        1) {
        // Only fails when OpenSSL cannot allocate; there is no safe tenant to fall back to.
        throw std::runtime_error("SHA-256 failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned int i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0x0f];
    }
    last_key = api_key;
    last_tenant = out;
    return out;
}

std::optional<std::string_view> bearer_key(const header_list& headers) {
    // More than one Authorization field: we cannot know which one the upstream would honour,
    // so the request gets no tenant (it is forwarded, never served from the store).
    std::optional<std::string_view> value;
    for (const auto& field : headers) {
        if (!iequals(field.name, "authorization")) continue;
        if (value) return std::nullopt;
        value = field.value;
    }
    if (!value) return std::nullopt;

    // RFC 9110 section 11.4: credentials = auth-scheme [ 1*SP token68 ]; the scheme is
    // case-insensitive. Surrounding whitespace is tolerated, as clients add it.
    std::string_view credentials = trim(*value);
    auto space = credentials.find_first_of(whitespace);
    if (space == std::string_view::npos) return std::nullopt;  // a scheme without a key
    if (!iequals(credentials.substr(0, space), "bearer")) return std::nullopt;
    std::string_view key = trim(credentials.substr(space));
    if (key.empty()) return std::nullopt;
    return key;
}

std::optional<std::string> tenant_of(const header_list& headers) {
    auto key = bearer_key(headers);
    if (!key) return std::nullopt;
    return tenant_of_key(*key);
}

}  // namespace runmirror
