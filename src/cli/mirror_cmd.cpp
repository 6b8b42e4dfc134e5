// `runmirror mirror`: pulls runs for offline use into the same store, grants and watches the
// daemon uses, agent by agent, page by page (100 runs, newest first, as upstream lists them).
//
// Incremental: when the store already holds at least as many of an agent's runs as upstream
// lists (a previous pass completed), paging stops at the first page that reaches a stored
// final run that has not changed; newer runs come first, so nothing new is older than it.
// Otherwise every page is fetched. Each page is committed as it arrives, so an interrupted
// pass loses nothing and a rerun completes it.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "cli/cli_args.hpp"
#include "cli/commands.hpp"
#include "config/load_options.hpp"
#include "http/json_error.hpp"
#include "json/run_fields.hpp"
#include "net/standalone_upstream.hpp"
#include "runmirror/store.hpp"
#include "util/tenant.hpp"
#include "util/url_encode.hpp"

namespace runmirror {

namespace {

namespace po = boost::program_options;
using steady = std::chrono::steady_clock;

constexpr int default_page_size = 100;

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
    interrupted = true;
}

struct tally {
    std::size_t added = 0, updated = 0, unchanged = 0, failed = 0, requests = 0;
};

po::options_description describe() {
    po::options_description desc("Options", 100, 40);
    desc.add_options()                                             //
        ("help,h", po::bool_switch(), "print this help and exit")  //
        ("agent", po::value<std::vector<std::string>>()->value_name("ID"),
         "an extraction agent to mirror (repeatable)")  //
        ("project", po::value<std::string>()->value_name("ID"),
         "mirror every agent of this project")                            //
        ("all", po::bool_switch(), "mirror every agent the key can see")  //
        ("api-key-file", po::value<std::string>()->value_name("FILE"),
         "read the API key from FILE (default: $LLAMA_CLOUD_API_KEY)")  //
        ("db", po::value<std::string>()->value_name("PATH"),
         "the store (default: as for serve)")  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "serve's config file, for db, upstream and upstream-ca")  //
        ("upstream", po::value<std::string>()->value_name("URL"),
         "LlamaCloud origin (default: as for serve)")  //
        ("upstream-ca", po::value<std::string>()->value_name("FILE"),
         "extra CA certificate (PEM) trusted for the upstream")  //
        ("page-size", po::value<int>()->value_name("N"),
         "runs per list request, 1 to 1000 (default: 100)");
    return desc;
}

