// page_ends: positions are handed out only for the count of changes they were remembered at.

#include <doctest/doctest.h>

#include "store/page_ends.hpp"

using namespace runmirror;

TEST_CASE("page ends: a position is found under its key and count only") {
    page_ends ends;
    ends.remember("a\n\n50", 7, {"2025-01-01", "r50"});
    REQUIRE(ends.find("a\n\n50", 7));
    CHECK(ends.find("a\n\n50", 7)->id == "r50");
    CHECK(ends.find("a\n\n50", 7)->created_at == "2025-01-01");
    CHECK_FALSE(ends.find("a\n\n100", 7));
    CHECK_FALSE(ends.find("b\n\n50", 7));
    CHECK_FALSE(ends.find("a\n\n50", 6));  // an older snapshot: not the same list
}

TEST_CASE("page ends: a newer count forgets every position") {
    page_ends ends;
    ends.remember("a\n\n50", 7, {"t", "r50"});
    ends.remember("a\n\n100", 7, {"t", "r100"});
    CHECK_FALSE(ends.find("a\n\n50", 8));
    CHECK(ends.size() == 0);
    CHECK_FALSE(ends.find("a\n\n50", 7));  // nor does it come back for the old count
    // A reader still on the older snapshot cannot put a position back.
    ends.remember("a\n\n50", 7, {"t", "r50"});
    CHECK(ends.size() == 0);
    ends.remember("a\n\n50", 8, {"t", "r49"});
    CHECK(ends.find("a\n\n50", 8)->id == "r49");
}

TEST_CASE("page ends: bounded") {
    page_ends ends(3);
    for (int i = 0; i < 3; ++i)
        ends.remember("k" + std::to_string(i), 1, {"t", "r"});
    CHECK(ends.size() == 3);
    ends.remember("k3", 1, {"t", "r3"});
    CHECK(ends.size() == 1);
    CHECK(ends.find("k3", 1));
    ends.remember("k3", 1, {"t", "again"});
    CHECK(ends.find("k3", 1)->id == "again");
    CHECK(ends.size() == 1);
}
