#pragma once
// Private to src/net: the open client sessions, so that the server can close idle ones at
// shutdown and cut slow ones under connection pressure. Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "runmirror/clock.hpp"

namespace runmirror::net {

struct session_state;

class session_registry {
  public:
    std::uint64_t add(std::weak_ptr<session_state> session);
    void remove(std::uint64_t id);
    std::size_t size();

    // Closes every session that waits for a request (or for events).
    void close_idle();
    // Ends every session that has waited |max_wait| or longer for a complete request head:
    // idle keep-alive connections and slow senders, never one with a request in progress.
    void cut_slow_heads(millis max_wait);

  private:
    std::mutex mutex_;
    std::uint64_t next_id_ = 0;
    std::map<std::uint64_t, std::weak_ptr<session_state>> sessions_;
};

}  // namespace runmirror::net
