#pragma once
// A body kept in an anonymous memory file (Linux memfd) instead of on the heap, sealed so that
// it can never change: a socket can take it with sendfile(2), which hands the kernel's pages
// to TCP instead of copying the bytes from user space, as a web server does with files.
// Large cached answers (list pages of a few hundred KB) are sent this way.
//
// Threading: immutable once made; any thread may read it or send it.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace runmirror {

class body_file {
  public:
    // A sealed copy of |bytes|, or null when the kernel refuses one (no memfd support, out of
    // descriptors or memory): the caller keeps the bytes in memory instead.
    static std::shared_ptr<const body_file> copy_of(std::string_view bytes);

    body_file(const body_file&) = delete;
    body_file& operator=(const body_file&) = delete;
    ~body_file();

    int fd() const { return fd_; }
    std::size_t size() const { return size_; }
    // The bytes, read back (for the callers that need them in memory, not the hit path).
    std::string read() const;

  private:
    body_file(int fd, std::size_t size) : fd_(fd), size_(size) {}
    int fd_;
    std::size_t size_;
};

}  // namespace runmirror
