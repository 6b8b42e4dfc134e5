#include "admin/watch_json.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "util/iso_time.hpp"
#include "util/utf8.hpp"

namespace runmirror {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void text_or_null(json_writer& out, const char* key, std::string_view value) {
    out.Key(key);
    if (value.empty()) {
        out.Null();
        return;
    }
    const std::string text = valid_utf8(value);
    out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void time_or_null(json_writer& out, const char* key, std::optional<time_point> value) {
    out.Key(key);
    if (!value) {
        out.Null();
        return;
    }
    const std::string text = iso_utc(*value);
    out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

}  // namespace

std::string watch_to_json(const watch& w, const std::optional<watch_wait_reason>& why) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    out.StartObject();
    out.Key("id");
    out.Int64(w.id);
    text_or_null(out, "kind", to_string(w.kind));
    text_or_null(out, "run_id", w.run_id);
    text_or_null(out, "job_id", w.job_id);
    text_or_null(out, "extraction_agent_id", w.extraction_agent_id);
    text_or_null(out, "project_id", w.project_id);
    time_or_null(out, "next_poll_at", w.next_poll_at);
    out.Key("attempts");
    out.Uint(w.attempts);
    text_or_null(out, "last_status", w.last_status);
    text_or_null(out, "last_error", w.last_error);
    time_or_null(out, "created_at", w.created_at);
    time_or_null(out, "finished_at", w.finished_at);
    time_or_null(out, "given_up_at", w.given_up_at);
    text_or_null(out, "give_up_reason", w.give_up_reason);
    if (why) {
        text_or_null(out, "wait", to_string(why->wait));
        text_or_null(out, "wait_text", why->text);
        time_or_null(out, "wait_until", why->until);
    }
    out.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

namespace {

std::string string_member(const rapidjson::Value& object, const char* key) {
    auto it = object.FindMember(key);
    if (it == object.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
}

}  // namespace

std::optional<std::vector<reported_wait>> parse_reported_waits(std::string_view body) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    auto items = doc.FindMember("items");
    if (items == doc.MemberEnd() || !items->value.IsArray()) return std::nullopt;
    std::vector<reported_wait> out;
    for (const rapidjson::Value& item : items->value.GetArray()) {
        if (!item.IsObject()) continue;
        auto id = item.FindMember("id");
        const auto wait = parse_watch_wait(string_member(item, "wait"));
        if (id == item.MemberEnd() || !id->value.IsInt64() || !wait) continue;
        reported_wait r;
        r.id = id->value.GetInt64();
        r.run_id = string_member(item, "run_id");
        r.job_id = string_member(item, "job_id");
        r.why.wait = *wait;
        r.why.text = string_member(item, "wait_text");
        if (auto until = parse_iso_time(string_member(item, "wait_until"))) {
            r.why.until = from_unix_ms(
                std::chrono::duration_cast<std::chrono::milliseconds>(until->time_since_epoch())
                    .count());
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace runmirror
