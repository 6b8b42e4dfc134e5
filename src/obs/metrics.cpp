#include "obs/metrics.hpp"

#include <charconv>
#include <cmath>

namespace runmirror::obs {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

std::size_t class_slot(int status) {
    return status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 0;
}

std::string_view class_name(std::size_t slot) {
    static constexpr std::array<std::string_view, 6> names{"other", "1xx", "2xx",
                                                           "3xx",   "4xx", "5xx"};
    return names[slot];
}

std::size_t kind_slot(const resource_kind* kind) {
    if (kind == nullptr) return 0;
    const auto kinds = all_kinds();
    for (std::size_t i = 0; i < kinds.size() && i + 1 < 4; ++i) {
        if (kinds[i] == kind) return i + 1;
    }
    return 0;
}

std::string_view kind_name(std::size_t slot) {
    return slot == 0 ? std::string_view("none") : all_kinds()[slot - 1]->name;
}

// Prometheus' float format: integers without a fraction, the rest shortest round-trip.
void append_number(std::string& out, double v) {
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    std::array<char, 32> buf;
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), ec == std::errc() ? end : buf.data());
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, double v) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    append_number(out, v);
    out += '\n';
}

}  // namespace

std::string_view to_string(cache_outcome c) {
    static constexpr std::array<std::string_view, cache_outcome_count> names{
        "hit",     "stale", "assembled",   "miss", "revalidated",
        "refused", "write", "passthrough", "none"};
    return names[static_cast<std::size_t>(c)];
}

cache_outcome classify(route r, std::optional<std::string_view> cache_status) {
    if (!cache_status) {
        if (r == route::passthrough) return cache_outcome::passthrough;
        return cache_outcome::none;
    }
    const std::string_view s = *cache_status;
    const auto has = [&](std::string_view part) { return s.find(part) != std::string_view::npos; };
    if (has("; hit")) {
        if (has("detail=assembled")) return cache_outcome::assembled;
        if (has("detail=stale")) return cache_outcome::stale;
        return cache_outcome::hit;
    }
    if (has("fwd=method")) return cache_outcome::write;
    // Forwarded: it has the upstream's status; without one, it was refused before any request.
    if (!has("fwd-status=")) return cache_outcome::refused;
    if (has("fwd=stale") || has("fwd=request")) return cache_outcome::revalidated;
    return cache_outcome::miss;
}

void histogram::observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
        ++i;
    counts_[i].fetch_add(1, relaxed);
    sum_micros_.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e6), relaxed);
}

void histogram::render(std::string& out, std::string_view name, std::string_view help) const {
    append_header(out, name, help, "histogram");
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += counts_[i].load(relaxed);
        std::string le = "le=\"";
        if (i < bounds.size()) {
            append_number(le, bounds[i]);
        } else {
            le += "+Inf";
        }
        le += '"';
        append_sample(out, bucket, le, static_cast<double>(cumulative));
    }
    append_sample(out, std::string(name) + "_sum", "",
                  static_cast<double>(sum_micros_.load(relaxed)) / 1e6);
    append_sample(out, std::string(name) + "_count", "", static_cast<double>(cumulative));
}

registry::registry() = default;

void registry::record_request(route r, const resource_kind* kind, cache_outcome outcome, int status,
                              double seconds) {
    const std::size_t i =
        ((static_cast<std::size_t>(r) * kind_slots + kind_slot(kind)) * cache_outcome_count +
         static_cast<std::size_t>(outcome)) *
            class_slots +
        class_slot(status);
    requests_[i].fetch_add(1, relaxed);
    if (outcome == cache_outcome::hit || outcome == cache_outcome::stale ||
        outcome == cache_outcome::assembled) {
        store_answers_.observe(seconds);
    }
}

void registry::record_upstream(int status, errc failure, double seconds) {
    if (failure != errc::ok) {
        upstream_failures_[static_cast<std::size_t>(failure)].fetch_add(1, relaxed);
    } else {
        upstream_answers_[class_slot(status)].fetch_add(1, relaxed);
    }
    upstream_exchanges_.observe(seconds);
}

void registry::record_coalesced() {
    coalesced_.fetch_add(1, relaxed);
}

