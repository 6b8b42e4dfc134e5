#pragma once
// The sync worker's global request rate: a token bucket with time passed in, so it is tested
// without sleeps. Also carries the 429 rule: a pause during which nothing may be sent.
//
// Threading: not thread-safe; the sync worker owns one and uses it from one strand.

#include <optional>

#include "runmirror/clock.hpp"

namespace runmirror {

class rate_limiter {
  public:
    // |per_second| tokens accrue each second, up to |burst| held at once; the bucket starts
    // full. Throws std::invalid_argument unless per_second is finite and > 0, burst >= 1, and
    // one token's interval and the burst each span less than a year.
    rate_limiter(double per_second, double burst);

    // Takes a token and returns nullopt if one is available at |now|. Otherwise takes nothing
    // and returns the earliest time at which a call will succeed (barring a later pause):
    // the end of a pause, or when the next token has accrued. Calls are expected with
    // non-decreasing |now|; a clock stepping back accrues nothing.
    std::optional<time_point> acquire(time_point now);

    // Refuses every acquire() before |until| (Retry-After of a 429), which is expected to be
    // no earlier than the last acquire(). A pause only ever extends: an |until| no later than
    // the pause in force does nothing. When the pause ends the bucket holds at most one
    // token, so sending resumes at the steady rate rather than with a burst at the server
    // that just refused us.
    void pause_until(time_point until);

    // What acquire(|now|) would answer, taking nothing: for telling a person why polls wait.
    std::optional<time_point> free_at(time_point now) const;
    // The pause in force at |now| ends then; nullopt when none is.
    std::optional<time_point> paused_until(time_point now) const;

  private:
    // GCRA, the token bucket's exact twin in integer clock ticks (so an announced time always
    // succeeds): each token moves the "theoretical arrival time" on by one interval, and a
    // request is allowed while that time is at most |tolerance_| (burst - 1 intervals) ahead.
    clock_type::duration interval_;
    clock_type::duration tolerance_;
    time_point arrival_ = time_point::min();
    time_point paused_until_ = time_point::min();
};

}  // namespace runmirror
