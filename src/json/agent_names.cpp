#include "json/agent_names.hpp"

#include <string>

#include <rapidjson/document.h>

#include "util/utf8.hpp"

namespace runmirror {

namespace {

std::string text_member(const rapidjson::Value& object, const char* key) {
    auto it = object.FindMember(key);
    if (it == object.MemberEnd() || !it->value.IsString()) return {};
    return valid_utf8(std::string_view(it->value.GetString(), it->value.GetStringLength()));
}

void add_agent(const rapidjson::Value& agent, std::string_view fallback_project,
               std::vector<agent_name>& out) {
    if (!agent.IsObject()) return;
    agent_name n{text_member(agent, "id"), text_member(agent, "project_id"),
                 text_member(agent, "name")};
    if (n.project_id.empty()) n.project_id = valid_utf8(fallback_project);
    if (n.extraction_agent_id.empty() || n.name.empty() || n.project_id.empty()) return;
    out.push_back(std::move(n));
}

}  // namespace

std::vector<agent_name> parse_agent_names(std::string_view body,
                                          std::string_view fallback_project) {
    std::vector<agent_name> out;
    rapidjson::Document doc;
    // Iterative: an answer nested a million deep costs memory, never the stack.
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (doc.HasParseError()) return out;
    const rapidjson::Value* list = nullptr;
    if (doc.IsArray()) {
        list = &doc;
    } else if (doc.IsObject()) {
        auto items = doc.FindMember("items");
        if (items != doc.MemberEnd() && items->value.IsArray()) {
            list = &items->value;
        } else {
            add_agent(doc, fallback_project, out);
        }
    }
    if (list != nullptr) {
        for (const rapidjson::Value& agent : list->GetArray())
            add_agent(agent, fallback_project, out);
    }
    return out;
}

}  // namespace runmirror
