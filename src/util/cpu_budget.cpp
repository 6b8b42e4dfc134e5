#include "util/cpu_budget.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace runmirror {

namespace {

std::optional<unsigned long long> parse_number(std::string_view s) {
    unsigned long long v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

unsigned cpu_budget::usable() const {
    unsigned n = affinity;
    if (quota) n = n == 0 ? *quota : std::min(n, *quota);
    return std::max(1u, n);
}

std::optional<unsigned> parse_cpu_max(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto quota = parse_number(text.substr(0, space));  // "max" is no number: unlimited
    const auto period = parse_number(text.substr(space + 1));
    if (!quota || !period || *period == 0 || *quota == 0) return std::nullopt;
    return static_cast<unsigned>((*quota + *period - 1) / *period);
}

std::optional<std::string> parse_cgroup_v2_path(std::string_view text) {
    while (!text.empty()) {
        const auto eol = text.find('\n');
        const std::string_view line = text.substr(0, eol);
        if (line.starts_with("0::")) return std::string(line.substr(3));
        if (eol == std::string_view::npos) break;
        text.remove_prefix(eol + 1);
    }
    return std::nullopt;
}

cpu_budget read_cpu_budget() {
    cpu_budget b;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) b.affinity = CPU_COUNT(&set);
    // A limit on any ancestor cgroup applies too: walk up to the root.
    if (auto path = parse_cgroup_v2_path(read_text("/proc/self/cgroup"))) {
        std::string p = *path;
        for (;;) {
            if (auto q = parse_cpu_max(read_text("/sys/fs/cgroup" + p + "/cpu.max")))
                b.quota = b.quota ? std::min(*b.quota, *q) : *q;
            if (p.empty() || p == "/") break;
            p = p.substr(0, p.rfind('/'));
        }
    }
    return b;
}

}  // namespace runmirror
