// runmirror_fill_store: writes N generated ExtractRuns into a store through the real store code
// (open_sqlite_store, put_runs in batches, grant, put_list_page), for bench/store_scale.sh.
//
//   runmirror_fill_store --db PATH [--runs 1000000] [--agents 8] [--projects 2] [--seed 1]
//                        [--batch 1000] [--key bench-key] [--pages 40] [--paths DIR]
//
// The runs have bench/gen_data.py's shape and size (~4.7 KB of compact JSON: full ExtractConfig,
// the invoice data_schema, data with vendor, address, 4-9 line items and notes,
// extraction_metadata with per-field confidences, file), generated here rather than read from
// gen_data's files so that a million of them take minutes, not an hour of Python. Run i is the
// i-th newest (created_at strictly descending) and belongs to agent i % agents, as in gen_data.
// The bytes differ from gen_data's (another random generator); the shape does not.
//
// Besides the runs it stores, for the tenant of --key: grants for every project, and the first
// --pages list pages (limit 50, spread over the agents) exactly as the upstream would send them.
// With --paths DIR it writes request paths, one a line, for wrk (bench/wrk_paths.lua):
//   ids.txt        GET /api/v1/extraction/runs/{id}           a sample of 200,000 runs
//   jobs.txt       GET /api/v1/extraction/runs/by-job/{job}   the same sample
//   lists.txt      the stored list pages
//   assembled.txt  list pages that are not stored (the pages after the stored ones, per agent)
//   deep.txt       list pages that are not stored, anywhere in an agent's runs (deep skips)
// Prints one "key value" line per figure: runs, raw_json_bytes, seconds, runs_per_second.
//
//   runmirror_fill_store --db PATH --probe DIR
//
// instead times the store alone, on one thread, for the requests in DIR's path files (as written
// by --paths): find_run for ids.txt, find_run_by_job for jobs.txt, list_runs (limit 50, the
// --key tenant) for assembled.txt and deep.txt; one "probe_CASE_p50_us/p99_us" line each. That
// is the store's share of what bench/store_scale.sh measures through the daemon.
//
//   runmirror_fill_store --db PATH --jsonl FILE [--batch 1000]
//
// instead stores the runs in FILE ('-': standard input), one JSON object a line, as the daemon
// stores an upstream answer (parse_run, put_runs): for benchmarks that generate their own runs
// (bench/browse_bench.mjs). Prints "runs N" and "raw_json_bytes N".

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/list_key.hpp"
#include "json/run_fields.hpp"
#include "runmirror/store.hpp"
#include "util/tenant.hpp"