std::string help_text() {
    std::ostringstream out;
    out << "Usage: runmirror mirror (--agent ID... | --project ID | --all) [options]\n"
           "\n"
           "Pulls extraction runs into the store for offline use, with the store, grants and\n"
           "watches the daemon uses; safe to run while the daemon runs. A second pass fetches\n"
           "only what changed; an interrupted pass (Ctrl-C) is completed by running it again.\n"
           "Shows a progress bar on a terminal, otherwise one line per agent, then a summary.\n"
           "Exit status: 0 done, 1 an agent failed, 2 usage error, 130 interrupted.\n"
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

// One GET with the key; a failure or a non-200 answer becomes the error text.
class fetcher {
  public:
    fetcher(upstream& up, std::string key, tally& counts)
        : up_(up), key_(std::move(key)), counts_(counts) {}

    std::pair<response, std::string> get(const std::string& target) {
        request req;
        req.method = "GET";
        req.target = target;
        req.headers = {{"Authorization", "Bearer " + key_}, {"Accept", "application/json"}};
        ++counts_.requests;
        upstream_reply reply = net::send_and_wait(up_, std::move(req));
        if (reply.failure) return {{}, reply.failure.detail};
        if (reply.answer.status != 200) {
            return {{},
                    "upstream answered " + std::to_string(reply.answer.status) + ": " +
                        reply.answer.body.substr(0, 200)};
        }
        return {std::move(reply.answer), {}};
    }

  private:
    upstream& up_;
    std::string key_;
    tally& counts_;
};

class progress {
  public:
    explicit progress(std::string agent) : agent_(std::move(agent)), tty_(isatty(STDERR_FILENO)) {}

    void update(std::size_t done, std::int64_t total) {
        if (!tty_) return;
        const double secs = std::chrono::duration<double>(steady::now() - start_).count();
        const double rate = secs > 0 ? double(done) / secs : 0;
        const int width = 30;
        const double share = total > 0 ? std::min(1.0, double(done) / double(total)) : 1.0;
        const int filled = static_cast<int>(share * width);
        std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
        const double eta =
            rate > 0 && total > 0 ? std::max(0.0, (double(total) - double(done)) / rate) : 0;
        std::fprintf(stderr, "\r%s [%s] %zu/%lld runs  %.0f runs/s  ETA %.0fs   ", agent_.c_str(),
                     bar.c_str(), done, static_cast<long long>(total), rate, eta);
        std::fflush(stderr);
    }

    void finish(const tally& t, const char* outcome) {
        if (tty_) std::fputs("\r\033[K", stderr);
        const double secs = std::chrono::duration<double>(steady::now() - start_).count();
        std::fprintf(stderr, "%s: %s, new %zu, updated %zu, unchanged %zu (%.1fs)\n",
                     agent_.c_str(), outcome, t.added, t.updated, t.unchanged, secs);
    }

  private:
    std::string agent_;
    bool tty_;
    steady::time_point start_ = steady::now();
};

// Mirrors one agent; returns false when it failed (the error is printed).
bool mirror_agent(const std::string& agent, int page_size, fetcher& fetch, store& db,
                  const std::string& tenant, const sync_options& sync, tally& totals) {
    tally mine;
    progress bar(agent);
    std::int64_t skip = 0;
    bool incremental = false;
    bool first_page = true;
    for (;;) {
        if (interrupted) break;
        auto [page, err] =
            fetch.get("/api/v1/extraction/runs?extraction_agent_id=" + url_encode(agent) +
                      "&skip=" + std::to_string(skip) + "&limit=" + std::to_string(page_size));
        if (err.empty()) {
            auto [list, perr] = parse_run_list(page.body);
            if (perr) {
                err = perr.detail;
            } else {
                if (first_page) {
                    const auto stored = db.list_runs({tenant, agent, {}, 0, 0}).total;
                    incremental = stored > 0 && stored >= list.total;
                    first_page = false;
                }
                const time_point now = clock_type::now();
                bool reached_known = false;
                std::set<std::string> projects;
                for (const auto& [fields, bytes] : list.items) {
                    auto before = db.find_run(fields.id);
                    if (!before) {
                        ++mine.added;
                    } else if (before->body == bytes) {
                        ++mine.unchanged;
                        reached_known |= incremental && is_final_status(fields.status);
                    } else {
                        ++mine.updated;
                    }
                    if (!fields.project_id.empty()) projects.insert(fields.project_id);
                }
                db.put_runs(list.items, now);
                db.grant(tenant, {projects.begin(), projects.end()});
                for (const auto& [fields, bytes] : list.items) {
                    // The daemon's sync worker finishes them (with this key once a client
                    // using it returns, or with its service key).
                    if (!is_final_status(fields.status)) {
                        db.watch_run(fields, tenant, now, now + sync.poll_interval);
                    }
                }
                skip += static_cast<std::int64_t>(list.items.size());
                bar.update(static_cast<std::size_t>(skip), list.total);
                if (list.items.empty() || skip >= list.total || reached_known) break;
                continue;
            }
        }
        ++mine.failed;
        bar.finish(mine, "FAILED");
        std::cerr << "runmirror mirror: " << agent << ": " << err << "\n";
        totals.added += mine.added, totals.updated += mine.updated;
        totals.unchanged += mine.unchanged, totals.failed += 1;
        return false;
    }
    bar.finish(mine, interrupted ? "interrupted" : "done");
    totals.added += mine.added, totals.updated += mine.updated, totals.unchanged += mine.unchanged;
    return true;
}

std::vector<std::string> list_agents(fetcher& fetch, const std::string& project) {
    std::string target = "/api/v1/extraction/extraction-agents";
    if (!project.empty()) target += "?project_id=" + url_encode(project);
    auto [answer, err] = fetch.get(target);
    if (!err.empty()) throw std::runtime_error("listing agents: " + err);
    auto [ids, perr] = parse_agent_ids(answer.body);
    if (perr) throw std::runtime_error("listing agents: " + perr.detail);
    return ids;
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
        std::vector<std::pair<std::string, std::string>> flags;
        for (const char* name : {"db", "config", "upstream", "upstream-ca"}) {
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

    try {
        std::filesystem::path dir = std::filesystem::path(options.store.path).parent_path();
        if (!dir.empty()) std::filesystem::create_directories(dir);
        auto db = open_sqlite_store(options.store.path);
        auto up = net::make_standalone_upstream(options.upstream, options.limits);
        tally totals;
        fetcher fetch(*up, key, totals);
        const std::string tenant = tenant_of_key(key);
        std::signal(SIGINT, on_interrupt);
        std::signal(SIGTERM, on_interrupt);
        if (agents.empty()) agents = list_agents(fetch, project);
        std::size_t failed_agents = 0;
        for (const auto& agent : agents) {
            if (interrupted) break;
            if (!mirror_agent(agent, page_size, fetch, *db, tenant, options.sync, totals)) {
                ++failed_agents;
            }
        }
        std::fprintf(
            stderr,
            "%s %zu agent(s): new %zu, updated %zu, unchanged %zu, failed %zu (%zu requests)\n",
            interrupted ? "interrupted; rerun to complete. So far" : "mirrored", agents.size(),
            totals.added, totals.updated, totals.unchanged, failed_agents, totals.requests);
        if (interrupted) return 130;
        return failed_agents > 0 ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "runmirror mirror: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace runmirror
