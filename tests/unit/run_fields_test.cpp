#include "json/run_fields.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace runmirror;

namespace {

// A full ExtractRun as upstream sends it, with members our parser must skip over.
const std::string full_run = R"({
  "id": "run-1",
  "project_id": "proj-1",
  "extraction_agent_id": "agent-1",
  "job_id": "job-1",
  "status": "SUCCESS",
  "created_at": "2024-05-01T10:00:00Z",
  "updated_at": "2024-05-01T10:05:00Z",
  "data": {"id": "not-the-run", "status": "nested", "items": [{"id": "x"}], "n": 1.5e300},
  "extraction_metadata": {"field_metadata": {}, "usage": {"num_pages_extracted": 3}},
  "file": {"id": "file-1", "name": "invoice.pdf", "project_id": "other"},
  "from_ui": false,
  "error": null
})";

}  // namespace

TEST_CASE("parse_run extracts the top-level fields of a run") {
    auto [run, err] = parse_run(full_run);
    REQUIRE_FALSE(err);
    CHECK(run.id == "run-1");
    CHECK(run.project_id == "proj-1");
    CHECK(run.extraction_agent_id == "agent-1");
    CHECK(run.job_id == "job-1");
    CHECK(run.file_id == "file-1");
    CHECK(run.file_name == "invoice.pdf");
    CHECK(run.status == "SUCCESS");
    CHECK(run.created_at == "2024-05-01T10:00:00Z");
    CHECK(run.updated_at == "2024-05-01T10:05:00Z");
}

TEST_CASE("parse_run ignores members of nested objects") {
    SUBCASE("a nested id before the real one") {
        auto [run, err] = parse_run(R"({"data":{"id":"inner","status":"X"},"id":"outer"})");
        REQUIRE_FALSE(err);
        CHECK(run.id == "outer");
        CHECK(run.status == "");
    }
    SUBCASE("only a nested id") {
        auto [run, err] = parse_run(R"({"data":{"id":"inner"},"list":[{"id":"in-array"}]})");
        CHECK(err.code == errc::bad_response);
        CHECK(run.id == "");
    }
    SUBCASE("a file-like object deeper down does not set file fields") {
        auto [run, err] =
            parse_run(R"({"id":"r","data":{"file":{"id":"deep","name":"deep.pdf"}}})");
        REQUIRE_FALSE(err);
        CHECK(run.file_id == "");
        CHECK(run.file_name == "");
    }
    SUBCASE("objects inside file are not file's members") {
        auto [run, err] = parse_run(R"({"id":"r","file":{"meta":{"name":"deep"},"name":"f"}})");
        REQUIRE_FALSE(err);
        CHECK(run.file_name == "f");
    }
}

TEST_CASE("parse_run reads a v1 job's owner and project from its extraction_agent object") {
    const std::string job =
        R"({"id":"job-1","extraction_agent":{"id":"agent-a","project_id":"p-1","name":"A",)"
        R"("config":{"id":"nested","project_id":"no"}},"status":"PENDING","error":null,)"
        R"("file":{"id":"file-9","name":"x.pdf","project_id":"p-file"}})";
    for (auto parse : {&parse_run, &detail::parse_run_careful}) {
        auto [fields, err] = parse(job, kinds::v1_job);
        REQUIRE_FALSE(err);
        CHECK(fields.kind == &kinds::v1_job);
        CHECK(fields.id == "job-1");
        CHECK(fields.extraction_agent_id == "agent-a");
        CHECK(fields.project_id == "p-1");
        CHECK(fields.status == "PENDING");
        CHECK(fields.file_id == "file-9");
        CHECK(fields.file_name == "x.pdf");
    }
    // A project of its own wins over the owner's; a v1 run reads no owner object.
    auto [own, err] = parse_run(R"({"id":"j","project_id":"p-top","extraction_agent":{"id":"a",)"
                                R"("project_id":"p-agent"}})",
                                kinds::v1_job);
    REQUIRE_FALSE(err);
    CHECK(own.project_id == "p-top");
    auto [run, run_err] =
        parse_run(R"({"id":"r","extraction_agent":{"id":"a","project_id":"p"}})", kinds::v1_run);
    REQUIRE_FALSE(run_err);
    CHECK(run.extraction_agent_id.empty());
    CHECK(run.project_id.empty());
}

