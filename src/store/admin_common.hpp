#pragma once
// What `runmirror db` makes of the store's rows, shared by both backends (sqlite_admin,
// pg_admin): each reads its rows its own way and hands them here, so that stats groups them and
// check judges every stored body the same whichever database they came from. Private to
// src/store.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runmirror/store_admin.hpp"

namespace runmirror {

// A resource's row as the store keeps it: its store key, kind and variant columns (either may
// be empty in a store older than them), and its body as stored.
struct stored_body_row {
    std::string_view key;
    std::string_view kind;
    std::string_view variant;
    bool deleted = false;
    std::string_view body;
    bool compressed = false;  // body is a compressed frame (store/body_codec)
};

// Counts what it is shown into |summary| and reports each problem through |on_problem|.
class body_checker {
  public:
    body_checker(store_check_summary& summary,
                 const std::function<void(const store_problem&)>& on_problem)
        : summary_(summary), on_problem_(on_problem) {}

    // The body must decode (checksums verified) and be one JSON object.
    void resource(const stored_body_row& row);
    // The body must be well-formed JSON (of any shape). |tenant| is the keyed hash.
    void list_page(std::string_view tenant, std::string_view key, std::string_view body);
    // A problem found some other way (the database's own checks).
    void report(std::string subject, std::string problem);

  private:
    store_check_summary& summary_;
    const std::function<void(const store_problem&)>& on_problem_;
};

// stats' groups of resource rows: each kind's plain representations, its other
// representations, and (every kind together) the tombstones and the rows without a body.
class group_tally {
  public:
    // Every kind's plain group listed, even when empty: "0 v2 jobs" is an answer.
    group_tally();
    // |rows| rows of |kind_name| and |variant| holding |stored_bytes| as stored and
    // |body_bytes| as received.
    void add(const std::string& kind_name, const std::string& variant, bool deleted, bool bodiless,
             std::int64_t rows, std::int64_t stored_bytes, std::int64_t body_bytes);
    // The groups, in the order first seen.
    std::vector<stored_group> take();

  private:
    stored_group& group(const std::string& name, const std::string& label);
    std::map<std::string, stored_group> by_name_;
    std::vector<std::string> order_;
};

}  // namespace runmirror
