#pragma once
// An upstream client with its own I/O thread, for commands other than the daemon (mirror).
// No Beast here: the implementation lives in net/upstream_client.cpp.

#include <memory>

#include "runmirror/options.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror::net {

// The returned upstream owns its io_context, connection pool and thread; destroying it stops
// them (after in-flight exchanges complete or fail). Throws std::runtime_error or
// std::invalid_argument on a bad URL or CA file.
std::unique_ptr<upstream> make_standalone_upstream(const upstream_options& upstream,
                                                   const limits_options& limits);

// Sends |req| and waits for the reply.
upstream_reply send_and_wait(upstream& up, request req);

}  // namespace runmirror::net
