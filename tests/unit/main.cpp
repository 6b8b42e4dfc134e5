#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support/tenant_fixtures.hpp"

// Tenants are keyed with a secret installed at start (util/tenant.hpp), as every command does.
int main(int argc, char** argv) {
    runmirror::install_tenant_secret(runmirror::testing::test_tenant_secret());
    return doctest::Context(argc, argv).run();
}
