// Hand-run micro benchmark for parse_run / parse_run_list (not a test; nothing asserts a time).
//   runmirror_parse_bench [RUN.json [PAGE.json]] [--iterations N]
// Without files it parses a 4.7 KB run written by bench/gen_data.py (embedded below) and a page
// of 50 such runs (~235 KB), the shapes the daemon parses on every cache miss. For instruction
// counts run it under `valgrind --tool=callgrind` with a small --iterations.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "json/run_fields.hpp"

namespace {

// One SUCCESS run from `gen_data.py OUT --runs 400` (compact, like the upstream's answers).
const char* const sample_run =
    R"json({"id":"4de3729d-3d00-481c-8201-d9934b6771b9","extraction_agent_id":"e0838f0f-f60c-4278-a5c9-801952192e8f","project_id":"e6e8a34a-2007-47df-81b1-3c62d997ca9d","status":"SUCCESS","config":{"extraction_target":"PER_DOC","extraction_mode":"BALANCED","chunk_mode":"PAGE","high_resolution_mode":false,"invalidate_cache":false,"cite_sources":false,"use_reasoning":false,"confidence_scores":true,"multimodal_fast_mode":false,"citation_bbox":false,"num_pages_context":null,"page_range":null,"system_prompt":"Extract the invoice header, every line item and the totals. Amounts are numbers without currency symbols.","priority":null,"extract_model":null,"parse_model":null},"data_schema":{"type":"object","properties":{"vendor":{"type":"object","description":"The party that issued the invoice","properties":{"name":{"type":"string"},"vat_id":{"type":["string","null"]},"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},"postal_code":{"type":"string"},"country":{"type":"string"}}}}},"invoice_number":{"type":"string","description":"Invoice identifier as printed"},"invoice_date":{"type":"string","format":"date"},"due_date":{"type":["string","null"],"format":"date"},"currency":{"type":"string","description":"ISO 4217 code"},"line_items":{"type":"array","items":{"type":"object","properties":{"description":{"type":"string"},"quantity":{"type":"number"},"unit_price":{"type":"number"},"amount":{"type":"number"}},"required":["description","amount"]}},"subtotal":{"type":"number"},"tax":{"type":"number"},"total":{"type":"number"},"notes":{"type":["string","null"]}},"required":["vendor","invoice_number","total"]},"from_ui":false,"created_at":"2025-06-01T08:27:12.116787Z","updated_at":"2025-06-01T08:28:03.615039Z","data":{"vendor":{"name":"Stark Components S.r.l.","vat_id":"IT249069498","address":{"street":"Via Roma 88","city":"Milano","postal_code":"20121","country":"IT"}},"invoice_number":"INV-2025-58074","invoice_date":"2025-05-17","due_date":"2025-06-16","currency":"JPY","line_items":[{"sku":"SKU-16764","description":"Cat6 patch cable 2 m, blue, pack of 10","quantity":4,"unit_price":253.28,"amount":1013.12},{"sku":"SKU-30347","description":"Stainless steel hex bolts M8x40 (box of 200)","quantity":33,"unit_price":310.36,"amount":10241.88},{"sku":"SKU-89281","description":"Ergonomic office chair with lumbar support","quantity":40,"unit_price":532.93,"amount":21317.2},{"sku":"SKU-55748","description":"Pallet freight Berlin to Hamburg, 2 pallets","quantity":4,"unit_price":876.06,"amount":3504.24},{"sku":"SKU-51743","description":"Pallet freight Berlin to Hamburg, 2 pallets","quantity":20,"unit_price":462.51,"amount":9250.2},{"sku":"SKU-11763","description":"Ergonomic office chair with lumbar support","quantity":34,"unit_price":190.76,"amount":6485.84}],"subtotal":51812.48,"tax":9844.37,"total":61656.85,"notes":"Payment due within 30 days of the invoice date. Late payments incur 1.5% monthly interest."},"error":null,"extraction_metadata":{"field_metadata":{"vendor":{"confidence":0.7721,"citation":[{"page":2,"matching_text":"{'name': 'Stark Components S.r.l.', 'vat_id': 'I"}]},"invoice_number":{"confidence":0.994,"citation":[{"page":1,"matching_text":"INV-2025-58074"}]},"invoice_date":{"confidence":0.7267,"citation":[{"page":1,"matching_text":"2025-05-17"}]},"due_date":{"confidence":0.719,"citation":[{"page":1,"matching_text":"2025-06-16"}]},"currency":{"confidence":0.8726,"citation":[{"page":2,"matching_text":"JPY"}]},"subtotal":{"confidence":0.8012,"citation":[{"page":1,"matching_text":"51812.48"}]},"tax":{"confidence":0.8335,"citation":[{"page":2,"matching_text":"9844.37"}]},"total":{"confidence":0.9272,"citation":[{"page":1,"matching_text":"61656.85"}]},"notes":{"confidence":0.7021,"citation":[{"page":2,"matching_text":"Payment due within 30 days of the invoice date. "}]},"line_items":[{"confidence":0.7806,"page":2},{"confidence":0.9624,"page":1},{"confidence":0.8345,"page":2},{"confidence":0.8007,"page":1},{"confidence":0.7773,"page":2},{"confidence":0.9282,"page":1}]},"usage":{"num_pages_extracted":2,"num_document_tokens":38849,"num_output_tokens":437}},"file":{"id":"d74c25af-5d84-4dca-9ab1-be9cbc1c2a5a","name":"inv-2025-58074-milano.pdf","project_id":"e6e8a34a-2007-47df-81b1-3c62d997ca9d","created_at":"2025-06-01T08:27:07.116787Z","updated_at":"2025-06-01T08:27:07.116787Z","data_source_id":null,"expires_at":null,"external_file_id":null,"file_size":206091,"file_type":"pdf","last_modified_at":"2025-05-31T08:27:12.116787Z","permission_info":null,"purpose":"extract","resource_info":{"file_size":"0"}},"file_id":"d74c25af-5d84-4dca-9ab1-be9cbc1c2a5a","job_id":"c22994e4-ee63-4f2a-bc40-216a59fc5203"})json";

