#include "store/admin_common.hpp"

#include <string>
#include <utility>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "json/run_fields.hpp"
#include "runmirror/resource_kind.hpp"
#include "store/body_codec.hpp"

namespace runmirror {
namespace {

// Well-formed JSON of any shape (list pages may be arrays); iterative, so no depth limit is
// needed to keep the stack safe.
bool is_json(std::string_view text, std::string* why) {
    rapidjson::Reader reader;
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::BaseReaderHandler<> ignore;
    const rapidjson::ParseResult ok =
        reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(stream,
                                                                                         ignore);
    if (!ok) {
        *why = std::string(rapidjson::GetParseError_En(ok.Code())) + " at byte " +
               std::to_string(ok.Offset());
        return false;
    }
    // kParseStopWhenDone stops after one value: anything but whitespace after it is an error.
    for (std::size_t i = stream.Tell(); i < text.size(); ++i) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            *why = "bytes after the JSON value at byte " + std::to_string(i);
            return false;
        }
    }
    return true;
}

// How people are told which resource a row is: "v1 run run-1", "v2 extract job j-2
// (expand=usage)", "v1 extraction job j-3 (result)", "... (deleted)".
std::string subject_of(std::string_view key, std::string_view kind_name, std::string_view variant,
                       bool deleted) {
    const resource_kind* kind = find_kind(kind_name);
    if (kind == nullptr) kind = &kind_of_store_key(key);
    std::string subject(kind->label);
    subject += ' ';
    subject += id_of_store_key(key);
    if (!variant.empty()) subject += " (" + representation_text(*kind, variant) + ")";
    if (deleted) subject += " (deleted)";
    return subject;
}

}  // namespace

void body_checker::report(std::string subject, std::string problem) {
    ++summary_.problems;
    on_problem_({std::move(subject), std::move(problem)});
}

void body_checker::resource(const stored_body_row& row) {
    ++summary_.bodies_checked;
    std::string body;
    try {
        body = unpack_body_verified(row.body, row.compressed);
    } catch (const store_error& e) {
        report(subject_of(row.key, row.kind, row.variant, row.deleted),
               std::string("its stored body does not decode: ") + e.what());
        return;
    }
    if (!is_json_object(body)) {
        std::string why;
        report(subject_of(row.key, row.kind, row.variant, row.deleted),
               is_json(body, &why) ? "its stored body is JSON but not an object"
                                   : "its stored body is not JSON: " + why);
    }
}

void body_checker::list_page(std::string_view tenant, std::string_view key, std::string_view body) {
    ++summary_.list_pages_checked;
    std::string why;
    if (!is_json(body, &why)) {
        // The tenant is a keyed hash: its first digits tell tenants apart.
        report(
            "list page '" + std::string(key) + "' of tenant " + std::string(tenant.substr(0, 12)),
            "its stored body is not JSON: " + why);
    }
}

group_tally::group_tally() {
    for (const resource_kind* kind : all_kinds())
        group(std::string(kind->name), std::string(kind->label) + "s");
}

stored_group& group_tally::group(const std::string& name, const std::string& label) {
    auto [it, added] = by_name_.try_emplace(name, stored_group{name, label});
    if (added) order_.push_back(name);
    return it->second;
}

void group_tally::add(const std::string& kind_name, const std::string& variant, bool deleted,
                      bool bodiless, std::int64_t rows, std::int64_t stored_bytes,
                      std::int64_t body_bytes) {
    const resource_kind* kind = find_kind(kind_name);
    const std::string label = kind ? std::string(kind->label) : kind_name;
    stored_group* g = nullptr;
    if (deleted) {
        g = &group("tombstones", "deleted resources (tombstones)");
    } else if (bodiless) {
        g = &group("bodiless", "resources without a body");
    } else if (variant.empty()) {
        g = &group(kind_name, label + "s");
    } else if (kind && !kind->variant_param.empty()) {
        g = &group(kind_name + "?" + std::string(kind->variant_param),
                   label + "s: " + std::string(kind->variant_param) + "= representations");
    } else {
        g = &group(kind_name + "?" + variant, label + "s: " + variant + "s");
    }
    g->rows += rows;
    g->stored_bytes += stored_bytes;
    g->body_bytes += body_bytes;
}

std::vector<stored_group> group_tally::take() {
    std::vector<stored_group> out;
    out.reserve(order_.size());
    for (const std::string& name : order_)
        out.push_back(std::move(by_name_.at(name)));
    by_name_.clear();
    order_.clear();
    return out;
}

}  // namespace runmirror
