// Agent names: read from extraction-agents answers (json/agent_names), kept per (agent, project)
// in the store, shown in the browse API's agent summaries only to viewers who see the project.
#include <doctest/doctest.h>

#include <string>

#include "admin/admin_routes.hpp"
#include "http/router.hpp"
#include "json/agent_names.hpp"
#include "json/run_fields.hpp"
#include "support/store_fixtures.hpp"
#include "util/tenant.hpp"

using namespace runmirror;
using runmirror::testing::open_test_store;

namespace {

const time_point t0 = from_unix_ms(1'700'000'000'000);

void put_run(store& db, const std::string& id, const std::string& agent,
             const std::string& project) {
    const std::string body = R"({"id":")" + id + R"(","extraction_agent_id":")" + agent +
                             R"(","project_id":")" + project +
                             R"(","status":"SUCCESS","created_at":"2026-01-01T00:00:00Z"})";
    auto [fields, err] = parse_run(body, kinds::v1_run);
    REQUIRE_FALSE(err);
    db.put_run(fields, body, t0);
}

}  // namespace

TEST_CASE("parse_agent_names: a list, a page of items, one agent; other shapes give nothing") {
    const auto list = parse_agent_names(
        R"([{"id":"a1","name":"Invoices","project_id":"p1","data_schema":{"x":[1,2]}},)"
        R"({"id":"a2","name":"Receipts"},{"id":"a3","name":""},{"name":"no id"},7])",
        "p-query");
    REQUIRE(list.size() == 2);
    CHECK(list[0].extraction_agent_id == "a1");
    CHECK(list[0].name == "Invoices");
    CHECK(list[0].project_id == "p1");
    CHECK(list[1].project_id == "p-query");  // the request's ?project_id= when it names none

    CHECK(parse_agent_names(R"({"items":[{"id":"a1","name":"N","project_id":"p"}]})", "").size() ==
          1);
    const auto one = parse_agent_names(R"({"id":"a9","name":"One","project_id":"p"})", "");
    REQUIRE(one.size() == 1);
    CHECK(one[0].extraction_agent_id == "a9");

    CHECK(parse_agent_names(R"([{"id":"a1","name":"no project"}])", "").empty());
    CHECK(parse_agent_names("not json", "p").empty());
    CHECK(parse_agent_names(R"({"detail":"Not Found"})", "p").empty());
    CHECK(parse_agent_names(std::string(100'000, '['), "p").empty());  // deep: no crash
    CHECK(parse_agent_names("[{\"id\":\"a\",\"name\":\"bad \xFF\",\"project_id\":\"p\"}]", "")[0]
              .name == "bad \xEF\xBF\xBD");
}

TEST_CASE("names_agents: the agents list and one agent, read with GET") {
    CHECK(names_agents("GET", "/api/v1/extraction/extraction-agents"));
    CHECK(names_agents("GET", "/api/v1/extraction/extraction-agents/agent-1"));
    CHECK_FALSE(names_agents("POST", "/api/v1/extraction/extraction-agents"));
    CHECK_FALSE(names_agents("GET", "/api/v1/extraction/extraction-agents/agent-1/schema"));
    CHECK_FALSE(names_agents("GET", "/api/v1/extraction/extraction-agentsx"));
    CHECK_FALSE(names_agents("GET", "/api/v1/extraction/runs"));
}

TEST_CASE("store: agent names join their agent's summary by agent and project" *
          doctest::test_suite("store")) {
    auto db = open_test_store();
    put_run(*db, "run-1", "agent-1", "p1");
    put_run(*db, "run-2", "agent-2", "p1");
    CHECK(db->agent_summaries()[0].name.empty());

    db->put_agent_names({{"agent-1", "p1", "Invoices"},
                         {"agent-1", "p-other", "Same id, another project"},
                         {"agent-2", "", "no project: skipped"}},
                        t0);
    for (const agent_summary& a : db->agent_summaries()) {
        CHECK(a.name == (a.extraction_agent_id == "agent-1" ? "Invoices" : ""));
    }
    // Renamed upstream: the latest answer wins.
    db->put_agent_names({{"agent-1", "p1", "Invoices 2026"}}, t0 + std::chrono::seconds(1));
    for (const agent_summary& a : db->agent_summaries()) {
        if (a.extraction_agent_id == "agent-1") CHECK(a.name == "Invoices 2026");
    }
}

TEST_CASE("browse API: a name is shown with its agent, to viewers who see the project only" *
          doctest::test_suite("store")) {
    auto db = open_test_store();
    put_run(*db, "run-a", "agent-a", "p-a");
    put_run(*db, "run-b", "agent-b", "p-b");
    db->grant(tenant_of_key("key-a"), {"p-a"});
    db->grant(tenant_of_key("key-b"), {"p-b"});
    db->put_agent_names({{"agent-a", "p-a", "Alpha secret name"}, {"agent-b", "p-b", "Beta"}}, t0);

    admin_context ctx;
    ctx.scope = browse_scope::tenant;
    ctx.db = db.get();
    const auto agents_for = [&](std::string_view key) {
        request req;
        req.method = "GET";
        req.target = "/_runmirror/api/agents";
        req.headers = {{"Authorization", "Bearer " + std::string(key)}};
        return handle_admin(match_route(req.method, req.path()), req, ctx, t0);
    };
    const response b = agents_for("key-b");
    REQUIRE(b.status == 200);
    CHECK(b.body.find(R"("name":"Beta")") != std::string::npos);
    CHECK(b.body.find("Alpha secret name") == std::string::npos);
    CHECK(agents_for("key-a").body.find(R"("name":"Alpha secret name")") != std::string::npos);
}
