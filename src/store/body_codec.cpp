// zstd (Debian's libzstd) for bodies at rest. On this project's run JSON (bench/fill_store.cpp,
// ~4.7 KB a run) level 3 keeps 37.7% of the bytes, compresses a run in ~28 us and restores it
// in ~5.4 us; zlib level 6 keeps 36.4% but takes ~60 us and ~14 us. Restoring is on every read
// path (a hit, 50 times per assembled list page), so its speed is what counts. The frame
// carries the content size (one allocation to restore) and an XXH64 checksum, so a damaged
// body is an error rather than wrong bytes. Contexts are kept per thread: creating one costs
// more than a small body does.

#include "store/body_codec.hpp"

#include <zstd.h>

#include "runmirror/store.hpp"

namespace runmirror {
namespace {

constexpr int level = 3;

struct compressor {
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    compressor() {
        if (ctx != nullptr) {
            ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level);
            ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);
        }
    }
    ~compressor() { ZSTD_freeCCtx(ctx); }
};

struct decompressor {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    ~decompressor() { ZSTD_freeDCtx(ctx); }
};

[[noreturn]] void corrupt(const std::string& what) {
    throw store_error("store: stored run body is corrupt (" + what + ")");
}

}  // namespace

packed_body pack_body(std::string_view text) {
    // Tiny bodies never shrink: a frame has a dozen bytes of header and checksum.
    if (text.size() < 64) return {false, std::string(text)};
    thread_local compressor c;
    if (c.ctx == nullptr) throw store_error("store: zstd unavailable (out of memory)");
    std::string out(ZSTD_compressBound(text.size()), '\0');
    const std::size_t n = ZSTD_compress2(c.ctx, out.data(), out.size(), text.data(), text.size());
    if (ZSTD_isError(n)) {
        throw store_error(std::string("store: zstd compression failed: ") + ZSTD_getErrorName(n));
    }
    if (n >= text.size()) return {false, std::string(text)};
    out.resize(n);
    return {true, std::move(out)};
}

std::string unpack_body(std::string_view bytes, bool compressed) {
    if (!compressed) return std::string(bytes);
    // Exactly one frame, with its size in the header (pack_body always writes it).
    const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
        corrupt("not a zstd frame with its size");
    }
    if (ZSTD_findFrameCompressedSize(bytes.data(), bytes.size()) != bytes.size()) {
        corrupt("truncated, or bytes after the frame");
    }
    if (size > (std::size_t{1} << 31)) corrupt("claims more than 2 GiB");
    thread_local decompressor d;
    if (d.ctx == nullptr) throw store_error("store: zstd unavailable (out of memory)");
    std::string out(static_cast<std::size_t>(size), '\0');
    const std::size_t n =
        ZSTD_decompressDCtx(d.ctx, out.data(), out.size(), bytes.data(), bytes.size());
    if (ZSTD_isError(n)) corrupt(ZSTD_getErrorName(n));
    if (n != out.size()) corrupt("shorter than its header says");
    return out;
}

}  // namespace runmirror
