#pragma once
// Tenants: a keyed hash of a bearer key, HMAC-SHA-256(secret, SHA-256(key)) in lower-case hex,
// with a per-install secret kept outside the store (util/tenant_secret). The key itself never
// leaves memory (not in the store, not in logs); only its tenant does, and without the secret
// a tenant confirms no guessed or leaked key.
//
// The key is hashed before it is keyed so that a store written when a tenant was the bare
// SHA-256 of the key (schema before 009) can be converted without the keys: the new tenant is
// the HMAC of the old digest (rekey_tenant).

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "runmirror/http_types.hpp"

namespace runmirror {

inline constexpr std::size_t tenant_secret_size = 32;
using tenant_secret = std::array<unsigned char, tenant_secret_size>;

// Makes |secret| the key of every tenant this process computes from now on. Called once at
// start, before any thread computes a tenant (serve, mirror, runs, watches; the unit tests'
// main and the few tests that need another secret).
void install_tenant_secret(const tenant_secret& secret);
// Installs none: tenant_of_key throws until the next install_tenant_secret. For tests.
void forget_tenant_secret();
// Whether a secret is installed (commands that only read a store may run without one).
bool tenant_secret_installed();

// The tenant of |api_key|: lower-case hex of HMAC-SHA-256(secret, SHA-256(api_key)). Throws
// std::logic_error when no secret is installed: a tenant keyed with nothing would not match
// the store's.
std::string tenant_of_key(std::string_view api_key);

// The tenant for a pre-009 tenant, the lower-case hex SHA-256 of a key: what tenant_of_key
// gives for that key. nullopt when |old_tenant| is not 64 hex digits. Throws std::logic_error
// when no secret is installed.
std::optional<std::string> rekey_tenant(std::string_view old_tenant);

// A value that tells secrets apart and says nothing about any key (the HMAC of a fixed label),
// kept in the store to notice it being opened with another secret than its tenants were made
// with. Throws std::logic_error when no secret is installed.
std::string tenant_secret_check();

// The key of a request's single "Authorization: Bearer <key>" header; nullopt when there is
// none, several, or another scheme. The view points into |headers|.
std::optional<std::string_view> bearer_key(const header_list& headers);

// The tenant of a request's "Authorization: Bearer <key>" header; nullopt when there is none
// (or it is not a bearer credential): such requests are never served from the store.
std::optional<std::string> tenant_of(const header_list& headers);

// |req|'s caller, computed on first use and kept in |req.caller|.
const request_caller& caller_of(request& req);

}  // namespace runmirror
