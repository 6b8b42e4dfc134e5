#include "runmirror/event_hub.hpp"

#include <algorithm>

#include "http/json_error.hpp"
#include "util/iso_time.hpp"

namespace runmirror {

std::string to_sse(const run_event& e) {
    return "event: run\ndata: {\"run_id\":" + json_quote(e.run_id) +
           ",\"kind\":" + json_quote(e.kind->name) + ",\"job_id\":" + json_quote(e.job_id) +
           ",\"extraction_agent_id\":" + json_quote(e.extraction_agent_id) +
           ",\"old_status\":" + json_quote(e.old_status) +
           ",\"new_status\":" + json_quote(e.new_status) + ",\"at\":\"" + iso_utc(e.at) + "\"}\n\n";
}

std::vector<std::string> event_hub::subscription::take() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    out.reserve(frames_.size() + 1);
    if (dropped_ > 0) {
        out.push_back("event: dropped\ndata: {\"dropped\":" + std::to_string(dropped_) + "}\n\n");
        dropped_ = 0;
    }
    for (auto& f : frames_)
        out.push_back(std::move(f));
    frames_.clear();
    return out;
}

event_hub::event_hub(std::size_t queue_limit)
    : queue_limit_(std::max<std::size_t>(1, queue_limit)) {}

std::shared_ptr<event_hub::subscription> event_hub::subscribe(
    std::function<void()> notify, std::function<bool(const run_event&)> shows) {
    auto s = std::make_shared<subscription>();
    s->notify_ = std::move(notify);
    s->shows_ = std::move(shows);
    std::lock_guard lock(mutex_);
    subscribers_.push_back(s);
    return s;
}

void event_hub::publish(const run_event& e) {
    deliver(e);
    if (relay_) relay_(e);
}

void event_hub::relay_to(std::function<void(const run_event&)> relay) {
    relay_ = std::move(relay);
}

void event_hub::deliver(const run_event& e) {
    const std::string frame = to_sse(e);
    std::vector<std::shared_ptr<subscription>> live;
    {
        std::lock_guard lock(mutex_);
        std::erase_if(subscribers_, [](const auto& w) { return w.expired(); });
        for (auto& w : subscribers_) {
            if (auto s = w.lock()) live.push_back(std::move(s));
        }
    }
    for (auto& s : live) {
        if (s->shows_ && !s->shows_(e)) continue;
        {
            std::lock_guard lock(s->mutex_);
            if (s->frames_.size() >= queue_limit_) {
                // Too slow: its backlog goes, and it learns how much it missed.
                s->dropped_ += s->frames_.size();
                s->frames_.clear();
            }
            s->frames_.push_back(frame);
        }
        if (s->notify_) s->notify_();
    }
}

std::size_t event_hub::subscribers() {
    std::lock_guard lock(mutex_);
    std::erase_if(subscribers_, [](const auto& w) { return w.expired(); });
    return subscribers_.size();
}

}  // namespace runmirror
