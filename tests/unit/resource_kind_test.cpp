// The kinds table (src/model/kinds.cpp): what `runmirror runs --status` accepts and the CSV's
// error column read from it.

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>

#include "runmirror/resource_kind.hpp"

using namespace runmirror;

TEST_CASE("resource kinds: every final status is one of the kind's statuses, all upper case") {
    for (const resource_kind* kind : all_kinds()) {
        CAPTURE(kind->name);
        CHECK(!kind->statuses.empty());
        CHECK(!kind->error_member.empty());
        for (std::string_view final_status : kind->final_statuses) {
            CAPTURE(final_status);
            CHECK(std::find(kind->statuses.begin(), kind->statuses.end(), final_status) !=
                  kind->statuses.end());
        }
        for (std::string_view status : kind->statuses) {
            // Upper case is what makes case-insensitive matching unambiguous.
            CHECK(std::none_of(status.begin(), status.end(),
                               [](char c) { return std::islower(static_cast<unsigned char>(c)); }));
        }
    }
    CHECK(kinds::v2_job.error_member == "error_message");
}
