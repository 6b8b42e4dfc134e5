#pragma once
// A body kept in an anonymous memory file (Linux memfd) instead of on the heap, sealed so that
// it can never change: a socket can take it with sendfile(2), which hands the kernel's pages
// to TCP instead of copying the bytes from user space, as a web server does with files.
// Large cached answers (list pages of a few hundred KB) are sent this way, and upstream
// answers too large to store (body_file_writer), from an unlinked file on disk.
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
    friend class body_file_writer;
    body_file(int fd, std::size_t size) : fd_(fd), size_(size) {}
    int fd_;
    std::size_t size_;
};

// Writes a body to an unlinked file in a directory as it arrives, so that memory stays bounded
// by the caller's read buffer whatever the body's size; finish() hands it out as a body_file.
// Not thread-safe; the body_file it makes is.
class body_file_writer {
  public:
    // A writer to a new unlinked file in |dir|, or null with |error| set.
    static std::unique_ptr<body_file_writer> open(const std::string& dir, std::string& error);

    body_file_writer(const body_file_writer&) = delete;
    body_file_writer& operator=(const body_file_writer&) = delete;
    ~body_file_writer();

    // False (with errno's reason in error()) when the bytes could not all be written.
    bool append(std::string_view bytes);
    std::size_t size() const { return size_; }
    const std::string& error() const { return error_; }
    // The file, read-only from now on; the writer is spent.
    std::shared_ptr<const body_file> finish();

  private:
    explicit body_file_writer(int fd) : fd_(fd) {}
    int fd_;
    std::size_t size_ = 0;
    std::string error_;
};

}  // namespace runmirror
