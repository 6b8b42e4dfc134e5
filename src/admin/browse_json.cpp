#include "admin/browse_json.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "util/iso_time.hpp"
#include "util/utf8.hpp"

namespace runmirror {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(json_writer& out, std::string_view text) {
    const std::string valid = valid_utf8(text);
    out.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void text_or_null(json_writer& out, const char* key, std::string_view value) {
    out.Key(key);
    if (value.empty()) {
        out.Null();
    } else {
        write_string(out, value);
    }
}

void write_run_summary(json_writer& out, const stored_run& run) {
    const run_fields& f = run.fields;
    out.StartObject();
    text_or_null(out, "id", f.id);
    text_or_null(out, "kind", f.kind->name);
    text_or_null(out, "representation", representation_text(*f.kind, f.variant));
    text_or_null(out, "extraction_agent_id", f.extraction_agent_id);
    text_or_null(out, "project_id", f.project_id);
    text_or_null(out, "job_id", f.job_id);
    text_or_null(out, "status", f.status);
    text_or_null(out, "file_name", f.file_name);
    text_or_null(out, "created_at", f.created_at);
    text_or_null(out, "updated_at", f.updated_at);
    text_or_null(out, "fetched_at", iso_utc(run.fetched_at));
    out.EndObject();
}

void write_agent_summary(json_writer& out, const agent_summary& s) {
    out.StartObject();
    text_or_null(out, "extraction_agent_id", s.extraction_agent_id);
    text_or_null(out, "name", s.name);
    text_or_null(out, "project_id", s.project_id);
    out.Key("runs");
    out.Int64(s.runs);
    out.Key("by_status");
    out.StartObject();
    static constexpr std::array<std::string_view, 4> known = {"CREATED", "PENDING", "SUCCESS",
                                                              "ERROR"};
    for (std::string_view status : known) {
        const auto it = s.by_status.find(std::string(status));
        out.Key(status.data(), static_cast<rapidjson::SizeType>(status.size()));
        out.Int64(it == s.by_status.end() ? 0 : it->second);
    }
    for (const auto& [status, count] : s.by_status) {
        if (std::find(known.begin(), known.end(), status) != known.end()) continue;
        const std::string key = valid_utf8(status);
        out.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
        out.Int64(count);
    }
    out.EndObject();
    text_or_null(out, "latest_created_at", s.latest_created_at);
    out.EndObject();
}

//--------------------------------------------------------------------------------------------
// base64url without padding (RFC 4648 section 5): cursors travel in query strings.

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (unsigned char c : bytes) {
        bits = (bits << 8) | c;
        count += 8;
        while (count >= 6) {
            count -= 6;
            out += base64url_alphabet[(bits >> count) & 0x3F];
        }
    }
    if (count > 0) out += base64url_alphabet[(bits << (6 - count)) & 0x3F];
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : text) {
        const std::size_t value = base64url_alphabet.find(c);
        if (value == std::string_view::npos) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xFF);
        }
    }
    // A lone trailing character, or leftover bits that are not zero, is not something
    // base64url_encode produces.
    if (count >= 6 || (bits & ((1u << count) - 1)) != 0) return std::nullopt;
    return out;
}

//--------------------------------------------------------------------------------------------
// A stored body as a small tree that keeps numbers as written (the SAX reader's
// kParseNumbersAsStringsFlag) and members in order: RapidJSON's own Document would turn
// 123456789012345678901234567890 into a double.

constexpr int max_depth = 512;

struct json_node {
    enum class kind { null, boolean, number, string, array, object };
    kind type = kind::null;
    std::string text;  // boolean: "true"/"false"; number: as written; string: unescaped
    struct child;
    std::vector<child> children;  // members; items with empty keys
};

// A struct, not std::pair: a pair of an incomplete json_node does not compile with clang and
// libstdc++ (the fuzz build), while a vector of an incomplete type may be declared.
struct json_node::child {
    std::string key;
    json_node value;
};

class tree_builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, tree_builder> {
  public:
    json_node root;

