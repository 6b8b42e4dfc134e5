#include "obs/request_log.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "http/json_error.hpp"
#include "util/iso_time.hpp"

namespace runmirror::obs {

struct request_log::access_file {
    std::FILE* file = nullptr;
    std::mutex mutex;
    ~access_file() {
        if (file != nullptr) std::fclose(file);
    }
};

std::string short_tenant(const std::string& tenant) {
    return tenant.substr(0, 12);
}

request_log::request_log(std::size_t capacity, const std::string& access_log, log_format format)
    : capacity_(capacity), format_(format) {
    if (access_log.empty()) return;
    access_ = std::make_unique<access_file>();
    access_->file = std::fopen(access_log.c_str(), "ae");
    if (access_->file == nullptr) {
        throw std::runtime_error("--access-log: cannot open " + access_log +
                                 " for appending: " + std::strerror(errno));
    }
}

request_log::~request_log() = default;

void request_log::add(request_record& record) {
    if (access_) {
        const std::string line = access_line(record, format_) + '\n';
        std::lock_guard lock(access_->mutex);
        // Line-buffered in effect: each request's line is whole in the file when it returns,
        // so `tail -f` and log shippers see it at once.
        std::fwrite(line.data(), 1, line.size(), access_->file);
        std::fflush(access_->file);
    }
    // The view's own polling would crowd out what it is there to show.
    if (capacity_ == 0 || record.path == "/_runmirror/api/requests") return;
    std::lock_guard lock(mutex_);
    if (ring_.size() < capacity_) {
        ring_.push_back(std::move(record));
        return;
    }
    std::swap(ring_[next_], record);
    next_ = (next_ + 1) % capacity_;
}

std::vector<request_record> request_log::recent(const request_filter& f, std::size_t limit) const {
    std::vector<request_record> out;
    std::lock_guard lock(mutex_);
    // Newest first: the slot before next_ (once the ring has wrapped), going back.
    const std::size_t n = ring_.size();
    const std::size_t newest = n < capacity_ ? n : next_ + n;  // one past it, modulo n
    for (std::size_t back = 1; back <= n && out.size() < limit; ++back) {
        const request_record& r = ring_[(newest - back) % n];
        if (f.only_tenant && r.tenant != f.only_tenant) continue;
        if (f.r && r.r != *f.r) continue;
        if (f.cache && r.cache != *f.cache) continue;
        if (f.status_class != 0 && r.status / 100 != f.status_class) continue;
        if (!f.tenant_prefix.empty() &&
            (!r.tenant || !short_tenant(*r.tenant).starts_with(f.tenant_prefix))) {
            continue;
        }
        out.push_back(r);
    }
    return out;
}

namespace {

std::string millis_text(double seconds) {
    if (seconds < 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", seconds * 1000.0);
    return buf;
}

std::string kind_text(const request_record& r) {
    return r.kind ? std::string(r.kind->name) : std::string("-");
}

}  // namespace

std::string to_json(const request_record& r) {
    std::string out =
        "{\"at\":\"" + iso_utc(r.at) + "\",\"method\":" + json_quote(r.method) +
        ",\"path\":" + json_quote(r.path) + ",\"route\":\"" + std::string(to_string(r.r)) +
        "\",\"kind\":" + (r.kind ? json_quote(r.kind->name) : std::string("null")) +
        ",\"cache\":\"" + std::string(to_string(r.cache)) +
        "\",\"status\":" + std::to_string(r.status) + ",\"ms\":" + millis_text(r.seconds) +
        ",\"upstream_ms\":" +
        (r.upstream_seconds < 0 ? std::string("null") : millis_text(r.upstream_seconds)) +
        ",\"bytes\":" + std::to_string(r.bytes) +
        ",\"tenant\":" + (r.tenant ? json_quote(short_tenant(*r.tenant)) : std::string("null")) +
        "}";
    return out;
}

std::string access_line(const request_record& r, log_format format) {
    if (format == log_format::json) return to_json(r);
    // Fields in a fixed order, space-separated, "-" for none: easy to cut and grep.
    return iso_utc(r.at) + ' ' + r.method + ' ' + r.path + ' ' + std::to_string(r.status) + ' ' +
           std::string(to_string(r.cache)) + ' ' + kind_text(r) + ' ' + millis_text(r.seconds) +
           "ms up=" + millis_text(r.upstream_seconds) + "ms " + std::to_string(r.bytes) +
           "B tenant=" + (r.tenant ? short_tenant(*r.tenant) : std::string("-"));
}

std::optional<cache_outcome> parse_cache_outcome(std::string_view name) {
    for (std::size_t i = 0; i < cache_outcome_count; ++i) {
        const auto c = static_cast<cache_outcome>(i);
        if (to_string(c) == name) return c;
    }
    return std::nullopt;
}

std::optional<route> parse_route_name(std::string_view name) {
    for (std::size_t i = 0; i <= static_cast<std::size_t>(route::passthrough); ++i) {
        const auto r = static_cast<route>(i);
        if (to_string(r) == name) return r;
    }
    return std::nullopt;
}

}  // namespace runmirror::obs