namespace runmirror {
namespace {

constexpr int page_limit = 50;

constexpr const char* vendors[][5] = {
    {"Acme Industrial Supply GmbH", "Hauptstrasse 12", "Berlin", "10115", "DE"},
    {"Northwind Traders Ltd", "221 Harbour Road", "Leeds", "LS1 4AP", "GB"},
    {"Contoso Office Products Inc.", "1 Microsoft Way", "Redmond", "98052", "US"},
    {"Globex Logistics S.A.", "Rue de la Loi 44", "Bruxelles", "1040", "BE"},
    {"Initech Software LLC", "4120 Freidrich Lane", "Austin", "78744", "US"},
    {"Umbrella Lab Equipment K.K.", "2-4-1 Marunouchi", "Tokyo", "100-0005", "JP"},
    {"Stark Components S.r.l.", "Via Roma 88", "Milano", "20121", "IT"},
    {"Wayne Facility Services", "1007 Mountain Drive", "Gotham", "10001", "US"},
};
constexpr const char* products[] = {
    "Stainless steel hex bolts M8x40 (box of 200)",
    "Industrial nitrile gloves, size L, 100 pcs",
    "A4 copy paper 80 g/m2, 5 reams",
    "Laser toner cartridge, black, high yield",
    "Ergonomic office chair with lumbar support",
    "27-inch IPS monitor, USB-C, height adjustable",
    "Annual software maintenance and support",
    "On-site installation, per technician hour",
    "Pallet freight Berlin to Hamburg, 2 pallets",
    "Safety goggles, anti-fog, EN166 certified",
    "Cat6 patch cable 2 m, blue, pack of 10",
    "Cloud storage subscription, 5 TB tier, monthly",
};
constexpr const char* notes[] = {
    "Payment due within 30 days of the invoice date. Late payments incur 1.5% monthly interest.",
    "Goods remain the property of the supplier until paid in full. Please quote the invoice "
    "number.",
    "Thank you for your business. Questions about this invoice: billing@example.com, +44 20 7946 "
    "0958.",
    "Delivery partially completed; the remaining items ship in a separate consignment next week.",
    "Reverse charge: VAT to be accounted for by the recipient as per Article 196 Council "
    "Directive.",
};
constexpr const char* currencies[] = {"EUR", "USD", "GBP", "JPY", "CHF"};
constexpr const char* modes[] = {"BALANCED", "BALANCED", "FAST", "PREMIUM", "MULTIMODAL"};
constexpr const char* errors[] = {
    "Document parsing failed: the file appears to be password protected",
    "Extraction timed out after 600 seconds on page 14",
    "Unsupported file type: application/x-ms-shortcut",
};
constexpr std::string_view schema =
    R"({"type":"object","properties":{"vendor":{"type":"object","description":"The party that issued the invoice","properties":{"name":{"type":"string"},"vat_id":{"type":["string","null"]},"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},"postal_code":{"type":"string"},"country":{"type":"string"}}}}},"invoice_number":{"type":"string","description":"Invoice identifier as printed"},"invoice_date":{"type":"string","format":"date"},"due_date":{"type":["string","null"],"format":"date"},"currency":{"type":"string","description":"ISO 4217 code"},"line_items":{"type":"array","items":{"type":"object","properties":{"description":{"type":"string"},"quantity":{"type":"number"},"unit_price":{"type":"number"},"amount":{"type":"number"}},"required":["description","amount"]}},"subtotal":{"type":"number"},"tax":{"type":"number"},"total":{"type":"number"},"notes":{"type":["string","null"]}},"required":["vendor","invoice_number","total"]})";

// Deterministic per (seed, run): a run's bytes never depend on which others were generated.
class rng {
  public:
    explicit rng(std::uint64_t seed) : g_(mix(seed)) {}
    std::int64_t between(std::int64_t lo, std::int64_t hi) {  // inclusive, like randint
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(g_);
    }
    double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g_); }
    std::uint64_t bits() { return g_(); }
    template <class T, std::size_t N>
    const T& pick(const T (&items)[N]) {
        return items[between(0, N - 1)];
    }

  private:
    static std::uint64_t mix(std::uint64_t x) {  // splitmix64
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }
    std::mt19937_64 g_;
};

std::string uuid4(rng& r) {
    std::uint64_t hi = r.bits(), lo = r.bits();
    hi = (hi & ~0xf000ULL) | 0x4000ULL;                  // version 4
    lo = (lo & ~(0xc000ULL << 48)) | (0x8000ULL << 48);  // variant 10
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                  static_cast<unsigned long long>(hi >> 32),
                  static_cast<unsigned long long>((hi >> 16) & 0xffff),
                  static_cast<unsigned long long>(hi & 0xffff),
                  static_cast<unsigned long long>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
}

using micros = std::chrono::sys_time<std::chrono::microseconds>;

std::string iso(micros t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day date(day);
    const hh_mm_ss time(t - day);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", int(date.year()),
                  unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                  int(time.minutes().count()), int(time.seconds().count()),
                  static_cast<long long>(time.subseconds().count()));
    return buf;
}

std::string iso_date(micros t) {
    return iso(t).substr(0, 10);
}

// A number rounded to 2 (or 4) decimals the way Python's repr prints round(x, n): shortest
// form, always with a fraction ("98.8", "9133.0").
std::string decimal(double x, int places) {
    const double scale = places == 2 ? 100.0 : 10000.0;
    const double v = std::round(x * scale) / scale;
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, end);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + '"';
}

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct generated {
    std::string id, job_id, body;
};

