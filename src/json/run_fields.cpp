// Field extraction with RapidJSON's SAX Reader. One handler serves both entry points: it tracks
// the nesting depth and the last key seen at the few depths that matter, and copies out only
// the strings it needs. Nothing is ever re-serialised: list items are reported as byte ranges.
//
// Two passes, the second rare. The fast pass parses a padded copy of the body in place
// (InsituStringStream: no per-byte stream logic, SIMD scanning of strings and whitespace, number
// text straight from the buffer). Any failure there, including RapidJSON's own refusal of numbers
// past DBL_MAX, sends the body through the careful pass (hiding_stream), whose answer stands.
// Both passes drive the same handler over the same events, and the careful pass accepts every
// number the fast one does, so a fast success is exactly the careful result.
//
// Depths (the number of containers open when an event arrives):
//   parse_run:       the run's members at depth 1, "file"'s members at depth 2.
//   parse_run_list:  page members at 1, items at 2, an item's members at 3, its "file"'s at 4.

#include "json/run_fields.hpp"

#include <charconv>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

// SSE2 is part of the x86-64 baseline (SSE4.2 is not, so RAPIDJSON_SSE42 stays off). RapidJSON
// only uses it for its own string streams, i.e. the fast pass. Another namespace, because other
// files include RapidJSON without SSE2, and one inline function compiled two ways in one program
// breaks the one-definition rule (the linker would keep either).
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2) && !defined(RAPIDJSON_NAMESPACE)
#define RAPIDJSON_SSE2
#define RAPIDJSON_NAMESPACE runmirror_rapidjson_sse2
#define RAPIDJSON_NAMESPACE_BEGIN namespace RAPIDJSON_NAMESPACE {
#define RAPIDJSON_NAMESPACE_END }
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace runmirror {
namespace {

namespace rapidjson = ::RAPIDJSON_NAMESPACE;

// Iterative: nesting costs heap, not stack. Numbers as strings: the reader hands us their
// text (see hiding_stream for why that alone is not enough).
constexpr unsigned parse_flags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
// The fast pass parses recursively, which costs less per event than the iterative state
// machine. Its stack stays bounded because every handler below stops the parse once nesting
// passes max_json_depth, and each StartObject/StartArray reaches the handler before the reader
// descends further.
constexpr unsigned fast_flags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseInsituFlag;

using fast_stream = rapidjson::InsituStringStream;

// The body copied for the fast pass: NUL-terminated (the string streams read up to the NUL) and
// zero-padded, because the SIMD scans load whole aligned 16-byte blocks that may reach past the
// NUL. A thread's buffer is reused so a miss costs a memcpy, not an allocation; bodies over
// keep_limit get their own, so one huge answer does not pin its size to the thread for good.
class fast_copy {
  public:
    explicit fast_copy(std::string_view body) {
        constexpr std::size_t pad = 32;
        constexpr std::size_t keep_limit = std::size_t{1} << 20;
        std::size_t need = body.size() + pad;
        thread_local std::vector<char> kept;
        std::vector<char>& buf = need <= keep_limit ? kept : own_;
        if (buf.size() < need) {
            buf.resize(need);
        }
        std::memcpy(buf.data(), body.data(), body.size());
        std::memset(buf.data() + body.size(), 0, pad);
        data_ = buf.data();
    }
    char* data() const { return data_; }

  private:
    std::vector<char> own_;
    char* data_ = nullptr;
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// The end of the longest valid JSON number at |p|, or nullptr if none starts there.
const char* scan_number(const char* p, const char* end) {
    const char* q = p;
    if (q != end && *q == '-') {
        ++q;
    }
    if (q == end || !is_digit(*q)) {
        return nullptr;
    }
    if (*q == '0') {
        ++q;
    } else {
        while (q != end && is_digit(*q)) {
            ++q;
        }
    }
    if (q != end && *q == '.' && q + 1 != end && is_digit(q[1])) {
        q += 2;
        while (q != end && is_digit(*q)) {
            ++q;
        }
    }
    if (q != end && (*q == 'e' || *q == 'E')) {
        const char* r = q + 1;
        if (r != end && (*r == '+' || *r == '-')) {
            ++r;
        }
        if (r != end && is_digit(*r)) {
            while (r != end && is_digit(*r)) {
                ++r;
            }
            q = r;
        }
    }
    return q;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A byte stream over the body (like rapidjson::MemoryStream) that shows the reader every valid
// number as the single digit "0", and remembers where the real one was. RapidJSON 1.1 still
// computes a double while parsing a number, even with kParseNumbersAsStringsFlag, and fails
// past DBL_MAX ("1e999", a 310-digit integer): valid JSON that upstream may send and that we
// must pass on. Only a number that stands where a value may start (after '[', ',', ':' or at
// the beginning, outside strings) and ends at a delimiter is hidden; anything else ("01",
// "1.5.5", "--1") reaches the reader as it is and is rejected there.
// Tell() is the true offset in the body throughout.
class hiding_stream {
  public:
    using Ch = char;

    explicit hiding_stream(std::string_view body)
        : begin_(body.data()), cur_(body.data()), end_(body.data() + body.size()) {}

    Ch Peek() const {
        if (cur_ == end_) {
            return '\0';
        }
        if (number_end_ == nullptr && !in_string_ &&
            (last_ == '\0' || last_ == '[' || last_ == ',' || last_ == ':')) {
            const char* e = scan_number(cur_, end_);
            if (e != nullptr &&
                (e == end_ || *e == ',' || *e == ']' || *e == '}' || is_space(*e))) {
                number_end_ = e;
            }
        }
        return number_end_ != nullptr ? '0' : *cur_;
    }

    Ch Take() {
        Ch c = Peek();
        if (number_end_ != nullptr) {
            last_number_ = std::string_view(cur_, number_end_ - cur_);
            cur_ = number_end_;
            number_end_ = nullptr;
            last_ = c;
            return c;
        }
        if (cur_ == end_) {
            return c;
        }
        ++cur_;
        if (!in_string_) {
            in_string_ = c == '"';
            if (!is_space(c)) {
                last_ = c;
            }
        } else if (escaped_) {
            escaped_ = false;
        } else if (c == '\\') {
            escaped_ = true;
        } else if (c == '"') {
            in_string_ = false;
            last_ = c;
        }
        return c;
    }

    std::size_t Tell() const { return static_cast<std::size_t>(cur_ - begin_); }

    // The real text of the number the reader last took.
    std::string_view last_number() const { return last_number_; }

    // Write side of the Stream concept; a reader never calls it.
    Ch* PutBegin() { return nullptr; }
    void Put(Ch) {}
    void Flush() {}
    std::size_t PutEnd(Ch*) { return 0; }

  private:
    const char* begin_;
    const char* cur_;
    const char* end_;
    mutable const char* number_end_ = nullptr;  // set while cur_ is at a hidden number
    bool in_string_ = false;
    bool escaped_ = false;
    char last_ = '\0';  // the last byte taken outside strings, whitespace aside
    std::string_view last_number_;
};

// The text of the number the reader just reported. In place, the reader hands over the bytes of
// the copy; the careful stream showed the reader a stand-in and kept the real text.
std::string_view number_text(const fast_stream&, const char* s, rapidjson::SizeType n) {
    return {s, n};
}
std::string_view number_text(const hiding_stream& in, const char*, rapidjson::SizeType) {
    return in.last_number();
}

enum class value_kind { string, number, null, other };

// Collects one run object's indexed fields. Scalars of the wrong type count as absent.
struct run_builder {
    run_fields fields;
    bool has_id = false;
    bool has_top_file_id = false;
    std::string nested_file_id;

    void member(std::string_view key, value_kind kind, std::string_view text) {
        std::string* target = nullptr;
        if (key == "id") {
            target = &fields.id;
            has_id = kind == value_kind::string;
        } else if (key == "project_id") {
            target = &fields.project_id;
        } else if (key == "extraction_agent_id") {
            target = &fields.extraction_agent_id;
        } else if (key == "job_id") {
            target = &fields.job_id;
        } else if (key == "file_id") {
            target = &fields.file_id;
            has_top_file_id = kind == value_kind::string;
        } else if (key == "status") {
            target = &fields.status;
        } else if (key == "created_at") {
            target = &fields.created_at;
        } else if (key == "updated_at") {
            target = &fields.updated_at;
        }
        if (target != nullptr) {
            target->assign(kind == value_kind::string ? text : std::string_view{});
        }
    }

    void file_member(std::string_view key, value_kind kind, std::string_view text) {
        std::string_view value = kind == value_kind::string ? text : std::string_view{};
        if (key == "id") {
            nested_file_id.assign(value);
        } else if (key == "name") {
            fields.file_name.assign(value);
        }
    }

    // The fields once the object closed; empty id means the object is not a run.
    run_fields finish() {
        if (!has_top_file_id) {
            fields.file_id = std::move(nested_file_id);
        }
        if (!has_id) {
            fields.id.clear();
        }
        return std::move(fields);
    }
};

enum class mode { run, run_list };

template <typename Stream>
class fields_handler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, fields_handler<Stream>> {
  public:
    fields_handler(mode m, Stream& in, std::string_view body)
        : mode_(m), in_(in), body_(body), run_depth_(m == mode::run ? 1 : 3) {}

    bool Null() { return scalar(value_kind::null, {}); }
    bool Bool(bool) { return scalar(value_kind::other, {}); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        return scalar(value_kind::number, number_text(in_, s, n));
    }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        return scalar(value_kind::string, {s, n});
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        std::string_view key(s, n);
        if (depth_ == 1) {
            page_key_.assign(key);
        }
        if (in_run_ && depth_ == run_depth_) {
            run_key_.assign(key);
        }
        if (in_file_ && depth_ == run_depth_ + 1) {
            file_key_.assign(key);
        }
        return true;
    }
    bool StartObject() { return open(true); }
    bool StartArray() { return open(false); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool EndArray(rapidjson::SizeType) { return close(); }

    // Set when the handler stopped the parse; the reader then reports kParseErrorTermination.
    const std::string& failure() const { return failure_; }

    run_fields take_run() { return std::move(run_); }
    run_list take_list() { return std::move(list_); }
    bool saw_items() const { return saw_items_; }

  private:
    bool fail(std::string why) {
        failure_ = std::move(why);
        return false;
    }

    std::string item_name() const {
        return mode_ == mode::run ? "run" : "items[" + std::to_string(list_.items.size()) + "]";
    }

    bool scalar(value_kind kind, std::string_view text) {
        if (depth_ == 0) {
            return fail("top-level value is not an object");
        }
        if (in_run_ && depth_ == run_depth_) {
            builder_.member(run_key_, kind, text);
        } else if (in_file_ && depth_ == run_depth_ + 1) {
            builder_.file_member(file_key_, kind, text);
        } else if (mode_ == mode::run_list && depth_ == 1) {
            return page_member(kind, text);
        } else if (in_items_ && depth_ == 2) {
            return fail(item_name() + " is not an object");
        }
        return true;
    }

    bool page_member(value_kind kind, std::string_view text) {
        std::int64_t* target = nullptr;
        if (page_key_ == "total") {
            target = &list_.total;
        } else if (page_key_ == "skip") {
            target = &list_.skip;
        } else if (page_key_ == "limit") {
            target = &list_.limit;
        } else if (page_key_ == "items" && kind != value_kind::null) {
            return fail("\"items\" is not an array");
        }
        if (target == nullptr || kind == value_kind::null) {
            return true;
        }
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *target);
        if (kind != value_kind::number || ec != std::errc{} || end != text.data() + text.size()) {
            return fail("\"" + page_key_ + "\" is not an integer");
        }
        return true;
    }

    bool open(bool is_object) {
        if (depth_ >= max_json_depth) {
            return fail("nesting deeper than " + std::to_string(max_json_depth));
        }
        if (depth_ == 0) {
            if (!is_object) {
                return fail("top-level value is not an object");
            }
            if (mode_ == mode::run) {
                begin_run();
            }
        } else if (mode_ == mode::run_list && depth_ == 1 && page_key_ == "items") {
            if (is_object) {
                return fail("\"items\" is not an array");
            }
            in_items_ = true;
        } else if (in_items_ && depth_ == 2) {
            if (!is_object) {
                return fail(item_name() + " is not an object");
            }
            begin_run();
            item_begin_ = in_.Tell() - brace_lag;
        } else if (in_run_ && depth_ == run_depth_ && run_key_ == "file" && is_object) {
            in_file_ = true;
        }
        ++depth_;
        return true;
    }

    bool close() {
        --depth_;
        if (in_file_ && depth_ == run_depth_) {
            in_file_ = false;
        } else if (in_items_ && depth_ == 2) {
            return end_item();
        } else if (in_items_ && depth_ == 1) {
            in_items_ = false;
            saw_items_ = true;
        } else if (mode_ == mode::run && depth_ == 0) {
            in_run_ = false;
            run_ = builder_.finish();
            if (run_.id.empty()) {
                return fail("run has no non-empty string \"id\"");
            }
        }
        return true;
    }

    void begin_run() {
        builder_ = run_builder{};
        in_run_ = true;
        run_key_.clear();
    }

    bool end_item() {
        in_run_ = false;
        std::size_t end = in_.Tell() - brace_lag;
        // Guards the Tell() assumption above against a RapidJSON that behaves differently.
        if (end >= body_.size() || body_[item_begin_] != '{' || body_[end] != '}') {
            return fail("internal: cannot delimit " + item_name());
        }
        run_fields fields = builder_.finish();
        if (fields.id.empty()) {
            return fail(item_name() + " has no non-empty string \"id\"");
        }
        list_.items.emplace_back(std::move(fields),
                                 body_.substr(item_begin_, end - item_begin_ + 1));
        return true;
    }

    // The iterative reader (careful pass) calls StartObject before consuming '{' and EndObject
    // before '}', so Tell() is the offset of the brace itself; the recursive one (fast pass)
    // calls them just after.
    static constexpr std::size_t brace_lag = std::is_same_v<Stream, fast_stream> ? 1 : 0;

    const mode mode_;
    Stream& in_;
    const std::string_view body_;
    const unsigned run_depth_;

    unsigned depth_ = 0;
    std::string page_key_;  // last key at depth 1
    std::string run_key_;   // last key among the current run's members
    std::string file_key_;  // last key among the current run's "file" members
    bool in_run_ = false;
    bool in_file_ = false;
    bool in_items_ = false;
    bool saw_items_ = false;
    std::size_t item_begin_ = 0;
    run_builder builder_;

    run_fields run_;
    run_list list_;
    std::string failure_;
};

// Whether the reader took all of |body|: a NUL byte reads as end of input, so it may stop early.
template <unsigned flags, typename Stream, typename Handler>
bool read_whole(Stream& in, Handler& handler, std::string_view body) {
    rapidjson::Reader reader;
    return !reader.Parse<flags>(in, handler).IsError() && in.Tell() == body.size();
}

// Runs the careful reader over all of |body|; returns the error, if any, with the offset it
// concerns.
error run_reader(fields_handler<hiding_stream>& handler, hiding_stream& in, std::string_view body) {
    rapidjson::Reader reader;
    rapidjson::ParseResult ok = reader.Parse<parse_flags>(in, handler);
    if (!ok) {
        std::string why = ok.Code() == rapidjson::kParseErrorTermination
                              ? handler.failure()
                              : rapidjson::GetParseError_En(ok.Code());
        return {errc::bad_response,
                "invalid JSON at offset " + std::to_string(ok.Offset()) + ": " + why};
    }
    // A NUL byte reads as end of input, so the reader may stop early.
    if (in.Tell() != body.size()) {
        return {errc::bad_response,
                "invalid JSON at offset " + std::to_string(in.Tell()) + ": unexpected NUL byte"};
    }
    return {};
}

// Accepts any well-formed JSON, refusing nesting deeper than max_json_depth.
class json_checker : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, json_checker> {
  public:
    bool Default() {
        first_ = false;
        return true;
    }
    bool StartObject() {
        if (first_) top_is_object_ = true;
        first_ = false;
        return ++depth_ <= max_json_depth;
    }
    bool StartArray() {
        first_ = false;
        return ++depth_ <= max_json_depth;
    }
    bool EndObject(rapidjson::SizeType) { return --depth_, true; }
    bool EndArray(rapidjson::SizeType) { return --depth_, true; }
    bool top_is_object() const { return top_is_object_; }

  private:
    unsigned depth_ = 0;
    bool first_ = true;
    bool top_is_object_ = false;
};

// Collects the "id" of each object in a top-level array: [{"id": "..."}, ...].
class agent_ids_handler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, agent_ids_handler> {
  public:
    bool Default() { return !top_; }  // a scalar at the top is not a list of agents
    bool StartArray() {
        if (depth_ == 0) top_is_array_ = true;
        top_ = false;
        return ++depth_ <= max_json_depth;
    }
    bool StartObject() {
        top_ = false;
        return ++depth_ <= max_json_depth;
    }
    bool EndArray(rapidjson::SizeType) { return --depth_, true; }
    bool EndObject(rapidjson::SizeType) { return --depth_, true; }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        id_next_ = depth_ == 2 && std::string_view(s, n) == "id";
        return true;
    }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        if (id_next_ && n > 0) ids.emplace_back(s, n);
        id_next_ = false;
        return !top_;
    }
    bool top_is_array() const { return top_is_array_; }

    std::vector<std::string> ids;

  private:
    unsigned depth_ = 0;
    bool top_ = true;
    bool top_is_array_ = false;
    bool id_next_ = false;
};

}  // namespace

