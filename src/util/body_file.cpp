#include "runmirror/body_file.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

namespace runmirror {

std::shared_ptr<const body_file> body_file::copy_of(std::string_view bytes) {
    const int fd = ::memfd_create("runmirror-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return nullptr;
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            return nullptr;
        }
        written += static_cast<std::size_t>(n);
    }
    // Sealed, the size and bytes that a sendfile in progress relies on cannot change.
    if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        ::close(fd);
        return nullptr;
    }
    return std::shared_ptr<const body_file>(new body_file(fd, bytes.size()));
}

body_file::~body_file() {
    ::close(fd_);
}

std::string body_file::read() const {
    std::string out(size_, '\0');
    std::size_t done = 0;
    while (done < size_) {
        const ssize_t n = ::pread(fd_, out.data() + done, size_ - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        // Sealed and private: a short read means the kernel lost the file, not a race.
        if (n <= 0) throw std::runtime_error("body_file: cannot read back a sealed body");
        done += static_cast<std::size_t>(n);
    }
    return out;
}

std::unique_ptr<body_file_writer> body_file_writer::open(const std::string& dir,
                                                         std::string& error) {
    const std::string where = dir.empty() ? std::string(".") : dir;
    // Unlinked from the start: nothing is left behind if the daemon dies mid-body.
    int fd = ::open(where.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        // A file system without O_TMPFILE: a named file, unlinked at once.
        std::string name = where + "/.runmirror-body-XXXXXX";
        fd = ::mkostemp(name.data(), O_CLOEXEC);
        if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) {
        error = "cannot create a file in " + where + ": " + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<body_file_writer>(new body_file_writer(fd));
}

body_file_writer::~body_file_writer() {
    if (fd_ >= 0) ::close(fd_);
}

bool body_file_writer::append(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error_ = n < 0 ? std::strerror(errno) : "no space written";
            return false;
        }
        size_ += static_cast<std::size_t>(n);
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::shared_ptr<const body_file> body_file_writer::finish() {
    const int fd = fd_;
    fd_ = -1;
    return std::shared_ptr<const body_file>(new body_file(fd, size_));
}

}  // namespace runmirror
