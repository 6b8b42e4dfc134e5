#pragma once
// The runs routes: list, get by id, get by job, delete. Answers from the store when the
// freshness rules allow, otherwise asks upstream and stores what it says. Knows HTTP as plain
// values (http_types) and the store as its domain interface; no sockets, no SQL.

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/list_key.hpp"
#include "cache/run_observer.hpp"
#include "http/router.hpp"
#include "runmirror/clock.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/options.hpp"
#include "runmirror/store.hpp"
#include "runmirror/upstream.hpp"

namespace runmirror {

class run_cache {
  public:
    using reply_fn = std::function<void(response)>;
    using clock_fn = std::function<time_point()>;

    // |up| may be null in offline mode (it is then never called). |db| and |up| must outlive
    // the cache.
    run_cache(store& db, upstream* up, const cache_options& options, clock_fn now);

    // Serves |req|, which |route| classified as one of the runs routes (or a job creation). Calls
    // |done| exactly once, on the caller's thread (store answers) or on the upstream's thread
    // (forwards). Thread-safe: any number of calls may run concurrently.
    void handle(const route_match& route, request req, reply_fn done);

    // Stores |answer|, the upstream's 2xx answer to a request that created a resource of |kind|
    // and was passed through streamed (resource_kind::streamed_creates), and watches it like
    // one created through handle(). |request_headers| give the tenant. Never throws.
    void store_created(const resource_kind& kind, const header_list& request_headers,
                       std::string_view answer);

    // Tells |observer| (the sync worker) what the cache stores and sees. Call before serving;
    // |observer| must outlive the cache.
    void set_observer(run_observer* observer) { observer_ = observer; }

    // Clients waiting on an upstream request shared with others (coalescing), for tests.
    std::size_t waiting_clients() const;

  private:
    // declined: a good answer relayed but deliberately not stored (it names another resource
    // than the one asked for, or is larger than the store limit), which the client is told
    // (detail=not-stored).
    enum class kept { stored, not_stored, declined, invalid };
    // An answer larger than the store's limit (the upstream client kept it in a file).
    static kept too_large_to_store(const resource_kind& kind);
    // Acts on an upstream answer that is not a failure: stores a 200 (invalid: its body is
    // broken, which counts as a failure), reconciles a 404.
    // |tenant|: the request's (the flight's), passed rather than captured: no copy per miss.
    using settle_fn = std::function<kept(const response& answer,
                                         const std::optional<std::string>& tenant, time_point now)>;
    // What to serve when the upstream fails, given the Cache-Status parameters; empty or
    // nullopt: nothing.
    using fallback_fn =
        std::function<std::optional<response>(const std::string& cache_params, time_point now)>;

    // |tenant|: the request's, from its bearer key (nullopt without one). |req| and |done| are
    // moved from only once the store has been consulted, so that handle() can still forward
    // the request when the store throws.
    void get_run(const route_match& route, std::optional<std::string> tenant, request& req,
                 reply_fn& done);
    void list_runs(const route_match& route, std::optional<std::string> tenant, request& req,
                   reply_fn& done);
    void delete_run(const route_match& route, std::optional<std::string> tenant, request req,
                    reply_fn done);
    // Creates or cancels a resource whose answer is the resource (route::item_create,
    // route::item_cancel): forwarded, the answer stored.
    void write_item(const route_match& route, std::optional<std::string> tenant, request req,
                    reply_fn done);
    // Stores the resource a write answered with (|id|: the one written to, empty for a
    // creation), grants its project and tells the observer.
    void store_written(const resource_kind& kind, const std::optional<std::string>& tenant,
                       std::string_view id, std::string_view answer, time_point now);
    // Acts on a 2xx answer to a write.
    using write_fn = std::function<void(const response& answer, time_point now)>;
    // Forwards a write (refused offline, where |what| names it in the error); |on_success| runs
    // on a 2xx, and a 401 revokes the tenant's grants.
    void forward_write(std::optional<std::string> tenant, request req, std::string_view what,
                       write_fn on_success, reply_fn done);
    // Forwards a read without consulting or writing the store (it failed to read).
    void forward_unstored(request req, reply_fn done);
    void refresh_in_background(std::string flight, request req, std::optional<std::string> tenant,
                               std::string_view fwd, settle_fn settle);
    response assemble_list(const std::string& tenant, const list_params& params,
                           const std::string& cache_params, time_point now);
    response assemble_cursor_page(const resource_kind& kind, const std::string& tenant,
                                  const cursor_list_params& params, time_point now);
    // Forwards a read, shared by every concurrent request with the same |flight| key (tenant
    // and normalised request), and answers all of them with the one result. |fwd| is one of
    // fwd_reason's static texts. |known_body|: the stored bytes being revalidated, if any
    // (upstream::async_revalidate).
    void forward_read(std::string flight, request req, std::optional<std::string> tenant,
                      fallback_fn fallback, std::string_view fwd, settle_fn settle,
                      std::shared_ptr<const std::string> known_body, reply_fn done);
    response answer_read(upstream_reply& reply, const std::optional<std::string>& tenant,
                         const fallback_fn& fallback, std::string_view fwd,
                         const settle_fn& settle);

    // One upstream request and the clients waiting for its answer (coalescing). Created by
    // the first client; what the answer needs is set by it, waiters are added under the lock.
    struct flight {
        std::optional<std::string> tenant;
        fallback_fn fallback;
        std::string_view fwd;
        settle_fn settle;
        // Guarded by flights_mutex_. The first waiter is kept apart: most flights have no other,
        // and then need no vector.
        reply_fn first;
        std::vector<reply_fn> others;
    };
    using flight_map = std::unordered_map<std::string, flight>;
    // Answers every waiter of |entry| (an element of flights_) and forgets it.
    void finish_flight(const flight_map::value_type& entry, response answer);

    store& db_;
    upstream* up_;
    cache_options options_;
    clock_fn now_;
    run_observer* observer_ = nullptr;
    mutable std::mutex flights_mutex_;
    // Elements stay where they are until erased (unordered_map never moves its nodes), so the
    // upstream's callback holds a pointer to its flight rather than a copy of the key.
    flight_map flights_;
};

}  // namespace runmirror
