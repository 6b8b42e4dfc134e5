#pragma once
// Tenants: the SHA-256 of a bearer key. The key itself never leaves memory (not in the store,
// not in logs); only this digest does.

#include <optional>
#include <string>
#include <string_view>

#include "runmirror/http_types.hpp"

namespace runmirror {

// Lower-case hex SHA-256 of |api_key|.
std::string tenant_of_key(std::string_view api_key);

// The key of a request's single "Authorization: Bearer <key>" header; nullopt when there is
// none, several, or another scheme. The view points into |headers|.
std::optional<std::string_view> bearer_key(const header_list& headers);

// The tenant of a request's "Authorization: Bearer <key>" header; nullopt when there is none
// (or it is not a bearer credential): such requests are never served from the store.
std::optional<std::string> tenant_of(const header_list& headers);

}  // namespace runmirror