generated make_run(std::int64_t i, std::uint64_t seed, const std::vector<std::string>& agents,
                   const std::vector<std::string>& projects) {
    rng r(seed * 0x100000001b3ULL + static_cast<std::uint64_t>(i));
    const std::size_t a = static_cast<std::size_t>(i) % agents.size();
    const std::string& agent = agents[a];
    const std::string& project = projects[a % projects.size()];
    generated g;
    g.id = uuid4(r);
    g.job_id = uuid4(r);
    const std::string file_id = uuid4(r);
    using std::chrono::microseconds;
    using std::chrono::seconds;
    const micros base =
        std::chrono::sys_days(std::chrono::year(2025) / 6 / 1) + std::chrono::hours(12);
    const micros created =
        base - seconds(37 * i + r.between(0, 30)) - microseconds(r.between(0, 999999));
    const micros updated =
        created + seconds(r.between(8, 240)) + microseconds(r.between(0, 999999));
    const double u = r.real(0, 1);
    const bool success = u >= 0.03;
    const auto& vendor = r.pick(vendors);
    const std::string inv_no = "INV-2025-" + std::to_string(r.between(10000, 99999));
    const std::int64_t pages = r.between(1, 12);

    std::string& b = g.body;
    b.reserve(5200);
    b += "{\"id\":\"" + g.id + "\",\"extraction_agent_id\":\"" + agent + "\",\"project_id\":\"" +
         project + "\",\"status\":\"" + (success ? "SUCCESS" : "ERROR") + "\"";
    b += ",\"config\":{\"extraction_target\":\"PER_DOC\",\"extraction_mode\":\"";
    b += modes[a % 5];
    b += "\",\"chunk_mode\":\"PAGE\",\"high_resolution_mode\":false,\"invalidate_cache\":false,"
         "\"cite_sources\":";
    b += a % 2 == 0 ? "true" : "false";
    b += ",\"use_reasoning\":";
    b += a % 3 == 0 ? "true" : "false";
    b += ",\"confidence_scores\":true,\"multimodal_fast_mode\":false,\"citation_bbox\":false,"
         "\"num_pages_context\":null,\"page_range\":null,\"system_prompt\":\"Extract the invoice "
         "header, every line item and the totals. Amounts are numbers without currency "
         "symbols.\",\"priority\":null,\"extract_model\":null,\"parse_model\":null}";
    b += ",\"data_schema\":";
    b += schema;
    b += ",\"from_ui\":";
    b += r.real(0, 1) < 0.1 ? "true" : "false";
    b += ",\"created_at\":\"" + iso(created) + "\",\"updated_at\":\"" + iso(updated) + "\"";
    if (success) {
        struct item {
            std::string sku;
            const char* description;
            std::int64_t qty;
            double price, amount;
        };
        std::vector<item> items(static_cast<std::size_t>(r.between(4, 9)));
        double subtotal = 0;
        for (item& it : items) {
            it.qty = r.between(1, 40);
            it.price = std::round(r.real(1.5, 900.0) * 100) / 100;
            it.amount = std::round(it.qty * it.price * 100) / 100;
            it.sku = "SKU-" + std::to_string(r.between(10000, 99999));
            it.description = r.pick(products);
            subtotal += it.amount;
        }
        subtotal = std::round(subtotal * 100) / 100;
        const double tax = std::round(subtotal * 0.19 * 100) / 100;
        const double total = std::round((subtotal + tax) * 100) / 100;
        const micros invoice = created - std::chrono::days(r.between(1, 20));
        const std::string vat =
            std::string(vendor[4]) + std::to_string(r.between(100000000, 999999999));
        const std::string currency = r.pick(currencies);
        const std::string note = r.pick(notes);
        b += ",\"data\":{\"vendor\":{\"name\":\"";
        b += vendor[0];
        b += "\",\"vat_id\":\"" + vat + "\",\"address\":{\"street\":\"" + vendor[1] +
             "\",\"city\":\"" + vendor[2] + "\",\"postal_code\":\"" + vendor[3] +
             "\",\"country\":\"" + vendor[4] + "\"}},\"invoice_number\":\"" + inv_no +
             "\",\"invoice_date\":\"" + iso_date(invoice) + "\",\"due_date\":\"" +
             iso_date(invoice + std::chrono::days(30)) + "\",\"currency\":\"" + currency +
             "\",\"line_items\":[";
        for (std::size_t k = 0; k < items.size(); ++k) {
            if (k) b += ',';
            b += "{\"sku\":\"" + items[k].sku +
                 "\",\"description\":" + quoted(items[k].description) +
                 ",\"quantity\":" + std::to_string(items[k].qty) +
                 ",\"unit_price\":" + decimal(items[k].price, 2) +
                 ",\"amount\":" + decimal(items[k].amount, 2) + "}";
        }
        b += "],\"subtotal\":" + decimal(subtotal, 2) + ",\"tax\":" + decimal(tax, 2) +
             ",\"total\":" + decimal(total, 2) + ",\"notes\":" + quoted(note) + "}";
        b += ",\"error\":null,\"extraction_metadata\":{\"field_metadata\":{";
        const std::string vendor_repr =
            std::string("{'name': '") + vendor[0] + "', 'vat_id': '" + vat + "'";
        const std::pair<const char*, std::string> cited[] = {
            {"vendor", vendor_repr},
            {"invoice_number", inv_no},
            {"invoice_date", iso_date(invoice)},
            {"due_date", iso_date(invoice + std::chrono::days(30))},
            {"currency", currency},
            {"subtotal", decimal(subtotal, 2)},
            {"tax", decimal(tax, 2)},
            {"total", decimal(total, 2)},
            {"notes", note},
        };
        for (const auto& [field, text] : cited) {
            b += '"';
            b += field;
            b += "\":{\"confidence\":" + decimal(r.real(0.7, 0.999), 4) +
                 ",\"citation\":[{\"page\":" + std::to_string(r.between(1, pages)) +
                 ",\"matching_text\":" + quoted(text.substr(0, 48)) + "}]},";
        }
        b += "\"line_items\":[";
        for (std::size_t k = 0; k < items.size(); ++k) {
            if (k) b += ',';
            b += "{\"confidence\":" + decimal(r.real(0.6, 0.99), 4) +
                 ",\"page\":" + std::to_string(r.between(1, pages)) + "}";
        }
        b += "]},\"usage\":{\"num_pages_extracted\":" + std::to_string(pages) +
             ",\"num_document_tokens\":" + std::to_string(r.between(800, 40000)) +
             ",\"num_output_tokens\":" + std::to_string(r.between(200, 3000)) + "}}";
    } else {
        b += ",\"data\":null,\"error\":" + quoted(r.pick(errors)) + ",\"extraction_metadata\":{}";
    }
    const std::string file_time = iso(created - seconds(5));
    b += ",\"file\":{\"id\":\"" + file_id + "\",\"name\":\"" + lower(inv_no) + "-" +
         lower(vendor[2]) + ".pdf\",\"project_id\":\"" + project + "\",\"created_at\":\"" +
         file_time + "\",\"updated_at\":\"" + file_time +
         "\",\"data_source_id\":null,\"expires_at\":null,\"external_file_id\":null,"
         "\"file_size\":" +
         std::to_string(r.between(20000, 4000000)) +
         ",\"file_type\":\"pdf\",\"last_modified_at\":\"" + iso(created - std::chrono::days(1)) +
         "\",\"permission_info\":null,\"purpose\":\"extract\",\"resource_info\":{\"file_size\":"
         "\"0\"}},\"file_id\":\"" +
         file_id + "\",\"job_id\":\"" + g.job_id + "\"}";
    return g;
}

