// One pass of `runmirror mirror` (mirror_pass.hpp): list requests, the store writes of each
// page, the incremental stop, progress.
#include "cli/mirror_pass.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>

#include "json/run_fields.hpp"
#include "net/standalone_upstream.hpp"
#include "util/url_encode.hpp"

namespace runmirror {

mirror_tally& mirror_tally::operator+=(const mirror_tally& other) {
    added += other.added;
    updated += other.updated;
    unchanged += other.unchanged;
    requests += other.requests;
    return *this;
}

std::pair<response, std::string> mirror_fetcher::get(const std::string& target,
                                                     mirror_tally& counts) {
    request req;
    req.method = "GET";
    req.target = target;
    req.headers = {{"Authorization", "Bearer " + key_}, {"Accept", "application/json"}};
    ++counts.requests;
    upstream_reply reply = net::send_and_wait(up_, std::move(req));
    if (reply.failure) return {{}, reply.failure.detail};
    if (reply.answer.status != 200) {
        std::string body = reply.answer.body.substr(0, 200);
        std::replace(body.begin(), body.end(), '\n', ' ');  // the error stays one line
        return {{}, "upstream answered " + std::to_string(reply.answer.status) + ": " + body};
    }
    return {std::move(reply.answer), {}};
}

namespace {

using steady = std::chrono::steady_clock;

// "runs", "jobs": the last word of the kind's label, for people.
std::string noun_of(const resource_kind& kind) {
    return std::string(kind.label.substr(kind.label.rfind(' ') + 1)) + "s";
}

class progress {
  public:
    progress(std::string label, std::string noun)
        : label_(std::move(label)), noun_(std::move(noun)), tty_(isatty(STDERR_FILENO)) {}

    // |total|: how many upstream lists, when it says (skip/limit paging); -1 when it does not.
    void update(std::size_t done, std::int64_t total) {
        if (!tty_) return;
        const double secs = std::chrono::duration<double>(steady::now() - start_).count();
        const double rate = secs > 0 ? double(done) / secs : 0;
        if (total < 0) {
            std::fprintf(stderr, "\r%s %zu %s  %.0f %s/s   ", label_.c_str(), done, noun_.c_str(),
                         rate, noun_.c_str());
            std::fflush(stderr);
            return;
        }
        const int width = 30;
        const double share = total > 0 ? std::min(1.0, double(done) / double(total)) : 1.0;
        const int filled = static_cast<int>(share * width);
        std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
        const double eta =
            rate > 0 && total > 0 ? std::max(0.0, (double(total) - double(done)) / rate) : 0;
        std::fprintf(stderr, "\r%s [%s] %zu/%lld %s  %.0f %s/s  ETA %.0fs   ", label_.c_str(),
                     bar.c_str(), done, static_cast<long long>(total), noun_.c_str(), rate,
                     noun_.c_str(), eta);
        std::fflush(stderr);
    }

    void finish(const mirror_tally& t, const char* outcome) {
        if (tty_) std::fputs("\r\033[K", stderr);
        const double secs = std::chrono::duration<double>(steady::now() - start_).count();
        std::fprintf(stderr, "%s: %s, fetched %zu, new %zu, updated %zu, unchanged %zu (%.1fs)\n",
                     label_.c_str(), outcome, t.fetched(), t.added, t.updated, t.unchanged, secs);
    }

  private:
    std::string label_;
    std::string noun_;
    bool tty_;
    steady::time_point start_ = steady::now();
};

// --- the frontier of a completed cursor pass (mirror_pass.hpp) -------------------------------
// Kept as one of the tenant's list pages, under a key no list request normalises to (list keys
// are percent-encoded queries: never a '#' nor a ' '), so the daemon never serves it. Its body
// is the newest item's bytes as upstream listed it. The store drops it with the tenant's pages
// (a 401, a delete through the daemon): the next pass is then a full one, never a short one.

std::string frontier_key(const mirror_scope& scope) {
    std::string key(scope.kind->name);
    key += "\n#mirror frontier";
    if (!scope.filter_param.empty()) key += ' ' + scope.filter_param + '=' + scope.filter_value;
    return key;
}

struct frontier {
    std::string id;
    std::string created_at;