    bool Null() { return add(json_node::kind::null, {}) != nullptr; }
    bool Bool(bool b) { return add(json_node::kind::boolean, b ? "true" : "false") != nullptr; }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        return add(json_node::kind::number, std::string(s, n)) != nullptr;
    }
    // The reader does not validate UTF-8 (no kParseValidateEncodingFlag: a body with one bad
    // byte is still shown); what the tree holds, and so every text written from it, is valid.
    bool String(const char* s, rapidjson::SizeType n, bool) {
        return add(json_node::kind::string, valid_utf8({s, n})) != nullptr;
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        key_ = valid_utf8({s, n});
        return true;
    }
    bool StartObject() { return open(json_node::kind::object); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(json_node::kind::array); }
    bool EndArray(rapidjson::SizeType) { return close(); }

  private:
    // Pointers into parents' child vectors stay valid: a parent gains no children while one of
    // them is open, and a closed child is never pointed to again.
    json_node* add(json_node::kind type, std::string text) {
        json_node* node = &root;
        if (!open_.empty()) {
            json_node& parent = *open_.back();
            std::string key = parent.type == json_node::kind::object ? std::move(key_) : "";
            parent.children.push_back({std::move(key), json_node{}});
            node = &parent.children.back().value;
        }
        node->type = type;
        node->text = std::move(text);
        return node;
    }
    bool open(json_node::kind type) {
        if (open_.size() >= max_depth) return false;
        open_.push_back(add(type, {}));
        return true;
    }
    bool close() {
        open_.pop_back();
        return true;
    }

    std::vector<json_node*> open_;
    std::string key_;
};

std::optional<json_node> parse_tree(std::string_view body) {
    // Iterative parsing: a deeply nested body must not exhaust the stack before max_depth says no.
    constexpr unsigned flags =
        rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag;
    rapidjson::MemoryStream bytes(body.data(), body.size());
    rapidjson::Reader reader;
    tree_builder builder;
    if (reader.Parse<flags>(bytes, builder).IsError()) return std::nullopt;
    return std::move(builder.root);
}

// Recursion is bounded by max_depth.
template <class Writer>
void write_tree(const json_node& node, Writer& out) {
    switch (node.type) {
        case json_node::kind::null: out.Null(); break;
        case json_node::kind::boolean: out.Bool(node.text == "true"); break;
        case json_node::kind::number:
            // RawNumber would quote it (RapidJSON 1.1.0); RawValue writes it as it is.
            out.RawValue(node.text.data(), node.text.size(), rapidjson::kNumberType);
            break;
        case json_node::kind::string:
            out.String(node.text.data(), static_cast<rapidjson::SizeType>(node.text.size()));
            break;
        case json_node::kind::array:
            out.StartArray();
            for (const auto& [key, child] : node.children)
                write_tree(child, out);
            out.EndArray();
            break;
        case json_node::kind::object:
            out.StartObject();
            for (const auto& [key, child] : node.children) {
                out.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
                write_tree(child, out);
            }
            out.EndObject();
            break;
    }
}

std::string compact(const json_node& node) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    write_tree(node, out);
    return {buffer.GetString(), buffer.GetSize()};
}

// The last member named |key| (JSON.parse keeps the last of duplicates too), or null.
const json_node* member(const json_node& object, std::string_view key) {
    const json_node* found = nullptr;
    if (object.type != json_node::kind::object) return nullptr;
    for (const auto& [name, child] : object.children) {
        if (name == key) found = &child;
    }
    return found;
}

std::string cell_text(const json_node& node) {
    switch (node.type) {
        case json_node::kind::null: return "";
        case json_node::kind::boolean:
        case json_node::kind::number:
        case json_node::kind::string: return node.text;
        case json_node::kind::array:
        case json_node::kind::object: return compact(node);
    }
    return "";
}

data_cells object_cells(const json_node& object) {
    data_cells cells;
    for (const auto& [key, child] : object.children)
        cells.emplace_back(key, cell_text(child));
    return cells;
}

}  // namespace

std::string run_summary_to_json(const stored_run& run) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    write_run_summary(out, run);
    return {buffer.GetString(), buffer.GetSize()};
}

