// serve_ui: which paths are the UI's, the types they are served with, strong ETags and 304s,
// the redirect to the trailing slash, and nullopt for everything that is not an asset.

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "admin/ui_assets.hpp"

using namespace runmirror;

namespace {

request get(std::string target, header_list headers = {}) {
    request r;
    r.method = "GET";
    r.target = std::move(target);
    r.headers = std::move(headers);
    return r;
}

std::string header_or_empty(const response& r, std::string_view name) {
    auto v = r.header(name);
    return v ? std::string(*v) : std::string();
}

}  // namespace

TEST_CASE("ui assets: index.html, app.js and app.css are embedded with their types") {
    const ui_asset* index = find_ui_asset("index.html");
    const ui_asset* js = find_ui_asset("app.js");
    const ui_asset* css = find_ui_asset("app.css");
    REQUIRE(index);
    REQUIRE(js);
    REQUIRE(css);
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(js->content_type == "text/javascript; charset=utf-8");
    CHECK(css->content_type == "text/css; charset=utf-8");
    CHECK(index->body.find("<!doctype html>") == 0);
    CHECK(index->body.find("app.js") != std::string_view::npos);
    CHECK(js->body.find("/_runmirror") != std::string_view::npos);
    CHECK(find_ui_asset("missing.js") == nullptr);

    // Sorted by name, every name plain, every ETag strong and distinct.
    const auto all = embedded_ui_assets();
    REQUIRE(all.size() >= 3);
    for (std::size_t i = 0; i < all.size(); ++i) {
        CAPTURE(all[i].name);
        CHECK(all[i].name.find('/') == std::string_view::npos);
        CHECK(all[i].etag.size() == 66);  // quotes around 64 hex digits of SHA-256
        CHECK(all[i].etag.front() == '"');
        CHECK(all[i].etag.back() == '"');
        CHECK(!all[i].etag.starts_with("W/"));
        if (i > 0) {
            CHECK(all[i - 1].name < all[i].name);
            CHECK(all[i - 1].etag != all[i].etag);
        }
    }
}

TEST_CASE("ui assets: the slash path is index.html, files by name, with cache and safety headers") {
    for (const char* target :
         {"/_runmirror/ui/", "/_runmirror/ui/index.html", "/_runmirror/ui/?x=1"}) {
        CAPTURE(target);
        auto r = serve_ui(get(target));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(header_or_empty(*r, "content-type") == "text/html; charset=utf-8");
        CHECK(r->body == find_ui_asset("index.html")->body);
        CHECK(header_or_empty(*r, "etag") == find_ui_asset("index.html")->etag);
        CHECK(header_or_empty(*r, "cache-control") == "no-cache");
        CHECK(header_or_empty(*r, "x-content-type-options") == "nosniff");
        const std::string csp = header_or_empty(*r, "content-security-policy");
        CHECK(csp.find("default-src 'none'") != std::string::npos);
        CHECK(csp.find("script-src 'self'") != std::string::npos);
        CHECK(csp.find("connect-src 'self'") != std::string::npos);
    }

    auto js = serve_ui(get("/_runmirror/ui/app.js"));
    REQUIRE(js);
    CHECK(js->status == 200);
    CHECK(header_or_empty(*js, "content-type") == "text/javascript; charset=utf-8");
    CHECK(js->body == find_ui_asset("app.js")->body);
    CHECK(header_or_empty(*js, "etag") == find_ui_asset("app.js")->etag);

    auto css = serve_ui(get("/_runmirror/ui/app.css"));
    REQUIRE(css);
    CHECK(header_or_empty(*css, "content-type") == "text/css; charset=utf-8");
    CHECK(css->body == find_ui_asset("app.css")->body);
}

TEST_CASE("ui assets: If-None-Match with the ETag gets 304 and no body") {
    const std::string etag(find_ui_asset("app.js")->etag);
    const std::string other(find_ui_asset("index.html")->etag);

    for (const std::string& field : {etag, "W/" + etag, other + ", " + etag, other + "," + etag,
                                     std::string("*"), "  " + etag + "  "}) {
        CAPTURE(field);
        auto r = serve_ui(get("/_runmirror/ui/app.js", {{"If-None-Match", field}}));
        REQUIRE(r);
        CHECK(r->status == 304);
        CHECK(r->body.empty());
        CHECK(header_or_empty(*r, "etag") == etag);
        CHECK(header_or_empty(*r, "cache-control") == "no-cache");
    }

    for (const std::string& field :
         {other, std::string("\"nope\""), std::string("W/\"nope\", ") + other,
          etag.substr(1, etag.size() - 2), std::string("\"unterminated"), std::string()}) {
        CAPTURE(field);
        auto r = serve_ui(get("/_runmirror/ui/app.js", {{"if-none-match", field}}));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == find_ui_asset("app.js")->body);
    }
}

TEST_CASE("ui assets: /_runmirror/ui without the slash redirects to it") {
    auto r = serve_ui(get("/_runmirror/ui"));
    REQUIRE(r);
    CHECK(r->status == 301);
    CHECK(header_or_empty(*r, "location") == "/_runmirror/ui/");
    CHECK(r->body.empty());

    auto q = serve_ui(get("/_runmirror/ui?a=b"));
    REQUIRE(q);
    CHECK(q->status == 301);
    CHECK(header_or_empty(*q, "location") == "/_runmirror/ui/?a=b");
}

TEST_CASE("ui assets: anything that is not an asset is nullopt") {
    for (const char* target :
         {"/_runmirror/ui/missing.js", "/_runmirror/ui/app.js/", "/_runmirror/ui/sub/app.js",
          "/_runmirror/ui/../api/agents", "/_runmirror/ui/%2e%2e/app.js", "/_runmirror/ui/APP.JS",
          "/_runmirror/uix", "/_runmirror/uiapp.js", "/_runmirror/api/agents", "/_runmirror/health",
          "/api/v1/extraction/runs", "/", ""}) {
        CAPTURE(target);
        CHECK_FALSE(serve_ui(get(target)).has_value());
    }
}

TEST_CASE("ui assets: HEAD has the headers without the body; other methods get 405") {
    request head = get("/_runmirror/ui/app.css");
    head.method = "HEAD";
    auto r = serve_ui(head);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(header_or_empty(*r, "content-type") == "text/css; charset=utf-8");
    CHECK(header_or_empty(*r, "etag") == find_ui_asset("app.css")->etag);

    request post = get("/_runmirror/ui/");
    post.method = "POST";
    auto p = serve_ui(post);
    REQUIRE(p);
    CHECK(p->status == 405);
    CHECK(header_or_empty(*p, "allow") == "GET, HEAD");

    request unknown = get("/_runmirror/ui/missing.js");
    unknown.method = "DELETE";
    CHECK_FALSE(serve_ui(unknown).has_value());
}
