#pragma once
// One watch as a JSON object, shared by `runmirror watches --json` and the browse API so the
// two cannot drift apart. RapidJSON stays inside watch_json.cpp: the CLI executable does not
// have its include directory.

#include <optional>
#include <string>

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

}  // namespace runmirror
