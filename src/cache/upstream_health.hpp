#pragma once
// Whether the upstream is worth asking: a circuit breaker. After |threshold| consecutive
// failures the circuit opens for a cool-down; requests fail fast meanwhile (and the run cache
// answers from the store at once). When the cool-down has passed, requests are let through
// again and the next result decides: a success closes the circuit, a failure reopens it with
// the cool-down doubled, up to a cap. Pure state with |now| passed in; thread-safe.

#include <mutex>
#include <optional>

#include "runmirror/clock.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/result.hpp"

namespace runmirror {

struct health_snapshot {
    bool up = true;  // false while the circuit is open
    unsigned consecutive_failures = 0;
    millis retry_in{0};  // until requests are let through again; 0 when up
    // When the circuit opened, kept while failed retries reopen it: what a person asks ("down
    // since 12:03"). nullopt when up.
    std::optional<time_point> down_since;
};

class upstream_health {
  public:
    upstream_health(unsigned threshold, millis cooldown, millis max_cooldown);

    bool allow(time_point now) const;
    void record_success();
    // Returns true when this failure opened (or reopened) the circuit.
    bool record_failure(time_point now);
    health_snapshot snapshot(time_point now) const;

  private:
    mutable std::mutex mutex_;
    const unsigned threshold_;
    const millis first_cooldown_;
    const millis max_cooldown_;
    unsigned failures_ = 0;
    bool open_ = false;
    millis cooldown_;
    time_point retry_at_{};
    time_point opened_at_{};
};

// What a reply says about the upstream's health: no HTTP answer, or a 502/503/504 from a
// gateway in front of it, is a failure; any other answer (429 and 4xx included) is a success.
bool is_health_failure(const error& failure, int status);

}  // namespace runmirror
