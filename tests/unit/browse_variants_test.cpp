// Browsing resources stored as several representations (a v2 job read with ?expand= is stored
// once per expand set, resource_kind::variant_param): store::browse_runs lists each resource
// once, by its plain representation when stored, else by its first variant
// (browse_representation); store::find_run_or_variant opens one the same way. Every case runs
// on ":memory:", on a file, and behind the memory cache.

#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "runmirror/store.hpp"
#include "support/store_fixtures.hpp"

using namespace runmirror;
using runmirror::testing::on_each_store;

namespace {

const time_point fetched = from_unix_ms(1'736'928'000'000);

std::string at_minute(int m) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "2025-01-15T%02d:%02d:00.000000Z", 8 + m / 60, m % 60);
    return buf;
}

// A v2 job's representation |variant| ("" plain, "usage", "configuration,usage"), created at
// minute |minute|; |word| goes into its extract_result, for search.
void put_job(store& s, const std::string& id, const std::string& variant, int minute,
             const std::string& word = "plainword", const std::string& status = "COMPLETED") {
    run_fields f;
    f.kind = &kinds::v2_job;
    f.variant = variant;
    f.id = id;
    f.project_id = "proj-1";
    f.extraction_agent_id = "cfg-1";
    f.file_id = "dfl-" + id;
    f.status = status;
    f.created_at = at_minute(minute);
    f.updated_at = at_minute(minute + 1);
    std::string body = R"({"id":")" + id +
                       R"(","project_id":"proj-1","configuration_id":"cfg-1",)" +
                       R"("file_input":"dfl-)" + id + R"(","status":")" + status +
                       R"(","created_at":")" + f.created_at + R"(","updated_at":")" + f.updated_at +
                       R"(","extract_result":{"note":")" + word + R"("})";
    if (!variant.empty()) body += R"(,"usage":{"variant":")" + variant + R"("})";
    body += "}";
    s.put_run(f, body, fetched);
}

void put_v1_run(store& s, const std::string& id, int minute) {
    run_fields f;
    f.id = id;
    f.project_id = "proj-1";
    f.extraction_agent_id = "agent-a";
    f.job_id = "job-" + id;
    f.status = "SUCCESS";
    f.created_at = at_minute(minute);
    f.updated_at = at_minute(minute + 1);
    s.put_run(f, R"({"id":")" + id + R"(","status":"SUCCESS","data":{"note":"plainword"}})",
              fetched);
}

run_browse_query of_kind(const resource_kind* kind, std::size_t limit = 100) {
    run_browse_query q;
    q.kind = kind;
    q.limit = limit;
    return q;
}

// "id" for a plain item, "id?variant" for a variant standing in for its job.
std::vector<std::string> shown(const run_browse_page& page) {
    std::vector<std::string> out;
    for (const stored_run& r : page.items)
        out.push_back(r.fields.variant.empty() ? r.fields.id
                                               : r.fields.id + "?" + r.fields.variant);
    return out;
}

// Every page of |q|, |size| items at a time.
std::vector<std::string> walk(store& s, run_browse_query q, std::size_t size) {
    q.limit = size;
    std::vector<std::string> out;
    for (int pages = 0; pages < 100; ++pages) {
        const run_browse_page page = s.browse_runs(q);
        for (const auto& x : shown(page))
            out.push_back(x);
        if (!page.next) break;
        q.after = page.next;
    }
    return out;
}

}  // namespace

TEST_CASE("browse variants: a job stored only as variants is listed once, by its first variant" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_job(s, "a", "", 1);
        put_job(s, "a", "usage", 1);
        put_job(s, "b", "usage", 2);
        put_job(s, "b", "configuration,usage", 2);
        put_job(s, "c", "usage", 3);
        put_v1_run(s, "r1", 4);

        CHECK(shown(s.browse_runs(of_kind(&kinds::v2_job))) ==
              std::vector<std::string>{"c?usage", "b?configuration,usage", "a"});
        CHECK(shown(s.browse_runs(of_kind(nullptr))) ==
              std::vector<std::string>{"r1", "c?usage", "b?configuration,usage", "a"});
        CHECK(shown(s.browse_runs(of_kind(&kinds::v1_run))) == std::vector<std::string>{"r1"});

        // Pages assembled for an SDK hold plain representations only.
        run_browse_query plain = of_kind(&kinds::v2_job);
        plain.representation = browse_representation::plain_only;
        CHECK(shown(s.browse_runs(plain)) == std::vector<std::string>{"a"});

        // Filters apply to the representation standing in, bodies come with it when asked.
        run_browse_query with_bodies = of_kind(&kinds::v2_job);
        with_bodies.with_bodies = true;
        with_bodies.status = "COMPLETED";
        with_bodies.extraction_agent_id = "cfg-1";
        const run_browse_page page = s.browse_runs(with_bodies);
        REQUIRE(page.items.size() == 3);
        CHECK(page.items[0].body.find(R"("usage":{"variant":"usage"})") != std::string::npos);
        CHECK(page.items[2].body.find(R"("usage")") == std::string::npos);

        // Once the plain representation is stored, it stands for the job.
        put_job(s, "c", "", 3);
        CHECK(shown(s.browse_runs(of_kind(&kinds::v2_job))) ==
              std::vector<std::string>{"c", "b?configuration,usage", "a"});
    });
}

