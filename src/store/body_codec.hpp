#pragma once
// How run bodies are kept at rest: a zstd frame (RFC 8878, with its content checksum) when that
// is smaller, the text itself otherwise. The store keeps a compressed body as an SQL BLOB and an
// uncompressed one as TEXT, so the column's type says which it is, and a store written before
// compression (all TEXT) reads the same way.
//
// unpack_body(pack_body(x)) == x for every byte string x: bodies come back exactly as received.
// Threading: any thread; each thread keeps its own zstd contexts.

#include <string>
#include <string_view>

namespace runmirror {

struct packed_body {
    bool compressed = false;  // true: |bytes| is a zstd frame; false: the text as given
    std::string bytes;
};

// Compresses |text| (zstd level 3) when that saves bytes; otherwise returns it unchanged.
packed_body pack_body(std::string_view text);

// The original bytes of a body stored by pack_body. Throws store_error when |bytes| claims to
// be compressed and is not one complete, intact zstd frame.
std::string unpack_body(std::string_view bytes, bool compressed);

}  // namespace runmirror
