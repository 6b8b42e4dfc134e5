#pragma once
// Private to src/net: the buffered upstream client behind the `upstream` interface.

#include <memory>

#include "net/upstream_pool.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror::net {

// Exchanges run on the pool's connections' executors on their own, so a client that goes away
// does not cancel a fetch others may share. |pool| must outlive the client, and the client
// every exchange it started (the daemon stops its io_context before destroying either).
std::unique_ptr<upstream> make_upstream_client(upstream_pool& pool, const limits_options& limits);

}  // namespace runmirror::net
