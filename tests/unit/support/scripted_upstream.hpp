#pragma once
// An upstream for unit tests: answers from a script, in order, and records what it was sent.
// With |hold| set, requests stay in flight until release() (to test concurrent waiters).

#include <doctest/doctest.h>

#include <deque>
#include <vector>

#include "runmirror/upstream.hpp"

namespace runmirror::testing {

class scripted_upstream : public upstream {
  public:
    std::deque<upstream_reply> script;
    std::vector<request> seen;
    bool hold = false;
    std::vector<handler> held;

    void async_send(request req, handler on_reply) override {
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
