// The rows of the resource model: one per kind of extraction resource the mirror serves.
// Facts from the official SDKs (DESIGN.md "The upstream API").
#include <array>

#include "runmirror/resource_kind.hpp"

namespace runmirror {

bool resource_kind::is_final(std::string_view status) const {
    for (std::string_view s : final_statuses)
        if (s == status) return true;
    return false;
}

std::string store_key(const resource_kind& kind, std::string_view id, std::string_view variant) {
    std::string key;
    key.reserve(kind.store_prefix.size() + id.size() + (variant.empty() ? 0 : 1 + variant.size()));
    key += kind.store_prefix;
    key += id;
    if (!variant.empty()) {
        key += '?';
        key += variant;
    }
    return key;
}

std::string representation_text(const resource_kind& kind, std::string_view variant) {
    if (variant.empty()) return "plain";
    // A representation no query parameter selects (a v1 job's "result") is named as it is.
    if (kind.variant_param.empty()) return std::string(variant);
    std::string text(kind.variant_param);
    text += '=';
    text += variant;
    return text;
}

namespace {
constexpr std::array<std::string_view, 2> v1_run_final{"SUCCESS", "ERROR"};
constexpr std::array<std::string_view, 3> v2_job_final{"COMPLETED", "FAILED", "CANCELLED"};
constexpr std::array<std::string_view, 2> v1_job_streamed_creates{"/api/v1/extraction/jobs/file",
                                                                  "/api/v1/extraction/run"};
constexpr std::array<std::string_view, 4> v1_job_final{"SUCCESS", "ERROR", "PARTIAL_SUCCESS",
                                                       "CANCELLED"};
// Every status, for validating filters (DESIGN.md "The upstream API"). THROTTLED is a v2 list
// filter value, so a job may be listed in it.
constexpr std::array<std::string_view, 4> v1_run_statuses{"CREATED", "PENDING", "SUCCESS", "ERROR"};
constexpr std::array<std::string_view, 6> v2_job_statuses{"PENDING", "RUNNING",   "COMPLETED",
                                                          "FAILED",  "CANCELLED", "THROTTLED"};
constexpr std::array<std::string_view, 5> v1_job_statuses{"PENDING", "SUCCESS", "ERROR",
                                                          "PARTIAL_SUCCESS", "CANCELLED"};
}  // namespace

namespace kinds {

const resource_kind v1_run{
    .name = "run",
    .label = "v1 run",
    .collection = "/api/v1/extraction/runs",
    .by_job_segment = "by-job/",
    .cancel_suffix = "",
    .created_by_post = false,  // runs come from jobs (POST /api/v1/extraction/jobs)
    .streamed_creates = {},
    .owner_member = "extraction_agent_id",
    .job_member = "job_id",
    .file_id_member = "file_id",
    .file_object = "file",
    .owner_object = "",
    .searchable_member = "data",
    .final_statuses = v1_run_final,
    .result_suffix = "",
    .made_by_job = nullptr,
    .paging = list_paging::skip_limit,
    .variant_param = "",
    .batch_ids_param = "",
    .batch_owner_param = "extraction_agent_id",
    .page_size_param = "limit",
    .store_prefix = "",
    .statuses = v1_run_statuses,
    .error_member = "error",
};

const resource_kind v2_job{
    .name = "v2_job",
    .label = "v2 extract job",
    .collection = "/api/v2/extract",
    .by_job_segment = "",
    .cancel_suffix = "/cancel",
    .created_by_post = true,
    .streamed_creates = {},
    .owner_member = "configuration_id",
    .job_member = "",
    .file_id_member = "file_input",
    .file_object = "",
    .owner_object = "",
    .searchable_member = "extract_result",
    .final_statuses = v2_job_final,
    .result_suffix = "",
    .made_by_job = nullptr,
    .paging = list_paging::cursor,
    .variant_param = "expand",
    .batch_ids_param = "job_ids",
    .batch_owner_param = "",
    .page_size_param = "page_size",
    .store_prefix = "v2/",
    .statuses = v2_job_statuses,
    .error_member = "error_message",
};

// What SDK 1.x's jobs.extract() / createAndWait() poll: the job says how far the extraction
// is; its result (and its run) exist once it is final.
const resource_kind v1_job{
    .name = "v1_job",
    .label = "v1 extraction job",
    .collection = "/api/v1/extraction/jobs",
    .by_job_segment = "",
    .cancel_suffix = "",
    .created_by_post = true,                      // POST collection (JSON)
    .streamed_creates = v1_job_streamed_creates,  // multipart uploads, inline file data
    .owner_member = "",
    .job_member = "",
    .file_id_member = "file_id",
    .file_object = "file",
    .owner_object = "extraction_agent",
    .searchable_member = "data",  // of its result; the job itself has none
    .final_statuses = v1_job_final,
    .result_suffix = "/result",
    .made_by_job = &v1_run,
    .paging = list_paging::plain_array,
    .variant_param = "",
    .batch_ids_param = "",
    .batch_owner_param = "",
    .page_size_param = "",
    .store_prefix = "v1job/",
    .statuses = v1_job_statuses,
    .error_member = "error",
};

}  // namespace kinds

std::span<const resource_kind* const> all_kinds() {
    static constexpr std::array<const resource_kind*, 3> table{&kinds::v1_run, &kinds::v2_job,
                                                               &kinds::v1_job};
    return table;
}

const resource_kind* find_kind(std::string_view name) {
    for (const resource_kind* k : all_kinds())
        if (k->name == name) return k;
    return nullptr;
}

std::optional<const resource_kind*> parse_kind_filter(std::string_view text) {
    if (text == "all") return nullptr;
    if (const resource_kind* kind = find_kind(text)) return kind;
    return std::nullopt;
}

}  // namespace runmirror

namespace runmirror {

std::string_view id_of_store_key(std::string_view key) {
    key.remove_prefix(kind_of_store_key(key).store_prefix.size());
    return key.substr(0, key.find('?'));
}

const resource_kind& kind_of_store_key(std::string_view key) {
    for (const resource_kind* k : all_kinds())
        if (!k->store_prefix.empty() && key.starts_with(k->store_prefix)) return *k;
    return kinds::v1_run;
}

}  // namespace runmirror
