#pragma once
// How run bodies are kept at rest: an LZ4 frame (lz4 frame format 1.6.x, with its content size
// and content checksum, the latter not verified on reads) when that is smaller, the text itself
// otherwise. The store keeps a
// compressed body as an SQL BLOB and an uncompressed one as TEXT, so the column's type says
// which it is, and a store written before compression (all TEXT) reads the same way.
//
// Stores written before LZ4 hold zstd frames (RFC 8878, with content checksum) in their BLOBs.
// Those still read: a BLOB's first four bytes, the frame's magic number, say which codec wrote
// it (zstd 28 B5 2F FD, LZ4 04 22 4D 18). Nothing rewrites them; a run written again is
// written as LZ4.
//
// unpack_body(pack_body(x)) == x for every byte string x: bodies come back exactly as received.
// Threading: any thread; each thread keeps its own codec contexts.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace runmirror {

struct packed_body {
    bool compressed = false;  // true: |bytes| is a compressed frame; false: the text as given
    std::string bytes;
};

// Compresses |text| (LZ4, default speed) when that saves bytes; otherwise returns it unchanged.
packed_body pack_body(std::string_view text);

// The original bytes of a body stored by pack_body, now or at schema 004 (zstd). Throws
// store_error when |bytes| claims to be compressed and is not one complete, well-formed LZ4
// frame or one complete zstd frame with a matching checksum.
std::string unpack_body(std::string_view bytes, bool compressed);

// Whether the body stored as |bytes| (as unpack_body reads it) is exactly |text|. Cheaper than
// packing |text| to compare: a size that differs answers without decoding, and decoding costs
// a fifth of compressing.
bool body_equals(std::string_view bytes, bool compressed, std::string_view text);

// As unpack_body, and an LZ4 frame's content checksum verified too (unpack_body skips it for
// speed): the scrub `runmirror db check` runs. Throws store_error as unpack_body does, and when
// the checksum does not match.
std::string unpack_body_verified(std::string_view bytes, bool compressed);

// The size of the body stored as |bytes| once unpacked, from its frame header alone (no
// decoding); nullopt when a compressed body's header is damaged or does not say.
std::optional<std::size_t> unpacked_body_size(std::string_view bytes, bool compressed);

}  // namespace runmirror
