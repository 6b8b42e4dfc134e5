// Field extraction with RapidJSON's SAX Reader. One handler serves both entry points: it tracks
// the nesting depth and the last key seen at the few depths that matter, and copies out only
// the strings it needs. Nothing is ever re-serialised: list items are reported as byte ranges.
//
// Two passes, the second rare. The fast pass (fast_reader) is a strict reader for the common case
// that works on the body where it lies; the careful pass is RapidJSON over hiding_stream. Any
// failure in the fast pass, whether bad input, a handler refusal or input it does not handle,
// sends the body through the careful pass, whose answer (and error text) stands. Both drive the
// same handler with the same events, so a fast success is exactly the careful result.
//
// Depths (the number of containers open when an event arrives):
//   parse_run:       the run's members at depth 1, "file"'s (or the owner object's) at depth 2.
//   parse_run_list:  page members at 1, items at 2, an item's members at 3, its "file"'s at 4.

#include "json/run_fields.hpp"

#include <charconv>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace runmirror {
namespace {

// Iterative: nesting costs heap, not stack. Numbers as strings: the reader hands us their
// text (see hiding_stream for why that alone is not enough).
constexpr unsigned parse_flags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
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

bool stops_string(char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
}

// The first '"', '\\' or control byte in [p, end), or end. Most strings here are short keys and
// ids, so 16 bytes at a time (SSE2 is baseline on x86-64), never reading past |end|.
const char* scan_plain(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(s, quote), _mm_cmpeq_epi8(s, backslash)),
                         _mm_cmpeq_epi8(_mm_max_epu8(s, control), control));
        if (int mask = _mm_movemask_epi8(hit); mask != 0) {
            return p + __builtin_ctz(static_cast<unsigned>(mask));
        }
        p += 16;
    }
#endif
    while (p != end && !stops_string(*p)) {
        ++p;
    }
    return p;
}

// The fast pass. It accepts only valid JSON as RapidJSON reads it (RFC 8259 with no NUL byte,
// which RapidJSON takes for the end of input), so the careful pass accepts whatever it accepts,
// and it makes the same handler calls in the same order: Tell() is the offset of the brace at
// StartObject/EndObject, number text is exact, escapes decode the same way. The one valid input
// it gives up on is nesting past max_json_depth + 1, where every handler has stopped already.
class fast_reader {
  public:
    explicit fast_reader(std::string_view body)
        : begin_(body.data()), p_(body.data()), end_(body.data() + body.size()) {}

    std::size_t Tell() const { return static_cast<std::size_t>(p_ - begin_); }

    template <typename Handler>
    bool parse(Handler& h) {
        bool is_object[max_json_depth + 1];  // the open containers, innermost last
        unsigned depth = 0;
        skip_space();
        for (;;) {
            // A value starts here.
            if (p_ == end_) return false;
            switch (*p_) {
                case '{':
                case '[': {
                    bool object = *p_ == '{';
                    if (depth == std::size(is_object)) return false;
                    if (!(object ? h.StartObject() : h.StartArray())) return false;
                    ++p_;
                    skip_space();
                    if (at(object ? '}' : ']')) {
                        if (!(object ? h.EndObject(0) : h.EndArray(0))) return false;
                        ++p_;
                        break;
                    }
                    is_object[depth++] = object;
                    if (object && !key(h)) return false;
                    continue;
                }
                case '"':
                    if (!string(h, false)) return false;
                    break;
                case 't':
                    if (!word("true") || !h.Bool(true)) return false;
                    break;
                case 'f':
                    if (!word("false") || !h.Bool(false)) return false;
                    break;
                case 'n':
                    if (!word("null") || !h.Null()) return false;
                    break;
                default: {
                    const char* start = p_;
                    const char* e = scan_number(p_, end_);
                    if (e == nullptr) return false;
                    p_ = e;
                    if (!h.RawNumber(start, static_cast<rapidjson::SizeType>(e - start), true)) {
                        return false;
                    }
                }
            }
            // After a value: close what ends here, then on to the next member or element.
            for (;;) {
                skip_space();
                if (depth == 0) return p_ == end_;
                bool object = is_object[depth - 1];
                if (at(',')) {
                    ++p_;
                    skip_space();
                    if (object && !key(h)) return false;
                    break;
                }
                if (!at(object ? '}' : ']')) return false;
                if (!(object ? h.EndObject(0) : h.EndArray(0))) return false;
                ++p_;
                --depth;
            }
        }
    }

  private:
    bool at(char c) const { return p_ != end_ && *p_ == c; }

