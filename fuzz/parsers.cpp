// Date and number parsers, and the small text parsers beside them. The first input byte picks
// the parser (so one corpus entry exercises one), the rest is its text:
//   0 parse_iso_time (browse from/to, runs --since, stored created_at): within 0001-9999 when
//     accepted, with a reason when not, and iso_utc of it reads back to the millisecond;
//   1 retry_after and parse_imf_fixdate (429/503 answers): capped, never negative;
//   2 serve options' numbers, durations, hosts and URLs (flags, as given on the command line);
//   3 hosts and authorities (site checks): canonical forms are fixed points;
//   4 valid_utf8: valid, idempotent, valid text unchanged;
//   5 the browse cursor: what decodes re-encodes to the same token;
//   6 cgroup files (cpu.max, /proc/self/cgroup).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admin/browse_json.hpp"
#include "config/load_options.hpp"
#include "fuzz_check.hpp"
#include "http/request_site.hpp"
#include "sync/backoff.hpp"
#include "util/cpu_budget.hpp"
#include "util/iso_time.hpp"
#include "util/utf8.hpp"

using namespace runmirror;
using namespace std::chrono;

namespace {

const runmirror::time_point now = from_unix_ms(1'736'928'000'123);

void iso_time(std::string_view text) {
    std::string why;
    const auto t = parse_iso_time(text, &why);
    if (!t) {
        FUZZ_CHECK(!why.empty());
        return;
    }
    FUZZ_CHECK(*t >= min_calendar_time() && *t <= max_calendar_time());
    const std::string printed = iso_utc(*t);
    const auto back = parse_iso_time(printed);
    FUZZ_CHECK(back && *back == floor<milliseconds>(*t));
}

void retry(std::string_view text) {
    for (const char* name : {"retry-after-ms", "Retry-After"}) {
        const header_list headers{{name, std::string(text)}};
        if (auto wait = retry_after(headers, now)) {
            FUZZ_CHECK(*wait >= millis(0) && *wait <= max_retry_after);
        }
    }
    (void)parse_imf_fixdate(text);
}

void serve_flag(std::string_view text) {
    // The byte after the selector picks the flag.
    static const char* const flags[] = {
        "--memory-cache-mb", "--poll-interval-ms", "--sync-rate",          "--threads",
        "--max-connections", "--listen",           "--upstream",           "--allowed-host",
        "--admin-token",     "--log-level",        "--pending-max-age-ms",
    };
    if (text.empty()) return;
    const char* flag = flags[static_cast<unsigned char>(text[0]) % std::size(flags)];
    const std::vector<std::string> args{"--db", ":memory:", flag, std::string(text.substr(1))};
    const load_result r = load_serve_options(args, {});
    // One line, as the CLI prints it (unless the value itself holds a line break: it is quoted).
    if (text.find_first_of("\r\n") == std::string_view::npos) {
        FUZZ_CHECK(r.error.find_first_of("\r\n") == std::string::npos);
    }
}

void hosts(std::string_view text) {
    if (auto host = canonical_host(text)) FUZZ_CHECK(canonical_host(*host) == host);
    if (auto host = host_of_authority(text)) (void)canonical_host(*host);
    (void)is_loopback_ip(text);
}

void utf8(std::string_view text) {
    const std::string fixed = valid_utf8(text);
    FUZZ_CHECK(is_valid_utf8(fixed));
    FUZZ_CHECK(valid_utf8(fixed) == fixed);
    if (is_valid_utf8(text)) FUZZ_CHECK(fixed == text);
    FUZZ_CHECK(fixed.size() <= 3 * text.size());
}

void cursor(std::string_view text) {
    if (auto c = decode_cursor(text)) FUZZ_CHECK(encode_cursor(*c) == text);
}

void cgroup(std::string_view text) {
    if (auto cpus = parse_cpu_max(text)) FUZZ_CHECK(*cpus >= 1);
    (void)parse_cgroup_v2_path(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 7) {
        case 0: iso_time(text); break;
        case 1: retry(text); break;
        case 2: serve_flag(text); break;
        case 3: hosts(text); break;
        case 4: utf8(text); break;
        case 5: cursor(text); break;
        case 6: cgroup(text); break;
    }
    return 0;
}
