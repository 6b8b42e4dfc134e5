#include "util/tenant.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "util/trim.hpp"

namespace runmirror {

namespace {

constexpr std::string_view whitespace = " \t";

// Never a SHA-256 digest (those are 32 bytes), so never a tenant's input.
constexpr std::string_view secret_check_label = "runmirror: which tenant secret?";

// An installed secret, ready to use. OpenSSL looks an algorithm up in its provider tables
// whenever it is named (EVP_sha256(), HMAC()), which costs more than hashing a key: SHA-256
// and HMAC are fetched once here, and the HMAC context is keyed once and duplicated per use.
class keyed_hash {
  public:
    explicit keyed_hash(const tenant_secret& secret, std::uint64_t generation)
        : generation_(generation) {
        sha256_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (sha256_ == nullptr || mac == nullptr) {
            EVP_MAC_free(mac);
            throw std::runtime_error("OpenSSL offers no SHA-256 or HMAC");
        }
        keyed_ = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);  // the context keeps its own reference
        char digest_name[] = "SHA256";
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
            OSSL_PARAM_construct_end()};
        if (keyed_ == nullptr || EVP_MAC_init(keyed_, secret.data(), secret.size(), params) != 1) {
            throw std::runtime_error("HMAC-SHA-256 cannot be keyed");
        }
    }
    keyed_hash(const keyed_hash&) = delete;
    keyed_hash& operator=(const keyed_hash&) = delete;
    ~keyed_hash() {
        EVP_MAC_CTX_free(keyed_);
        EVP_MD_free(sha256_);
    }

    std::uint64_t generation() const { return generation_; }

    // SHA-256 of |bytes|.
    std::array<unsigned char, 32> digest(std::string_view bytes) const {
        std::array<unsigned char, 32> out{};
        unsigned int size = 0;
        if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, sha256_, nullptr) != 1 ||
            size != out.size()) {
            // Only fails when OpenSSL cannot allocate; there is no safe tenant to fall back to.
            throw std::runtime_error("SHA-256 failed");
        }
        return out;
    }

    // Lower-case hex HMAC-SHA-256(secret, |bytes|). EVP_MAC_CTX_dup reads the keyed context
    // only, so threads share it.
    std::string mac_hex(std::string_view bytes) const {
        std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_dup(keyed_),
                                                                      EVP_MAC_CTX_free);
        std::array<unsigned char, 32> out{};
        std::size_t size = 0;
        if (ctx == nullptr ||
            EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                           bytes.size()) != 1 ||
            EVP_MAC_final(ctx.get(), out.data(), &size, out.size()) != 1 || size != out.size()) {
            throw std::runtime_error("HMAC-SHA-256 failed");
        }
        return hex(out);
    }

  private:
    static std::string hex(const std::array<unsigned char, 32>& bytes) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        out.reserve(bytes.size() * 2);
        for (unsigned char b : bytes) {
            out += digits[b >> 4];
            out += digits[b & 0x0f];
        }
        return out;
    }

    std::uint64_t generation_;
    EVP_MD* sha256_ = nullptr;
    EVP_MAC_CTX* keyed_ = nullptr;
};

std::mutex install_mutex;
// Every secret ever installed, kept to the end of the process: a thread may still be using
// the one installed before (only tests install a second one).
std::vector<std::unique_ptr<keyed_hash>> installed_all;
std::atomic<const keyed_hash*> installed{nullptr};

const keyed_hash& current() {
    const keyed_hash* hash = installed.load(std::memory_order_acquire);
    if (hash == nullptr) {
        throw std::logic_error("no tenant secret installed (install_tenant_secret)");
    }
    return *hash;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

void install_tenant_secret(const tenant_secret& secret) {
    std::lock_guard lock(install_mutex);
    installed_all.push_back(std::make_unique<keyed_hash>(secret, installed_all.size() + 1));
    installed.store(installed_all.back().get(), std::memory_order_release);
}

void forget_tenant_secret() {
    installed.store(nullptr, std::memory_order_release);
}

bool tenant_secret_installed() {
    return installed.load(std::memory_order_acquire) != nullptr;
}

std::string tenant_of_key(std::string_view api_key) {
    const keyed_hash& hash = current();
    // On the hit path, where a client sends the same key with every request: the thread
    // remembers its last answer (keys stay in memory, as in the key ring).
    thread_local std::uint64_t last_generation = 0;
    thread_local std::string last_key;
    thread_local std::string last_tenant;
    if (last_generation == hash.generation() && api_key == last_key) return last_tenant;

    auto digest = hash.digest(api_key);
    std::string tenant =
        hash.mac_hex({reinterpret_cast<const char*>(digest.data()), digest.size()});
    OPENSSL_cleanse(digest.data(), digest.size());
    last_generation = hash.generation();
    last_key = api_key;
    last_tenant = tenant;
    return tenant;
}

std::optional<std::string> rekey_tenant(std::string_view old_tenant) {
    const keyed_hash& hash = current();
    if (old_tenant.size() != 64) return std::nullopt;
    std::array<char, 32> digest{};
    for (std::size_t i = 0; i < digest.size(); ++i) {
        const int high = hex_value(old_tenant[2 * i]);
        const int low = hex_value(old_tenant[2 * i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        digest[i] = static_cast<char>(high << 4 | low);
    }
    return hash.mac_hex({digest.data(), digest.size()});
}

std::string tenant_secret_check() {
    return current().mac_hex(secret_check_label);
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

const request_caller& caller_of(request& req) {
    if (!req.caller) {
        request_caller who;
        if (auto key = bearer_key(req.headers)) {
            who.key = std::string(*key);
            who.tenant = tenant_of_key(*key);
        }
        req.caller = std::move(who);
    }
    return *req.caller;
}

}  // namespace runmirror
