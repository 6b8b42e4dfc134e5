// Request framing and routing, as a client session does them (net/http_session.cpp): bytes
// through Beast's request parser with the daemon's limits, read as the network would deliver
// them (in pieces the input chooses), then the framing and site checks, the router, the query
// decoder, the cache-directive reader, and the daemon's own routes (health, ready, the browse
// API over a small in-memory store), whose every answer must be JSON.
//
// The first input byte picks the read size (1..256 bytes); the rest is the connection's bytes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/admin_routes.hpp"
#include "cache/list_key.hpp"
#include "fuzz_check.hpp"
#include "http/header_rules.hpp"
#include "http/request_site.hpp"
#include "http/router.hpp"
#include "json/run_fields.hpp"
#include "runmirror/options.hpp"
#include "runmirror/store.hpp"
#include "util/tenant.hpp"
#include "util/utf8.hpp"

namespace http = boost::beast::http;
using namespace runmirror;

namespace {

// A store with a few runs of each kind, so the browse API has something to list and filter.
store& seeded_store() {
    static std::unique_ptr<store> db = [] {
        // The browse API computes the tenant of a request's bearer key, as the daemon does
        // with the secret it installs at start.
        tenant_secret secret{};
        secret.fill(0x5a);
        install_tenant_secret(secret);
        auto s = open_sqlite_store(":memory:");
        const time_point at = from_unix_ms(1'736'928'000'000);
        const char* const runs[] = {
            R"({"id":"r-1","extraction_agent_id":"agent-1","project_id":"p-1","status":"SUCCESS",)"
            R"("created_at":"2025-01-15T08:00:00Z","updated_at":"2025-01-15T08:01:00Z",)"
            R"("file":{"id":"f-1","name":"invoice.pdf"},"job_id":"j-1","data":{"total":42}})",
            R"({"id":"r-2","extraction_agent_id":"agent-1","project_id":"p-1","status":"PENDING",)"
            "\"created_at\":\"9999-12-31T23:59:59Z\",\"file\":{\"name\":\"Z\xFCrich\"},"
            R"("data":null})",
        };
        for (const char* body : runs) {
            auto [fields, err] = parse_run(body);
            if (!err) s->put_run(fields, body, at);
        }
        const char* job = R"({"id":"job-1","configuration_id":"cfg-1","project_id":"p-1",)"
                          R"("status":"COMPLETED","created_at":"2025-01-16T00:00:00Z",)"
                          R"("extract_result":{"a":"b"}})";
        auto [fields, err] = parse_run(job, kinds::v2_job);
        if (!err) s->put_run(fields, job, at);
        return s;
    }();
    return *db;
}

header_list to_header_list(const http::fields& fields) {
    // As net/session_io.cpp does (that file is Asio's; this target stays without it).
    header_list out;
    for (const auto& f : fields)
        out.push_back({std::string(f.name_string()), std::string(f.value())});
    return out;
}

void check_json(const response& r) {
    const std::string_view body = r.body_bytes();
    if (body.empty()) return;
    FUZZ_CHECK(is_valid_utf8(body));
    FUZZ_CHECK(is_json_object(body));
}

void route_request(const http::request_parser<http::string_body>& parser) {
    const auto& head = parser.get();
    request req;
    req.method = std::string(head.method_string());
    req.target = std::string(head.target());
    req.headers = to_header_list(head);
    if (parser.is_done()) req.body = head.body();

    if (auto bad = check_request_framing(req.method, req.target, req.headers)) {
        FUZZ_CHECK(bad->status >= 400 && bad->status < 600);
        return;
    }
    static const site_policy site = make_site_policy("127.0.0.1", {});
    if (auto refused = check_request_site(req.path(), req.headers, site)) {
        FUZZ_CHECK(refused->status >= 400 && refused->status < 600);
        return;
    }
    const route_match route = match_route(req.method, req.path());
    (void)streamed_create_kind(req.method, req.path());
    (void)parse_cache_directives(req.headers);
    (void)end_to_end_headers(req.headers);
    if (route.resource) {
        // A resource route names one resource by an id that is one path segment.
        FUZZ_CHECK(route.id.empty() ==
                   (route.kind == route::list || route.kind == route::item_create));
        FUZZ_CHECK(route.id.find('/') == std::string::npos);
        const std::string key = store_key(*route.resource, route.id);
        FUZZ_CHECK(&kind_of_store_key(key) == route.resource);
        FUZZ_CHECK(id_of_store_key(key) == route.id);
        if (auto params = decode_query(req.query())) {
            (void)list_key_of(*params);
            (void)variant_of(*params, route.resource->variant_param);
        }
        return;
    }
    if (route.kind == route::health || route.kind == route::ready || route.kind == route::admin) {
        static store& db = seeded_store();
        const admin_context ctx{
            .mode = serve_mode::offline, .upstream_url = "http://upstream.invalid", .db = &db};
        const response r = handle_admin(route, req, ctx, from_unix_ms(1'736'928'000'000));
        FUZZ_CHECK(r.status >= 200 && r.status < 600);
        const auto type = r.header("Content-Type");
        if (type && type->starts_with("application/json")) check_json(r);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t piece = 1 + data[0];
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const std::size_t total = size - 1;

    http::request_parser<http::string_body> parser;
    const serve_options defaults;
    parser.header_limit(static_cast<std::uint32_t>(defaults.limits.header_limit));
    parser.body_limit(defaults.limits.request_body_limit);
    parser.eager(true);
    // The bytes read so far are [0, available); the parser has consumed [0, used).
    std::size_t used = 0, available = std::min(piece, total);
    boost::system::error_code ec;
    while (!parser.is_done()) {
        const std::size_t n = parser.put(boost::asio::buffer(bytes + used, available - used), ec);
        used += n;
        if (ec == http::error::need_more || (!ec && n == 0)) {
            if (available == total) {
                parser.put_eof(ec);
                break;
            }
            available = std::min(available + piece, total);
            ec = {};
            continue;
        }
        if (ec) break;
    }
    // The session routes once the head is read, whatever the body turns out to be.
    if (parser.is_header_done()) route_request(parser);
    return 0;
}
