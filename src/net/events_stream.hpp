#pragma once
// Private to src/net: GET /_runmirror/events, Server-Sent Events on a client connection.

#include <boost/asio/awaitable.hpp>

#include "net/http_session.hpp"
#include "net/session_state.hpp"

namespace runmirror::net {

// Streams events to the client of |state| until the client or the server goes away. The body
// is delimited by the connection's end, so nothing else is read from this client afterwards.
// Only the events |viewer| may see are sent.
boost::asio::awaitable<void> stream_events(session_state& state, session_context& ctx,
                                           browse_viewer viewer);

}  // namespace runmirror::net