TEST_CASE("parse_run_list reads a kind whose lists are plain arrays") {
    const std::string body = R"([{"id":"job-1","extraction_agent":{"id":"a","project_id":"p"},)"
                             R"("status":"SUCCESS"},{"id":"job-2","status":"PENDING",)"
                             R"("extraction_agent":{"id":"a","project_id":"p"}}])";
    for (auto parse : {&parse_run_list, &detail::parse_run_list_careful}) {
        auto [list, err] = parse(body, kinds::v1_job);
        REQUIRE_FALSE(err);
        REQUIRE(list.items.size() == 2);
        CHECK(list.items[0].first.id == "job-1");
        CHECK(list.items[0].first.project_id == "p");
        CHECK(list.items[1].first.status == "PENDING");
        CHECK(list.items[1].second ==
              body.substr(body.find("{\"id\":\"job-2")).substr(0, list.items[1].second.size()));
        CHECK(list.items[1].second.back() == '}');
        CHECK(parse("[]", kinds::v1_job).first.items.empty());
        CHECK_FALSE(parse("[]", kinds::v1_job).second);
        CHECK(parse(R"({"items":[]})", kinds::v1_job).second);      // not an array
        CHECK(parse("[1]", kinds::v1_job).second);                  // an item that is no object
        CHECK(parse(R"([{"status":"x"}])", kinds::v1_job).second);  // an item without id
        CHECK(parse("[", kinds::v1_job).second);
        // The other kinds still want an object with "items".
        CHECK(parse("[]", kinds::v1_run).second);
    }
}

TEST_CASE("parse_run treats null, absent and non-string members as empty") {
    auto [run, err] = parse_run(R"({"id":"r","job_id":null,"status":7,"project_id":["p"]})");
    REQUIRE_FALSE(err);
    CHECK(run.job_id == "");
    CHECK(run.status == "");
    CHECK(run.project_id == "");
    CHECK(run.created_at == "");
    CHECK(run.file_name == "");
}

TEST_CASE("parse_run takes file_id from file.id only when the top-level one is missing") {
    CHECK(parse_run(R"({"id":"r","file":{"id":"nested"}})").first.file_id == "nested");
    CHECK(parse_run(R"({"id":"r","file_id":null,"file":{"id":"nested"}})").first.file_id ==
          "nested");
    CHECK(parse_run(R"({"id":"r","file":{"id":"nested"},"file_id":"top"})").first.file_id == "top");
    CHECK(parse_run(R"({"id":"r","file_id":"top","file":{"id":"nested"}})").first.file_id == "top");
    CHECK(parse_run(R"({"id":"r","file":null})").first.file_id == "");
}

TEST_CASE("parse_run decodes escapes in keys and values") {
    auto [run, err] = parse_run(R"({"\u0069d":"r\u00e9\"1","file":{"name":"a\/b \ud83d\ude00"}})");
    REQUIRE_FALSE(err);
    CHECK(run.id == "r\xc3\xa9\"1");
    CHECK(run.file_name == "a/b \xf0\x9f\x98\x80");
}

TEST_CASE("parse_run accepts numbers no machine type can hold") {
    // RapidJSON alone rejects the last three even with kParseNumbersAsStringsFlag.
    std::string body = R"({"id":"r","big":123456789012345678901234567890,"tiny":-0.000001e-999,)"
                       R"("huge":1e999,"huge2":-1.5E+400,"digits":)" +
                       std::string(400, '7') + R"(,"status":"S"})";
    auto [run, err] = parse_run(body);
    REQUIRE_FALSE(err);
    CHECK(run.id == "r");
    CHECK(run.status == "S");
}

