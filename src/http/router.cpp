#include "http/router.hpp"

#include <boost/url/pct_string_view.hpp>

namespace runmirror {

std::string_view to_string(route r) {
    switch (r) {
        case route::health: return "health";
        case route::ready: return "ready";
        case route::admin: return "admin";
        case route::list: return "list";
        case route::item_get: return "item_get";
        case route::item_by_job: return "item_by_job";
        case route::item_delete: return "item_delete";
        case route::item_cancel: return "item_cancel";
        case route::item_result: return "item_result";
        case route::item_create: return "item_create";
        case route::events: return "events";
        case route::passthrough: return "passthrough";
    }
    return "unknown";
}

namespace {

// One path segment, percent-decoded; empty when it is not a single valid segment (an id
// never contains '/', and an invalid escape must not reach the store as a key). Nor '?' once
// decoded ("abc%3Fusage"): the store key of a representation is id + '?' + variant, so that id
// would name job abc's expand=usage representation (found by fuzz/http_request.cpp). An
// escaped '?' in the path text itself cannot occur: it would start the query.
std::string single_segment(std::string_view s) {
    if (s.empty() || s.find('/') != std::string_view::npos) return {};
    if (s.find('%') == std::string_view::npos) return std::string(s);  // nothing to decode
    auto pct = boost::urls::make_pct_string_view(s);
    if (pct.has_error()) return {};
    std::string decoded = pct->decode();
    if (decoded.find_first_of("/?") != std::string::npos) return {};
    return decoded;
}

// |rest|: the path after the kind's collection.
route_match match_resource(const resource_kind& kind, std::string_view method,
                           std::string_view rest) {
    if (rest.empty() || rest == "/") {
        if (method == "GET") return {route::list, {}, &kind};
        if (method == "POST" && kind.created_by_post) return {route::item_create, {}, &kind};
        return {};
    }
    if (rest.front() != '/') return {};
    rest.remove_prefix(1);
    if (!kind.by_job_segment.empty() && rest.starts_with(kind.by_job_segment)) {
        std::string job = single_segment(rest.substr(kind.by_job_segment.size()));
        if (method == "GET" && !job.empty()) return {route::item_by_job, std::move(job), &kind};
        return {};
    }
    if (!kind.result_suffix.empty() && rest.ends_with(kind.result_suffix)) {
        std::string id = single_segment(rest.substr(0, rest.size() - kind.result_suffix.size()));
        if (method == "GET" && !id.empty()) return {route::item_result, std::move(id), &kind};
        return {};
    }
    if (!kind.cancel_suffix.empty() && rest.ends_with(kind.cancel_suffix)) {
        std::string id = single_segment(rest.substr(0, rest.size() - kind.cancel_suffix.size()));
        if (method == "POST" && !id.empty()) return {route::item_cancel, std::move(id), &kind};
        return {};
    }
    std::string id = single_segment(rest);
    if (id.empty()) return {};
    if (method == "GET") return {route::item_get, std::move(id), &kind};
    if (method == "DELETE") return {route::item_delete, std::move(id), &kind};
    return {};
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
    for (const resource_kind* kind : all_kinds()) {
        if (path.starts_with(kind->collection)) {
            return match_resource(*kind, method, path.substr(kind->collection.size()));
        }
    }
    return {};
}

const resource_kind* streamed_create_kind(std::string_view method, std::string_view path) {
    if (method != "POST") return nullptr;
    for (const resource_kind* kind : all_kinds()) {
        for (std::string_view p : kind->streamed_creates)
            if (p == path) return kind;
    }
    return nullptr;
}

bool names_agents(std::string_view method, std::string_view path) {
    constexpr std::string_view agents = "/api/v1/extraction/extraction-agents";
    if (method != "GET" || !path.starts_with(agents)) return false;
    const std::string_view rest = path.substr(agents.size());
    // The list, or one agent: "/{id}" without a further segment.
    return rest.empty() || rest == "/" ||
           (rest.size() > 1 && rest[0] == '/' && rest.find('/', 1) == std::string_view::npos);
}

}  // namespace runmirror
