// runmirror_fill_store: writes N generated ExtractRuns into a store through the real store code
// (open_store, put_runs in batches, grant, put_list_page), for bench/store_scale.sh. --db takes
// a postgresql:// URI too (the PostgreSQL store; its tenants then use a secret never written).
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
// Prints one "key value" line per figure: runs, raw_json_bytes, seconds, runs_per_second,
// put_runs_us_p50/p99 (each put_runs call; with --batch 1 each is one write, as a miss makes).
//
//   runmirror_fill_store --db PATH --runs N --v2-share 0.5 [--variant-share 0.3] ...
//
// makes a store of mixed kinds for the browse figures (bench/README.md): that share of the
// resources, drawn per index from the seed, are Extract v2 jobs (run_gen.hpp: make_v2_job, made
// from run i, owned by one of --agents saved configurations) instead of v1 runs, stored as the
// daemon stores GET /api/v2/extract/{id} answers. Of the v2 jobs, --variant-share also have an
// expand representation stored: two in three of those as plain + "?expand=usage", one in three
// only as "?expand=configuration,usage" (a job only ever read with it). Such a store has no list
// pages (--pages and --paths describe v1 runs only), and also prints rows, v2_jobs,
// v2_variant_rows and v2_variant_only.
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
#include "run_gen.hpp"
#include "runmirror/store.hpp"
#include "util/tenant.hpp"
#include "util/tenant_secret.hpp"

namespace runmirror {
namespace {

using namespace runmirror::bench;

constexpr int page_limit = 50;

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
    double v2_share = 0;         // of the resources: v2 jobs instead of v1 runs
    double variant_share = 0.3;  // of the v2 jobs: with an expand representation stored
};

// The tenant secret, as serve installs it: beside an SQLite store; for a PostgreSQL one (no
// "beside"), a random one never written, as for ":memory:".
void install_bench_secret(const std::string& db) {
    install_store_tenant_secret(is_postgres_uri(db) ? ":memory:" : db, {}, secret_use::create);
}

int fill_jsonl(const options& o) {
    install_bench_secret(o.db);  // as serve, for its grants
    auto db = open_store(o.db);
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
    // The secret serve would use on this store (created beside it when missing), so the
    // daemon finds the grants written here.
    install_bench_secret(db_path);
    auto db = open_store(db_path);
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
                  const auto query = decode_query(path.substr(path.find('?') + 1));
                  const auto params = list_params_of(*query);
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
                 "       runmirror_fill_store --db PATH [--runs N] --v2-share S [--variant-share V]"
                 " [--agents A] [--projects P] [--seed S] [--batch B]\n"
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
    for (std::int64_t want = o.v2_share > 0 ? 0 : o.pages; want > 0;) {
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

    // Owners of the v2 jobs: saved configurations, as many as agents.
    std::vector<std::string> configurations;
    for (std::size_t k = 0; k < o.agents; ++k)
        configurations.push_back("cfg-" + uuid4(ids));

    install_bench_secret(o.db);  // as serve, for its grants
    auto db = open_store(o.db);
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
    std::int64_t v2_jobs = 0, variant_rows = 0, variant_only = 0;
    std::vector<generated> batch;
    std::vector<double> put_us;  // each put_runs call: with --batch 1, each write of a miss
    // v2 representations of this batch: body, expand set ("" plain)
    std::vector<std::pair<std::string, std::string>> v2_batch;
    std::vector<std::pair<run_fields, std::string_view>> items;
    const time_point fetched = clock_type::now();
    for (std::int64_t i = 0; i < o.runs;) {
        batch.clear();
        v2_batch.clear();
        items.clear();
        for (std::size_t k = 0; k < o.batch && i < o.runs; ++k, ++i) {
            if (o.v2_share > 0) {
                // The kind and representations of resource i depend only on (seed, i).
                rng pick(o.seed * 0x2545f4914f6cdd1dULL + static_cast<std::uint64_t>(i));
                if (pick.real(0, 1) < o.v2_share) {
                    const generated run = make_run(i, o.seed, agents, projects);
                    const std::string& configuration =
                        configurations[static_cast<std::size_t>(i) % configurations.size()];
                    ++v2_jobs;
                    const double v = pick.real(0, 1);
                    const bool with_variant = v < o.variant_share;
                    const bool only_variant = v < o.variant_share / 3;
                    if (!only_variant)
                        v2_batch.emplace_back(make_v2_job(run, configuration, ""), "");
                    if (only_variant) {
                        ++variant_only;
                        ++variant_rows;
                        v2_batch.emplace_back(
                            make_v2_job(run, configuration, "configuration,usage"),
                            "configuration,usage");
                    } else if (with_variant) {
                        ++variant_rows;
                        v2_batch.emplace_back(make_v2_job(run, configuration, "usage"), "usage");
                    }
                    continue;
                }
            }
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
        for (const auto& [body, expand] : v2_batch) {
            raw_bytes += body.size();
            auto [fields, err] = parse_run(body, kinds::v2_job);
            if (err) {
                std::cerr << "fill_store: generated v2 job does not parse: " << err.detail << "\n";
                return 1;
            }
            fields.variant = expand;
            items.emplace_back(std::move(fields), body);
        }
        const auto put_started = std::chrono::steady_clock::now();
        db->put_runs(items, fetched);
        put_us.push_back(std::chrono::duration<double, std::micro>(
                             std::chrono::steady_clock::now() - put_started)
                             .count());
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
            const auto query = decode_query(path.substr(path.find('?') + 1));
            db->put_list_page(tenant, list_key_of(*query), page, clock_type::now());
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
    if (!put_us.empty()) {
        std::sort(put_us.begin(), put_us.end());
        const auto at = [&](double q) {
            return put_us[std::min(put_us.size() - 1, static_cast<std::size_t>(q * put_us.size()))];
        };
        std::cout << "put_runs_us_p50 " << at(0.50) << "\nput_runs_us_p99 " << at(0.99) << "\n";
    }
    if (o.v2_share > 0) {
        std::cout << "rows " << o.runs + variant_rows - variant_only << "\nv2_jobs " << v2_jobs
                  << "\nv2_variant_rows " << variant_rows << "\nv2_variant_only " << variant_only
                  << "\n";
    }
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
            else if (arg == "--v2-share")
                o.v2_share = std::stod(value);
            else if (arg == "--variant-share")
                o.variant_share = std::stod(value);
            else
                return runmirror::usage(2);
        } catch (const std::exception&) {
            return runmirror::usage(2);
        }
    }
    if (o.db.empty() || o.runs < 1 || o.agents < 1 || o.projects < 1 || o.batch < 1 ||
        !(o.v2_share >= 0 && o.v2_share <= 1) || !(o.variant_share >= 0 && o.variant_share <= 1) ||
        (o.v2_share > 0 && !o.paths.empty())) {
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