    // Whether |item| is at or older than the frontier in the list's order (created_at
    // descending; upstream writes every created_at the same way, so they compare as text).
    bool covers(const run_fields& item) const {
        return item.id == id ||
               (!created_at.empty() && !item.created_at.empty() && item.created_at < created_at);
    }
};

std::optional<frontier> read_frontier(const mirror_scope& scope, const mirror_settings& s) {
    auto page = s.db.find_list_page(s.tenant, frontier_key(scope));
    if (!page) return std::nullopt;
    auto [fields, err] = parse_run(page->text(), *scope.kind);
    if (err) return std::nullopt;
    return frontier{std::move(fields.id), std::move(fields.created_at)};
}

// The list request for one page: after |skip| items (skip/limit paging) or at |token| (cursor).
std::string page_target(const mirror_scope& scope, int page_size, std::int64_t skip,
                        const std::string& token) {
    const resource_kind& kind = *scope.kind;
    std::string target(kind.collection);
    target += '?';
    if (!scope.filter_param.empty()) {
        target += scope.filter_param + '=' + url_encode(scope.filter_value) + '&';
    }
    if (kind.paging == list_paging::skip_limit) {
        target += "skip=" + std::to_string(skip) + '&';
    }
    target += std::string(kind.page_size_param) + '=' + std::to_string(page_size);
    if (kind.paging == list_paging::cursor && !token.empty()) {
        target += "&page_token=" + url_encode(token);
    }
    return target;
}

// Stores a page's items as the daemon stores a list answer's (their bytes under their store
// keys, one transaction), grants the tenant their projects and watches those not final.
// Returns whether the page reached a stored final item that has not changed and that
// |covered| says a completed pass already holds everything older than.
template <class Covered>
bool store_page(const run_list& list, const mirror_settings& s, const Covered& covered,
                mirror_tally& counts) {
    const time_point now = clock_type::now();
    bool reached_known = false;
    std::set<std::string> projects;
    for (const auto& [fields, bytes] : list.items) {
        auto before = s.db.find_run(store_key(*fields.kind, fields.id));
        if (!before) {
            ++counts.added;
        } else if (before->body == bytes) {
            ++counts.unchanged;
            reached_known |= fields.kind->is_final(fields.status) && covered(fields);
        } else {
            ++counts.updated;
        }
        if (!fields.project_id.empty()) projects.insert(fields.project_id);
    }
    s.db.put_runs(list.items, now);
    s.db.grant(s.tenant, {projects.begin(), projects.end()});
    for (const auto& [fields, bytes] : list.items) {
        // The daemon's sync worker finishes them (with this key once a client using it
        // returns, or with its service key).
        if (!fields.kind->is_final(fields.status)) {
            s.db.watch_run(fields, s.tenant, now, now + s.first_poll);
        }
    }
    return reached_known;
}

}  // namespace

bool mirror_pass(const mirror_scope& scope, mirror_fetcher& fetch, const mirror_settings& s,
                 mirror_tally& totals) {
    const resource_kind& kind = *scope.kind;
    const bool cursor = kind.paging == list_paging::cursor;
    mirror_tally mine;
    progress bar(scope.label, noun_of(kind));
    std::int64_t skip = 0;     // skip/limit: items listed so far
    std::string token;         // cursor: the next page's token
    bool incremental = false;  // skip/limit: decided on the first page
    std::optional<frontier> known;
    if (cursor) known = read_frontier(scope, s);
    std::string newest;  // cursor: the first item this pass listed, the next frontier
    bool complete = false;
    std::string err;
    while (!s.interrupted) {
        auto [page, fetch_err] = fetch.get(page_target(scope, s.page_size, skip, token), mine);
        if (!fetch_err.empty()) {
            err = std::move(fetch_err);
            break;
        }
        auto [list, parse_err] = parse_run_list(page.body, kind);
        if (parse_err) {
            err = parse_err.detail;
            break;
        }
        if (!cursor && skip == 0) {
            // v1 runs are mirrored per agent (mirror_scope::filter_value).
            run_query query{s.tenant, scope.filter_value, {}, 0, 0};
            const auto stored = s.db.list_runs(query).total;
            incremental = stored > 0 && stored >= list.total;
        }
        if (cursor && newest.empty() && !list.items.empty()) newest = list.items.front().second;
        const bool reached_known = store_page(
            list, s,
            [&](const run_fields& item) {
                return cursor ? known && known->covers(item) : incremental;
            },
            mine);
        bool last_page;
        if (cursor) {
            last_page = list.items.empty() || list.next_page_token.empty();
            if (!last_page && list.next_page_token == token) {
                err = "upstream gave the same next_page_token twice";
                break;
            }
            token = std::move(list.next_page_token);
            bar.update(mine.fetched(), -1);
        } else {
            skip += static_cast<std::int64_t>(list.items.size());
            last_page = list.items.empty() || skip >= list.total;
            bar.update(static_cast<std::size_t>(skip), list.total);
        }
        if (last_page || reached_known) {
            complete = true;
            break;
        }
    }
    if (complete && !newest.empty()) {
        // Written after the last page committed: a pass cut short before never records one.
        s.db.put_list_page(s.tenant, frontier_key(scope), newest, clock_type::now());
    }
    totals += mine;
    if (!err.empty()) {
        bar.finish(mine, "FAILED");
        std::cerr << "runmirror mirror: " << scope.label << ": " << err << "\n";
        return false;
    }
    bar.finish(mine, complete ? "done" : "interrupted");
    return true;
}

}  // namespace runmirror
