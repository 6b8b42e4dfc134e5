// The registry only finds sessions; what is done to one runs on that session's executor
// (its strand), the only place its state may be touched.
#include "net/session_registry.hpp"

#include <boost/asio/post.hpp>

#include "net/session_state.hpp"

namespace runmirror::net {

std::uint64_t session_registry::add(std::weak_ptr<session_state> session) {
    std::lock_guard lock(mutex_);
    sessions_.emplace(++next_id_, std::move(session));
    return next_id_;
}

void session_registry::remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
}

std::size_t session_registry::size() {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

void session_registry::close_idle() {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
        auto s = weak.lock();
        if (!s) continue;
        boost::asio::post(s->stream.get_executor(), [s] {
            if (!s->idle) return;
            s->stream.close();
            if (s->waiter) s->waiter->cancel();
        });
    }
}

void session_registry::cut_slow_heads(millis max_wait) {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
        auto s = weak.lock();
        if (!s) continue;
        boost::asio::post(s->stream.get_executor(), [s, max_wait] {
            const auto since = s->head_wait_since;
            if (since == std::chrono::steady_clock::time_point{}) return;
            // The pending header read ends with operation_aborted and the session closes.
            if (std::chrono::steady_clock::now() - since >= max_wait) s->stream.cancel();
        });
    }
}

}  // namespace runmirror::net