void registry::record_memory_cache(bool hit) {
    memory_cache_[hit ? 1 : 0].fetch_add(1, relaxed);
}

std::uint64_t registry::add_source(gauge_source source) {
    std::lock_guard lock(sources_mutex_);
    const std::uint64_t id = next_source_++;
    sources_.emplace(id, std::move(source));
    return id;
}

void registry::remove_source(std::uint64_t id) {
    std::lock_guard lock(sources_mutex_);
    sources_.erase(id);
}

std::string registry::render() {
    std::string out;
    out.reserve(8192);
    append_header(out, "runmirror_build_info", "The running daemon's version.", "gauge");
    append_sample(out, "runmirror_build_info", "version=\"" RUNMIRROR_VERSION "\"", 1);

    append_header(out, "runmirror_requests_total",
                  "Requests answered, by route, resource kind, cache outcome and status class.",
                  "counter");
    for (std::size_t i = 0; i < requests_.size(); ++i) {
        const std::uint64_t n = requests_[i].load(relaxed);
        if (n == 0) continue;
        std::size_t rest = i;
        const std::size_t code = rest % class_slots;
        rest /= class_slots;
        const std::size_t outcome = rest % cache_outcome_count;
        rest /= cache_outcome_count;
        const std::size_t kind = rest % kind_slots;
        const std::size_t r = rest / kind_slots;
        std::string labels = "route=\"";
        labels += to_string(static_cast<route>(r));
        labels += "\",kind=\"";
        labels += kind_name(kind);
        labels += "\",cache=\"";
        labels += to_string(static_cast<cache_outcome>(outcome));
        labels += "\",code=\"";
        labels += class_name(code);
        labels += '"';
        append_sample(out, "runmirror_requests_total", labels, static_cast<double>(n));
    }

    append_header(out, "runmirror_upstream_requests_total",
                  "Exchanges with the upstream, by status class, or by why there was no answer.",
                  "counter");
    for (std::size_t c = 0; c < upstream_answers_.size(); ++c) {
        if (const std::uint64_t n = upstream_answers_[c].load(relaxed)) {
            append_sample(out, "runmirror_upstream_requests_total",
                          "outcome=\"" + std::string(class_name(c)) + '"', static_cast<double>(n));
        }
    }
    for (std::size_t f = 1; f < upstream_failures_.size(); ++f) {
        if (const std::uint64_t n = upstream_failures_[f].load(relaxed)) {
            append_sample(out, "runmirror_upstream_requests_total",
                          "outcome=\"" + std::string(to_string(static_cast<errc>(f))) + '"',
                          static_cast<double>(n));
        }
    }
    store_answers_.render(out, "runmirror_store_answer_seconds",
                          "Time to answer a request from the store (hits, stale, assembled).");
    upstream_exchanges_.render(out, "runmirror_upstream_exchange_seconds",
                               "Time of one exchange with the upstream.");

    append_header(out, "runmirror_coalesced_requests_total",
                  "Requests that waited for another request's upstream answer.", "counter");
    append_sample(out, "runmirror_coalesced_requests_total", "",
                  static_cast<double>(coalesced_.load(relaxed)));
    append_header(out, "runmirror_memory_cache_lookups_total",
                  "Lookups in the memory cache in front of the store.", "counter");
    append_sample(out, "runmirror_memory_cache_lookups_total", "result=\"hit\"",
                  static_cast<double>(memory_cache_[1].load(relaxed)));
    append_sample(out, "runmirror_memory_cache_lookups_total", "result=\"miss\"",
                  static_cast<double>(memory_cache_[0].load(relaxed)));

    std::vector<gauge_family> gauges;
    {
        std::lock_guard lock(sources_mutex_);
        for (auto& [id, source] : sources_)
            source(gauges);
    }
    for (const gauge_family& g : gauges) {
        // A source's count of events (named *_total, as Prometheus wants) is a counter.
        append_header(out, g.name, g.help, g.name.ends_with("_total") ? "counter" : "gauge");
        for (const auto& [labels, value] : g.series)
            append_sample(out, g.name, labels, value);
    }
    return out;
}

registry& metrics() {
    static registry instance;
    return instance;
}

}  // namespace runmirror::obs
