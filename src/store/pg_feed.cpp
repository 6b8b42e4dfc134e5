#include "store/pg_feed.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "store/peer_notice.hpp"
#include "store/pg_db.hpp"
#include "util/logging.hpp"

namespace runmirror {
namespace {

// Idle this long, the connection is checked with a query.
constexpr int idle_check_ms = 5000;
// Events waiting to be sent past this are dropped: the server is gone or far behind.
constexpr std::size_t max_outgoing = 10000;
constexpr int first_retry_ms = 100;
constexpr int last_retry_ms = 5000;

}  // namespace

// Shared with the subscriptions, so that one outliving the feed still finds its lock.
struct pg_feed::followers {
    std::mutex mutex;  // held while a follower is told: a subscription's end waits for it
    std::vector<peer_follower*> list;
    bool live = false;
};

class pg_feed::subscription final : public peer_subscription {
  public:
    subscription(std::shared_ptr<followers> all, peer_follower& one)
        : all_(std::move(all)), one_(one) {}
    ~subscription() override {
        std::lock_guard lock(all_->mutex);
        std::erase(all_->list, &one_);
    }

  private:
    std::shared_ptr<followers> all_;
    peer_follower& one_;
};

pg_feed::pg_feed(std::string conninfo, std::string display, std::string origin)
    : conninfo_(std::move(conninfo)),
      display_(std::move(display)),
      origin_(std::move(origin)),
      followers_(std::make_shared<followers>()) {}

pg_feed::~pg_feed() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    if (thread_.joinable()) {
        const std::uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
        thread_.join();
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::unique_ptr<peer_subscription> pg_feed::follow(peer_follower& follower) {
    start();
    std::lock_guard lock(followers_->mutex);
    followers_->list.push_back(&follower);
    if (followers_->live) follower.peer_feed(true);
    return std::make_unique<subscription>(followers_, follower);
}

void pg_feed::send_event(const run_event& event) {
    start();
    std::string payload = encode_notice({.origin = origin_, .changes = {}, .event = event});
    {
        std::lock_guard lock(mutex_);
        if (outgoing_.size() >= max_outgoing) return;
        outgoing_.push_back(std::move(payload));
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

void pg_feed::start() {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw store_error("store '" + display_ + "': eventfd failed");
    thread_ = std::thread([this] { run(); });
}

void pg_feed::run() {
    std::unique_ptr<pg::connection> db;
    int retry_ms = first_retry_ms;
    std::string down_why;  // logged once per outage
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) break;
        }
        if (!db) {
            try {
                db = std::make_unique<pg::connection>(conninfo_, display_);
                db->exec(std::string("LISTEN ") + channel);
                if (!down_why.empty()) log::info("store {}: listening again", display_);
                down_why.clear();
                retry_ms = first_retry_ms;
                set_live(true);
            } catch (const store_error& e) {
                db.reset();
                if (down_why.empty()) {
                    down_why = e.what();
                    log::warn("{}: other daemons' writes are noticed late until it is back",
                              down_why);
                }
                pause(retry_ms);
                retry_ms = std::min(retry_ms * 2, last_retry_ms);
                continue;
            }
        }
        try {
            std::deque<std::string> sending;
            {
                std::lock_guard lock(mutex_);
                sending.swap(outgoing_);
            }
            for (const std::string& payload : sending) {
                db->prepared("notify", "SELECT pg_notify($1, $2)",
                             pg::params().text(channel).text(payload));
            }
            // Quiet for a while: a query proves the server still answers.
            if (!wait_for_input(db->socket(), idle_check_ms)) db->exec("SELECT 1");
            for (const std::string& payload : db->notifications(channel))
                tell(payload);
        } catch (const store_error& e) {
            db.reset();
            set_live(false);
            down_why = e.what();
            log::warn("{}: other daemons' writes are noticed late until it is back", down_why);
        }
    }
}

bool pg_feed::wait_for_input(int socket, int timeout_ms) {
    pollfd fds[2] = {{socket, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) throw store_error("store '" + display_ + "': poll failed");
    if (n > 0 && (fds[1].revents & POLLIN)) {
        std::uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof count);
    }
    return n != 0;
}

void pg_feed::pause(int ms) {
    pollfd fd{wake_fd_, POLLIN, 0};
    if (::poll(&fd, 1, ms) > 0) {
        std::uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof count);
    }
}

void pg_feed::set_live(bool live) {
    std::lock_guard lock(followers_->mutex);
    if (followers_->live == live) return;
    followers_->live = live;
    for (peer_follower* f : followers_->list)
        f->peer_feed(live);
}

void pg_feed::tell(std::string_view payload) {
    std::optional<peer_notice> notice = decode_notice(payload);
    if (notice && notice->origin == origin_) return;
    if (!notice) {
        // Not one this build reads: what it changed is unknown.
        notice.emplace();
        notice->changes.push_back(store_change{});
    }
    std::lock_guard lock(followers_->mutex);
    for (peer_follower* f : followers_->list) {
        for (const store_change& c : notice->changes)
            f->peer_changed(c);
        if (notice->event) f->peer_event(*notice->event);
    }
}

}  // namespace runmirror
