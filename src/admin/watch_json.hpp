#pragma once
// One watch as a JSON object, shared by `runmirror watches --json` and the browse API so the
// two cannot drift apart. RapidJSON stays inside watch_json.cpp: the CLI executable does not
// have its include directory.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/watch.hpp"
#include "sync/watch_wait.hpp"

namespace runmirror {

// {"id","kind","run_id","job_id","extraction_agent_id","project_id","next_poll_at","attempts",
//  "last_status","last_error","created_at","finished_at","given_up_at","give_up_reason"}
// on one line, no trailing newline. Times are ISO 8601 UTC with milliseconds
// ("2025-01-15T08:00:00.123Z"). The store's "not known" (an empty string, an unset time) is
// null, so clients need one test, not two. The tenant is left out: it identifies an API key.
// Invalid UTF-8 in a text field (an upstream error message, say) becomes U+FFFD.
// With |why|, three more members follow: "wait" (to_string(watch_wait): "due", "no_key",
// "paused_by_429", ...), "wait_text" (one line for a person) and "wait_until" (when the wait
// ends, or null).
std::string watch_to_json(const watch& w, const std::optional<watch_wait_reason>& why = {});

// One watch's wait as a daemon reported it, with what identifies the watch (a client reading
// another store under the same ids must not take one watch's reason for another's).
struct reported_wait {
    watch_id id = 0;
    std::string run_id;  // empty when null
    std::string job_id;  // empty when null
    watch_wait_reason why;
};

// The waits of a /_runmirror/api/watches answer ({"items":[watch_to_json with a reason]});
// items without a wait this build knows are left out. nullopt when |body| is not such an
// answer.
std::optional<std::vector<reported_wait>> parse_reported_waits(std::string_view body);

}  // namespace runmirror
