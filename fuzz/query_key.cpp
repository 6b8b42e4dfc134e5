// Query normalisation and cache keys (cache/list_key.cpp): the input is a request's query
// string. The shortcut decoder must agree with Boost.URL's on every input; a list page's key
// must decode back to the same parameters (sorted) and be its own key; a representation
// (variant_of) must be sorted, without duplicates or empty items, and name itself.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/list_key.hpp"
#include "fuzz_check.hpp"
#include "runmirror/resource_kind.hpp"

using namespace runmirror;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view query(reinterpret_cast<const char*>(data), size);
    const auto params = decode_query(query);
    const auto reference = detail::decode_query_with_boost_url(query);
    FUZZ_CHECK(params.has_value() == reference.has_value());
    if (!params) return 0;
    FUZZ_CHECK(*params == *reference);

    const std::string key = list_key_of(*params);
    const auto again = decode_query(key);
    FUZZ_CHECK(again.has_value());
    query_params sorted = *params;
    std::sort(sorted.begin(), sorted.end());
    FUZZ_CHECK(*again == sorted);
    FUZZ_CHECK(list_key_of(*again) == key);

    if (auto list = list_params_of(*params)) {
        FUZZ_CHECK(list->skip >= 0 && list->limit >= 0);
    }
    for (const resource_kind* kind : all_kinds()) {
        if (auto cursor = cursor_list_params_of(*params, kind->batch_owner_param.empty()
                                                             ? std::string_view("configuration_id")
                                                             : kind->batch_owner_param)) {
            FUZZ_CHECK(cursor->page_size >= 1 && cursor->page_size <= 100);
        }
        const std::string variant = variant_of(*params, kind->variant_param);
        if (kind->variant_param.empty()) {
            FUZZ_CHECK(variant.empty());
            continue;
        }
        // Sorted, unique, no empty items; and asking for it again gives it.
        std::string_view rest = variant, previous;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            const std::string_view item = rest.substr(0, comma);
            FUZZ_CHECK(!item.empty());
            FUZZ_CHECK(previous.empty() || previous < item);
            previous = item;
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        FUZZ_CHECK(variant_of({{std::string(kind->variant_param), variant}}, kind->variant_param) ==
                   variant);
        // The store key of a representation names its kind and id back.
        const std::string stored = store_key(*kind, "id-1", variant);
        FUZZ_CHECK(&kind_of_store_key(stored) == kind);
        FUZZ_CHECK(id_of_store_key(stored) == "id-1");
    }
    return 0;
}