    // Upstream bodies are compact: between tokens there is usually nothing to skip.
    void skip_space() {
        if (p_ != end_ && is_space(*p_)) [[unlikely]] {
            do {
                ++p_;
            } while (p_ != end_ && is_space(*p_));
        }
    }

    bool word(std::string_view w) {
        if (static_cast<std::size_t>(end_ - p_) < w.size() || std::string_view(p_, w.size()) != w) {
            return false;
        }
        p_ += w.size();
        return true;
    }

    // A member's key and its colon, leaving p_ at the value.
    template <typename Handler>
    bool key(Handler& h) {
        if (!at('"') || !string(h, true)) return false;
        skip_space();
        if (!at(':')) return false;
        ++p_;
        skip_space();
        return true;
    }

    template <typename Handler>
    bool string(Handler& h, bool is_key) {
        const char* start = ++p_;
        p_ = scan_plain(p_, end_);
        if (p_ == end_) return false;
        std::string_view text;
        if (*p_ == '"') {
            text = std::string_view(start, static_cast<std::size_t>(p_ - start));
        } else if (*p_ == '\\') {
            decoded_.assign(start, p_);
            if (!unescape()) return false;
            text = decoded_;
        } else {
            return false;
        }
        ++p_;
        if (text.size() > std::numeric_limits<rapidjson::SizeType>::max()) return false;
        auto n = static_cast<rapidjson::SizeType>(text.size());
        return is_key ? h.Key(text.data(), n, true) : h.String(text.data(), n, true);
    }