std::string read_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot read %s\n", path);
        std::exit(2);
    }
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// gen_data.py's page layout: 50 runs, each with its own id (same length as the sample's).
std::string make_page(const std::string& run) {
    std::string page = R"({"items":[)";
    for (int i = 0; i < 50; ++i) {
        std::string item = run;
        char suffix[8];
        std::snprintf(suffix, sizeof suffix, "%04d", i);
        // "id":"4de3729d-..." starts at offset 7; overwrite its first 4 hex digits.
        item.replace(7, 4, suffix);
        if (i != 0) page += ',';
        page += item;
    }
    page += R"(],"total":400,"skip":0,"limit":50})";
    return page;
}

template <typename F>
void bench(const char* name, const std::string& body, long iterations, F parse) {
    using clock = std::chrono::steady_clock;
    std::size_t sink = 0;
    for (long i = 0; i < (iterations + 9) / 10; ++i) {
        sink += parse(body);  // warm-up: allocator, caches
    }
    auto t0 = clock::now();
    for (long i = 0; i < iterations; ++i) {
        sink += parse(body);
    }
    double ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count() / iterations;
    std::printf("%-6s %8zu bytes  %10.0f ns/parse  %8.1f MB/s  (%ld parses, check %zu)\n", name,
                body.size(), ns, body.size() / ns * 1e3, iterations, sink);
}

}  // namespace

int main(int argc, char** argv) {
    long iterations = 0;
    const char* files[2] = {nullptr, nullptr};
    int nfiles = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--iterations" && i + 1 < argc) {
            iterations = std::atol(argv[++i]);
        } else if (nfiles < 2 && !a.starts_with("-")) {
            files[nfiles++] = argv[i];
        } else {
            std::fprintf(stderr, "usage: %s [RUN.json [PAGE.json]] [--iterations N]\n", argv[0]);
            return 2;
        }
    }
    std::string run = files[0] != nullptr ? read_file(files[0]) : std::string(sample_run);
    std::string page = files[1] != nullptr ? read_file(files[1]) : make_page(sample_run);

    auto parse_one = [](const std::string& body) -> std::size_t {
        auto [fields, err] = runmirror::parse_run(body);
        if (err) {
            std::fprintf(stderr, "parse_run failed: %s\n", err.detail.c_str());
            std::exit(1);
        }
        return fields.id.size();
    };
    auto parse_page = [](const std::string& body) -> std::size_t {
        auto [list, err] = runmirror::parse_run_list(body);
        if (err) {
            std::fprintf(stderr, "parse_run_list failed: %s\n", err.detail.c_str());
            std::exit(1);
        }
        return list.items.size();
    };
    bench("run", run, iterations > 0 ? iterations : 20000, parse_one);
    bench("page", page, iterations > 0 ? iterations : 400, parse_page);
    return 0;
}
