#include "store/memory_cache.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "obs/metrics.hpp"
#include "store/forwarding_store.hpp"

namespace runmirror {

namespace {

using steady = std::chrono::steady_clock;

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;
using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

// What an entry costs beyond its bytes: nodes, control blocks, the copies of its indexed fields.
constexpr std::size_t entry_overhead = 256;
// Grants are few (keys x projects); this only stops a stream of new keys from growing it.
constexpr std::size_t max_grants = 65536;

// "a\nb" in a buffer reused by the thread: the hit path builds one per lookup.
std::string_view pair_key(std::string_view a, std::string_view b) {
    thread_local std::string key;
    key.assign(a);
    key += '\n';
    key += b;
    return key;
}

// Which runs were read from the inner store recently and not kept: a fingerprint per slot,
// 4096 slots (32 KiB), a newer fingerprint taking over the slot of an older one. Random reads
// over a store many times the budget (a million runs against ~2,500 held) would otherwise
// each evict a held run to keep one that is not asked for again; a run asked for twice while
// its fingerprint is still here is worth keeping. Not thread-safe: the caller holds mutex_.
class recent_misses {
  public:
    // True when |key| was noted since its slot last changed (and forgets it); otherwise notes it.
    bool seen_before(std::string_view key) {
        // 0 marks an empty slot, so no key may have it.
        const std::uint64_t print = std::hash<std::string_view>{}(key) | 1;
        std::uint64_t& slot = slots_[print % slots_.size()];
        if (slot == print) {
            slot = 0;
            return true;
        }
        slot = print;
        return false;
    }

  private:
    std::array<std::uint64_t, 4096> slots_{};
};

class memory_cached_store final : public forwarding_store, private peer_follower {
  public:
    memory_cached_store(std::unique_ptr<store> inner, const memory_cache_options& options)
        : forwarding_store(std::move(inner)),
          options_(options),
          external_count_(this->inner().external_change_count()) {
        next_external_check_ = (steady::now() + options_.external_check).time_since_epoch().count();
        peers_ = this->inner().follow_peers(*this);  // last: it may call peer_feed at once
    }

    // --- runs ---------------------------------------------------------------------------------
    put_outcome put_run(const run_fields& fields, std::string_view body,
                        time_point fetched_at) override {
        put_outcome outcome = inner().put_run(fields, body, fetched_at);
        std::lock_guard lock(mutex_);
        drop_run(store_key(*fields.kind, fields.id, fields.variant), fields.job_id);
        return outcome;
    }

