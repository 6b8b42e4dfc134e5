// Bodies at rest: LZ4 frames (Debian's liblz4) written, LZ4 and zstd frames read.
//
// Why LZ4: restoring a body is on every read path that misses the memory cache (each get by id
// over a large store, 50 times per assembled list page), and there its cost is what counts. On
// this project's run JSON (bench/fill_store.cpp, ~4.7 KB a run; callgrind, 200 runs), restoring
// costs about 70,000 instructions with zstd level 3 and 14,000 with LZ4. LZ4 keeps 53% of the
// bytes against zstd's 38%: a million runs take 1.0x their raw JSON on disk instead of 0.8x,
// inside the 1.1x target. Compressing costs about 80,000 instructions against zstd's ~200,000;
// LZ4's high-compression levels keep 50% for 500,000.
//
// The frame (not a bare LZ4 block) carries a magic number, the content size (one allocation
// to restore), a header checksum, and a content checksum (XXH32) that reads do not verify:
// verifying it cost 10,000 instructions a body, 15% of an assembled list page of 50. Damage to
// the frame's structure (header, block sizes, offsets, the content size, truncation, trailing
// bytes) is still an error, never an out-of-bounds access; a changed literal byte inside a
// block may come back as a changed byte, as with every other column of the store (SQLite pages
// carry no checksum). The checksum is written all the same, for 4 bytes a body: `lz4 -d` on a
// body taken out of the store, and the scrub `runmirror db check` (unpack_body_verified), check it.
//
// zstd frames, written by schema 004 stores before this, are read as they were (zstd verifies
// their checksum as part of decoding).

#include "store/body_codec.hpp"

#include <lz4frame.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "runmirror/store.hpp"

namespace runmirror {
namespace {

// A frame's first four bytes, as stored (little-endian magic numbers).
constexpr unsigned char lz4_magic[4] = {0x04, 0x22, 0x4D, 0x18};
constexpr unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

// Larger bodies are refused before allocating: run JSON is a few KB to a few MB.
constexpr unsigned long long max_body = std::size_t{1} << 31;

bool starts_with(std::string_view bytes, const unsigned char (&magic)[4]) {
    return bytes.size() >= 4 && std::memcmp(bytes.data(), magic, 4) == 0;
}

[[noreturn]] void corrupt(const std::string& what) {
    throw store_error("store: stored run body is corrupt (" + what + ")");
}

// --- LZ4 --------------------------------------------------------------------------------------

struct lz4_decompressor {
    LZ4F_dctx* ctx = nullptr;
    lz4_decompressor() {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) ctx = nullptr;
    }
    ~lz4_decompressor() { LZ4F_freeDecompressionContext(ctx); }
};

// This thread's context, reset for a new frame; null when it could not be made (out of memory).
LZ4F_dctx* fresh_decompressor() {
    thread_local lz4_decompressor d;
    // A context left mid-frame by a damaged body must not carry into the next one.
    if (d.ctx != nullptr) LZ4F_resetDecompressionContext(d.ctx);
    return d.ctx;
}

std::string lz4_unpack(std::string_view bytes, bool verify_checksum) {
    LZ4F_dctx* ctx = fresh_decompressor();
    if (ctx == nullptr) throw store_error("store: lz4 unavailable (out of memory)");
    LZ4F_frameInfo_t info{};
    std::size_t header = bytes.size();
    if (LZ4F_isError(LZ4F_getFrameInfo(ctx, &info, bytes.data(), &header))) {
        corrupt("bad lz4 frame header");
    }
    // pack_body always writes the size: without it the frame is not one of ours.
    if (info.contentSize == 0) corrupt("lz4 frame without its size");
    if (info.contentSize > max_body) corrupt("claims more than 2 GiB");
    std::string out(static_cast<std::size_t>(info.contentSize), '\0');
    // The whole output buffer is ours and stays put: LZ4 may decode into it directly. The
    // content checksum is verified only when asked (see the top of this file).
    LZ4F_decompressOptions_t options{};
    options.stableDst = 1;
    options.skipChecksums = verify_checksum ? 0 : 1;
    std::size_t written = out.size();
    std::size_t consumed = bytes.size() - header;
    const std::size_t rest =
        LZ4F_decompress(ctx, out.data(), &written, bytes.data() + header, &consumed, &options);
    if (LZ4F_isError(rest)) corrupt(LZ4F_getErrorName(rest));
    // 0: the frame ended exactly here.
    if (rest != 0) corrupt("truncated lz4 frame");
    if (header + consumed != bytes.size()) corrupt("bytes after the frame");
    if (written != out.size()) corrupt("shorter than its header says");
    return out;
}

// --- zstd (read only: schema 004 stores written before LZ4) ----------------------------------

struct zstd_decompressor {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    ~zstd_decompressor() { ZSTD_freeDCtx(ctx); }
};

std::string zstd_unpack(std::string_view bytes) {
    // Exactly one frame, with its size in the header (the writer always put it there).
    const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
        corrupt("not a zstd frame with its size");
    }
    if (ZSTD_findFrameCompressedSize(bytes.data(), bytes.size()) != bytes.size()) {
        corrupt("truncated, or bytes after the frame");
    }
    if (size > max_body) corrupt("claims more than 2 GiB");
    thread_local zstd_decompressor d;
    if (d.ctx == nullptr) throw store_error("store: zstd unavailable (out of memory)");
    std::string out(static_cast<std::size_t>(size), '\0');
    const std::size_t n =
        ZSTD_decompressDCtx(d.ctx, out.data(), out.size(), bytes.data(), bytes.size());
    if (ZSTD_isError(n)) corrupt(ZSTD_getErrorName(n));
    if (n != out.size()) corrupt("shorter than its header says");
    return out;
}

