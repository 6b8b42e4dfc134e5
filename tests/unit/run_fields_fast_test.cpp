// Differential tests: the public entry points (fast pass, careful pass on failure) must answer
// exactly as the careful pass alone, for valid and invalid input alike.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json/run_fields.hpp"

using namespace runmirror;

namespace {

// xorshift64*: the same sequence on every platform and standard library.
struct rng {
    std::uint64_t state;
    std::uint64_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DULL;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    bool percent(unsigned p) { return below(100) < p; }
    template <typename T, std::size_t N>
    const T& pick(const T (&items)[N]) {
        return items[below(N)];
    }
};

bool same_fields(const run_fields& a, const run_fields& b) {
    return a.id == b.id && a.project_id == b.project_id &&
           a.extraction_agent_id == b.extraction_agent_id && a.job_id == b.job_id &&
           a.file_id == b.file_id && a.file_name == b.file_name && a.status == b.status &&
           a.created_at == b.created_at && a.updated_at == b.updated_at;
}

struct tally {
    int runs_ok = 0;
    int runs_bad = 0;
    int lists_ok = 0;
    int lists_bad = 0;
};

// Compares every entry point with its careful pass; |body| is shown only when they differ.
void check_agrees(const std::string& body, tally& t) {
    CAPTURE(body);
    auto [run, run_err] = parse_run(body);
    auto [run_ref, run_ref_err] = detail::parse_run_careful(body);
    bool run_same = run_err.code == run_ref_err.code && run_err.detail == run_ref_err.detail &&
                    same_fields(run, run_ref);
    CHECK(run_same);
    (run_ref_err ? t.runs_bad : t.runs_ok) += 1;

    auto [list, list_err] = parse_run_list(body);
    auto [list_ref, list_ref_err] = detail::parse_run_list_careful(body);
    bool list_same = list_err.code == list_ref_err.code && list_err.detail == list_ref_err.detail &&
                     list.total == list_ref.total && list.skip == list_ref.skip &&
                     list.limit == list_ref.limit && list.items.size() == list_ref.items.size();
    for (std::size_t i = 0; list_same && i < list.items.size(); ++i) {
        // Same bytes of the same body, not merely equal text.
        list_same = same_fields(list.items[i].first, list_ref.items[i].first) &&
                    list.items[i].second.data() == list_ref.items[i].second.data() &&
                    list.items[i].second.size() == list_ref.items[i].second.size();
    }
    CHECK(list_same);
    (list_ref_err ? t.lists_bad : t.lists_ok) += 1;

    CHECK(is_json_object(body) == detail::is_json_object_careful(body));
    CHECK(search_data_text(body) == detail::search_data_text_careful(body));
}

const char* const keys[] = {
    "id",         "project_id", "extraction_agent_id",
    "job_id",     "file_id",    "file",
    "name",       "status",     "created_at",
    "updated_at", "items",      "total",
    "skip",       "limit",      "data",
    "x",          "",           "\\u0069d",
    "fil\\u0065", "it\\/ems",
};

const char* const numbers[] = {
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "-0.0",
    "1.0e+2",
    "2.5e-3",
    "1E5",
    "50",
    "12345678901",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "123456789012345678901234567890",
    "1e999",
    "-1.5E+400",
    "-0.000001e-999",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
};

const char* const bad_numbers[] = {"01",  "-01",      "1.",    "-",     "1e",        "1e+",
                                   "+1",  ".5",       "1.e5",  "--1",   "0x10",      "1ee5",
                                   "NaN", "Infinity", "1.5.5", "1e5.5", "-Infinity", "1 2"};

const char* const string_pieces[] = {
    "run-1",
    "SUCCESS",
    "2025-06-01T08:27:12.116787Z",
    "a b",
    "0",
    "12",
    "}",
    "]",
    ",",
    ":",
    "{\\\"",
    "\\\\",
    "\\/",
    "\\b\\f\\n\\r\\t",
    "\\u00e9",
    "\\u0000",
    "\\uD83D\\uDE00",
    "\\ud83d\\ude00",
    "\\uDE00",
    "\\u20AC",
    "\xc3\xa9",
    "\xf0\x9f\x98\x80",
    "\x7f",
    "\xff",
    "d74c25af-5d84-4dca-9ab1-be9cbc1c2a5a",
    "Payment due within 30 days of the invoice date. Late payments incur 1.5% monthly interest.",
};

const char* const bad_string_pieces[] = {"\\uD83D", "\\uD83Dx", "\\uD83D\\u0041", "\\u12",   "\\x",
                                         "\x01",    "\t",       "\\U0041",        "\\uZZZZ", "\\"};

std::string space(rng& r) {
    if (!r.percent(15)) return "";
    static const char* const spaces[] = {" ", "\n", "\t", "\r\n", "  \t "};
    return r.pick(spaces);
}

std::string gen_string(rng& r) {
    std::string s = "\"";
    for (std::size_t n = r.below(4); n > 0; --n) {
        s += r.percent(2) ? r.pick(bad_string_pieces) : r.pick(string_pieces);
    }
    return s + "\"";
}

std::string gen_number(rng& r) {
    if (r.percent(2)) return r.pick(bad_numbers);
    if (r.percent(60)) return r.pick(numbers);
    std::string n = r.percent(30) ? "-" : "";
    if (r.percent(20)) {
        n += '0';
    } else {
        n += static_cast<char>('1' + r.below(9));
        for (std::size_t k = r.below(r.percent(5) ? 400 : 12); k > 0; --k) {
            n += static_cast<char>('0' + r.below(10));
        }
    }
    if (r.percent(30)) {
        n += '.';
        for (std::size_t k = 1 + r.below(6); k > 0; --k)
            n += static_cast<char>('0' + r.below(10));
    }
    if (r.percent(20)) {
        n += r.percent(50) ? 'e' : 'E';
        if (r.percent(60)) n += r.percent(50) ? '+' : '-';
        for (std::size_t k = 1 + r.below(4); k > 0; --k)
            n += static_cast<char>('0' + r.below(10));
    }
    return n;
}

std::string gen_value(rng& r, int depth);

std::string gen_object(rng& r, int depth, bool run_like) {
    std::string s = "{" + space(r);
    std::vector<std::string> members;
    if (run_like && !r.percent(5)) {
        members.push_back("\"id\":" + (r.percent(90) ? gen_string(r) : gen_value(r, depth + 1)));
    }
    if (run_like && r.percent(60)) {
        members.push_back("\"file\":{\"id\":" + gen_string(r) + ",\"name\":" + gen_string(r) + "}");
    }
    for (std::size_t n = r.below(depth < 4 ? 6 : 3); n > 0; --n) {
        members.push_back("\"" + std::string(r.pick(keys)) + "\"" + space(r) + ":" + space(r) +
                          gen_value(r, depth + 1));
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
        // Shuffled in place: members in any order.
        std::swap(members[i], members[i + r.below(members.size() - i)]);
        s += (i > 0 ? "," + space(r) : "") + members[i] + space(r);
    }
    return s + "}";
}

std::string gen_value(rng& r, int depth) {
    std::size_t kind = r.below(depth < 5 ? 9 : 6);
    switch (kind) {
        case 0:
        case 1: return gen_string(r);
        case 2:
        case 3: return gen_number(r);
        case 4: {
            static const char* const words[] = {"true", "false", "null", "nul", "tru", "nulll"};
            return r.percent(95) ? words[r.below(3)] : r.pick(words);
        }
        case 5: return "null";
        case 6:
        case 7: return gen_object(r, depth, r.percent(30));
        default: {
            std::string s = "[" + space(r);
            for (std::size_t n = r.below(4), i = 0; i < n; ++i) {
                s += (i > 0 ? "," + space(r) : "") + gen_value(r, depth + 1) + space(r);
            }
            return s + "]";
        }
    }
}

std::string gen_page(rng& r) {
    std::vector<std::string> members;
    std::string items = "[";
    for (std::size_t n = r.below(5), i = 0; i < n; ++i) {
        items += (i > 0 ? "," + space(r) : "") +
                 (r.percent(95) ? gen_object(r, 2, true) : gen_value(r, 2));
    }
    members.push_back("\"items\":" + space(r) + items + space(r) + "]");
    static const char* const page_keys[] = {"total", "skip", "limit"};
    for (const char* k : page_keys) {
        if (r.percent(80)) {
            members.push_back("\"" + std::string(k) + "\":" +
                              (r.percent(90) ? std::to_string(r.below(100000)) : gen_value(r, 1)));
        }
    }
    if (r.percent(30)) members.push_back("\"next\":" + gen_value(r, 1));
    std::string s = space(r) + "{";
    for (std::size_t i = 0; i < members.size(); ++i) {
        std::swap(members[i], members[i + r.below(members.size() - i)]);
        s += (i > 0 ? "," : "") + members[i];
    }
    return s + "}" + space(r);
}

// Bytes that change the structure when they land somewhere else.
const char mutation_bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':',  '0',    '9',    '-',
                               '+', 'e',  '.', ' ', 'u', 'n', 't', '\0', '\x01', '\x7f', '\xff'};