TEST_CASE("parse_run still rejects malformed numbers") {
    for (const char* number : {"01", "-01", "1.", "-", "1e", "1e+", "+1", ".5", "1.e5", "--1",
                               "0x10", "1ee5", "Infinity", "NaN", "-Infinity", "1.5.5", "1e5.5"}) {
        std::string body = std::string(R"({"id":"r","n":)") + number + "}";
        CAPTURE(body);
        CHECK(parse_run(body).second.code == errc::bad_response);
        std::string in_array = std::string(R"({"id":"r","n":[)") + number + "]}";
        CAPTURE(in_array);
        CHECK(parse_run(in_array).second.code == errc::bad_response);
    }
    // Digits are only hidden outside strings; inside one they are text.
    auto [run, err] = parse_run(R"({"id":"12\"34\\","n":-0.5e-3,"status":"0"})");
    REQUIRE_FALSE(err);
    CHECK(run.id == "12\"34\\");
    CHECK(run.status == "0");
}

TEST_CASE("parse_run requires an object with a non-empty string id") {
    for (const char* body : {R"({})", R"({"id":""})", R"({"id":null})", R"({"id":42})",
                             R"({"id":{"x":"y"}})", R"([{"id":"r"}])", R"("r")", "42", "null"}) {
        std::string text = body;
        CAPTURE(text);
        auto [run, err] = parse_run(body);
        CHECK(err.code == errc::bad_response);
        CHECK_FALSE(err.detail.empty());
    }
}

TEST_CASE("parse_run rejects invalid and truncated JSON, naming the offset") {
    SUBCASE("truncated inside a string") {
        auto [run, err] = parse_run(R"({"id":"run-1","status":"SUCC)");
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("offset") != std::string::npos);
    }
    SUBCASE("truncated after a member") {
        std::string body = full_run.substr(0, full_run.size() - 2);
        auto [run, err] = parse_run(body);
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("offset") != std::string::npos);
    }
    SUBCASE("empty") {
        CHECK(parse_run("").second.code == errc::bad_response);
        CHECK(parse_run("   ").second.code == errc::bad_response);
    }
    SUBCASE("syntax error") {
        auto [run, err] = parse_run(R"({"id":"r",})");
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("offset 10") != std::string::npos);
    }
    SUBCASE("trailing garbage") {
        CHECK(parse_run(R"({"id":"r"} x)").second.code == errc::bad_response);
        CHECK(parse_run(R"({"id":"r"}{"id":"s"})").second.code == errc::bad_response);
    }
    SUBCASE("a NUL byte after the object") {
        std::string body = R"({"id":"r"})";
        body.push_back('\0');
        body += "junk";
        auto [run, err] = parse_run(body);
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("offset 10") != std::string::npos);
    }
    SUBCASE("trailing whitespace is fine") {
        CHECK_FALSE(parse_run(" {\"id\":\"r\"}\r\n\t ").second);
    }
}

TEST_CASE("parse_run fails cleanly on hostile nesting") {
    SUBCASE("100000 open brackets") {
        std::string body = R"({"id":"r","data":)" + std::string(100000, '[');
        auto [run, err] = parse_run(body);
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("nesting") != std::string::npos);
    }
    SUBCASE("100000 balanced objects") {
        std::string body = R"({"id":"r","data":)";
        for (int i = 0; i < 100000; ++i) {
            body += R"({"a":)";
        }
        body += "1" + std::string(100000, '}') + "}";
        auto [run, err] = parse_run(body);
        CHECK(err.code == errc::bad_response);
        CHECK(err.detail.find("nesting") != std::string::npos);
    }
    SUBCASE("exactly max_json_depth levels is accepted, one more is not") {
        auto nested = [](unsigned arrays) {
            // The run object itself is one level.
            return R"({"id":"r","data":)" + std::string(arrays, '[') + std::string(arrays, ']') +
                   "}";
        };
        CHECK_FALSE(parse_run(nested(max_json_depth - 1)).second);
        CHECK(parse_run(nested(max_json_depth)).second.code == errc::bad_response);
    }
}