struct options {
    std::string db;
    std::int64_t runs = 1'000'000;
    std::size_t agents = 8;
    std::size_t projects = 2;
    std::uint64_t seed = 1;
    std::size_t batch = 1000;
    std::string key = "bench-key";
    std::int64_t pages = 40;
    std::string paths;
    std::string probe;
    std::string jsonl;
};

int fill_jsonl(const options& o) {
    auto db = open_sqlite_store(o.db);
    std::ifstream file;
    if (o.jsonl != "-") {
        file.open(o.jsonl);
        if (!file) throw std::runtime_error("cannot read " + o.jsonl);
    }
    std::istream& in = o.jsonl == "-" ? std::cin : file;
    const time_point fetched = clock_type::now();
    std::vector<std::pair<std::size_t, std::string>> lines;  // line number, text
    std::size_t runs = 0, bytes = 0, line_number = 0;
    auto flush = [&] {
        std::vector<std::pair<run_fields, std::string_view>> items;
        for (const auto& [number, text] : lines) {
            auto [fields, err] = parse_run(text);
            if (err || fields.id.empty()) {
                throw std::runtime_error("line " + std::to_string(number) +
                                         ": not an extraction run " + err.detail);
            }
            items.emplace_back(std::move(fields), text);
        }
        db->put_runs(items, fetched);
        runs += items.size();
        lines.clear();
    };
    for (std::string line; std::getline(in, line);) {
        ++line_number;
        if (line.empty()) continue;
        bytes += line.size();
        lines.emplace_back(line_number, std::move(line));
        if (lines.size() >= o.batch) flush();
    }
    flush();
    std::cout << "runs " << runs << "\nraw_json_bytes " << bytes << "\n";
    return 0;
}