std::string mutate(rng& r, std::string s) {
    if (s.empty()) return s;
    switch (r.below(5)) {
        case 0: s.resize(r.below(s.size())); break;
        case 1: s[r.below(s.size())] = r.pick(mutation_bytes); break;
        case 2:
            s.insert(s.begin() + static_cast<std::ptrdiff_t>(r.below(s.size() + 1)),
                     r.pick(mutation_bytes));
            break;
        case 3: s.erase(r.below(s.size()), 1); break;
        default: {
            std::size_t from = r.below(s.size());
            std::size_t len = r.below(s.size() - from) + 1;
            s.insert(r.below(s.size() + 1), s.substr(from, len));
        }
    }
    return s;
}

}  // namespace

TEST_CASE("fast parsing agrees with the careful pass on generated and mutated input") {
    rng r{0x9E3779B97F4A7C15ULL};
    tally t;
    for (int i = 0; i < 2500; ++i) {
        std::string body = r.percent(50) ? gen_object(r, 0, true) : gen_page(r);
        check_agrees(body, t);
        for (int m = 0; m < 2; ++m) {
            check_agrees(mutate(r, body), t);
        }
        check_agrees(mutate(r, mutate(r, body)), t);
    }
    // Both verdicts well represented, or the comparison proves little.
    CHECK(t.runs_ok > 1000);
    CHECK(t.runs_bad > 1000);
    CHECK(t.lists_ok > 500);
    CHECK(t.lists_bad > 1000);
}