// --- parse_run_list -----------------------------------------------------------------------------

namespace {

struct built_list {
    std::string body;
    std::vector<std::string> items;  // each item's exact text
    std::vector<std::size_t> offsets;
};

built_list make_list(const std::vector<std::string>& items, const std::string& tail) {
    built_list out;
    out.body = "{\n  \"skip\": 0,\n  \"items\" : [ ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out.body += " ,\n\t";
        }
        out.offsets.push_back(out.body.size());
        out.body += items[i];
        out.items.push_back(items[i]);
    }
    out.body += "\n ]" + tail + "}";
    return out;
}

}  // namespace

TEST_CASE("parse_run_list returns each item's exact bytes") {
    built_list list = make_list(
        {
            R"({"id":"run-a","project_id":"p","status":"PENDING","data":{"id":"x","v":[1,{"y":"}"}]}})",
            R"({ "id" : "run-\u00e9\"b" , "n" : 123456789012345678901234567890, "s":"\ud83d\ude00\\" })",
            R"({"unknown":{"deep":[[[]]]},"id":"run-c","file":{"id":"f","name":"n}"},"z":-1.5E+10})",
            R"({"id":"run-d","extraction_agent_id":"a","items":[{"id":"not-an-item"}]})",
            R"({"id":"run-e","huge":-1e999,"digits":[)" + std::string(400, '9') + "]}",
        },
        ",\n  \"total\": 12345678901, \"limit\": 5, \"next\": null");

    auto [page, err] = parse_run_list(list.body);
    REQUIRE_FALSE(err);
    REQUIRE(page.items.size() == list.items.size());
    for (std::size_t i = 0; i < page.items.size(); ++i) {
        CAPTURE(i);
        std::string_view span = page.items[i].second;
        REQUIRE_FALSE(span.empty());
        CHECK(span.front() == '{');
        CHECK(span.back() == '}');
        CHECK(span == list.items[i]);
        // A view into the body itself, not a copy.
        CHECK(span.data() == list.body.data() + list.offsets[i]);
    }
    CHECK(page.items[0].first.id == "run-a");
    CHECK(page.items[0].first.status == "PENDING");
    CHECK(page.items[1].first.id == "run-\xc3\xa9\"b");
    CHECK(page.items[2].first.id == "run-c");
    CHECK(page.items[2].first.file_id == "f");
    CHECK(page.items[2].first.file_name == "n}");
    CHECK(page.items[3].first.extraction_agent_id == "a");
    CHECK(page.items[4].first.id == "run-e");
    CHECK(page.total == 12345678901);
    CHECK(page.skip == 0);
    CHECK(page.limit == 5);
}

TEST_CASE("parse_run_list accepts an empty page and members in any order") {
    auto [page, err] = parse_run_list(R"({"total":0,"limit":50,"skip":100,"items":[]})");
    REQUIRE_FALSE(err);
    CHECK(page.items.empty());
    CHECK(page.total == 0);
    CHECK(page.skip == 100);
    CHECK(page.limit == 50);
}

TEST_CASE("parse_run_list only reads the top-level items array") {
    auto [page, err] = parse_run_list(
        R"({"meta":{"items":[{"id":"nope"}]},"other":[{"id":"nope"}],"items":[{"id":"yes"}]})");
    REQUIRE_FALSE(err);
    REQUIRE(page.items.size() == 1);
    CHECK(page.items[0].first.id == "yes");
    CHECK(page.items[0].second == R"({"id":"yes"})");
}