// Times |fn| once per line of |file|, at most |max| lines; prints p50 and p99 in microseconds.
template <class Fn>
void probe(const std::string& name, const std::string& file, std::size_t max, Fn&& fn) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line) && lines.size() < max;) {
        if (!line.empty()) lines.push_back(line);
    }
    if (lines.empty()) return;
    std::vector<double> us;
    for (const std::string& line : lines) {
        const auto t0 = std::chrono::steady_clock::now();
        fn(line);
        us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
    }
    std::sort(us.begin(), us.end());
    std::cout << "probe_" << name << "_p50_us " << us[us.size() / 2] << "\nprobe_" << name
              << "_p99_us " << us[us.size() * 99 / 100] << "\n";
}

int run_probe(const std::string& db_path, const std::string& dir, const std::string& key) {
    auto db = open_sqlite_store(db_path);
    const std::string tenant = tenant_of_key(key);
    auto last_segment = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
    std::size_t found = 0;
    probe("find_run", dir + "/ids.txt", 20'000,
          [&](const std::string& path) { found += db->find_run(last_segment(path)) != nullptr; });
    probe("find_run_by_job", dir + "/jobs.txt", 20'000, [&](const std::string& path) {
        found += db->find_run_by_job(last_segment(path)) != nullptr;
    });
    for (const char* name : {"assembled", "deep"}) {
        probe(std::string("list_runs_") + name, dir + "/" + name + ".txt", 1'000,
              [&](const std::string& path) {
                  const auto params = parse_list_params(path.substr(path.find('?') + 1));
                  run_page page =
                      db->list_runs(run_query{tenant, params->extraction_agent_id,
                                              params->project_id, params->skip, params->limit});
                  found += !page.items.empty();
              });
    }
    std::cout << "probe_found " << found << "\n";
    return 0;
}

int usage(int code) {
    std::cerr << "usage: runmirror_fill_store --db PATH [--runs N] [--agents A] [--projects P]"
                 " [--seed S] [--batch B] [--key KEY] [--pages P] [--paths DIR]\n"
                 "       runmirror_fill_store --db PATH --probe DIR [--key KEY]\n"
                 "       runmirror_fill_store --db PATH --jsonl FILE|- [--batch B]\n";
    return code;
}

std::string list_path(const std::string& agent, std::int64_t skip) {
    return "/api/v1/extraction/runs?extraction_agent_id=" + agent +
           "&skip=" + std::to_string(skip) + "&limit=" + std::to_string(page_limit);
}

