#pragma once
// The per-install secret tenants are keyed with (util/tenant.hpp): 32 random bytes in a file of
// their own, outside the store, mode 0600, created on first start. By default it sits beside
// the store, named after it ("runmirror.db" -> "runmirror.tenant-secret"), so it is found
// without configuration, yet neither the db file nor a copy of "runmirror.db*" (the db with its
// WAL) carries it.

#include <optional>
#include <stdexcept>
#include <string>

#include "util/tenant.hpp"

namespace runmirror {

// What is wrong with a secret file, in one line naming the file and what to do.
struct tenant_secret_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The secret file of the store at |db_path| when none is configured: the db path with its
// extension replaced by ".tenant-secret". Empty for ":memory:" (nothing at rest to protect).
std::string default_tenant_secret_path(const std::string& db_path);

// Reads the secret at |path|; nullopt when there is no file. Throws tenant_secret_error when
// it cannot be read, is not a regular file of exactly 32 bytes, or its mode lets group or
// others read or write it.
std::optional<tenant_secret> read_tenant_secret(const std::string& path);

// Reads the secret at |path|, creating it first when there is none: 32 bytes from the
// system's random source, written to a temporary file (O_EXCL, 0600) that is synced and then
// linked into place, so a crash leaves no partial secret and two processes starting at once
// end up with the same one. Throws tenant_secret_error as read_tenant_secret does, or when the
// file cannot be created.
tenant_secret load_or_create_tenant_secret(const std::string& path);

// 32 bytes from OpenSSL's RAND_bytes. Throws tenant_secret_error when it has none.
tenant_secret random_tenant_secret();

enum class secret_use {
    create,    // serve, mirror: create the file when it is missing
    existing,  // runs, watches (which only read the store): use it if it is there
};

// For a command about to open the store at |db_path|: installs its secret (install_tenant_secret)
// from |secret_path|, or default_tenant_secret_path(db_path) when that is empty. For ":memory:"
// without a configured file, a random secret that is never written. With secret_use::existing
// a missing file installs nothing: opening a store whose tenants need converting then fails
// with a message saying so. Returns the file used ("" when none). Throws tenant_secret_error.
std::string install_store_tenant_secret(const std::string& db_path, const std::string& secret_path,
                                        secret_use use);

}  // namespace runmirror
