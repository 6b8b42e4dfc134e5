// Server-Sent Events from the event hub to one client. Waiting is a timer that the hub's
// notification cancels; it fires on its own only to send a keep-alive comment, which also
// notices a client that has gone.
#include "net/events_stream.hpp"

#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "net/session_io.hpp"

namespace runmirror::net {

namespace asio = boost::asio;

namespace {
constexpr auto events_keepalive = std::chrono::seconds(15);
}

asio::awaitable<void> stream_events(session_state& state, session_context& ctx,
                                    browse_viewer viewer) {
    auto& stream = state.stream;
    auto wake = std::make_shared<asio::steady_timer>(stream.get_executor());
    // A tenant's viewer exists only with a store (browse_viewer_of asks it for the grants).
    std::function<bool(const run_event&)> shows;
    if (viewer.tenant) {
        shows = [viewer = std::move(viewer), db = ctx.admin.db](const run_event& e) {
            try {
                return viewer.sees(*db, e.project_id);
            } catch (const std::exception&) {
                return false;  // the store cannot say: not shown
            }
        };
    }
    auto subscription = ctx.events.subscribe(
        [weak = std::weak_ptr(wake)] {
            if (auto timer = weak.lock()) {
                asio::post(timer->get_executor(), [timer] { timer->cancel(); });
            }
        },
        std::move(shows));
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "Connection: close\r\n\r\n: connected\n\n";
    state.waiter = wake.get();
    while (!ctx.stopping) {
        for (auto& frame : subscription->take())
            out += frame;
        if (!out.empty()) {
            state.idle = false;
            stream.expires_after(ctx.limits.write_timeout);
            auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
            if (ec) break;
            out.clear();
            continue;  // more may have arrived while writing
        }
        state.idle = true;
        wake->expires_after(events_keepalive);
        auto [ec] = co_await wake->async_wait(use_tuple);
        if (!stream.socket().is_open()) break;  // closed at shutdown
        if (!ec) out = ": keepalive\n\n";
    }
    state.waiter = nullptr;
}

}  // namespace runmirror::net
