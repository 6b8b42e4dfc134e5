// cpu.max and /proc/self/cgroup parsing, and how affinity and quota combine.

#include <doctest/doctest.h>

#include "util/cpu_budget.hpp"

using namespace runmirror;

TEST_CASE("parse_cpu_max: a quota rounds up to whole CPUs; max is no limit") {
    CHECK(parse_cpu_max("max 100000\n") == std::nullopt);
    CHECK(parse_cpu_max("100000 100000\n") == 1u);
    CHECK(parse_cpu_max("150000 100000") == 2u);
    CHECK(parse_cpu_max("50000 100000\n") == 1u);
    CHECK(parse_cpu_max("400000 100000\n") == 4u);
    CHECK(parse_cpu_max("") == std::nullopt);
    CHECK(parse_cpu_max("100000") == std::nullopt);
    CHECK(parse_cpu_max("100000 0") == std::nullopt);
    CHECK(parse_cpu_max("abc 100000") == std::nullopt);
}

TEST_CASE("parse_cgroup_v2_path: the unified hierarchy's line") {
    CHECK(parse_cgroup_v2_path("0::/system.slice/runmirror.service\n") ==
          "/system.slice/runmirror.service");
    CHECK(parse_cgroup_v2_path("12:cpu,cpuacct:/x\n0::/\n") == "/");
    CHECK(parse_cgroup_v2_path("12:cpu,cpuacct:/x\n") == std::nullopt);
    CHECK(parse_cgroup_v2_path("") == std::nullopt);
}

TEST_CASE("cpu_budget::usable: the smaller of affinity and quota, at least 1") {
    CHECK(cpu_budget{8, std::nullopt}.usable() == 8);
    CHECK(cpu_budget{8, 2u}.usable() == 2);
    CHECK(cpu_budget{1, 4u}.usable() == 1);
    CHECK(cpu_budget{0, 3u}.usable() == 3);
    CHECK(cpu_budget{0, std::nullopt}.usable() == 1);
}
