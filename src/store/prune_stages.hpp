#pragma once
// The order store::prune_some goes through the classes of what may be pruned, the same for
// every backend: each backend gives the steps (its SQL), this walks the cursor through them.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runmirror/store.hpp"

namespace runmirror {

// One backend's steps; |limit| is the policy's batch (at least 1). Each step that writes is
// one write transaction of the backend's.
struct prune_steps {
    // Delete up to |limit| of the oldest list pages / ended watches; the rows deleted.
    std::function<std::size_t(std::int64_t limit)> delete_list_pages;
    std::function<std::size_t(std::int64_t limit)> delete_ended_watches;
    // The store keys of unfinished resources last fetched before |fetched_before|.
    std::function<std::vector<std::string>(time_point fetched_before)> stale_unfinished_keys;
    // The next up to |limit| final resources in created order after |cursor|'s position,
    // which it moves on (an empty cursor.key once past the last).
    std::function<std::vector<std::string>(prune_cursor& cursor, std::int64_t limit)>
        next_final_keys;
    // Erases up to |count| of |keys| (taken from its back) as forget_run does, in one write;
    // the ones that were stored.
    std::function<std::vector<std::string>(std::vector<std::string>& keys, std::size_t count)>
        erase_some;
};

// store::prune_some over |steps|.
prune_batch prune_in_stages(const prune_policy& policy, prune_cursor& cursor,
                            const prune_steps& steps);

}  // namespace runmirror
