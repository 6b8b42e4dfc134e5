#pragma once
// A store that hands every call to another one: the base of decorators (the memory cache, test
// spies), which override only the calls they change.

#include <memory>

#include "runmirror/store.hpp"

namespace runmirror {

class forwarding_store : public store {
  public:
    explicit forwarding_store(std::unique_ptr<store> inner) : inner_(std::move(inner)) {}

    put_outcome put_run(const run_fields& fields, std::string_view body,
                        time_point fetched_at) override {
        return inner_->put_run(fields, body, fetched_at);
    }
    std::vector<put_outcome> put_runs(
        const std::vector<std::pair<run_fields, std::string_view>>& runs,
        time_point fetched_at) override {
        return inner_->put_runs(runs, fetched_at);
    }
    std::shared_ptr<const stored_run> find_run(std::string_view id) override {
        return inner_->find_run(id);
    }
    std::shared_ptr<const stored_run> find_run_by_job(std::string_view job_id) override {
        return inner_->find_run_by_job(job_id);
    }
    std::shared_ptr<const stored_run> find_run_or_variant(std::string_view key) override {
        return inner_->find_run_or_variant(key);
    }
    void tombstone_run(std::string_view id, time_point at) override {
        inner_->tombstone_run(id, at);
    }
    bool forget_run(std::string_view key) override { return inner_->forget_run(key); }
    std::int64_t used_bytes() override { return inner_->used_bytes(); }
    prune_batch prune_some(const prune_policy& policy, prune_cursor& cursor) override {
        return inner_->prune_some(policy, cursor);
    }
    run_page list_runs(const run_query& query) override { return inner_->list_runs(query); }
    run_browse_page browse_runs(const run_browse_query& query) override {
        return inner_->browse_runs(query);
    }
    std::vector<agent_summary> agent_summaries() override { return inner_->agent_summaries(); }
    void put_agent_names(const std::vector<agent_name>& names, time_point learned_at) override {
        inner_->put_agent_names(names, learned_at);
    }

    void put_list_page(std::string_view tenant, std::string_view key, std::string_view body,
                       time_point fetched_at) override {
        inner_->put_list_page(tenant, key, body, fetched_at);
    }
    std::shared_ptr<const stored_list_page> find_list_page(std::string_view tenant,
                                                           std::string_view key) override {
        return inner_->find_list_page(tenant, key);
    }

    void grant(std::string_view tenant, const std::vector<std::string>& project_ids) override {
        inner_->grant(tenant, project_ids);
    }
    bool has_grant(std::string_view tenant, std::string_view project_id) override {
        return inner_->has_grant(tenant, project_id);
    }
    bool has_any_grant(std::string_view tenant) override { return inner_->has_any_grant(tenant); }
    void revoke_tenant(std::string_view tenant) override { inner_->revoke_tenant(tenant); }

    std::optional<watch_id> watch_run(const run_fields& run, std::string_view tenant,
                                      time_point now, time_point first_poll_at) override {
        return inner_->watch_run(run, tenant, now, first_poll_at);
    }
    watch_id watch_job(std::string_view job_id, std::string_view extraction_agent_id,
                       std::string_view tenant, time_point now, time_point first_poll_at) override {
        return inner_->watch_job(job_id, extraction_agent_id, tenant, now, first_poll_at);
    }
    bool job_watch_found_run(watch_id id, std::string_view run_id, std::string_view project_id,
                             time_point now) override {
        return inner_->job_watch_found_run(id, run_id, project_id, now);
    }
    std::vector<watch> due_watches(time_point now, std::size_t limit,
                                   const tenant_filter& tenants) override {
        return inner_->due_watches(now, limit, tenants);
    }
    std::optional<time_point> next_due_time(const tenant_filter& tenants) override {
        return inner_->next_due_time(tenants);
    }
    bool reschedule_watch(watch_id id, const poll_outcome& outcome, time_point now) override {
        return inner_->reschedule_watch(id, outcome, now);
    }
    bool finish_watch(watch_id id, std::string_view final_status, time_point now) override {
        return inner_->finish_watch(id, final_status, now);
    }
    bool give_up_watch(watch_id id, std::string_view reason, time_point now) override {
        return inner_->give_up_watch(id, reason, now);
    }
    std::optional<watch> find_watch(watch_id id) override { return inner_->find_watch(id); }
    std::vector<watch> list_watches(watch_listing which, std::size_t limit) override {
        return inner_->list_watches(which, limit);
    }

    int schema_version() override { return inner_->schema_version(); }
    int known_schema_version() override { return inner_->known_schema_version(); }
    store_counts counts() override { return inner_->counts(); }
    std::int64_t external_change_count() override { return inner_->external_change_count(); }
    store_write_health write_health() override { return inner_->write_health(); }
    std::unique_ptr<peer_subscription> follow_peers(peer_follower& follower) override {
        return inner_->follow_peers(follower);
    }
    void tell_peers(const run_event& event) override { inner_->tell_peers(event); }
    void release_claims() override { inner_->release_claims(); }
    std::vector<watch_id> claim_watches(const std::vector<watch_id>& ids, time_point now) override {
        return inner_->claim_watches(ids, now);
    }

  protected:
    store& inner() { return *inner_; }

  private:
    const std::unique_ptr<store> inner_;
};

}  // namespace runmirror
