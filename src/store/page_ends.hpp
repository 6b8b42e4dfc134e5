#pragma once
// Where list pages ended, so that the page after one (skip = its skip + its items) starts with
// an index seek just past its last run rather than walking |skip| index entries (OFFSET): an
// SDK pages through an agent's runs in order, and at skip S the walk is most of a page's cost.
//
// A position is a run's (created_at, id), the list order's key, remembered under the page's
// filters and the skip it ends at, together with the store's count of list-changing writes
// (schema/005_run_changes.sql) at the time. It is handed out only for that same count: any
// write that could move a run in or out of a list, or within it, makes every one stale, and
// the first newer count seen forgets them all.
//
// Threading: any thread; one mutex, held for a map lookup or insert.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace runmirror {

struct list_position {
    std::string created_at;
    std::string id;
};

class page_ends {
  public:
    // |capacity| positions at most (a few hundred bytes each); when full, all are forgotten
    // and remembering starts over. 1024: a position per page for dozens of lists paged
    // hundreds of pages deep.
    explicit page_ends(std::size_t capacity = 1024) : capacity_(capacity) {}

    // The position remembered for |key| at |changes|, if any.
    std::optional<list_position> find(std::string_view key, std::int64_t changes);

    // Remembers that the list |key| names reaches its position |key| after |at|, as of
    // |changes|. A count older than one already seen is ignored.
    void remember(std::string key, std::int64_t changes, list_position at);

    std::size_t size();

  private:
    // Called with mutex_ held: forgets everything when |changes| is newer than changes_.
    bool current(std::int64_t changes);

    struct key_hash {
        using is_transparent = void;  // find() by string_view, without a copy
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    const std::size_t capacity_;
    std::mutex mutex_;
    std::int64_t changes_ = -1;
    std::unordered_map<std::string, list_position, key_hash, std::equal_to<>> ends_;
};

}  // namespace runmirror