int fill(const options& o) {
    rng ids(o.seed * 7919);
    std::vector<std::string> projects, agents;
    for (std::size_t k = 0; k < o.projects; ++k)
        projects.push_back(uuid4(ids));
    for (std::size_t k = 0; k < o.agents; ++k)
        agents.push_back(uuid4(ids));
    const std::int64_t A = static_cast<std::int64_t>(agents.size());

    // Stored list pages, spread over the agents as gen_data.py does (never past an agent's runs).
    std::vector<std::int64_t> per_agent(agents.size()), pages_of(agents.size(), 0);
    for (std::int64_t a = 0; a < A; ++a)
        per_agent[a] = (o.runs - a + A - 1) / A;
    for (std::int64_t want = o.pages; want > 0;) {
        bool progressed = false;
        for (std::int64_t a = 0; a < A && want > 0; ++a) {
            if (pages_of[a] * page_limit < per_agent[a]) {
                ++pages_of[a];
                --want;
                progressed = true;
            }
        }
        if (!progressed) break;
    }
    // Bodies of the runs that stored pages list: agent a's run at position p is run a + A * p.
    std::vector<std::string> listed_bodies;
    auto listed_slot = [&](std::int64_t i) -> std::int64_t {
        const std::int64_t a = i % A, pos = i / A;
        if (pos >= pages_of[a] * page_limit) return -1;
        std::int64_t slot = 0;
        for (std::int64_t b = 0; b < a; ++b)
            slot += pages_of[b] * page_limit;
        return slot + pos;
    };
    std::int64_t listed_total = 0;
    for (std::int64_t a = 0; a < A; ++a)
        listed_total += pages_of[a] * page_limit;
    listed_bodies.resize(static_cast<std::size_t>(listed_total));

    auto db = open_sqlite_store(o.db);
    const std::string tenant = tenant_of_key(o.key);
    db->grant(tenant, projects);

    std::ofstream ids_f, jobs_f;
    if (!o.paths.empty()) {
        ids_f.open(o.paths + "/ids.txt");
        jobs_f.open(o.paths + "/jobs.txt");
    }
    // 200,000 paths at most: wrk_paths.lua pre-formats that many requests, and they are spread
    // over the whole store, so the sample reads pages from every part of the file.
    const std::int64_t path_step = std::max<std::int64_t>(1, o.runs / 200'000);

    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t raw_bytes = 0;
    std::vector<generated> batch;
    std::vector<std::pair<run_fields, std::string_view>> items;
    const time_point fetched = clock_type::now();
    for (std::int64_t i = 0; i < o.runs;) {
        batch.clear();
        items.clear();
        for (std::size_t k = 0; k < o.batch && i < o.runs; ++k, ++i) {
            batch.push_back(make_run(i, o.seed, agents, projects));
            const generated& g = batch.back();
            raw_bytes += g.body.size();
            if (const std::int64_t slot = listed_slot(i); slot >= 0) {
                listed_bodies[static_cast<std::size_t>(slot)] = g.body;
            }
            if (!o.paths.empty() && i % path_step == 0) {
                ids_f << "/api/v1/extraction/runs/" << g.id << '\n';
                jobs_f << "/api/v1/extraction/runs/by-job/" << g.job_id << '\n';
            }
        }
        for (const generated& g : batch) {
            auto [fields, err] = parse_run(g.body);
            if (err) {
                std::cerr << "fill_store: generated run does not parse: " << err.detail << "\n";
                return 1;
            }
            items.emplace_back(std::move(fields), g.body);
        }
        db->put_runs(items, fetched);
        if (i % 100'000 < static_cast<std::int64_t>(o.batch)) {
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::cerr << "  " << i << " runs, " << static_cast<int>(s) << " s\n";
        }
    }

    // The stored list pages, the upstream's bytes: {"items":[...],"total":N,"skip":S,"limit":50}.
    std::ofstream lists_f, assembled_f, deep_f;
    if (!o.paths.empty()) {
        lists_f.open(o.paths + "/lists.txt");
        assembled_f.open(o.paths + "/assembled.txt");
        deep_f.open(o.paths + "/deep.txt");
    }
    std::int64_t slot = 0;
    for (std::int64_t a = 0; a < A; ++a) {
        for (std::int64_t k = 0; k < pages_of[a]; ++k) {
            const std::int64_t skip = k * page_limit;
            std::string page = "{\"items\":[";
            for (std::int64_t j = 0; j < page_limit && skip + j < per_agent[a]; ++j) {
                if (j) page += ',';
                page += listed_bodies[static_cast<std::size_t>(slot + skip + j)];
            }
            page += "],\"total\":" + std::to_string(per_agent[a]) +
                    ",\"skip\":" + std::to_string(skip) +
                    ",\"limit\":" + std::to_string(page_limit) + "}";
            const std::string path = list_path(agents[a], skip);
            const auto key = normalise_list_query(path.substr(path.find('?') + 1));
            db->put_list_page(tenant, *key, page, clock_type::now());
            if (lists_f) lists_f << path << '\n';
        }
        slot += pages_of[a] * page_limit;
        // Not stored: the next 40 pages after the stored ones, and 40 anywhere in the agent's runs.
        for (std::int64_t k = pages_of[a]; k < pages_of[a] + 40; ++k) {
            if (assembled_f && k * page_limit < per_agent[a]) {
                assembled_f << list_path(agents[a], k * page_limit) << '\n';
            }
        }
        const std::int64_t pages_total = (per_agent[a] + page_limit - 1) / page_limit;
        for (std::int64_t k = 0; k < 40 && deep_f; ++k) {
            const std::int64_t page_no = pages_of[a] + (pages_total - pages_of[a]) * k / 40;
            if (page_no < pages_total) deep_f << list_path(agents[a], page_no * page_limit) << '\n';
        }
    }
    db.reset();  // closes the store: the writer checkpoints the WAL

    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "runs " << o.runs << "\nraw_json_bytes " << raw_bytes << "\nseconds " << s
              << "\nruns_per_second " << static_cast<std::int64_t>(o.runs / s) << "\n";
    if (!o.paths.empty()) {
        std::ofstream m(o.paths + "/manifest.txt");
        m << "runs " << o.runs << "\nraw_json_bytes " << raw_bytes << "\nseed " << o.seed
          << "\nagents " << o.agents << "\nprojects " << o.projects << "\n";
    }
    return 0;
}

}  // namespace
}  // namespace runmirror

