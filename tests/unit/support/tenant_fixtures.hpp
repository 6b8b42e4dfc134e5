#pragma once
// The tenant secret of the unit tests (installed by main.cpp) and a scope that installs
// another one, putting the tests' own back when it ends.

#include "util/tenant.hpp"

namespace runmirror::testing {

// Bytes 0, 1, ..., 31: fixed, so expected tenants can be computed elsewhere (Python's hmac).
inline tenant_secret test_tenant_secret() {
    tenant_secret secret{};
    for (std::size_t i = 0; i < secret.size(); ++i)
        secret[i] = static_cast<unsigned char>(i);
    return secret;
}

class scoped_tenant_secret {
  public:
    explicit scoped_tenant_secret(const tenant_secret& secret) { install_tenant_secret(secret); }
    // None at all: what a command that only reads a store has before serve created a secret.
    scoped_tenant_secret() { forget_tenant_secret(); }
    scoped_tenant_secret(const scoped_tenant_secret&) = delete;
    scoped_tenant_secret& operator=(const scoped_tenant_secret&) = delete;
    ~scoped_tenant_secret() { install_tenant_secret(test_tenant_secret()); }
};

}  // namespace runmirror::testing
