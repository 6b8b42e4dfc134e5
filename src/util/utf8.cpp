#include "util/utf8.hpp"

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

namespace runmirror {

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

}  // namespace runmirror
