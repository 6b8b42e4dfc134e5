// JSON ingest for every resource kind (json/run_fields.cpp): the input is an upstream body.
// For each kind, the fast entry points (parse_run, parse_run_list, is_json_object,
// search_data_text) must answer exactly as their careful byte-by-byte pass; what is parsed
// names its kind and a non-empty id, and list items are byte ranges of the body. The browse
// transformations of a stored body (browse_json: pretty_json, json_line, run_data_rows) must
// give valid UTF-8, and pretty printing must be stable; so must the agent names read from an
// extraction-agents answer (json/agent_names).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admin/browse_json.hpp"
#include "fuzz_check.hpp"
#include "json/agent_names.hpp"
#include "json/run_fields.hpp"
#include "util/utf8.hpp"

using namespace runmirror;

namespace {

bool same_fields(const run_fields& a, const run_fields& b) {
    return a.kind == b.kind && a.variant == b.variant && a.id == b.id &&
           a.project_id == b.project_id && a.extraction_agent_id == b.extraction_agent_id &&
           a.job_id == b.job_id && a.file_id == b.file_id && a.file_name == b.file_name &&
           a.status == b.status && a.created_at == b.created_at && a.updated_at == b.updated_at;
}

bool same_error(const error& a, const error& b) {
    return a.code == b.code && a.detail == b.detail;
}

void check_kind(std::string_view body, const resource_kind& kind) {
    auto [run, run_err] = parse_run(body, kind);
    auto [run_ref, run_ref_err] = detail::parse_run_careful(body, kind);
    FUZZ_CHECK(same_error(run_err, run_ref_err));
    if (!run_err) {
        FUZZ_CHECK(same_fields(run, run_ref));
        FUZZ_CHECK(run.kind == &kind);
        FUZZ_CHECK(!run.id.empty());
    }

    auto [list, list_err] = parse_run_list(body, kind);
    auto [list_ref, list_ref_err] = detail::parse_run_list_careful(body, kind);
    FUZZ_CHECK(same_error(list_err, list_ref_err));
    if (!list_err) {
        FUZZ_CHECK(list.total == list_ref.total && list.skip == list_ref.skip &&
                   list.limit == list_ref.limit &&
                   list.next_page_token == list_ref.next_page_token);
        FUZZ_CHECK(list.items.size() == list_ref.items.size());
        for (std::size_t i = 0; i < list.items.size(); ++i) {
            const auto& [fields, bytes] = list.items[i];
            FUZZ_CHECK(same_fields(fields, list_ref.items[i].first));
            FUZZ_CHECK(bytes.data() == list_ref.items[i].second.data() &&
                       bytes.size() == list_ref.items[i].second.size());
            FUZZ_CHECK(bytes.data() >= body.data() &&
                       bytes.data() + bytes.size() <= body.data() + body.size());
            FUZZ_CHECK(fields.kind == &kind && !fields.id.empty());
            // Each item is stored on its own: it must parse as one resource, the same one.
            auto [item, item_err] = parse_run(bytes, kind);
            FUZZ_CHECK(!item_err);
            FUZZ_CHECK(same_fields(item, fields));
        }
    }
    FUZZ_CHECK(search_data_text(body, kind.searchable_member) ==
               detail::search_data_text_careful(body, kind.searchable_member));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    for (const resource_kind* kind : all_kinds())
        check_kind(body, *kind);
    FUZZ_CHECK(is_json_object(body) == detail::is_json_object_careful(body));
    auto [agents, agents_err] = parse_agent_ids(body);
    auto [agents_ref, agents_ref_err] = detail::parse_agent_ids_careful(body);
    FUZZ_CHECK(same_error(agents_err, agents_ref_err));
    FUZZ_CHECK(agents == agents_ref);
    // The names browsing shows beside agent ids: whole entries of valid UTF-8 only.
    for (const agent_name& n : parse_agent_names(body, "p-fallback")) {
        FUZZ_CHECK(!n.extraction_agent_id.empty() && !n.project_id.empty() && !n.name.empty());
        FUZZ_CHECK(is_valid_utf8(n.extraction_agent_id) && is_valid_utf8(n.project_id) &&
                   is_valid_utf8(n.name));
    }

    // What `runs show`, `export` and the browse API make of a stored body.
    if (auto pretty = pretty_json(body, false)) {
        FUZZ_CHECK(is_valid_utf8(*pretty));
        FUZZ_CHECK(pretty_json(*pretty, false) == *pretty);
        const auto line = json_line(*pretty);
        FUZZ_CHECK(line && is_valid_utf8(*line));
        FUZZ_CHECK(line->find_first_of("\r\n") == std::string::npos);
    }
    if (auto data_only = pretty_json(body, true)) FUZZ_CHECK(is_valid_utf8(*data_only));
    if (auto line = json_line(body)) FUZZ_CHECK(is_valid_utf8(*line));
    if (auto rows = run_data_rows(body)) {
        for (const auto& row : *rows)
            for (const auto& [column, text] : row)
                FUZZ_CHECK(is_valid_utf8(column) && is_valid_utf8(text));
    }
    return 0;
}
