#pragma once
// Generated ExtractRuns of bench/gen_data.py's shape and size (~4.7 KB of compact JSON: full
// ExtractConfig, the invoice data_schema, data with vendor, address, 4-9 line items and notes,
// extraction_metadata with per-field confidences, file), for the store benchmarks
// (fill_store.cpp, write_cost.cpp). Run i is the i-th newest (created_at strictly descending)
// and belongs to agent i % agents; a run's bytes depend only on (seed, i).

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace runmirror::bench {

inline constexpr const char* vendors[][5] = {
    {"Acme Industrial Supply GmbH", "Hauptstrasse 12", "Berlin", "10115", "DE"},
    {"Northwind Traders Ltd", "221 Harbour Road", "Leeds", "LS1 4AP", "GB"},
    {"Contoso Office Products Inc.", "1 Microsoft Way", "Redmond", "98052", "US"},
    {"Globex Logistics S.A.", "Rue de la Loi 44", "Bruxelles", "1040", "BE"},
    {"Initech Software LLC", "4120 Freidrich Lane", "Austin", "78744", "US"},
    {"Umbrella Lab Equipment K.K.", "2-4-1 Marunouchi", "Tokyo", "100-0005", "JP"},
    {"Stark Components S.r.l.", "Via Roma 88", "Milano", "20121", "IT"},
    {"Wayne Facility Services", "1007 Mountain Drive", "Gotham", "10001", "US"},
};
inline constexpr const char* products[] = {
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
inline constexpr const char* notes[] = {
    "Payment due within 30 days of the invoice date. Late payments incur 1.5% monthly interest.",
    "Goods remain the property of the supplier until paid in full. Please quote the invoice "
    "number.",
    "Thank you for your business. Questions about this invoice: billing@example.com, +44 20 7946 "
    "0958.",
    "Delivery partially completed; the remaining items ship in a separate consignment next week.",
    "Reverse charge: VAT to be accounted for by the recipient as per Article 196 Council "
    "Directive.",
};
inline constexpr const char* currencies[] = {"EUR", "USD", "GBP", "JPY", "CHF"};
inline constexpr const char* modes[] = {"BALANCED", "BALANCED", "FAST", "PREMIUM", "MULTIMODAL"};
inline constexpr const char* errors[] = {
    "Document parsing failed: the file appears to be password protected",
    "Extraction timed out after 600 seconds on page 14",
    "Unsupported file type: application/x-ms-shortcut",
};
inline constexpr std::string_view schema =
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

inline std::string uuid4(rng& r) {
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

inline std::string iso(micros t) {
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

inline std::string iso_date(micros t) {
    return iso(t).substr(0, 10);
}

// A number rounded to 2 (or 4) decimals the way Python's repr prints round(x, n): shortest
// form, always with a fraction ("98.8", "9133.0").
inline std::string decimal(double x, int places) {
    const double scale = places == 2 ? 100.0 : 10000.0;
    const double v = std::round(x * scale) / scale;
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, end);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

inline std::string json_quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + '"';
}

inline std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct generated {
    std::string id, job_id, body;
};

inline generated make_run(std::int64_t i, std::uint64_t seed,
                          const std::vector<std::string>& agents,
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
                 "\",\"description\":" + json_quoted(items[k].description) +
                 ",\"quantity\":" + std::to_string(items[k].qty) +
                 ",\"unit_price\":" + decimal(items[k].price, 2) +
                 ",\"amount\":" + decimal(items[k].amount, 2) + "}";
        }
        b += "],\"subtotal\":" + decimal(subtotal, 2) + ",\"tax\":" + decimal(tax, 2) +
             ",\"total\":" + decimal(total, 2) + ",\"notes\":" + json_quoted(note) + "}";
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
                 ",\"matching_text\":" + json_quoted(text.substr(0, 48)) + "}]},";
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
        b += ",\"data\":null,\"error\":" + json_quoted(r.pick(errors)) +
             ",\"extraction_metadata\":{}";
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

// The text of the member |name| of the generated body |body|, up to the next top-level member
// (make_run writes each member once, in a fixed order, and no string holds |next|).
inline std::string_view member_between(std::string_view body, std::string_view name,
                                       std::string_view next) {
    const std::string key = "\"" + std::string(name) + "\":";
    std::size_t start = body.find(key);
    if (start == std::string_view::npos) return {};
    start += key.size();
    const std::size_t end = body.find(",\"" + std::string(next) + "\":", start);
    return body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// An Extract v2 job (GET /api/v2/extract/{id}, members in the upstream's order as
// tests/support/fake_v2.mjs writes them) made from run i of make_run: its id, created_at,
// updated_at and project, its status (SUCCESS -> COMPLETED, ERROR -> FAILED), its "data" as
// "extract_result" and its error as "error_message"; owned by |configuration|. |expand| is a
// sorted expand set ("", "usage", "configuration,usage"): the members it adds, as the
// upstream answers GET ...?expand=<expand>. About 2.5 KB plain: a v1 run less its config,
// schema, metadata and file.
inline std::string make_v2_job(const generated& run, const std::string& configuration,
                               std::string_view expand) {
    const std::string_view b = run.body;
    const bool completed = member_between(b, "status", "config") == "\"SUCCESS\"";
    const auto has = [&](std::string_view what) {
        return expand == what || expand.starts_with(std::string(what) + ",") ||
               expand.ends_with("," + std::string(what)) ||
               expand.find("," + std::string(what) + ",") != std::string_view::npos;
    };
    std::string j;
    j.reserve(b.size());
    j += "{\"id\":\"" + run.id + "\",\"project_id\":";
    j += member_between(b, "project_id", "status");
    j += ",\"file_input\":\"dfl-" + run.job_id + "\",\"status\":";
    j += completed ? "\"COMPLETED\"" : "\"FAILED\"";
    j += ",\"created_at\":";
    j += member_between(b, "created_at", "updated_at");
    j += ",\"updated_at\":";
    j += member_between(b, "updated_at", "data");
    j += ",\"configuration_id\":\"" + configuration + "\"";
    if (has("configuration")) {
        j += ",\"configuration\":{\"data_schema\":";
        j += schema;
        j += ",\"extraction_target\":\"per_doc\",\"tier\":\"agentic\",\"version\":\"2026-01-15\"}";
    }
    j += ",\"error_message\":";
    j += completed ? std::string_view("null") : member_between(b, "error", "extraction_metadata");
    j += ",\"extract_result\":";
    j += completed ? member_between(b, "data", "error") : std::string_view("null");
    if (has("extract_metadata")) {
        j += ",\"extract_metadata\":";
        j += member_between(b, "extraction_metadata", "file");
    }
    j += completed ? ",\"metadata\":{\"usage\":{\"num_pages_billed\":3,\"num_pages_extracted\":3}}"
                   : ",\"metadata\":null";
    if (has("usage")) {
        j += completed ? ",\"usage\":{\"credits\":60,\"extract_credits\":45,\"parse_credits\":15}"
                       : ",\"usage\":{\"credits\":15,\"extract_credits\":0,\"parse_credits\":15}";
    }
    j += "}";
    return j;
}

}  // namespace runmirror::bench