TEST_CASE("fast parsing agrees with the careful pass on every prefix of a page") {
    rng r{42};
    tally t;
    std::string page = R"({"items":[)" + gen_object(r, 2, true) + ", " + gen_object(r, 2, true) +
                       R"(,{"id":"\u0072-1","n":-1.5E+400,"s":"\uDE00\ud83d\ude00","file":)" +
                       R"({"name":"a\/b"}}],"total":3,"skip":0,"limit":50})";
    REQUIRE_FALSE(detail::parse_run_list_careful(page).second);
    for (std::size_t n = 0; n <= page.size(); ++n) {
        check_agrees(page.substr(0, n), t);
    }
    CHECK(t.lists_ok == 1);
}

TEST_CASE("fast parsing agrees with the careful pass around the nesting cap") {
    tally t;
    for (unsigned k : {0u, 1u, 253u, 254u, 255u, 256u, 257u, 258u, 300u, 5000u}) {
        CAPTURE(k);
        check_agrees(R"({"id":"r","data":)" + std::string(k, '[') + std::string(k, ']') + "}", t);
        std::string objects = R"({"id":"r","data":)";
        for (unsigned i = 0; i < k; ++i)
            objects += R"({"a":)";
        objects += "1" + std::string(k, '}') + "}";
        check_agrees(objects, t);
        check_agrees(
            R"({"items":[{"id":"r","data":)" + std::string(k, '[') + std::string(k, ']') + "}]}",
            t);
        check_agrees(R"({"id":"r","data":)" + std::string(k, '['), t);
    }
    CHECK(t.runs_ok > 0);
    CHECK(t.runs_bad > 0);
}

TEST_CASE("fast parsing agrees with the careful pass on escapes, numbers and NUL bytes") {
    tally t;
    std::vector<std::string> bodies;
    for (const char* piece : string_pieces) {
        bodies.push_back(std::string(R"({"id":")") + piece + R"(","status":")" + piece + "\"}");
    }
    for (const char* piece : bad_string_pieces) {
        bodies.push_back(std::string(R"({"id":"r","status":")") + piece + "\"}");
    }
    for (const char* number : numbers) {
        bodies.push_back(std::string(R"({"id":"r","n":)") + number + "}");
        bodies.push_back(std::string(R"({"items":[],"total":)") + number + "}");
        bodies.push_back(std::string(R"({"items":[],"limit":[)") + number + "]}");
    }
    for (const char* number : bad_numbers) {
        bodies.push_back(std::string(R"({"id":"r","n":)") + number + "}");
        bodies.push_back(std::string(R"({"id":"r","n":[)") + number + "]}");
    }
    bodies.push_back(std::string(R"({"id":"r"})") + '\0');
    bodies.push_back(std::string(R"({"id":"r"}  )") + '\0' + "junk");
    bodies.push_back(std::string(R"({"id":"r)") + '\0' + R"("})");
    bodies.push_back(std::string(R"({"id":"r","n":1)") + '\0' + "}");
    bodies.push_back(std::string(R"({"items":[{"id":"r"})") + '\0' + "]}");
    for (const std::string& body : bodies) {
        check_agrees(body, t);
    }
    CHECK(t.runs_ok > 20);
    CHECK(t.runs_bad > 20);
}