int main(int argc, char** argv) {
    runmirror::options o;
    for (int k = 1; k < argc; ++k) {
        const std::string_view arg = argv[k];
        if (arg == "-h" || arg == "--help") return runmirror::usage(0);
        if (k + 1 >= argc) return runmirror::usage(2);
        const std::string value = argv[++k];
        try {
            if (arg == "--db")
                o.db = value;
            else if (arg == "--runs")
                o.runs = std::stoll(value);
            else if (arg == "--agents")
                o.agents = std::stoul(value);
            else if (arg == "--projects")
                o.projects = std::stoul(value);
            else if (arg == "--seed")
                o.seed = std::stoull(value);
            else if (arg == "--batch")
                o.batch = std::stoul(value);
            else if (arg == "--key")
                o.key = value;
            else if (arg == "--pages")
                o.pages = std::stoll(value);
            else if (arg == "--paths")
                o.paths = value;
            else if (arg == "--probe")
                o.probe = value;
            else if (arg == "--jsonl")
                o.jsonl = value;
            else
                return runmirror::usage(2);
        } catch (const std::exception&) {
            return runmirror::usage(2);
        }
    }
    if (o.db.empty() || o.runs < 1 || o.agents < 1 || o.projects < 1 || o.batch < 1) {
        return runmirror::usage(2);
    }
    try {
        if (!o.probe.empty()) return runmirror::run_probe(o.db, o.probe, o.key);
        if (!o.jsonl.empty()) return runmirror::fill_jsonl(o);
        return runmirror::fill(o);
    } catch (const std::exception& e) {
        std::cerr << "fill_store: " << e.what() << "\n";
        return 1;
    }
}
