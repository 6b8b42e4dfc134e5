#pragma once
// Run status changes, published by whoever sees one (the run cache, the sync worker) and
// streamed to subscribers (/_runmirror/events as Server-Sent Events). Publishing never waits on
// a subscriber: each has a bounded queue, and one that falls behind loses its backlog and is
// told how many events it missed.
//
// Threading: every method may be called from any thread.

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runmirror/run_event.hpp"

namespace runmirror {

// One SSE frame: "event: run\ndata: {json}\n\n".
std::string to_sse(const run_event& e);

class event_hub {
  public:
    static constexpr std::size_t default_queue_limit = 1024;

    class subscription {
      public:
        // Frames queued since the last call, oldest first; after an overflow, the first frame
        // is an "event: dropped" notice with the count of lost events.
        std::vector<std::string> take();

      private:
        friend class event_hub;
        std::mutex mutex_;
        std::deque<std::string> frames_;
        std::size_t dropped_ = 0;
        std::function<void()> notify_;
        std::function<bool(const run_event&)> shows_;  // empty: every event
    };

    explicit event_hub(std::size_t queue_limit = default_queue_limit);

    // |notify| is called (from the publisher's thread, without locks held) whenever frames
    // become available; it should only schedule a call to take(). The subscription ends when
    // the returned pointer is released. With |shows|, only the events it returns true for are
    // queued (it runs on the publisher's thread, without the hub's lock held).
    std::shared_ptr<subscription> subscribe(std::function<void()> notify,
                                            std::function<bool(const run_event&)> shows = {});
    // To this daemon's subscribers, and to the relay if there is one.
    void publish(const run_event& e);
    // To this daemon's subscribers only: an event another daemon published.
    void deliver(const run_event& e);
    // Every event published from now on is also handed to |relay| (on the publisher's thread;
    // it must not block). Set once, before anything is published.
    void relay_to(std::function<void(const run_event&)> relay);
    std::size_t subscribers();

  private:
    const std::size_t queue_limit_;
    std::mutex mutex_;
    std::vector<std::weak_ptr<subscription>> subscribers_;
    std::function<void(const run_event&)> relay_;
};

}  // namespace runmirror
