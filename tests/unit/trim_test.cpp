#include <doctest/doctest.h>

#include "util/trim.hpp"

using namespace runmirror;

TEST_CASE("trim drops spaces and tabs at both ends, nothing else") {
    CHECK(trim("") == "");
    CHECK(trim(" \t ") == "");
    CHECK(trim("a") == "a");
    CHECK(trim(" \ta b\t ") == "a b");
    CHECK(trim("\r\na\n") == "\r\na\n");  // line breaks are not optional whitespace
}
