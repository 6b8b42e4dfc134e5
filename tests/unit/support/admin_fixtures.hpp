#pragma once
// What the store admin tests of both backends (store_admin_test, pg_admin_test) store and ask.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "runmirror/store_admin.hpp"

namespace runmirror::testing {

inline const time_point admin_t1 = from_unix_ms(1'700'000'000'123);

// A body long and repetitive enough to be stored compressed (an LZ4 frame).
inline std::string compressible_run_body(const std::string& id) {
    std::string data;
    for (int i = 0; i < 40; ++i)
        data += R"("field_)" + std::to_string(i) + R"(":"the same words again and again",)";
    return R"({"id":")" + id +
           R"(","extraction_agent_id":"agent-1","project_id":"p-1","status":"SUCCESS",)"
           R"("created_at":"2024-01-01T00:00:00Z","data":{)" +
           data + R"("n":1}})";
}

// Stores compressible_run_body(id) as an upstream answer of |kind| at admin_t1.
inline void put_compressible(store& db, const std::string& id,
                             const resource_kind& kind = kinds::v1_run) {
    const std::string body = compressible_run_body(id);
    auto [fields, err] = parse_run(body, kind);
    REQUIRE(!err);
    db.put_run(fields, body, admin_t1);
}

// admin.check's problems, its summary agreeing with them.
inline std::vector<store_problem> checked_problems(store_admin& admin,
                                                   store_check_summary* summary = nullptr) {
    std::vector<store_problem> problems;
    const store_check_summary s =
        admin.check([&](const store_problem& p) { problems.push_back(p); });
    if (summary) *summary = s;
    CHECK(s.problems == static_cast<std::int64_t>(problems.size()));
    return problems;
}

}  // namespace runmirror::testing
