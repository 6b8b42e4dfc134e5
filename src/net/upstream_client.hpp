#pragma once
// Private to src/net: the buffered upstream client behind the `upstream` interface.

#include <memory>

#include <boost/asio/io_context.hpp>

#include "net/upstream_pool.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror::net {

// Exchanges run on |ioc| on their own, so a client that goes away does not cancel a fetch
// others may share. |pool| must outlive the client.
std::unique_ptr<upstream> make_upstream_client(asio::io_context& ioc, upstream_pool& pool,
                                               const limits_options& limits);

}  // namespace runmirror::net
