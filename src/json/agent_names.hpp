#pragma once
// The agent names in an upstream extraction-agents answer (GET
// /api/v1/extraction/extraction-agents, a JSON array of agents; one agent for
// .../extraction-agents/{id}), for browsing to show beside agent ids. Pure; thread-safe.

#include <string_view>
#include <vector>

#include "runmirror/browse.hpp"

namespace runmirror {

// Every agent of |body| that has a string "id" and a non-empty string "name", with its
// "project_id", or |fallback_project| (the request's ?project_id=) when the agent names none.
// |body| may be an array of agents, an object {"items": [agents]}, or one agent object; anything
// else (not JSON, another shape) gives nothing: names are a convenience, never an error. Invalid
// UTF-8 in a text becomes U+FFFD.
std::vector<agent_name> parse_agent_names(std::string_view body, std::string_view fallback_project);

}  // namespace runmirror
