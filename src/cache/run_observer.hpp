#pragma once
// What the run cache tells the rest of the daemon (the sync worker) about what it sees.
// Called on the thread that handled the request or the upstream answer; must not block.

#include <optional>
#include <string>
#include <string_view>

#include "runmirror/run_record.hpp"

namespace runmirror {

// How a stored answer came: a client's read of one resource, a list page, or a client's write
// (a create or cancel answer).
enum class seen_in { read, list, write };

class run_observer {
  public:
    virtual ~run_observer() = default;

    // An upstream answer about |run| was stored; |previous_status| is what the store held
    // before ("" when the run is new). |tenant| is whose key fetched it.
    virtual void on_run_stored(const run_fields& run, std::string_view previous_status,
                               const std::optional<std::string>& tenant, seen_in how) = 0;
    // A request carried this bearer key (|tenant| is its digest): polls for the tenant may use
    // it (memory only). Called on every request with a key, so it must be cheap.
    virtual void on_api_key(std::string_view api_key, const std::string& tenant) = 0;
};

}  // namespace runmirror
