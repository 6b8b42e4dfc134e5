#pragma once
// /_runmirror/events on every daemon sharing a store carries the status changes any of them
// saw: what this daemon publishes is told to the others (store::tell_peers), and what they
// publish is delivered to this daemon's subscribers.

#include <memory>

#include "runmirror/event_hub.hpp"
#include "runmirror/store.hpp"

namespace runmirror {

class peer_events final : private peer_follower {
  public:
    // Null when |db| has no other daemons to hear from (SQLite).
    static std::unique_ptr<peer_events> connect(store& db, event_hub& hub);

  private:
    explicit peer_events(event_hub& hub) : hub_(hub) {}
    void peer_changed(const store_change&) override {}
    void peer_feed(bool) override {}
    void peer_event(const run_event& event) override { hub_.deliver(event); }

    event_hub& hub_;
    std::unique_ptr<peer_subscription> subscription_;  // last: ends before hub_ may go
};

}  // namespace runmirror