    // From the backslash at p_ to the closing quote, appending to decoded_ as RapidJSON decodes.
    bool unescape() {
        for (;;) {
            if (end_ - p_ < 2) return false;
            char e = p_[1];
            p_ += 2;
            switch (e) {
                case '"':
                case '\\':
                case '/': decoded_ += e; break;
                case 'b': decoded_ += '\b'; break;
                case 'f': decoded_ += '\f'; break;
                case 'n': decoded_ += '\n'; break;
                case 'r': decoded_ += '\r'; break;
                case 't': decoded_ += '\t'; break;
                case 'u': {
                    unsigned cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        unsigned low = 0;
                        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                        p_ += 2;
                        if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
                        cp = (((cp - 0xD800) << 10) | (low - 0xDC00)) + 0x10000;
                    }
                    // Like RapidJSON, a lone low surrogate is encoded as it is.
                    append_utf8(cp);
                    break;
                }
                default: return false;
            }
            const char* plain = p_;
            p_ = scan_plain(p_, end_);
            decoded_.append(plain, p_);
            if (p_ == end_ || *p_ != '\\') return p_ != end_ && *p_ == '"';
        }
    }

    bool hex4(unsigned& out) {
        if (end_ - p_ < 4) return false;
        for (int i = 0; i < 4; ++i) {
            char c = *p_++;
            unsigned v;
            if (c >= '0' && c <= '9') {
                v = static_cast<unsigned>(c - '0');
            } else if (c >= 'A' && c <= 'F') {
                v = static_cast<unsigned>(c - 'A' + 10);
            } else if (c >= 'a' && c <= 'f') {
                v = static_cast<unsigned>(c - 'a' + 10);
            } else {
                return false;
            }
            out = out << 4 | v;
        }
        return true;
    }

    void append_utf8(unsigned cp) {
        if (cp < 0x80) {
            decoded_ += static_cast<char>(cp);
        } else if (cp < 0x800) {
            decoded_ += static_cast<char>(0xC0 | (cp >> 6));
            decoded_ += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            decoded_ += static_cast<char>(0xE0 | (cp >> 12));
            decoded_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            decoded_ += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            decoded_ += static_cast<char>(0xF0 | (cp >> 18));
            decoded_ += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            decoded_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            decoded_ += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    const char* begin_;
    const char* p_;
    const char* end_;
    std::string decoded_;  // a string with escapes; handlers copy what they keep before the next
};

// The text of the number just reported: the fast reader passes the body's own bytes; the careful
// stream showed RapidJSON a stand-in and kept the real text.
std::string_view number_text(const fast_reader&, const char* s, rapidjson::SizeType n) {
    return {s, n};
}
std::string_view number_text(const hiding_stream& in, const char*, rapidjson::SizeType) {
    return in.last_number();
}

enum class value_kind { string, number, null, other };

// Collects one resource object's indexed fields, named by its kind. Scalars of the wrong type
// count as absent.
struct run_builder {
    const resource_kind* kind = &kinds::v1_run;
    run_fields fields;
    bool has_id = false;
    bool has_top_file_id = false;
    std::string nested_file_id;
    std::string nested_project_id;  // the owner object's, when the resource has none of its own

    static bool is(std::string_view key, std::string_view member) {
        return !member.empty() && key == member;
    }

    void member(std::string_view key, value_kind type, std::string_view text) {
        std::string* target = nullptr;
        if (key == "id") {
            target = &fields.id;
            has_id = type == value_kind::string;
        } else if (key == "project_id") {
            target = &fields.project_id;
        } else if (key == "status") {
            target = &fields.status;
        } else if (key == "created_at") {
            target = &fields.created_at;
        } else if (key == "updated_at") {
            target = &fields.updated_at;
        } else if (is(key, kind->owner_member)) {
            target = &fields.extraction_agent_id;
        } else if (is(key, kind->job_member)) {
            target = &fields.job_id;
        } else if (is(key, kind->file_id_member)) {
            target = &fields.file_id;
            has_top_file_id = type == value_kind::string;
        }
        if (target != nullptr) {
            target->assign(type == value_kind::string ? text : std::string_view{});
        }
    }

    void file_member(std::string_view key, value_kind type, std::string_view text) {
        std::string_view value = type == value_kind::string ? text : std::string_view{};
        if (key == "id") {
            nested_file_id.assign(value);
        } else if (key == "name") {
            fields.file_name.assign(value);
        }
    }

    void owner_object_member(std::string_view key, value_kind type, std::string_view text) {
        std::string_view value = type == value_kind::string ? text : std::string_view{};
        if (key == "id") {
            fields.extraction_agent_id.assign(value);
        } else if (key == "project_id") {
            nested_project_id.assign(value);
        }
    }

    // The fields once the object closed; empty id means the object is not a resource.
    run_fields finish() {
        if (!has_top_file_id) {
            fields.file_id = std::move(nested_file_id);
        }
        if (fields.project_id.empty()) {
            fields.project_id = std::move(nested_project_id);
        }
        if (!has_id) {
            fields.id.clear();
        }
        fields.kind = kind;
        return std::move(fields);
    }
};

// run_list: {"items": [...], ...}; run_array: the items as the top-level array.
enum class mode { run, run_list, run_array };

mode list_mode(const resource_kind& kind) {
    return kind.paging == list_paging::plain_array ? mode::run_array : mode::run_list;
}

template <typename Stream>
class fields_handler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, fields_handler<Stream>> {
  public:
    fields_handler(mode m, const resource_kind& kind, Stream& in, std::string_view body)
        : mode_(m),
          kind_(kind),
          in_(in),
          body_(body),
          items_depth_(m == mode::run_array ? 1 : 2),
          run_depth_(m == mode::run ? 1 : items_depth_ + 1) {}

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
        if (nested_ != nested::none && depth_ == run_depth_ + 1) {
            nested_key_.assign(key);
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
        } else if (nested_ == nested::file && depth_ == run_depth_ + 1) {
            builder_.file_member(nested_key_, kind, text);
        } else if (nested_ == nested::owner && depth_ == run_depth_ + 1) {
            builder_.owner_object_member(nested_key_, kind, text);
        } else if (mode_ == mode::run_list && depth_ == 1) {
            return page_member(kind, text);
        } else if (in_items_ && depth_ == items_depth_) {
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
        } else if (page_key_ == "next_page_token") {
            if (kind == value_kind::string) {
                list_.next_page_token.assign(text);
            } else if (kind != value_kind::null) {
                return fail("\"next_page_token\" is not a string");
            }
            return true;
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
            if (mode_ == mode::run_array) {
                if (is_object) {
                    return fail("top-level value is not an array");
                }
                in_items_ = true;
            } else if (!is_object) {
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
        } else if (in_items_ && depth_ == items_depth_) {
            if (!is_object) {
                return fail(item_name() + " is not an object");
            }
            begin_run();
            // Both readers call StartObject before consuming '{' (and EndObject before '}'), so
            // Tell() is the offset of the brace itself.
            item_begin_ = in_.Tell();
        } else if (in_run_ && depth_ == run_depth_ && is_object) {
            if (run_builder::is(run_key_, kind_.file_object)) {
                nested_ = nested::file;
            } else if (run_builder::is(run_key_, kind_.owner_object)) {
                nested_ = nested::owner;
            }
        }
        ++depth_;
        return true;
    }

    bool close() {
        --depth_;
        if (nested_ != nested::none && depth_ == run_depth_) {
            nested_ = nested::none;
        } else if (in_items_ && depth_ == items_depth_) {
            return end_item();
        } else if (in_items_ && depth_ == items_depth_ - 1) {
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
        builder_.kind = &kind_;
        in_run_ = true;
        run_key_.clear();
    }

    bool end_item() {
        in_run_ = false;
        std::size_t end = in_.Tell();
        // Guards the Tell() assumption above against a reader that behaves differently.
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

    const mode mode_;
    const resource_kind& kind_;
    Stream& in_;
    const std::string_view body_;
    const unsigned items_depth_;  // where the item objects open
    const unsigned run_depth_;

    unsigned depth_ = 0;
    std::string page_key_;  // last key at depth 1
    std::string run_key_;   // last key among the current run's members
    // The object member of the current run being read (its kind's file_object or owner_object),
    // and the last key among its members.
    enum class nested { none, file, owner };
    nested nested_ = nested::none;
    std::string nested_key_;
    bool in_run_ = false;
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
    // An id that is not a string is no agent id, as for runs' fields. (Without this, numbers
    // would reach String() as the careful stream's stand-in text "0".)
    bool RawNumber(const char*, rapidjson::SizeType, bool) {
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

// Collects the scalars under the top-level "data" member (its first occurrence, as SQLite's
// json_extract would pick).
template <typename Stream>
class search_handler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, search_handler<Stream>> {
  public:
    search_handler(const Stream& in, std::string_view member) : in_(in), member_(member) {}

    bool Null() { return value({}, false); }
    bool Bool(bool) { return value({}, false); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        return value(number_text(in_, s, n), true);
    }
    bool String(const char* s, rapidjson::SizeType n, bool) { return value({s, n}, true); }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        if (depth_ == 1) {
            in_data_ = !seen_data_ && std::string_view(s, n) == member_;
            seen_data_ = seen_data_ || in_data_;
        }
        return true;
    }
    bool StartObject() { return open(); }
    bool StartArray() { return open(); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool EndArray(rapidjson::SizeType) { return close(); }

    std::string text;

  private:
    bool open() {
        if (depth_ >= max_json_depth) return false;
        ++depth_;
        return true;
    }
    bool close() {
        if (--depth_ == 1) in_data_ = false;  // "data" was a container and just closed
        return true;
    }
    bool value(std::string_view v, bool indexed) {
        if (in_data_ && indexed) {
            if (!text.empty()) text += ' ';
            text += v;
        }
        if (depth_ == 1) in_data_ = false;  // "data" was a scalar
        return true;
    }

    const Stream& in_;
    const std::string_view member_;
    unsigned depth_ = 0;
    bool in_data_ = false;
    bool seen_data_ = false;
};

}  // namespace

// Computed for every run the store writes: the fast pass first, as for parse_run.
std::string search_data_text(std::string_view body, std::string_view member) {
    fast_reader in(body);
    search_handler<fast_reader> handler(in, member);
    if (in.parse(handler)) return std::move(handler.text);
    return detail::search_data_text_careful(body, member);
}

namespace detail {

std::string search_data_text_careful(std::string_view body, std::string_view member) {
    hiding_stream in(body);
    search_handler<hiding_stream> handler(in, member);
    rapidjson::Reader reader;
    if (reader.Parse<parse_flags>(in, handler).IsError() || in.Tell() != body.size()) return {};
    return std::move(handler.text);
}

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

std::pair<run_fields, error> parse_run_careful(std::string_view body, const resource_kind& kind) {
    hiding_stream in(body);
    fields_handler<hiding_stream> handler(mode::run, kind, in, body);
    if (error e = run_reader(handler, in, body)) {
        return {run_fields{}, std::move(e)};
    }
    return {handler.take_run(), error{}};
}

std::pair<run_list, error> parse_run_list_careful(std::string_view body,
                                                  const resource_kind& kind) {
    hiding_stream in(body);
    fields_handler<hiding_stream> handler(list_mode(kind), kind, in, body);
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
    // Careful pass only: an agents answer is rare.
    return detail::parse_agent_ids_careful(body);
}

bool is_json_object(std::string_view body) {
    fast_reader in(body);
    json_checker checker;
    return (in.parse(checker) && checker.top_is_object()) || detail::is_json_object_careful(body);
}

std::pair<run_fields, error> parse_run(std::string_view body, const resource_kind& kind) {
    fast_reader in(body);
    fields_handler<fast_reader> handler(mode::run, kind, in, body);
    if (in.parse(handler)) {
        return {handler.take_run(), error{}};
    }
    return detail::parse_run_careful(body, kind);
}

std::pair<run_list, error> parse_run_list(std::string_view body, const resource_kind& kind) {
    fast_reader in(body);
    fields_handler<fast_reader> handler(list_mode(kind), kind, in, body);
    if (in.parse(handler) && handler.saw_items()) {
        return {handler.take_list(), error{}};
    }
    return detail::parse_run_list_careful(body, kind);
}

}  // namespace runmirror