// The content size an LZ4 frame's header declares; nullopt when it is not a frame of ours.
std::optional<unsigned long long> lz4_content_size(std::string_view bytes) {
    LZ4F_dctx* ctx = fresh_decompressor();
    if (ctx == nullptr) return std::nullopt;
    LZ4F_frameInfo_t info{};
    std::size_t header = bytes.size();
    if (LZ4F_isError(LZ4F_getFrameInfo(ctx, &info, bytes.data(), &header))) return std::nullopt;
    return info.contentSize;
}

}  // namespace

packed_body pack_body(std::string_view text) {
    // Tiny bodies never shrink: a frame has 15 bytes of header, end mark and checksum.
    if (text.size() < 64) return {false, std::string(text)};
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.contentSize = text.size();
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    // The default block size (4 MiB) would make the decoder allocate that much for a large
    // body; 64 KiB blocks cost nothing in ratio on run JSON.
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    std::string out(LZ4F_compressFrameBound(text.size(), &prefs), '\0');
    const std::size_t n =
        LZ4F_compressFrame(out.data(), out.size(), text.data(), text.size(), &prefs);
    if (LZ4F_isError(n)) {
        throw store_error(std::string("store: lz4 compression failed: ") + LZ4F_getErrorName(n));
    }
    if (n >= text.size()) return {false, std::string(text)};
    out.resize(n);
    return {true, std::move(out)};
}

std::string unpack_body(std::string_view bytes, bool compressed) {
    if (!compressed) return std::string(bytes);
    if (starts_with(bytes, lz4_magic)) return lz4_unpack(bytes, false);
    if (starts_with(bytes, zstd_magic)) return zstd_unpack(bytes);
    corrupt("neither an lz4 nor a zstd frame");
}

std::string unpack_body_verified(std::string_view bytes, bool compressed) {
    if (compressed && starts_with(bytes, lz4_magic)) return lz4_unpack(bytes, true);
    return unpack_body(bytes, compressed);  // zstd always verifies its checksum
}

std::optional<std::size_t> unpacked_body_size(std::string_view bytes, bool compressed) {
    if (!compressed) return bytes.size();
    unsigned long long size = 0;
    if (starts_with(bytes, lz4_magic)) {
        const auto declared = lz4_content_size(bytes);
        if (!declared || *declared == 0) return std::nullopt;
        size = *declared;
    } else if (starts_with(bytes, zstd_magic)) {
        size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (size > max_body) return std::nullopt;
    return static_cast<std::size_t>(size);
}

bool body_equals(std::string_view bytes, bool compressed, std::string_view text) {
    if (!compressed) return bytes == text;
    if (starts_with(bytes, lz4_magic)) {
        const auto size = lz4_content_size(bytes);
        if (size && *size != text.size()) return false;
    }
    return unpack_body(bytes, compressed) == text;
}

}  // namespace runmirror
