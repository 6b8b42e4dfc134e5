#include "store/peer_notice.hpp"

#include <charconv>
#include <cstdint>

#include "store/pg_db.hpp"

namespace runmirror {
namespace {

constexpr std::string_view format_tag = "rm1";

void put(std::string& out, std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ',';
}

// Reads the netstrings of a payload in order; any malformation fails the whole payload.
class reader {
  public:
    explicit reader(std::string_view in) : in_(in) {}
    bool done() const { return in_.empty(); }

    std::optional<std::string_view> next() {
        const std::size_t colon = in_.find(':');
        if (colon == std::string_view::npos || colon == 0) return std::nullopt;
        std::size_t size = 0;
        const auto [end, ec] = std::from_chars(in_.data(), in_.data() + colon, size);
        if (ec != std::errc() || end != in_.data() + colon) return std::nullopt;
        if (in_.size() - colon - 1 < size + 1 || in_[colon + 1 + size] != ',') return std::nullopt;
        const std::string_view field = in_.substr(colon + 1, size);
        in_.remove_prefix(colon + size + 2);
        return field;
    }

    bool next(std::string& into) {
        auto field = next();
        if (field) into.assign(*field);
        return field.has_value();
    }

  private:
    std::string_view in_;
};

void put_change(std::string& out, const store_change& c) {
    using scope = store_change::scope;
    switch (c.what) {
        case scope::run: put(out, "R"), put(out, c.key), put(out, c.job_id); break;
        case scope::resource: put(out, "D"), put(out, c.key); break;
        case scope::list_page: put(out, "P"), put(out, c.tenant), put(out, c.key); break;
        case scope::tenant: put(out, "T"), put(out, c.tenant); break;
        case scope::everything: put(out, "*"); break;
    }
}

void put_event(std::string& out, const run_event& e) {
    put(out, "E");
    put(out, e.kind->name);
    put(out, e.run_id);
    put(out, e.job_id);
    put(out, e.extraction_agent_id);
    put(out, e.project_id);
    put(out, e.old_status);
    put(out, e.new_status);
    put(out, std::to_string(
                 std::chrono::duration_cast<std::chrono::milliseconds>(e.at.time_since_epoch())
                     .count()));
}

std::string encoded(const peer_notice& notice) {
    std::string out;
    put(out, format_tag);
    put(out, notice.origin);
    for (const store_change& c : notice.changes)
        put_change(out, c);
    if (notice.event) put_event(out, *notice.event);
    return out;
}

// The payload's size as NOTIFY takes it: as a text parameter (pg::params::text) makes it.
std::size_t sent_size(const std::string& raw) {
    return pg::text_needs_encoding(raw) ? pg::encode_text(raw).size() : raw.size();
}

bool read_event(reader& in, run_event& e) {
    std::string kind, at;
    if (!in.next(kind)) return false;
    const resource_kind* found = find_kind(kind);
    if (!found) return false;
    e.kind = found;
    if (!in.next(e.run_id) || !in.next(e.job_id) || !in.next(e.extraction_agent_id) ||
        !in.next(e.project_id) || !in.next(e.old_status) || !in.next(e.new_status) ||
        !in.next(at)) {
        return false;
    }
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(at.data(), at.data() + at.size(), ms);
    if (ec != std::errc() || end != at.data() + at.size()) return false;
    e.at =
        time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::milliseconds(ms)));
    return true;
}

}  // namespace

std::string encode_notice(const peer_notice& notice) {
    std::string out = encoded(notice);
    if (sent_size(out) <= max_notice_payload) return out;
    // Too many changes to tell one by one (the event, when there is one, has no changes).
    peer_notice whole{.origin = notice.origin, .changes = {store_change{}}, .event = {}};
    return encoded(whole);
}

std::optional<peer_notice> decode_notice(std::string_view payload) {
    const std::string raw = pg::decode_text(payload);
    reader in(raw);
    peer_notice notice;
    if (in.next() != std::optional(format_tag) || !in.next(notice.origin)) return std::nullopt;
    using scope = store_change::scope;
    while (!in.done()) {
        const auto type = in.next();
        if (!type) return std::nullopt;
        store_change c;
        bool ok = true;
        if (*type == "R") {
            c.what = scope::run;
            ok = in.next(c.key) && in.next(c.job_id);
        } else if (*type == "D") {
            c.what = scope::resource;
            ok = in.next(c.key);
        } else if (*type == "P") {
            c.what = scope::list_page;
            ok = in.next(c.tenant) && in.next(c.key);
        } else if (*type == "T") {
            c.what = scope::tenant;
            ok = in.next(c.tenant);
        } else if (*type == "*") {
            c.what = scope::everything;
        } else if (*type == "E") {
            notice.event.emplace();
            if (!read_event(in, *notice.event)) return std::nullopt;
            continue;
        } else {
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
        notice.changes.push_back(std::move(c));
    }
    return notice;
}

}  // namespace runmirror
