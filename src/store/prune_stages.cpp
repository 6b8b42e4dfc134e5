#include "store/prune_stages.hpp"

#include <algorithm>
#include <limits>

namespace runmirror {

prune_batch prune_in_stages(const prune_policy& policy, prune_cursor& cursor, prune_steps& steps) {
    using stage = prune_cursor::stage;
    const std::int64_t limit = static_cast<std::int64_t>(std::min<std::size_t>(
        std::max<std::size_t>(policy.batch, 1), std::numeric_limits<std::int64_t>::max()));
    while (cursor.at != stage::done) {
        prune_batch batch{.what = cursor.at, .rows = 0, .erased = {}};
        bool exhausted = false;  // nothing more of this class
        switch (cursor.at) {
            case stage::list_pages:
                batch.rows = steps.delete_list_pages(limit);
                exhausted = batch.rows == 0;
                break;
            case stage::ended_watches:
                batch.rows = steps.delete_ended_watches(limit);
                exhausted = batch.rows == 0;
                break;
            case stage::stale_unfinished:
                if (!cursor.scanned) {
                    cursor.candidates =
                        steps.stale_unfinished_keys(policy.unfinished_fetched_before);
                    cursor.scanned = true;
                }
                batch.erased = steps.erase_some(cursor.candidates, policy.batch);
                batch.rows = batch.erased.size();
                exhausted = cursor.candidates.empty() && batch.rows == 0;
                break;
            case stage::final_resources:
                if (!policy.final_resources) {
                    exhausted = true;
                    break;
                }
                {
                    std::vector<std::string> keys = steps.next_final_keys(cursor, limit);
                    exhausted = keys.empty() && cursor.key.empty();
                    batch.erased = steps.erase_some(keys, keys.size());
                    batch.rows = batch.erased.size();
                }
                break;
            case stage::done: break;
        }
        if (batch.rows > 0) return batch;
        if (exhausted) cursor.at = static_cast<stage>(static_cast<int>(cursor.at) + 1);
    }
    return {.what = stage::done, .rows = 0, .erased = {}};
}

}  // namespace runmirror
