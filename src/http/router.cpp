#include "http/router.hpp"

#include <boost/url/pct_string_view.hpp>

namespace runmirror {

std::string_view to_string(route r) {
    switch (r) {
        case route::health: return "health";
        case route::ready: return "ready";
        case route::admin: return "admin";
        case route::runs_list: return "runs_list";
        case route::run_get: return "run_get";
        case route::run_by_job: return "run_by_job";
        case route::run_delete: return "run_delete";
        case route::job_create: return "job_create";
        case route::events: return "events";
        case route::passthrough: return "passthrough";
    }
    return "unknown";
}

namespace {

constexpr std::string_view runs_prefix = "/api/v1/extraction/runs";

// One path segment, percent-decoded; empty when it is not a single valid segment (a run id
// never contains '/', and an invalid escape must not reach the store as a key).
std::string single_segment(std::string_view s) {
    if (s.empty() || s.find('/') != std::string_view::npos) return {};
    if (s.find('%') == std::string_view::npos) return std::string(s);  // nothing to decode
    auto pct = boost::urls::make_pct_string_view(s);
    if (pct.has_error()) return {};
    std::string decoded = pct->decode();
    if (decoded.find('/') != std::string::npos) return {};
    return decoded;
}

}  // namespace

route_match match_route(std::string_view method, std::string_view path) {
    if (path.starts_with("/_runmirror/") || path == "/_runmirror") {
        if (path == "/_runmirror/health" && (method == "GET" || method == "HEAD")) {
            return {route::health, {}};
        }
        if (path == "/_runmirror/ready" && (method == "GET" || method == "HEAD")) {
            return {route::ready, {}};
        }
        if (path == "/_runmirror/events" && method == "GET") return {route::events, {}};
        return {route::admin, {}};
    }
    if (path == "/api/v1/extraction/jobs" && method == "POST") return {route::job_create, {}};
    if (!path.starts_with(runs_prefix)) return {};
    std::string_view rest = path.substr(runs_prefix.size());
    if (rest.empty() || rest == "/") {
        return method == "GET" ? route_match{route::runs_list, {}} : route_match{};
    }
    if (rest.front() != '/') return {};
    rest.remove_prefix(1);
    if (rest.starts_with("by-job/")) {
        std::string job = single_segment(rest.substr(7));
        if (method == "GET" && !job.empty()) return {route::run_by_job, std::move(job)};
        return {};
    }
    std::string id = single_segment(rest);
    if (id.empty()) return {};
    if (method == "GET") return {route::run_get, std::move(id)};
    if (method == "DELETE") return {route::run_delete, std::move(id)};
    return {};
}

}  // namespace runmirror
