#pragma once
// How many CPUs this process may use: the CPUs its affinity mask allows (taskset, cpusets)
// and its cgroup v2 CPU quota (container limits), whichever is smaller. --threads 0 starts one
// worker thread per such CPU, not one per core of the machine.

#include <optional>
#include <string>
#include <string_view>

namespace runmirror {

struct cpu_budget {
    unsigned affinity = 0;          // CPUs in the affinity mask; 0: unknown
    std::optional<unsigned> quota;  // ceil(quota / period) of cpu.max; none: "max" or unknown
    unsigned usable() const;        // the smaller known count, at least 1
};

// cpu.max's text, "QUOTA PERIOD" or "max PERIOD": ceil(QUOTA / PERIOD) CPUs, or none when
// unlimited or unreadable.
std::optional<unsigned> parse_cpu_max(std::string_view text);

// The cgroup v2 path in /proc/self/cgroup's text (the "0::/path" line), or none.
std::optional<std::string> parse_cgroup_v2_path(std::string_view text);

// Reads the affinity mask (sched_getaffinity) and the quota of the process's cgroup
// (/sys/fs/cgroup/<path>/cpu.max, and its ancestors', the smallest applying).
cpu_budget read_cpu_budget();

}  // namespace runmirror