std::string run_page_to_json(const run_browse_page& page) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    out.StartObject();
    out.Key("items");
    out.StartArray();
    for (const stored_run& run : page.items)
        write_run_summary(out, run);
    out.EndArray();
    out.Key("next_cursor");
    if (page.next) {
        write_string(out, encode_cursor(*page.next));
    } else {
        out.Null();
    }
    out.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

std::string agent_summary_to_json(const agent_summary& summary) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    write_agent_summary(out, summary);
    return {buffer.GetString(), buffer.GetSize()};
}

std::string agents_to_json(const std::vector<agent_summary>& summaries) {
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    out.StartObject();
    out.Key("items");
    out.StartArray();
    for (const agent_summary& s : summaries)
        write_agent_summary(out, s);
    out.EndArray();
    out.EndObject();
    return {buffer.GetString(), buffer.GetSize()};
}

std::string encode_cursor(const run_browse_cursor& cursor) {
    // The exact stored bytes, not valid_utf8 of them: the store compares against these.
    rapidjson::StringBuffer buffer;
    json_writer out(buffer);
    out.StartArray();
    out.String(cursor.created_at.data(),
               static_cast<rapidjson::SizeType>(cursor.created_at.size()));
    out.String(cursor.id.data(), static_cast<rapidjson::SizeType>(cursor.id.size()));
    out.EndArray();
    return base64url_encode({buffer.GetString(), buffer.GetSize()});
}

std::optional<run_browse_cursor> decode_cursor(std::string_view token) {
    const std::optional<std::string> json = base64url_decode(token);
    if (!json) return std::nullopt;
    rapidjson::Document doc;
    doc.Parse(json->data(), json->size());
    if (doc.HasParseError() || !doc.IsArray() || doc.Size() != 2 || !doc[0].IsString() ||
        !doc[1].IsString()) {
        return std::nullopt;
    }
    run_browse_cursor cursor{{doc[0].GetString(), doc[0].GetStringLength()},
                             {doc[1].GetString(), doc[1].GetStringLength()}};
    // Only the one spelling encode_cursor gives (no trailing bytes, no other JSON escapes).
    if (cursor.id.empty() || encode_cursor(cursor) != token) return std::nullopt;
    return cursor;
}

std::optional<std::string> pretty_json(std::string_view body, bool data_only) {
    std::optional<json_node> tree = parse_tree(body);
    if (!tree) return std::nullopt;
    const json_node null_node;
    const json_node* shown = &*tree;
    if (data_only) {
        shown = member(*tree, "data");
        if (!shown) shown = &null_node;
    }
    rapidjson::StringBuffer buffer;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> out(buffer);
    out.SetIndent(' ', 2);
    write_tree(*shown, out);
    return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<std::string> json_line(std::string_view body) {
    // Ill-formed UTF-8 can only be inside strings (JSON outside them is ASCII), where U+FFFD
    // is as valid as any character.
    if (body.find_first_of("\r\n") == std::string_view::npos) return valid_utf8(body);
    std::optional<json_node> tree = parse_tree(body);
    if (!tree) return std::nullopt;
    return compact(*tree);
}

std::optional<std::vector<data_cells>> run_data_rows(std::string_view body) {
    std::optional<json_node> tree = parse_tree(body);
    if (!tree) return std::nullopt;
    const json_node* data = member(*tree, "data");
    std::vector<data_cells> rows;
    if (!data || data->type == json_node::kind::null) {
        rows.emplace_back();
    } else if (data->type == json_node::kind::object) {
        rows.push_back(object_cells(*data));
    } else if (data->type == json_node::kind::array) {
        for (const auto& [key, item] : data->children) {
            if (item.type == json_node::kind::object) {
                rows.push_back(object_cells(item));
            } else {
                rows.push_back({{"value", cell_text(item)}});
            }
        }
        if (rows.empty()) rows.emplace_back();
    } else {
        rows.push_back({{"value", cell_text(*data)}});
    }
    return rows;
}

}  // namespace runmirror