namespace detail {

std::pair<std::vector<std::string>, error> parse_agent_ids_careful(std::string_view body) {
    hiding_stream in(body);
    agent_ids_handler handler;
    if (!read_whole<parse_flags>(in, handler, body) || !handler.top_is_array()) {
        return {{}, error{errc::bad_response, "agent list is not a JSON array of agents"}};
    }
    return {std::move(handler.ids), error{}};
}

bool is_json_object_careful(std::string_view body) {
    hiding_stream in(body);
    json_checker checker;
    return read_whole<parse_flags>(in, checker, body) && checker.top_is_object();
}

std::pair<run_fields, error> parse_run_careful(std::string_view body) {
    hiding_stream in(body);
    fields_handler<hiding_stream> handler(mode::run, in, body);
    if (error e = run_reader(handler, in, body)) {
        return {run_fields{}, std::move(e)};
    }
    return {handler.take_run(), error{}};
}

std::pair<run_list, error> parse_run_list_careful(std::string_view body) {
    hiding_stream in(body);
    fields_handler<hiding_stream> handler(mode::run_list, in, body);
    if (error e = run_reader(handler, in, body)) {
        return {run_list{}, std::move(e)};
    }
    if (!handler.saw_items()) {
        return {run_list{}, error{errc::bad_response, "run list has no \"items\" array"}};
    }
    return {handler.take_list(), error{}};
}

}  // namespace detail

