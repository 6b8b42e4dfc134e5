#include "sync/peer_events.hpp"

namespace runmirror {

std::unique_ptr<peer_events> peer_events::connect(store& db, event_hub& hub) {
    std::unique_ptr<peer_events> events(new peer_events(hub));
    events->subscription_ = db.follow_peers(*events);
    if (!events->subscription_) return nullptr;
    hub.relay_to([&db](const run_event& e) { db.tell_peers(e); });
    return events;
}

}  // namespace runmirror
