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

}  // namespace runmirror
