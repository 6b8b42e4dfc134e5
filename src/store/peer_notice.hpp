#pragma once
// What a daemon tells the others sharing a PostgreSQL store: the NOTIFY payload of a write
// (the changes a cache must take) or of a published event. Pure text in, text out, so that
// its round trip is tested without a server.
//
// The payload is a list of netstrings ("<length>:<bytes>,"), so that keys holding any byte
// (ids come from upstream) need no escaping of their own. NOTIFY takes text only: the bytes
// go as a text parameter (pg::params::text encodes them) and arrive encoded, which
// decode_notice undoes. PostgreSQL refuses payloads from 8000 bytes on; a write that changes
// more than fits is told as one `everything` change.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/store.hpp"

namespace runmirror {

struct peer_notice {
    std::string origin;  // the daemon that sent it: its own notices come back to it too
    std::vector<store_change> changes;
    std::optional<run_event> event;
};

constexpr std::size_t max_notice_payload = 7900;

// The bytes to send: at most max_notice_payload once sent as text.
std::string encode_notice(const peer_notice& notice);
// |payload| as a listener receives it. nullopt when it is not a notice of this format (another
// program's NOTIFY on the channel, or a newer daemon's): the caller then assumes anything
// changed.
std::optional<peer_notice> decode_notice(std::string_view payload);

}  // namespace runmirror
