#pragma once
// The runs routes: list, get by id, get by job, delete. Answers from the store when the
// freshness rules allow, otherwise asks upstream and stores what it says. Knows HTTP as plain
// values (http_types) and the store as its domain interface; no sockets, no SQL.

#include <functional>
#include <string>

#include "cache/list_key.hpp"
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

    // Serves |req|, which |route| classified as one of the runs routes. Calls |done| exactly
    // once, on the caller's thread (store answers) or on the upstream's thread (forwards).
    // Thread-safe: any number of calls may run concurrently.
    void handle(const route_match& route, request req, reply_fn done);

  private:
    // A stored answer kept to serve if the upstream fails (stale-if-error).
    struct stored_copy {
        std::string body;
        time_point fetched_at;
    };
    // Stores a 200 answer's body; returns whether it was stored (false: unparsable).
    using keep_fn = std::function<bool(std::string_view body, time_point now)>;

    void get_run(const route_match& route, request req, reply_fn done);
    void list_runs(request req, reply_fn done);
    void delete_run(const route_match& route, request req, reply_fn done);
    response assemble_list(const std::string& tenant, const list_params& params, time_point now);
    // Forwards a read; serves |fallback| if the upstream fails, revokes the tenant's grants on
    // a 401, stores a 200 through |keep|, and relays the rest.
    void forward_read(request req, std::optional<std::string> tenant,
                      std::optional<stored_copy> fallback, std::string fwd, keep_fn keep,
                      reply_fn done);

    store& db_;
    upstream* up_;
    cache_options options_;
    clock_fn now_;
};

}  // namespace runmirror
