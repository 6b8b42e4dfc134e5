#pragma once
// The last requests the daemon answered, in memory (GET /_runmirror/api/requests and the web
// page's Requests view), and the access log: one line per request to a file, as text or JSON.
// A record never holds the key nor the query string (which may carry ids and secrets); its
// tenant is kept whole in memory, to scope the view, and shown only as a short prefix.
//
// Threading: add() and recent() may be called from any thread (one short lock each).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/router.hpp"
#include "obs/metrics.hpp"
#include "runmirror/clock.hpp"

namespace runmirror::obs {

struct request_record {
    time_point at;  // when its head was read
    std::string method;
    std::string path;  // without the query
    route r = route::passthrough;
    const resource_kind* kind = nullptr;
    cache_outcome cache = cache_outcome::none;
    int status = 0;                // 0: the connection ended before an answer
    double seconds = 0;            // from its head to its answer
    double upstream_seconds = -1;  // its upstream exchange; < 0: none
    std::uint64_t bytes = 0;       // body bytes answered, when known
    std::optional<std::string> tenant;
};

// The first 12 hex digits of a tenant: enough to tell tenants apart in a log, useless to
// confirm a key.
std::string short_tenant(const std::string& tenant);

enum class log_format { text, json };

// Which records recent() returns; empty fields match anything.
struct request_filter {
    std::optional<route> r;
    std::optional<cache_outcome> cache;
    int status_class = 0;                    // 2 for 2xx ...; 0: any
    std::string tenant_prefix;               // a short_tenant, or a prefix of one
    std::optional<std::string> only_tenant;  // a viewer scoped to one tenant sees its own only
};

class request_log {
  public:
    // |capacity| records are kept (0: none). |access_log|: a file path, or empty for none.
    // Throws std::runtime_error naming the file when it cannot be opened for appending.
    request_log(std::size_t capacity, const std::string& access_log, log_format format);
    ~request_log();

    // Whether add() keeps or writes anything: callers skip building records otherwise.
    bool enabled() const { return capacity_ > 0 || access_ != nullptr; }
    // Keeps |record|: swaps it with the ring's oldest slot, so |record| comes back holding that
    // slot's old contents (their buffers for the caller's next request to reuse). Once the ring
    // is full, keeping a request neither allocates nor copies its strings (it is on the hit
    // path).
    void add(request_record& record);
    // Newest first, at most |limit|.
    std::vector<request_record> recent(const request_filter& filter, std::size_t limit) const;
    std::size_t capacity() const { return capacity_; }

  private:
    const std::size_t capacity_;
    const log_format format_;
    mutable std::mutex mutex_;
    std::vector<request_record> ring_;  // grows to capacity_, then wraps
    std::size_t next_ = 0;              // the slot the next record goes into, once full
    struct access_file;
    std::unique_ptr<access_file> access_;
};

// One record as the API shows it (a JSON object) and as the access log writes it.
std::string to_json(const request_record& r);
std::string access_line(const request_record& r, log_format format);

// For the API's filters: a cache outcome or route by name.
std::optional<cache_outcome> parse_cache_outcome(std::string_view name);
std::optional<route> parse_route_name(std::string_view name);

}  // namespace runmirror::obs
