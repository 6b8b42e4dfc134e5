#include "sync/sync_worker.hpp"

#include <map>

#include "util/logging.hpp"

#include "util/url_encode.hpp"

#include "json/run_fields.hpp"
#include "util/tenant.hpp"

namespace runmirror {

namespace {

// How many due watches one tick considers, and the page a batched list request asks for.
constexpr std::size_t due_scan_limit = 512;
constexpr std::size_t batch_page_size = 100;

// What one list request can refresh together: due resources of one tenant and kind, and for a
// kind batched by owner, one owner. Empty: the watch is polled on its own.
std::string batch_group(const watch& w) {
    if (w.run_id.empty()) return {};
    const resource_kind& kind = kind_of_store_key(w.run_id);
    const bool by_ids = !kind.batch_ids_param.empty();
    const bool by_owner = !kind.batch_owner_param.empty() && !w.extraction_agent_id.empty();
    if (!by_ids && !by_owner) return {};
    std::string group = w.tenant;
    group += '\n';
    group += kind.name;
    if (!by_ids) {
        group += '\n';
        group += w.extraction_agent_id;
    }
    return group;
}

// How many 404s in a row a job watch takes from the by-job route once its job is known final.
constexpr unsigned max_asks_for_run_of_final_job = 5;

// Time to wait before looking again when nothing is due but polls are in flight: their
// answers tick the worker anyway; this only bounds how late a newly due watch can start.
constexpr millis idle_recheck{250};

}  // namespace

sync_worker::sync_worker(store& db, upstream& up, key_ring& keys, event_hub& events,
                         const sync_options& options, clock_fn now, scheduler schedule)
    : db_(db),
      up_(up),
      keys_(keys),
      events_(events),
      options_(options),
      backoff_{options.poll_interval, options.poll_cap},
      now_(std::move(now)),
      schedule_(std::move(schedule)),
      // No burst: "at most |rate| per second" holds over any one-second window.
      limiter_(options.rate, 1.0),
      random_(std::random_device{}()) {}

void sync_worker::start() {
    {
        std::lock_guard lock(mutex_);
        running_ = true;
    }
    tick();
}

void sync_worker::stop() {
    std::lock_guard lock(mutex_);
    running_ = false;
}

bool sync_worker::running() const {
    std::lock_guard lock(mutex_);
    return running_;
}

std::size_t sync_worker::polls_sent() const {
    std::lock_guard lock(mutex_);
    return polls_sent_;
}

sync_snapshot sync_worker::snapshot(time_point now) const {
    sync_snapshot out;
    out.service_key = keys_.has_service_key();
    for (std::string& tenant : keys_.tenants())
        out.tenants_with_key.insert(std::move(tenant));
    std::lock_guard lock(mutex_);
    out.polling = polling_;
    out.paused_until = limiter_.paused_until(now);
    out.rate_free_at = limiter_.free_at(now);
    out.in_flight = launches_in_flight_;
    out.concurrency = options_.concurrency;
    return out;
}

tenant_filter sync_worker::pollable_tenants() {
    if (keys_.has_service_key()) return tenant_filter::any();
    return tenant_filter::only(keys_.tenants());
}

time_point sync_worker::first_poll(time_point now) {
    std::lock_guard lock(mutex_);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    return now + next_poll_delay(backoff_, 0, unit(random_));
}

void sync_worker::on_run_stored(const run_fields& run, std::string_view previous_status,
                                const std::optional<std::string>& tenant, seen_in how) {
    const time_point now = now_();
    const resource_kind& kind = *run.kind;
    if (previous_status != run.status) {
        events_.publish({&kind, run.id, run.job_id, run.extraction_agent_id, run.project_id,
                         std::string(previous_status), run.status, now});
    }
    if (!tenant) return;
    if (kind.is_final(run.status)) {
        // Created final (or cancelled) by the client's own write: no poll will see it become
        // final, so what a watch collects then is collected now.
        if (how == seen_in::write && collects_when_final(kind) && !kind.is_final(previous_status)) {
            if (auto id = db_.watch_run(run, *tenant, now, first_poll(now))) {
                collect_after_final(*id, run, previous_status, *tenant, now);
                tick();
            }
        }
        return;
    }
    if (db_.watch_run(run, *tenant, now, first_poll(now))) tick();
}

bool sync_worker::answers_watch(const watch& w, const run_fields& run) {
    if (!w.run_id.empty()) return store_key(*run.kind, run.id) == w.run_id;
    return run.job_id.empty() || run.job_id == w.job_id;  // a run that names no job: its own
}

bool sync_worker::collects_when_final(const resource_kind& kind) {
    return kind.made_by_job != nullptr || !kind.result_suffix.empty();
}

void sync_worker::on_api_key(std::string_view api_key, const std::string& tenant) {
    if (keys_.remember(api_key, tenant))
        tick();  // a new or returning tenant: its watches may be due
}

void sync_worker::tick() {
    // The store is read without the worker's lock held, so an answer (a 429 above all) is
    // never kept waiting behind a scan; what the scan returns is checked again under the lock.
    std::size_t free = 0;
    // What was in flight when the store was read: one answered meanwhile was read as it was
    // before its answer (still due) and must not be polled again on that stale view.
    std::set<watch_id> in_flight_at_scan;
    {
        std::lock_guard lock(mutex_);
        if (!running_) return;
        in_flight_at_scan = polling_;
        armed_at_.reset();
        free = options_.concurrency > launches_in_flight_
                   ? options_.concurrency - launches_in_flight_
                   : 0;
    }
    const tenant_filter tenants = pollable_tenants();
    std::vector<watch> due;
    if (free > 0) due = db_.due_watches(now_(), due_scan_limit, tenants);
    const auto next_due = db_.next_due_time(tenants);

    std::vector<launch> launches;
    {
        std::lock_guard lock(mutex_);
        if (!running_) return;
        // Due watches one list request can refresh together (batch_group).
        std::map<std::string, std::vector<const watch*>> batches;
        for (const watch& w : due) {
            if (polling_.count(w.id) || in_flight_at_scan.count(w.id) || solo_.count(w.id)) {
                continue;
            }
            std::string group = batch_group(w);
            if (!group.empty()) batches[std::move(group)].push_back(&w);
        }
        for (watch& w : due) {
            if (launches_in_flight_ >= options_.concurrency) break;
            // Launched meanwhile (by another tick), or answered since the store was read.
            if (polling_.count(w.id) || in_flight_at_scan.count(w.id)) continue;
            const time_point now = now_();
            if (now - w.created_at >= options_.max_age) {
                db_.give_up_watch(w.id, "not final after the maximum watch age", now);
                continue;
            }
            auto key = keys_.key_for(w.tenant);
            if (!key) continue;  // its key went away meanwhile (401)
            // The clock is read right here: a token charged at a stale time would let
            // requests bunch closer than the rate allows.
            if (auto later = limiter_.acquire(now)) {
                arm(*later, now);
                break;
            }
            launch l{{}, std::move(*key)};
            auto group = batches.find(batch_group(w));
            if (group != batches.end() && group->second.size() >= 2) {
                for (const watch* member : group->second) {
                    if (l.watches.size() == batch_page_size) break;
                    if (!polling_.count(member->id)) l.watches.push_back(*member);
                }
                batches.erase(group);
            } else {
                l.watches.push_back(std::move(w));
            }
            for (const watch& member : l.watches)
                polling_.insert(member.id);
            ++polls_sent_;
            ++launches_in_flight_;
            launches.push_back(std::move(l));
        }
        if (!armed_at_ && next_due) {
            // Watches in flight are still due until answered; their answers tick us.
            const time_point now = now_();
            arm(std::max(*next_due, now + (polling_.empty() ? millis(1) : idle_recheck)), now);
        }
        // A chain of its own, one at a time: arm()'s timers are not cancelled when it is armed
        // sooner, and a rescan armed by every tick would pile up.
        if (options_.shared_store_rescan > millis(0) && !rescan_armed_) {
            rescan_armed_ = true;
            schedule_(options_.shared_store_rescan, [this] {
                {
                    std::lock_guard lock(mutex_);
                    rescan_armed_ = false;
                }
                tick();
            });
        }
    }
    claim(launches);
    for (auto& l : launches)
        poll(std::move(l));
}

// On a shared store, only what is about to be polled is claimed, so that the others may poll
// the rest meanwhile; what another daemon claimed since the scan is dropped from the launches.
void sync_worker::claim(std::vector<launch>& launches) {
    if (launches.empty()) return;
    std::vector<watch_id> ids;
    for (const launch& l : launches)
        for (const watch& w : l.watches)
            ids.push_back(w.id);
    std::set<watch_id> claimed;
    try {
        const std::vector<watch_id> got = db_.claim_watches(ids, now_());
        claimed.insert(got.begin(), got.end());
    } catch (const store_error& e) {
        log::warn("sync worker: could not claim due watches: {}", e.what());
    }
    if (claimed.size() == ids.size()) return;
    std::lock_guard lock(mutex_);
    for (launch& l : launches) {
        std::erase_if(l.watches, [&](const watch& w) {
            if (claimed.count(w.id)) return false;
            polling_.erase(w.id);
            return true;
        });
        if (l.watches.empty()) {
            --launches_in_flight_;
            --polls_sent_;
        }
    }
    std::erase_if(launches, [](const launch& l) { return l.watches.empty(); });
}

void sync_worker::arm(time_point at, time_point now) {
    if (armed_at_ && *armed_at_ <= at) return;
    armed_at_ = at;
    // The scheduler cannot cancel a timer: one armed before this is left to fire and skip its
    // tick, or every tick that re-arms would leave one more chain of ticks behind.
    const std::uint64_t generation = ++arm_generation_;
    schedule_(std::chrono::duration_cast<millis>(at - now), [this, generation] {
        {
            std::lock_guard lock(mutex_);
            if (generation != arm_generation_) return;
        }
        tick();
    });
}

void sync_worker::poll(launch l) {
    request req;
    req.method = "GET";
    const watch& first = l.watches.front();
    const resource_kind& kind =
        first.run_id.empty() ? kinds::v1_run : kind_of_store_key(first.run_id);
    req.target = std::string(kind.collection);
    if (l.watches.size() > 1 && !kind.batch_ids_param.empty()) {
        req.target += '?';
        for (const watch& w : l.watches) {
            req.target += kind.batch_ids_param;
            req.target += '=';
            req.target += url_encode(id_of_store_key(w.run_id));
            req.target += '&';
        }
        req.target += kind.page_size_param;
        req.target += '=';
        req.target += std::to_string(batch_page_size);
    } else if (l.watches.size() > 1) {
        // Newest first, as upstream lists: unfinished runs are the recent ones.
        req.target += '?';
        req.target += kind.batch_owner_param;
        req.target += '=';
        req.target += url_encode(first.extraction_agent_id);
        req.target += "&skip=0&";
        req.target += kind.page_size_param;
        req.target += '=';
        req.target += std::to_string(batch_page_size);
    } else if (first.run_id.empty()) {
        req.target += '/';
        req.target += kind.by_job_segment;
        req.target += url_encode(first.job_id);
    } else {
        req.target += '/';
        req.target += url_encode(id_of_store_key(first.run_id));
        if (collecting_result(first)) req.target += kind.result_suffix;
    }
    req.headers.push_back({"Authorization", "Bearer " + l.key});
    req.headers.push_back({"Accept", "application/json"});
    up_.async_send(std::move(req), [this, watches = std::move(l.watches)](upstream_reply reply) {
        on_answer(watches, std::move(reply));
    });
}

void sync_worker::on_answer(const std::vector<watch>& watches, upstream_reply reply) {
    const auto done_polling = [&] {
        std::lock_guard lock(mutex_);
        for (const watch& w : watches)
            polling_.erase(w.id);
    };
    {
        std::lock_guard lock(mutex_);
        // A 429 stops every later send at once, before anything else is done with it.
        if (!reply.failure && reply.answer.status == 429) pause_for(reply.answer.headers);
        --launches_in_flight_;
    }
    if (!running()) return done_polling();
    const time_point now = now_();
    try {
        if (watches.size() == 1) {
            settle(watches.front(), reply, now);
        } else {
            settle_batch(watches, reply, now);
        }
    } catch (const std::exception& e) {
        log::error("sync: {} watch(es) not updated: {}", watches.size(), e.what());
    }
    // Only now that the store holds their next poll time: a tick on another thread in between
    // would still find them due and poll them a second time.
    done_polling();
    tick();
}

void sync_worker::settle_batch(const std::vector<watch>& watches, upstream_reply& reply,
                               time_point now) {
    const int status = reply.failure ? 0 : reply.answer.status;
    if (status == 200 && reply.answer.file_body) {
        // A page too large to store: each is polled on its own from now on.
        std::lock_guard lock(mutex_);
        for (const watch& w : watches)
            solo_.insert(w.id);
        return;
    }
    if (status == 200) {
        const resource_kind& kind = kind_of_store_key(watches.front().run_id);
        auto [list, err] = parse_run_list(reply.answer.body, kind);
        if (!err) {
            std::map<std::string, const std::pair<run_fields, std::string_view>*> found;
            for (const auto& item : list.items)
                found[store_key(kind, item.first.id)] = &item;
            for (const watch& w : watches) {
                if (auto it = found.find(w.run_id); it != found.end()) {
                    settle_run(w, it->second->first, it->second->second, now);
                } else {
                    // Not on the first page (an older run): it is polled on its own next.
                    std::lock_guard lock(mutex_);
                    solo_.insert(w.id);
                }
            }
            return;
        }
    }
    // A refused or failed list request says nothing about any one run: 401 and 429 apply to
    // the key and the worker as usual; anything else backs each watch off. Never tombstone.
    if (status == 401 || status == 429) return settle(watches.front(), reply, now);
    const std::string why = reply.failure
                                ? reply.failure.detail
                                : "a list request for them answered " + std::to_string(status);
    for (const watch& w : watches)
        reschedule(w.id, now, w.attempts + 1, w.last_status, why);
}

void sync_worker::settle_run(const watch& w, const run_fields& run, std::string_view body,
                             time_point now) {
    auto previous = db_.find_run(store_key(*run.kind, run.id));
    db_.put_run(run, body, now);
    if (!run.project_id.empty()) db_.grant(w.tenant, {run.project_id});
    const std::string before = previous ? previous->fields.status : std::string();
    if (before != run.status) {
        events_.publish({run.kind, run.id, run.job_id, run.extraction_agent_id, run.project_id,
                         before, run.status, now});
    }
    if (w.run_id.empty() && !db_.job_watch_found_run(w.id, run.id, run.project_id, now)) {
        return;  // the run was tombstoned meanwhile: the watch is over
    }
    if (run.kind->is_final(run.status))
        return collect_after_final(w.id, run, w.last_status, w.tenant, now);
    const bool changed = run.status != w.last_status;
    reschedule(w.id, now, changed ? 0 : w.attempts + 1, run.status, {});
}

void sync_worker::collect_after_final(watch_id id, const run_fields& run,
                                      std::string_view last_status, const std::string& tenant,
                                      time_point now) {
    const resource_kind& kind = *run.kind;
    if (kind.made_by_job != nullptr && !kind.is_final(last_status)) {
        // What it made is watched on its own, by the job's id, until final too.
        db_.watch_job(run.id, run.extraction_agent_id, tenant, now, first_poll(now));
    }
    if (!kind.result_suffix.empty()) {
        // One more poll: its result, which never changes once it can be read.
        return reschedule(id, now, 0, run.status, {});
    }
    db_.finish_watch(id, run.status, now);
}

bool sync_worker::job_is_final(std::string_view job_id) {
    for (const resource_kind* kind : all_kinds()) {
        if (kind->made_by_job == nullptr) continue;
        auto job = db_.find_run(store_key(*kind, job_id));
        if (job && kind->is_final(job->fields.status)) return true;
    }
    return false;
}

bool sync_worker::collecting_result(const watch& w) {
    if (w.run_id.empty()) return false;
    const resource_kind& kind = kind_of_store_key(w.run_id);
    return !kind.result_suffix.empty() && kind.is_final(w.last_status);
}

void sync_worker::settle_result(const watch& w, upstream_reply& reply, time_point now) {
    const int status = reply.failure ? 0 : reply.answer.status;
    if (status == 200) {
        if (store_result(db_, kind_of_store_key(w.run_id), id_of_store_key(w.run_id),
                         reply.answer.body, now)) {
            db_.finish_watch(w.id, w.last_status, now);
            return;
        }
        return reschedule(w.id, now, w.attempts + 1, w.last_status, "result is not a JSON object");
    }
    if (status == 400 || status == 404 || status == 422) {
        // A final job without a result (it failed or was cancelled): nothing more to fetch.
        db_.finish_watch(w.id, w.last_status, now);
        return;
    }
    settle_failure(w, reply, now);
}

void sync_worker::settle(const watch& w, upstream_reply& reply, time_point now) {
    const int status = reply.failure ? 0 : reply.answer.status;
    if (status == 200 && reply.answer.file_body) {
        // It would be fetched again and again, never stored.
        db_.give_up_watch(w.id, "its answer is larger than the store limit", now);
        return;
    }
    if (collecting_result(w)) return settle_result(w, reply, now);
    if (status == 200) {
        const resource_kind& kind = w.run_id.empty() ? kinds::v1_run : kind_of_store_key(w.run_id);
        auto [run, err] = parse_run(reply.answer.body, kind);
        if (err) return reschedule(w.id, now, w.attempts + 1, w.last_status, err.detail);
        if (!answers_watch(w, run)) {
            return reschedule(w.id, now, w.attempts + 1, w.last_status,
                              "upstream answered with another resource (" + run.id + ")");
        }
        {
            std::lock_guard lock(mutex_);
            solo_.erase(w.id);
        }
        return settle_run(w, run, reply.answer.body, now);
    }
    if (status == 404 && !w.run_id.empty()) {
        // Deleted upstream: never serve it again. The tombstone ends the watch.
        auto previous = db_.find_run(w.run_id);
        db_.tombstone_run(w.run_id, now);
        events_.publish({&kind_of_store_key(w.run_id), std::string(id_of_store_key(w.run_id)),
                         w.job_id, w.extraction_agent_id, w.project_id,
                         previous ? previous->fields.status : std::string(), "DELETED", now});
        return;
    }
    if (status == 404) {
        // The job's run does not exist yet: the job is still being set up. A job known final
        // that still has none after a few asks never will (it was cancelled early, say).
        if (w.attempts + 1 >= max_asks_for_run_of_final_job && job_is_final(w.job_id)) {
            db_.give_up_watch(w.id, "the job is final and upstream has no run for it", now);
            return;
        }
        return reschedule(w.id, now, w.attempts + 1, "", {});
    }
    settle_failure(w, reply, now);
}

void sync_worker::settle_failure(const watch& w, upstream_reply& reply, time_point now) {
    const int status = reply.failure ? 0 : reply.answer.status;
    if (status == 401) {
        keys_.forget(w.tenant);
        return reschedule(w.id, now, w.attempts, w.last_status,
                          "upstream refused the key (401); waiting for its client to return");
    }
    if (status == 429) {
        const millis pause = pause_length(reply.answer.headers, now);
        return reschedule(w.id, now + pause, w.attempts, w.last_status, "rate limited (429)");
    }
    const std::string why =
        reply.failure ? reply.failure.detail : "upstream answered " + std::to_string(status);
    reschedule(w.id, now, w.attempts + 1, w.last_status, why);
}

millis sync_worker::pause_length(const header_list& headers, time_point now) const {
    auto wait = retry_after(headers, now);
    return wait ? *wait : backoff_.interval;
}

void sync_worker::pause_for(const header_list& headers) {
    const time_point now = now_();
    const millis pause = pause_length(headers, now);
    limiter_.pause_until(now + pause);
    log::info("sync: upstream asked to slow down (429); pausing {} ms", pause.count());
}

void sync_worker::reschedule(watch_id id, time_point now, unsigned attempts,
                             std::string last_status, std::string last_error) {
    double jitter;
    {
        std::lock_guard lock(mutex_);
        jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    }
    poll_outcome outcome{now + next_poll_delay(backoff_, attempts, jitter), attempts,
                         std::move(last_status), std::move(last_error)};
    db_.reschedule_watch(id, outcome, now_());
}

}  // namespace runmirror
