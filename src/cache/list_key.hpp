#pragma once
// The cache key of a list request: its query parameters, percent-decoded, sorted and
// re-encoded, so "limit=50&extraction_agent_id=a" and "extraction_agent_id=a&limit=50" share
// one stored page. The tenant is kept beside the key, not in it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace runmirror {

using query_params = std::vector<std::pair<std::string, std::string>>;

// The parameters of |query|, percent-decoded, in order; empty segments ("a=1&&b=2") are
// skipped. nullopt when |query| is not a valid query string (bad percent-encoding). '+' is
// kept as it is (the API does not use form encoding).
std::optional<query_params> decode_query(std::string_view query);

// The cache key of decoded list parameters.
std::string list_key_of(query_params params);

// The filters and window of a list request, for assembling a page from stored runs.
struct list_params {
    std::string extraction_agent_id;
    std::string project_id;
    std::int64_t skip = 0;
    std::int64_t limit = 100;  // the upstream's default page size
};

// nullopt when skip/limit are not non-negative integers.
std::optional<list_params> list_params_of(const query_params& params);

// The filters and window of a cursor-paged list request (v2), for assembling a page from
// stored resources. Only what the store can answer exactly: the owner, project and status
// filters and the page size.
struct cursor_list_params {
    std::string owner;  // the kind's owner filter (v2: configuration_id)
    std::string project_id;
    std::string status;
    std::string page_token;  // as sent; empty on a first page
    std::int64_t page_size = 50;
};

// nullopt when |params| holds anything else (expand, job_ids, a time bound...), a repeated
// filter, or a page_size that is not an integer from 1 to 100.
std::optional<cursor_list_params> cursor_list_params_of(const query_params& params,
                                                        std::string_view owner_param);

// Which representation a request asks for, by its |param| values (v2 "expand"): every value,
// repeated ("expand=a&expand=b") or comma-separated ("expand=b,a"), sorted, without
// duplicates or empty items, joined by commas ("a,b"). Empty when it asks for none, or when
// |param| is empty (the kind has one representation).
std::string variant_of(const query_params& params, std::string_view param);

namespace detail {
// decode_query through Boost.URL for any query. decode_query takes a shorter way for queries
// with nothing to decode (no '%', only characters a query may carry as they are) and must
// agree with this on every input: the unit tests compare the two.
std::optional<query_params> decode_query_with_boost_url(std::string_view query);
}  // namespace detail

}  // namespace runmirror