TEST_CASE("browse variants: keyset pages cover each job once, also across equal created_at" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        // One minute for all: the store key breaks the tie, and "v2/a5" sorts before
        // "v2/a?usage" though "v2/a" sorts before "v2/a5".
        put_job(s, "a", "usage", 7);
        put_job(s, "a", "configuration", 7);
        put_job(s, "a5", "", 7);
        put_job(s, "a5", "usage", 7);
        put_job(s, "b", "usage", 7);
        put_job(s, "a0", "", 7);
        put_job(s, "z", "extract_metadata", 6);
        const std::vector<std::string> whole = shown(s.browse_runs(of_kind(&kinds::v2_job)));
        CHECK(whole == std::vector<std::string>{"b?usage", "a?configuration", "a5", "a0",
                                                "z?extract_metadata"});
        for (std::size_t size : {1u, 2u, 3u, 4u}) {
            CAPTURE(size);
            CHECK(walk(s, of_kind(&kinds::v2_job), size) == whole);
            CHECK(walk(s, of_kind(nullptr), size) == whole);
        }
    });
}

TEST_CASE("browse variants: a deleted job is gone in every representation" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_job(s, "gone", "usage", 1);
        put_job(s, "gone", "configuration", 1);
        put_job(s, "kept", "usage", 2);
        s.tombstone_run(store_key(kinds::v2_job, "gone"), fetched);
        CHECK(shown(s.browse_runs(of_kind(&kinds::v2_job))) ==
              std::vector<std::string>{"kept?usage"});
        const auto gone = s.find_run_or_variant(store_key(kinds::v2_job, "gone"));
        REQUIRE(gone);
        CHECK(gone->deleted_at);
    });
}

TEST_CASE("browse variants: search finds a job once, whichever representations matched" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_job(s, "both", "", 1, "quokka");
        put_job(s, "both", "usage", 1, "quokka");
        put_job(s, "only-expanded", "usage", 2, "quokka");
        put_job(s, "only-expanded", "configuration", 2, "quokka");
        put_job(s, "other", "usage", 3, "wombat");
        run_browse_query q = of_kind(&kinds::v2_job);
        q.search = "quok";
        CHECK(shown(s.browse_runs(q)) ==
              std::vector<std::string>{"only-expanded?configuration", "both"});
        q.kind = nullptr;
        CHECK(shown(s.browse_runs(q)) ==
              std::vector<std::string>{"only-expanded?configuration", "both"});
    });
}

TEST_CASE("find_run_or_variant: the plain representation, else the first stored variant" *
          doctest::test_suite("store")) {
    on_each_store([](store& s) {
        put_job(s, "p", "", 1);
        put_job(s, "p", "configuration", 1);
        put_job(s, "v", "usage", 2);
        put_job(s, "v", "extract_metadata", 2);
        put_job(s, "v5", "", 3);  // sorts between "v" and "v?..."; never one of v's
        put_v1_run(s, "r1", 4);

        auto plain = s.find_run_or_variant(store_key(kinds::v2_job, "p"));
        REQUIRE(plain);
        CHECK(plain->fields.id == "p");
        CHECK(plain->fields.variant.empty());

        auto variant = s.find_run_or_variant(store_key(kinds::v2_job, "v"));
        REQUIRE(variant);
        CHECK(variant->fields.id == "v");
        CHECK(variant->fields.kind == &kinds::v2_job);
        CHECK(variant->fields.variant == "extract_metadata");
        CHECK(variant->body.find(R"("variant":"extract_metadata")") != std::string::npos);

        CHECK_FALSE(s.find_run_or_variant(store_key(kinds::v2_job, "nope")));
        CHECK_FALSE(s.find_run_or_variant(store_key(kinds::v2_job, "")));
        auto run = s.find_run_or_variant("r1");
        REQUIRE(run);
        CHECK(run->fields.kind == &kinds::v1_run);
        CHECK_FALSE(s.find_run_or_variant("r2"));
        // The job's plain key is what is asked for; a variant key is only itself.
        CHECK_FALSE(s.find_run_or_variant(store_key(kinds::v2_job, "v", "x")));
    });
}