TEST_CASE("parse_run_list rejects malformed pages") {
    for (const char* body : {
             R"({"total":1})",                                 // no items
             R"({"items":null})",                              // items not an array
             R"({"items":{"id":"r"}})",                        // items is an object
             R"({"items":"r"})",                               // items is a string
             R"({"items":[{"id":"r"},"s"]})",                  // an item is not an object
             R"({"items":[{"id":"r"},[{"id":"s"}]]})",         // an item is an array
             R"({"items":[{"id":"r"},{"data":{"id":"s"}}]})",  // an item without id
             R"({"items":[],"total":"3"})",                    // total not a number
             R"({"items":[],"total":1.5})",                    // total not an integer
             R"({"items":[],"limit":99999999999999999999})",   // limit out of range
             R"([{"id":"r"}])",                                // not an object
             R"({"items":[{"id":"r"})",                        // truncated
             R"({"items":[{"id":"r"},]})",                     // trailing comma
         }) {
        std::string text = body;
        CAPTURE(text);
        auto [page, err] = parse_run_list(body);
        CHECK(err.code == errc::bad_response);
        CHECK_FALSE(err.detail.empty());
        CHECK(page.items.empty());
    }
}

TEST_CASE("parse_run_list names the item that has no id") {
    auto [page, err] = parse_run_list(R"({"items":[{"id":"r"},{"id":"s"},{"id":7}]})");
    CHECK(err.code == errc::bad_response);
    CHECK(err.detail.find("items[2]") != std::string::npos);
}

TEST_CASE("parse_run_list fails cleanly on hostile nesting and truncation") {
    SUBCASE("deep nesting inside an item") {
        std::string body = R"({"items":[{"id":"r","data":)" + std::string(100000, '[');
        CHECK(parse_run_list(body).second.code == errc::bad_response);
    }
    SUBCASE("every prefix of a valid page fails") {
        built_list list =
            make_list({R"({"id":"a","n":12345678901234567890})", R"({"id":"b"})"}, R"(,"total":2)");
        REQUIRE_FALSE(parse_run_list(list.body).second);
        for (std::size_t n = 0; n < list.body.size(); ++n) {
            CAPTURE(n);
            auto [page, err] = parse_run_list(std::string_view(list.body).substr(0, n));
            CHECK(err.code == errc::bad_response);
        }
    }
}

TEST_CASE("is_json_object accepts any object and nothing else") {
    CHECK(is_json_object(R"({"detail":"busy"})"));
    CHECK(is_json_object(R"( {"a":[1,2,{"b":1e999}]} )"));
    CHECK_FALSE(is_json_object("<html>502 Bad Gateway</html>"));
    CHECK_FALSE(is_json_object(R"(["not","an","object"])"));
    CHECK_FALSE(is_json_object(R"({"detail":)"));
    CHECK_FALSE(is_json_object(""));
    CHECK_FALSE(is_json_object(std::string(100000, '[')));
    CHECK_FALSE(is_json_object(std::string("{}\0junk", 7)));
}

TEST_CASE("agent ids come from a JSON array of agents, top-level ids only") {
    auto [ids, err] = parse_agent_ids(
        R"([{"id":"a1","name":"x","config":{"id":"nested"}},{"name":"no id"},{"id":"a2"}])");
    CHECK_FALSE(err);
    CHECK(ids == std::vector<std::string>{"a1", "a2"});
    CHECK(parse_agent_ids(R"({"id":"a1"})").second);
    CHECK(parse_agent_ids(R"([{"id":"a1"})").second);
    CHECK(parse_agent_ids("[]").first.empty());
}

TEST_CASE("an agent whose id is not a string has no id") {
    auto [ids, err] = parse_agent_ids(R"([{"id":42},{"id":null},{"id":"a1"},{"id":1e999}])");
    CHECK_FALSE(err);
    CHECK(ids == std::vector<std::string>{"a1"});
    CHECK(parse_agent_ids("7").second);
}
