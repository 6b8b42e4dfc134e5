#include "admin/watch_json.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace runmirror {

namespace {

// The Writer copies bytes as they are, so a stray byte from upstream would make the whole line
// unparseable; each ill-formed sequence is replaced instead.
std::string valid_utf8(std::string_view text) {
    struct sink {
        std::string bytes;
        void Put(char c) { bytes.push_back(c); }
    };
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        rapidjson::MemoryStream in(text.data() + pos, text.size() - pos);
        sink one;  // one code point; Validate writes its bytes even when they turn out bad
        if (rapidjson::UTF8<>::Validate(in, one)) {
            out += one.bytes;
            pos += in.Tell();
        } else {
            out += "\xEF\xBF\xBD";
            pos += 1;
        }
    }
    return out;
}

// Civil-calendar arithmetic rather than gmtime_r, so no time_t range or sign issues.
std::string iso_utc(time_point t) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);
    const auto day = floor<days>(ms);
    const year_month_day date(day);
    const hh_mm_ss time(ms - day);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(date.year()),
                  unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                  int(time.minutes().count()), int(time.seconds().count()),
                  int(time.subseconds().count()));
    return buf;
}

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

std::string watch_to_json(const watch& w) {
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
    out.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace runmirror
