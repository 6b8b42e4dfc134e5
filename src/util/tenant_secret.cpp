#include "util/tenant_secret.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace runmirror {

namespace {

std::string in_quotes(const std::string& path) {
    return "'" + path + "'";
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

tenant_secret_error failure(const std::string& path, const std::string& what) {
    return tenant_secret_error("tenant secret " + in_quotes(path) + " " + what);
}

class file_descriptor {
  public:
    explicit file_descriptor(int fd) : fd_(fd) {}
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

bool write_all(int fd, const unsigned char* data, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// So that the new name survives a crash as well as the bytes do.
void sync_directory_of(const std::string& path) {
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    file_descriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() >= 0) ::fsync(fd.get());
}

// Creates |path| holding |secret| unless a file is there already (then leaves it alone).
void create_secret_file(const std::string& path, const tenant_secret& secret) {
    // A temporary name of its own: processes in other pid namespaces sharing the directory
    // may have the same pid.
    tenant_secret suffix = random_tenant_secret();
    std::string temporary = path + ".tmp-";
    for (std::size_t i = 0; i < 8; ++i) {
        static constexpr char digits[] = "0123456789abcdef";
        temporary += digits[suffix[i] >> 4];
        temporary += digits[suffix[i] & 0x0f];
    }
    const int raw =
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    file_descriptor fd(raw);
    if (fd.get() < 0) {
        throw failure(path,
                      "cannot be created: " + in_quotes(temporary) + ": " + std::strerror(errno));
    }
    // The umask may only have taken bits away; say 0600 outright so the owner can read it.
    const bool written = ::fchmod(fd.get(), 0600) == 0 &&
                         write_all(fd.get(), secret.data(), secret.size()) &&
                         ::fsync(fd.get()) == 0 && ::close(fd.release()) == 0;
    if (!written) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw failure(path, "cannot be created: " + std::string(std::strerror(error)));
    }
    // link() never replaces: when another process created the secret meanwhile, its file
    // stays, and both use it. File systems without hard links get a rename, which would.
    int error = 0;
    if (::link(temporary.c_str(), path.c_str()) != 0) {
        error = errno;
        if (error == EPERM || error == EOPNOTSUPP || error == ENOSYS) {
            error = ::rename(temporary.c_str(), path.c_str()) == 0 ? 0 : errno;
        }
    }
    ::unlink(temporary.c_str());
    if (error != 0 && error != EEXIST) {
        throw failure(path, "cannot be created: " + std::string(std::strerror(error)));
    }
    sync_directory_of(path);
}

}  // namespace

std::string default_tenant_secret_path(const std::string& db_path) {
    if (db_path.empty() || db_path == ":memory:") return {};
    std::filesystem::path secret(db_path);
    secret.replace_extension(".tenant-secret");
    if (secret == std::filesystem::path(db_path)) return db_path + ".tenant-secret";
    return secret.string();
}

std::optional<tenant_secret> read_tenant_secret(const std::string& path) {
    file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw failure(path, "cannot be read: " + std::string(std::strerror(errno)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw failure(path, "cannot be read: " + std::string(std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) throw failure(path, "is not a regular file");
    if ((st.st_mode & 077) != 0) {
        throw failure(path, "is open to group or others (mode " + mode_text(st.st_mode) +
                                "): chmod 600 " + in_quotes(path));
    }
    if (st.st_size != static_cast<off_t>(tenant_secret_size)) {
        throw failure(path, "holds " + std::to_string(st.st_size) + " bytes, not " +
                                std::to_string(tenant_secret_size) +
                                ": restore the file the store's tenants were made with");
    }
    tenant_secret secret{};
    std::size_t done = 0;
    while (done < secret.size()) {
        const ssize_t n = ::read(fd.get(), secret.data() + done, secret.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw failure(path, "cannot be read: " + std::string(std::strerror(errno)));
        if (n == 0) throw failure(path, "changed while being read");
        done += static_cast<std::size_t>(n);
    }
    return secret;
}

tenant_secret load_or_create_tenant_secret(const std::string& path) {
    if (auto existing = read_tenant_secret(path)) return *existing;
    tenant_secret fresh = random_tenant_secret();
    create_secret_file(path, fresh);
    OPENSSL_cleanse(fresh.data(), fresh.size());
    // What is there now: ours, or the one another process linked first.
    if (auto created = read_tenant_secret(path)) return *created;
    throw failure(path, "vanished right after it was created");
}

tenant_secret random_tenant_secret() {
    tenant_secret secret{};
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
        throw tenant_secret_error("tenant secret: no random bytes from OpenSSL");
    }
    return secret;
}

std::string install_store_tenant_secret(const std::string& db_path, const std::string& secret_path,
                                        secret_use use) {
    const std::string file =
        secret_path.empty() ? default_tenant_secret_path(db_path) : secret_path;
    if (file.empty()) {  // an in-memory store: its tenants die with the process
        tenant_secret secret = random_tenant_secret();
        install_tenant_secret(secret);
        OPENSSL_cleanse(secret.data(), secret.size());
        return {};
    }
    std::optional<tenant_secret> secret =
        use == secret_use::create ? load_or_create_tenant_secret(file) : read_tenant_secret(file);
    if (!secret) return {};
    install_tenant_secret(*secret);
    OPENSSL_cleanse(secret->data(), secret->size());
    return file;
}

}  // namespace runmirror
