#include "store/page_ends.hpp"

namespace runmirror {

bool page_ends::current(std::int64_t changes) {
    if (changes > changes_) {
        ends_.clear();
        changes_ = changes;
    }
    return changes == changes_;
}

std::optional<list_position> page_ends::find(std::string_view key, std::int64_t changes) {
    std::lock_guard lock(mutex_);
    if (!current(changes)) return std::nullopt;
    auto it = ends_.find(key);
    if (it == ends_.end()) return std::nullopt;
    return it->second;
}

void page_ends::remember(std::string key, std::int64_t changes, list_position at) {
    std::lock_guard lock(mutex_);
    if (!current(changes)) return;  // read from an older snapshot than one already seen
    if (ends_.size() >= capacity_) ends_.clear();
    ends_.insert_or_assign(std::move(key), std::move(at));
}

std::size_t page_ends::size() {
    std::lock_guard lock(mutex_);
    return ends_.size();
}

}  // namespace runmirror
