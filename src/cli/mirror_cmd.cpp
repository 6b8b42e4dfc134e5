// `runmirror mirror`: pulls v1 runs (agent by agent) and Extract v2 jobs for offline use into
// the same store, grants and watches the daemon uses, page by page, newest first, incrementally;
// each kind's list is read by mirror_pass (mirror_pass.hpp), which says how a pass stops early
// and why an interrupted one loses nothing. This file is the command line: what to mirror,
// with which key, and the summary.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>

#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "cli/mirror_pass.hpp"
#include "config/load_options.hpp"
#include "json/agent_names.hpp"
#include "json/run_fields.hpp"
#include "net/standalone_upstream.hpp"
#include "runmirror/store.hpp"
#include "util/tenant.hpp"
#include "util/tenant_secret.hpp"
#include "util/url_encode.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;

constexpr int default_page_size = 100;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
    interrupted = true;
}

po::options_description describe() {
    po::options_description desc("Options", 100, 40);
    desc.add_options()                                             //
        ("help,h", po::bool_switch(), "print this help and exit")  //
        ("agent", po::value<std::vector<std::string>>()->value_name("ID"),
         "the v1 runs of this extraction agent (repeatable)")  //
        ("project", po::value<std::string>()->value_name("ID"),
         "the runs of every agent of this project, and its v2 jobs")  //
        ("all", po::bool_switch(),
         "the runs of every agent the key can see, and the v2 jobs it lists")  //
        ("kind", po::value<std::string>()->value_name("KIND"),
         "run (v1 runs), v2_job (Extract v2 jobs) or all (default: all; with --agent: run)")  //
        ("api-key-file", po::value<std::string>()->value_name("FILE"),
         "read the API key from FILE (default: $LLAMA_CLOUD_API_KEY)")  //
        ("db", po::value<std::string>()->value_name("PATH"),
         "the store (default: as for serve)")  //
        ("tenant-secret", po::value<std::string>()->value_name("FILE"),
         "the secret tenants are keyed with (default: as for serve)")  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "serve's config file, for db, tenant-secret, upstream and upstream-ca")  //
        ("upstream", po::value<std::string>()->value_name("URL"),
         "LlamaCloud origin (default: as for serve)")  //
        ("upstream-ca", po::value<std::string>()->value_name("FILE"),
         "extra CA certificate (PEM) trusted for the upstream")  //
        ("page-size", po::value<int>()->value_name("N"),
         "runs or v2 jobs per list request, 1 to 1000 (default: 100)");
    return desc;
}

std::string help_text() {
    std::ostringstream out;
    out << "Usage: runmirror mirror (--agent ID... | --project ID | --all) [--kind KIND] "
           "[options]\n"
           "\n"
           "Pulls v1 extraction runs (agent by agent) and Extract v2 jobs (GET /api/v2/extract)\n"
           "into the store for offline use, newest first, with the store, grants and watches the\n"
           "daemon uses: runs and jobs not final yet are watched, so the daemon's sync worker\n"
           "finishes them. Safe to run while the daemon runs. A second pass fetches only what\n"
           "changed; an interrupted pass (Ctrl-C, an upstream error) keeps every page it stored\n"
           "and is completed by running it again. v2 jobs belong to no agent: with --agent,\n"
           "only runs are mirrored.\n"
           "Shows a progress bar on a terminal, otherwise one line per agent and one for the v2\n"
           "jobs, then a summary per kind.\n"
           "Exit status: 0 done, 1 something failed (listing agents, an agent, the v2 jobs),\n"
           "2 usage error, 130 interrupted.\n"
           "\n"
        << describe();
    return out.str();
}

std::string read_key_file(const std::string& path) {
    std::ifstream in(path);
    std::string key;
    if (!in || !std::getline(in, key)) throw usage_error("--api-key-file: cannot read " + path);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' '))
        key.pop_back();
    if (key.empty()) throw usage_error("--api-key-file: " + path + " holds no key");
    return key;
}

// The agents to mirror runs of; nullopt when upstream would not list them (the error printed).
// Their names are stored too, for browsing to show beside their ids.
std::optional<std::vector<std::string>> list_agents(mirror_fetcher& fetch,
                                                    const std::string& project, store& db,
                                                    mirror_tally& counts) {
    std::string target = "/api/v1/extraction/extraction-agents";
    if (!project.empty()) target += "?project_id=" + url_encode(project);
    auto [answer, err] = fetch.get(target, counts);
    if (err.empty()) {
        auto [ids, perr] = parse_agent_ids(answer.body);
        if (!perr) {
            db.put_agent_names(parse_agent_names(answer.body, project), clock_type::now());
            return ids;
        }
        err = perr.detail;
    }
    std::cerr << "runmirror mirror: listing agents: " << err << "\n";
    return std::nullopt;
}

// What a selection mirrors.
struct kinds_wanted {
    bool runs = true;
    bool v2_jobs = true;
};

