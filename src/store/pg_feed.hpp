#pragma once
// What daemons sharing a PostgreSQL store tell each other (DESIGN.md "Beyond one machine"):
// every write that changes what a cache may hold NOTIFYs the channel inside its transaction
// (pg_store), so the notice goes out when, and only if, the write commits; events are sent on
// the same channel. A pg_feed LISTENs on a connection of its own, on a thread of its own, and
// tells its followers what the other daemons' notices say (its own come back too and are
// skipped by their origin).
//
// When the connection breaks, followers are told the feed is not live, and again when it is
// back: notices sent meanwhile are lost, so they must assume anything changed. The thread
// checks an idle connection every few seconds, so a server gone silent is noticed too.
//
// Events go out on the feed's connection, queued, so a publisher never waits on the server.

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "runmirror/store.hpp"

namespace runmirror {

class pg_feed {
  public:
    static constexpr const char* channel = "runmirror_changes";

    // |origin| names this daemon in the notices it sends (the store's claim owner).
    pg_feed(std::string conninfo, std::string display, std::string origin);
    ~pg_feed();
    pg_feed(const pg_feed&) = delete;
    pg_feed& operator=(const pg_feed&) = delete;

    // The first call starts the thread. |follower| must not call back into the feed.
    std::unique_ptr<peer_subscription> follow(peer_follower& follower);
    void send_event(const run_event& event);

  private:
    struct followers;
    class subscription;

    void start();
    void run();
    // Until |socket| or wake_ has input, or |timeout_ms| passed (then false).
    bool wait_for_input(int socket, int timeout_ms);
    void pause(int ms);  // unless stopping
    void set_live(bool live);
    void tell(std::string_view payload);

    const std::string conninfo_;
    const std::string display_;
    const std::string origin_;
    const std::shared_ptr<followers> followers_;

    std::mutex mutex_;  // guards what follows
    std::deque<std::string> outgoing_;
    bool stopping_ = false;
    bool started_ = false;

    int wake_fd_ = -1;  // an eventfd: written to stop the thread or to send an event
    std::thread thread_;
};

}  // namespace runmirror