    // A list refresh stores every item of the page again, nearly always unchanged. Those stay
    // held, with the new fetch time (freshness and Age read it), rather than be read back from
    // the store and restored from LZ4 by the next hit.
    std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs,
        time_point fetched_at) override {
        std::vector<put_outcome> outcomes = inner().put_runs(runs, fetched_at);
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const run_fields& fields = runs[i].first;
            const std::string key = store_key(*fields.kind, fields.id, fields.variant);
            if (outcomes[i].changed) {
                drop_run(key, fields.job_id);
                continue;
            }
            auto held = runs_.find(key);
            // A tombstoned row is never written again, its fetch time included.
            if (held == runs_.end() || held->second.value->deleted_at ||
                held->second.value->fetched_at >= fetched_at)
                continue;
            auto confirmed = std::make_shared<stored_run>(*held->second.value);
            confirmed->fetched_at = fetched_at;
            held->second.value = std::move(confirmed);  // same bytes, same charge
        }
        // A read of the store that began before this write must not bring back an older copy.
        ++generation_;
        return outcomes;
    }

    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        check_external();
        std::uint64_t generation;
        {
            std::lock_guard lock(mutex_);
            if (auto it = runs_.find(id); it != runs_.end()) {
                touch(it->second.pos);
                obs::metrics().record_memory_cache(true);
                return it->second.value;
            }
            generation = generation_;
        }
        obs::metrics().record_memory_cache(false);
        auto run = inner().find_run(id);
        if (run) {
            std::lock_guard lock(mutex_);
            if (generation == generation_ && admit_run(id, *run)) keep_run(run);
        }
        return run;
    }

    std::shared_ptr<const stored_run> find_run_by_job(std::string_view job_id) override {
        check_external();
        std::uint64_t generation;
        {
            std::lock_guard lock(mutex_);
            if (auto job = jobs_.find(job_id); job != jobs_.end()) {
                auto run = runs_.find(job->second.value);
                // The run may have been dropped, or re-read with another job id since.
                if (run != runs_.end() && run->second.value->fields.job_id == job_id) {
                    touch(job->second.pos);
                    touch(run->second.pos);
                    return run->second.value;
                }
            }
            generation = generation_;
        }
        auto run = inner().find_run_by_job(job_id);
        if (run) {
            std::lock_guard lock(mutex_);
            if (generation == generation_ && admit_run(job_id, *run)) {
                keep_run(run);
                std::string key = store_key(*run->fields.kind, run->fields.id, run->fields.variant);
                keep(jobs_, lru_kind::job, job_id, key, key.size());
                // No write came between: a held copy has the same bytes; share it.
                if (auto held = runs_.find(key); held != runs_.end()) {
                    run = held->second.value;
                }
            }
        }
        return run;
    }

    void tombstone_run(std::string_view id, time_point at) override {
        inner().tombstone_run(id, at);
        std::lock_guard lock(mutex_);
        drop_every_representation(id);
    }

    bool forget_run(std::string_view key) override {
        const bool found = inner().forget_run(key);
        std::lock_guard lock(mutex_);
        drop_every_representation(key);
        return found;
    }

    // Pruned resources leave memory too, so what is served is what the store holds.
    prune_batch prune_some(const prune_policy& policy, prune_cursor& cursor) override {
        prune_batch batch = inner().prune_some(policy, cursor);
        std::lock_guard lock(mutex_);
        for (const std::string& key : batch.erased)
            drop_every_representation(key);
        return batch;
    }

    // --- list pages ---------------------------------------------------------------------------
    void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                       time_point fetched_at) override {
        inner().put_list_page(tenant, key, body, fetched_at);
        std::lock_guard lock(mutex_);
        drop(pages_, pair_key(tenant, key));
        ++generation_;
    }

    std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) override {
        check_external();
        std::uint64_t generation;
        {
            std::lock_guard lock(mutex_);
            if (auto it = pages_.find(pair_key(tenant, key)); it != pages_.end()) {
                touch(it->second.pos);
                return it->second.value;
            }
            generation = generation_;
        }
        auto page = inner().find_list_page(tenant, key);
        if (!page) return page;
        // Copied to a file outside the lock: a few hundred KB take tens of microseconds.
        auto filed = page->body.size() >= options_.file_threshold_bytes ? in_file(*page) : nullptr;
        std::lock_guard lock(mutex_);
        if (generation != generation_) return filed ? filed : page;
        if (filed && files_held_ < options_.max_files) {
            if (keep(pages_, lru_kind::page, pair_key(tenant, key), filed, filed->file->size()))
                ++files_held_;
            return filed;
        }
        keep(pages_, lru_kind::page, pair_key(tenant, key), page, page->body.size());
        return page;
    }

    // --- grants: only present ones are held, and grant() only adds: it is not overridden ----
    bool has_grant(std::string_view tenant, std::string_view project_id) override {
        return remembered_yes(grants_, pair_key(tenant, project_id),
                              [&] { return inner().has_grant(tenant, project_id); });
    }

    bool has_any_grant(std::string_view tenant) override {
        return remembered_yes(known_tenants_, tenant,
                              [&] { return inner().has_any_grant(tenant); });
    }

    void revoke_tenant(std::string_view tenant) override {
        inner().revoke_tenant(tenant);
        std::lock_guard lock(mutex_);
        drop_tenant(tenant);
    }

  private:
    // --- peer_follower: other daemons' writes to a shared store --------------------------------
    void peer_changed(const store_change& change) override {
        std::lock_guard lock(mutex_);
        switch (change.what) {
            case store_change::scope::run: drop_run(change.key, change.job_id); break;
            case store_change::scope::resource: drop_every_representation(change.key); break;
            case store_change::scope::list_page:
                drop(pages_, pair_key(change.tenant, change.key));
                ++generation_;
                break;
            case store_change::scope::tenant: drop_tenant(change.tenant); break;
            case store_change::scope::everything: drop_everything(); break;
        }
    }

    // While the feed is live it tells every change, and the change count is not polled.
    void peer_feed(bool live) override {
        feed_live_.store(live);
        std::lock_guard lock(mutex_);
        drop_everything();
    }

    void peer_event(const run_event&) override {}

    // The caller holds mutex_.
    void drop_tenant(std::string_view tenant) {
        known_tenants_.erase(std::string(tenant));
        const std::string prefix = std::string(tenant) + '\n';
        std::erase_if(grants_, [&](const std::string& g) { return g.starts_with(prefix); });
        std::vector<std::string> pages;
        for (const auto& [key, slot] : pages_) {
            if (key.starts_with(prefix)) pages.push_back(key);
        }
        for (const auto& key : pages)
            drop(pages_, key);
        ++generation_;
    }

    enum class lru_kind { run, job, page };
    struct lru_entry {
        lru_kind kind;
        std::string key;
        std::size_t charge;
    };
    using lru_list = std::list<lru_entry>;
    template <class V>
    struct slot {
        V value;
        lru_list::iterator pos;
    };

    // The callers hold mutex_ for everything below, up to check_external.
    void touch(lru_list::iterator pos) { lru_.splice(lru_.begin(), lru_, pos); }

    // Whether |value| is now held (it is not when too large, or when |key| is already held).
    template <class V>
    bool keep(string_map<slot<V>>& map, lru_kind kind, std::string_view key, V value,
              std::size_t bytes) {
        const std::size_t charge = bytes + 2 * key.size() + entry_overhead;
        // One entry must not push out most others.
        if (charge > options_.budget_bytes / 8 || map.find(key) != map.end()) return false;
        lru_.push_front({kind, std::string(key), charge});
        map.emplace(std::string(key), slot<V>{std::move(value), lru_.begin()});
        used_ += charge;
        // An entry as large as the budget was refused above, so this one is not evicted.
        while (used_ > options_.budget_bytes && !lru_.empty())
            evict(lru_.back());
        return true;
    }

    // The page with its bytes in a sealed memory file, or null when none could be made.
    static std::shared_ptr<const stored_list_page> in_file(const stored_list_page& page) {
        auto file = body_file::copy_of(page.body);
        if (!file) return nullptr;
        return std::make_shared<const stored_list_page>(
            stored_list_page{{}, page.fetched_at, std::move(file)});
    }

    template <class V>
    void released(const V&) {}
    void released(const std::shared_ptr<const stored_list_page>& page) {
        if (page->file) --files_held_;
    }

    // Whether |run|, just read from the inner store by its id or job id (|key|), is kept. While
    // it fits in what is left of the budget, yes: nothing is evicted for it. Otherwise only when
    // it was read recently before (recent_misses), so that one-off reads do not churn what is
    // held.
    bool admit_run(std::string_view key, const stored_run& run) {
        if (used_ + run.body.size() + entry_overhead <= options_.budget_bytes) return true;
        return run_misses_.seen_before(key);
    }

    void keep_run(const std::shared_ptr<const stored_run>& run) {
        keep(runs_, lru_kind::run,
             store_key(*run->fields.kind, run->fields.id, run->fields.variant), run,
             run->body.size() + 9 * 32);
    }

    template <class V>
    void drop(string_map<slot<V>>& map, std::string_view key) {
        auto it = map.find(key);
        if (it == map.end()) return;
        used_ -= it->second.pos->charge;
        released(it->second.value);
        lru_.erase(it->second.pos);
        map.erase(it);
    }

    template <class V>
    void drop_all(string_map<slot<V>>& map) {
        for (auto& [key, slot] : map) {
            used_ -= slot.pos->charge;
            released(slot.value);
            lru_.erase(slot.pos);
        }
        map.clear();
        ++generation_;
    }

    void evict(const lru_entry& entry) {
        // |entry| lives in lru_ and goes with the drop: copy its key first.
        const std::string key = entry.key;
        switch (entry.kind) {
            case lru_kind::run: drop(runs_, key); break;
            case lru_kind::job: drop(jobs_, key); break;
            case lru_kind::page: drop(pages_, key); break;
        }
    }

    // The run changed in the inner store: forget it and the job entries that may lead to it.
    // |id| and its other representations ("id?variant", a v1 job's "id?result"); deletes are
    // rare enough to look through what is held. Every stored list page goes with it.
    void drop_every_representation(std::string_view id) {
        drop_run(id, {});
        const std::string prefix = std::string(id) + '?';
        std::vector<std::string> variants;
        for (const auto& [key, held] : runs_)
            if (std::string_view(key).starts_with(prefix)) variants.push_back(key);
        for (const std::string& key : variants)
            drop_run(key, {});
        drop_all(pages_);
    }

    void drop_run(std::string_view id, std::string_view job_id) {
        if (auto it = runs_.find(id); it != runs_.end()) {
            const std::string old_job = it->second.value->fields.job_id;
            drop(runs_, id);
            if (!old_job.empty()) drop(jobs_, old_job);
        }
        if (!job_id.empty()) drop(jobs_, job_id);
        ++generation_;
    }

    template <class Ask>
    bool remembered_yes(string_set& set, std::string_view key, Ask ask) {
        check_external();
        std::uint64_t generation;
        {
            std::lock_guard lock(mutex_);
            if (set.find(key) != set.end()) return true;
            generation = generation_;
        }
        const std::string owned(key);  // |key| may be the thread's buffer, reused by ask()
        if (!ask()) return false;
        std::lock_guard lock(mutex_);
        if (generation == generation_) {
            if (set.size() >= max_grants) set.clear();
            set.insert(owned);
        }
        return true;
    }

    // Another process wrote to the store: what is held here may be stale. Checked at most
    // every options_.external_check, by one thread at a time.
    void check_external() {
        if (feed_live_.load(std::memory_order_relaxed)) return;
        const auto now = steady::now().time_since_epoch().count();
        if (now < next_external_check_.load(std::memory_order_relaxed)) return;
        std::unique_lock checking(external_mutex_, std::try_to_lock);
        if (!checking) return;
        next_external_check_.store(
            (steady::now() + options_.external_check).time_since_epoch().count(),
            std::memory_order_relaxed);
        const std::int64_t count = inner().external_change_count();
        if (count == external_count_) return;
        external_count_ = count;
        std::lock_guard lock(mutex_);
        drop_everything();
    }

    // The caller holds mutex_.
    void drop_everything() {
        runs_.clear();
        jobs_.clear();
        pages_.clear();
        files_held_ = 0;
        lru_.clear();
        used_ = 0;
        grants_.clear();
        known_tenants_.clear();
        ++generation_;
    }

    const memory_cache_options options_;

    std::mutex mutex_;
    // Bumped by every drop: a value read from inner_ across a bump may be stale, not kept.
    std::uint64_t generation_ = 0;
    std::size_t used_ = 0;
    std::size_t files_held_ = 0;  // pages in pages_ whose bytes are in a body_file
    lru_list lru_;                // most recently used first
    string_map<slot<std::shared_ptr<const stored_run>>> runs_;
    string_map<slot<std::string>> jobs_;                               // job id -> run id
    string_map<slot<std::shared_ptr<const stored_list_page>>> pages_;  // "tenant\nkey"
    string_set grants_;                                                // "tenant\nproject"
    string_set known_tenants_;                                         // has_any_grant
    recent_misses run_misses_;  // runs read and not kept, for admit_run

    std::mutex external_mutex_;
    std::atomic<steady::rep> next_external_check_;
    std::int64_t external_count_;
    std::atomic<bool> feed_live_{false};
    // After what the follower touches: it ends (and its calls with it) before they go.
    std::unique_ptr<peer_subscription> peers_;

    // Last: gone before anything it reads.
    obs::scoped_gauge_source gauges_{[this](std::vector<obs::gauge_family>& out) {
        std::lock_guard lock(mutex_);
        out.push_back({"runmirror_memory_cache_bytes",
                       "Bytes of runs and list pages held in memory in front of the store.",
                       {{"", static_cast<double>(used_)}}});
        out.push_back({"runmirror_memory_cache_budget_bytes",
                       "The memory cache's budget (--memory-cache-mb).",
                       {{"", static_cast<double>(options_.budget_bytes)}}});
    }};
};

}  // namespace

std::unique_ptr<store> with_memory_cache(std::unique_ptr<store> inner,
                                         const memory_cache_options& options) {
    if (options.budget_bytes == 0) return inner;
    return std::make_unique<memory_cached_store>(std::move(inner), options);
}

}  // namespace runmirror
