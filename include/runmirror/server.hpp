#pragma once
// The daemon's network side: listener, client sessions, upstream client and pass-through.
// make_server wires them to the store; run() blocks until the server has stopped.

#include <memory>
#include <string>

#include "runmirror/options.hpp"
#include "runmirror/store.hpp"

namespace runmirror {

class server {
  public:
    virtual ~server() = default;

    // Binds, starts the worker threads and blocks until stop() or SIGINT/SIGTERM, then drains:
    // stops accepting, lets in-flight requests finish up to limits.shutdown_grace, closes idle
    // connections. Returns 0 on a clean stop. Throws std::runtime_error when it cannot bind
    // (the message names the address). Called at most once.
    virtual int run() = 0;
    // Thread-safe; may be called before, during or after run().
    virtual void stop() = 0;
};

// |db| must outlive the server.
std::unique_ptr<server> make_server(const serve_options& options, store& db);

// A socket bound and listening on |listen| before the daemon opens (or creates) its store, so
// that a daemon that cannot listen (the port in use) leaves no store and no secret behind.
// Throws std::runtime_error naming the address when it cannot bind. Closed when dropped, unless
// a server adopted it.
class listening_socket {
  public:
    explicit listening_socket(const listen_options& listen);
    ~listening_socket();
    listening_socket(listening_socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    listening_socket& operator=(listening_socket&&) = delete;
    listening_socket(const listening_socket&) = delete;
    listening_socket& operator=(const listening_socket&) = delete;

    // The socket, now the caller's to close.
    int release() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

  private:
    int fd_ = -1;
};

// As above, listening on |listener| (bound to options.listen) rather than binding in run().
std::unique_ptr<server> make_server(const serve_options& options, store& db,
                                    listening_socket listener);

}  // namespace runmirror
