#include "store/search_terms.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "runmirror/store.hpp"

namespace runmirror {
namespace {

// FTS5's unicode61 tokenizer, borrowed from a private in-memory SQLite connection that lives
// as long as the process. Its Unicode tables (case folding, diacritics, token characters) are
// the reference the SQLite store's index uses; a copy of them here would drift from it.
class tokenizer {
  public:
    tokenizer() {
        if (sqlite3_open(":memory:", &db_) != SQLITE_OK) fail("cannot open SQLite");
        fts5_api* api = nullptr;
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, "SELECT fts5(?1)", -1, &s, nullptr) != SQLITE_OK) {
            fail("this SQLite has no FTS5");
        }
        sqlite3_bind_pointer(s, 1, &api, "fts5_api_ptr", nullptr);
        sqlite3_step(s);
        sqlite3_finalize(s);
        if (!api) fail("this SQLite has no FTS5");
        void* user = nullptr;
        if (api->xFindTokenizer(api, "unicode61", &user, &module_) != SQLITE_OK) {
            fail("FTS5 has no unicode61 tokenizer");
        }
        const char* args[] = {"remove_diacritics", "2"};
        if (module_.xCreate(user, args, 2, &instance_) != SQLITE_OK) {
            fail("cannot create the unicode61 tokenizer");
        }
    }
    ~tokenizer() {
        if (instance_) module_.xDelete(instance_);
        sqlite3_close(db_);
    }
    tokenizer(const tokenizer&) = delete;
    tokenizer& operator=(const tokenizer&) = delete;

    // The tokens of |text|, in order. An instance keeps a folding buffer of its own, hence
    // the mutex.
    std::vector<std::string> tokens(std::string_view text, bool query) {
        std::vector<std::string> out;
        if (text.empty()) return out;
        std::lock_guard lock(mutex_);
        module_.xTokenize(instance_, &out, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT,
                          text.data(), static_cast<int>(text.size()),
                          [](void* ctx, int, const char* token, int size, int, int) {
                              static_cast<std::vector<std::string>*>(ctx)->emplace_back(
                                  token, static_cast<std::size_t>(size));
                              return SQLITE_OK;
                          });
        return out;
    }

  private:
    [[noreturn]] static void fail(const char* what) {
        throw store_error(std::string("search: ") + what);
    }

    sqlite3* db_ = nullptr;
    fts5_tokenizer module_{};
    Fts5Tokenizer* instance_ = nullptr;
    std::mutex mutex_;
};

tokenizer& shared_tokenizer() {
    static tokenizer t;
    return t;
}

void append_tokens(std::string& out, std::string_view text) {
    for (const std::string& token : shared_tokenizer().tokens(text, false)) {
        out += ' ';
        out += token;
    }
}

}  // namespace

std::string search_document(std::string_view file_name, std::string_view data) {
    std::string doc;
    append_tokens(doc, file_name);
    doc += " |";
    append_tokens(doc, data);
    return doc;
}

std::optional<std::vector<std::string_view>> search_words(std::string_view search) {
    std::optional<std::vector<std::string_view>> words;
    std::size_t pos = 0;
    while (pos < search.size()) {
        const std::size_t start = search.find_first_not_of(" \t\r\n\f\v", pos);
        if (start == std::string_view::npos) break;
        std::size_t end = search.find_first_of(" \t\r\n\f\v", start);
        if (end == std::string_view::npos) end = search.size();
        const std::string_view word = search.substr(start, end - start);
        pos = end;
        if (!words) words.emplace();
        const bool has_token_char = std::any_of(word.begin(), word.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u >= 0x80 || std::isalnum(u);
        });
        if (has_token_char) words->push_back(word);
    }
    return words;
}

std::optional<std::vector<std::string>> search_patterns(std::string_view search) {
    const auto words = search_words(search);
    if (!words) return std::nullopt;
    std::vector<std::string> patterns;
    for (const std::string_view word : *words) {
        const std::vector<std::string> tokens = shared_tokenizer().tokens(word, true);
        // A word of other symbols only ("€"): FTS5 ignores a phrase of no token beside others,
        // and alone it matches nothing, which an empty list says too.
        if (tokens.empty()) continue;
        std::string pattern = "%";
        for (const std::string& token : tokens)
            pattern += ' ' + token;
        patterns.push_back(pattern + '%');
    }
    return patterns;
}

}  // namespace runmirror