std::pair<std::vector<std::string>, error> parse_agent_ids(std::string_view body) {
    fast_copy copy(body);
    fast_stream in(copy.data());
    agent_ids_handler handler;
    if (read_whole<fast_flags>(in, handler, body) && handler.top_is_array()) {
        return {std::move(handler.ids), error{}};
    }
    return detail::parse_agent_ids_careful(body);
}

bool is_json_object(std::string_view body) {
    fast_copy copy(body);
    fast_stream in(copy.data());
    json_checker checker;
    return (read_whole<fast_flags>(in, checker, body) && checker.top_is_object()) ||
           detail::is_json_object_careful(body);
}

std::pair<run_fields, error> parse_run(std::string_view body) {
    fast_copy copy(body);
    fast_stream in(copy.data());
    fields_handler<fast_stream> handler(mode::run, in, body);
    if (read_whole<fast_flags>(in, handler, body)) {
        return {handler.take_run(), error{}};
    }
    return detail::parse_run_careful(body);
}

std::pair<run_list, error> parse_run_list(std::string_view body) {
    fast_copy copy(body);
    fast_stream in(copy.data());
    fields_handler<fast_stream> handler(mode::run_list, in, body);
    if (read_whole<fast_flags>(in, handler, body) && handler.saw_items()) {
        return {handler.take_list(), error{}};
    }
    return detail::parse_run_list_careful(body);
}

}  // namespace runmirror