// --kind, or by default every kind the selection applies to: v2 jobs belong to no agent.
kinds_wanted kinds_of(const po::variables_map& vm, bool by_agent) {
    if (!vm.count("kind")) return {true, !by_agent};
    const std::string& text = vm["kind"].as<std::string>();
    const auto kind = parse_kind_filter(text);
    if (!kind) throw usage_error("--kind: expected run, v2_job or all");
    if (*kind && *kind != &kinds::v1_run && *kind != &kinds::v2_job) {
        throw usage_error("--kind " + text +
                          ": mirror pulls runs and v2 jobs (run, v2_job or all)");
    }
    const kinds_wanted wanted{!*kind || *kind == &kinds::v1_run, !*kind || *kind == &kinds::v2_job};
    if (by_agent && wanted.v2_jobs) {
        throw usage_error("--kind " + text +
                          ": v2 jobs belong to no agent; use --project ID or --all for them");
    }
    return wanted;
}

}  // namespace

int mirror_command(const std::vector<std::string>& args) {
    if (wants_help(args)) {
        std::cout << help_text();
        return 0;
    }
    const auto env = process_environment();
    std::vector<std::string> agents;
    std::string project;
    std::string key;
    serve_options options;
    bool all = false;
    kinds_wanted wanted;
    int page_size = default_page_size;
    try {
        const po::variables_map vm = parse_command_args(args, describe());
        if (vm.count("agent")) agents = vm["agent"].as<std::vector<std::string>>();
        if (vm.count("project")) project = vm["project"].as<std::string>();
        all = vm["all"].as<bool>();
        if (vm.count("page-size")) page_size = vm["page-size"].as<int>();
        if (page_size < 1 || page_size > 1000) throw usage_error("--page-size: expected 1 to 1000");
        if (agents.empty() + project.empty() + !all != 2) {
            throw usage_error(
                "name what to mirror: --agent ID (repeatable), --project ID or --all");
        }
        wanted = kinds_of(vm, !agents.empty());
        std::vector<std::pair<std::string, std::string>> flags;
        for (const char* name : {"db", "config", "upstream", "upstream-ca", "tenant-secret"}) {
            if (vm.count(name))
                flags.emplace_back(std::string("--") + name, vm[name].as<std::string>());
        }
        options = serve_options_for(flags, env);
        key = vm.count("api-key-file") ? read_key_file(vm["api-key-file"].as<std::string>())
                                       : options.sync.service_key;
        if (key.empty()) throw usage_error("no API key: set LLAMA_CLOUD_API_KEY or --api-key-file");
    } catch (const usage_error& e) {
        std::cerr << "runmirror mirror: " << e.what() << "\n";
        return 2;
    }

    if (const std::string missing = postgres_secret_missing(options.store); !missing.empty()) {
        std::cerr << "runmirror mirror: " << missing << "\n";
        return 2;
    }
    try {
        if (!is_postgres_uri(options.store.path)) {
            // Before the secret is created beside it: a file that is not a store is left as
            // it is.
            check_sqlite_store_file(options.store.path);
            std::filesystem::path dir = std::filesystem::path(options.store.path).parent_path();
            if (!dir.empty()) std::filesystem::create_directories(dir);
        }
        install_store_tenant_secret(options.store.path, options.store.tenant_secret_path,
                                    secret_use::create);
        auto db = open_store(options.store.path);
        auto up = net::make_standalone_upstream(options.upstream, options.limits);
        mirror_fetcher fetch(*up, key);
        const mirror_settings settings{*db, tenant_of_key(key), options.sync.poll_interval,
                                       page_size, interrupted};
        std::signal(SIGINT, on_interrupt);
        std::signal(SIGTERM, on_interrupt);

        mirror_tally runs;
        bool runs_listed = true;
        std::size_t failed_agents = 0;
        if (wanted.runs) {
            if (agents.empty()) {
                auto listed = list_agents(fetch, project, *db, runs);
                runs_listed = listed.has_value();
                if (listed) agents = std::move(*listed);
            }
            for (const auto& agent : agents) {
                if (interrupted) break;
                const mirror_scope scope{&kinds::v1_run, agent, "extraction_agent_id", agent};
                if (!mirror_pass(scope, fetch, settings, runs)) ++failed_agents;
            }
        }
        mirror_tally jobs;
        bool jobs_failed = false;
        if (wanted.v2_jobs && !interrupted) {
            mirror_scope scope{&kinds::v2_job, "v2 jobs", {}, {}};
            if (!project.empty()) {
                scope = {&kinds::v2_job, "v2 jobs of project " + project, "project_id", project};
            }
            jobs_failed = !mirror_pass(scope, fetch, settings, jobs);
        }

        const char* lead = interrupted ? "interrupted; rerun to complete. So far" : "mirrored";
        if (wanted.runs && runs_listed) {
            std::fprintf(
                stderr,
                "%s %zu agent(s): new %zu, updated %zu, unchanged %zu, failed %zu (%zu requests)\n",
                lead, agents.size(), runs.added, runs.updated, runs.unchanged, failed_agents,
                runs.requests);
        }
        if (wanted.v2_jobs) {
            std::fprintf(stderr,
                         "%s v2 jobs: fetched %zu, new %zu, updated %zu, unchanged %zu, failed %d "
                         "(%zu requests)\n",
                         lead, jobs.fetched(), jobs.added, jobs.updated, jobs.unchanged,
                         jobs_failed ? 1 : 0, jobs.requests);
        }
        if (interrupted) return 130;
        return failed_agents > 0 || !runs_listed || jobs_failed ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "runmirror mirror: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace runmirror
