#pragma once
// The order store::prune_some goes through the classes of what may be pruned, the same for
// every backend: each backend gives the steps (its SQL), this walks the cursor through them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runmirror/store.hpp"

namespace runmirror {

// One backend's steps; |limit| is the policy's batch (at least 1). Each step that writes is
// one write transaction of the backend's.
class prune_steps {
  public:
    // Delete up to |limit| of the oldest list pages / ended watches; the rows deleted.
    virtual std::size_t delete_list_pages(std::int64_t limit) = 0;
    virtual std::size_t delete_ended_watches(std::int64_t limit) = 0;
    // The store keys of unfinished resources last fetched before |fetched_before|.
    virtual std::vector<std::string> stale_unfinished_keys(time_point fetched_before) = 0;
    // The next up to |limit| final resources in created order after |cursor|'s position,
    // which it moves on (an empty cursor.key once past the last).
    virtual std::vector<std::string> next_final_keys(prune_cursor& cursor, std::int64_t limit) = 0;
    // Erases up to |count| of |keys| (taken from its back) as forget_run does, in one write;
    // the ones that were stored.
    virtual std::vector<std::string> erase_some(std::vector<std::string>& keys,
                                                std::size_t count) = 0;

  protected:
    ~prune_steps() = default;
};

// store::prune_some over |steps|.
prune_batch prune_in_stages(const prune_policy& policy, prune_cursor& cursor, prune_steps& steps);

}  // namespace runmirror
