#pragma once
// What /_runmirror/metrics shows (Prometheus text format 0.0.4): counters and histograms
// recorded where things happen, gauges asked of their owners when scraped.
//
// Recording is one or two relaxed atomic adds into fixed arrays: no lock, no allocation, no
// string on the request path. A scrape reads the atomics (a counter may be a few increments
// ahead of another: each is exact on its own) and calls the registered gauge sources, which
// may take locks and read the store; scrapes are rare.
//
// Threading: every method may be called from any thread.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/router.hpp"
#include "runmirror/result.hpp"

namespace runmirror::obs {

// What the daemon did with a request, read from its Cache-Status (see classify).
enum class cache_outcome : std::uint8_t {
    hit,          // served from the store, fresh
    stale,        // served from the store past its max age (stale-if-error, -while-revalidate)
    assembled,    // a list page assembled from stored resources
    miss,         // asked upstream, nothing usable stored
    revalidated,  // asked upstream although a stored copy existed (aged, or no-cache)
    refused,      // not asked upstream and nothing stored: offline, only-if-cached, bad input
    write,        // a create, cancel or delete, forwarded
    passthrough,  // not an extraction route: relayed untouched
    none,         // the daemon's own routes
};
inline constexpr std::size_t cache_outcome_count = 9;
std::string_view to_string(cache_outcome c);

// The outcome of an answer to a request on |r|, from its Cache-Status field value (nullopt:
// none was set).
cache_outcome classify(route r, std::optional<std::string_view> cache_status);

// Cumulative buckets of durations, Prometheus style.
class histogram {
  public:
    // Upper bounds in seconds, increasing; +Inf is implied.
    static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    void observe(double seconds);
    // "# HELP", "# TYPE" and the series of |name|.
    void render(std::string& out, std::string_view name, std::string_view help) const;

  private:
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1>
        counts_{};  // per bucket, not cumulative
    std::atomic<std::uint64_t> sum_micros_{0};
};

// One gauge family, as a source reports it; a family named *_total is rendered as a counter
// (a source's own count of events).
struct gauge_family {
    std::string name;  // "runmirror_watches"
    std::string help;
    // Label set ("kind=\"run\",state=\"active\"", or "") and value.
    std::vector<std::pair<std::string, double>> series;
};
using gauge_source = std::function<void(std::vector<gauge_family>&)>;

class registry {
  public:
    registry();

    // One answered request: its route, the kind of resource it was about (null: none), the
    // outcome, the status sent and how long the daemon took from its head to its answer.
    void record_request(route r, const resource_kind* kind, cache_outcome outcome, int status,
                        double seconds);
    // One exchange with the upstream (the run cache's, the sync worker's, or a relayed one):
    // the status it answered, or why there was none.
    void record_upstream(int status, errc failure, double seconds);
    // A request that waited for another one's upstream answer instead of sending its own.
    void record_coalesced();
    void record_memory_cache(bool hit);

    // Sources of gauges, called at each scrape; the id removes one (before its owner goes).
    std::uint64_t add_source(gauge_source source);
    void remove_source(std::uint64_t id);

    std::string render();

  private:
    static constexpr std::size_t route_count = static_cast<std::size_t>(route::passthrough) + 1;
    static constexpr std::size_t kind_slots = 4;   // none + the three kinds
    static constexpr std::size_t class_slots = 6;  // "other", then 1xx .. 5xx
    static constexpr std::size_t request_slots =
        route_count * kind_slots * cache_outcome_count * class_slots;
    static constexpr std::size_t failure_slots = static_cast<std::size_t>(errc::internal) + 1;

    std::array<std::atomic<std::uint64_t>, request_slots> requests_{};
    std::array<std::atomic<std::uint64_t>, class_slots> upstream_answers_{};
    std::array<std::atomic<std::uint64_t>, failure_slots> upstream_failures_{};
    std::atomic<std::uint64_t> coalesced_{0};
    std::array<std::atomic<std::uint64_t>, 2> memory_cache_{};  // misses, hits
    histogram store_answers_;
    histogram upstream_exchanges_;

    std::mutex sources_mutex_;
    std::uint64_t next_source_ = 0;
    std::map<std::uint64_t, gauge_source> sources_;
};

// The process's registry: one daemon per process, recorded from every module.
registry& metrics();

// Registers a source for the lifetime of this object.
class scoped_gauge_source {
  public:
    explicit scoped_gauge_source(gauge_source source)
        : id_(metrics().add_source(std::move(source))) {}
    ~scoped_gauge_source() { metrics().remove_source(id_); }
    scoped_gauge_source(const scoped_gauge_source&) = delete;
    scoped_gauge_source& operator=(const scoped_gauge_source&) = delete;

  private:
    std::uint64_t id_;
};

}  // namespace runmirror::obs
