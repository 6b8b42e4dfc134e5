#pragma once
// An upstream for unit tests: answers from a script, in order, and records what it was sent.
// With |hold| set, requests stay in flight until release() (to test concurrent waiters).

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runmirror/upstream.hpp"

namespace runmirror::testing {

class scripted_upstream : public upstream {
  public:
    std::deque<upstream_reply> script;
    // Answers for one target, taken before |script| when the request is for it (for requests
    // whose order is not fixed).
    std::map<std::string, std::deque<upstream_reply>> by_target;
    std::vector<request> seen;
    bool hold = false;
    std::vector<handler> held;

    // What async_revalidate was given, in order (null for a plain async_send).
    std::vector<std::shared_ptr<const std::string>> known;
    // As the network client does: a 200 with the known bytes shares them instead of a copy.
    bool share_known = false;
    // What a circuit breaker in front of it would say.
    bool down = false;

    bool believed_down() const override { return down; }

    void async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                          handler on_reply) override {
        known.push_back(known_body);
        if (!share_known || hold) return async_send(std::move(req), std::move(on_reply));
        seen.push_back(std::move(req));
        REQUIRE_FALSE(script.empty());
        upstream_reply r = std::move(script.front());
        script.pop_front();
        if (!r.failure && r.answer.status == 200 && r.answer.body == *known_body) {
            r.answer.body.clear();
            r.answer.shared_body = known_body;
        }
        on_reply(std::move(r));
    }

    void async_send(request req, handler on_reply) override {
        if (auto it = by_target.find(req.target); it != by_target.end() && !it->second.empty()) {
            upstream_reply r = std::move(it->second.front());
            it->second.pop_front();
            seen.push_back(std::move(req));
            return on_reply(std::move(r));
        }
        seen.push_back(std::move(req));
        if (hold) {
            held.push_back(std::move(on_reply));
            return;
        }
        answer_with_script(on_reply);
    }

    void release() {
        auto pending = std::move(held);
        held.clear();
        for (auto& h : pending)
            answer_with_script(h);
    }

  private:
    void answer_with_script(const handler& on_reply) {
        REQUIRE_FALSE(script.empty());
        upstream_reply r = std::move(script.front());
        script.pop_front();
        on_reply(std::move(r));
    }
};

}  // namespace runmirror::testing
