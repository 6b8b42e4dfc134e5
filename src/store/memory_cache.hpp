#pragma once
// Hot runs, list pages and grants held in memory in front of another store, so that a hit
// costs a hash lookup instead of a SQLite read (a read transaction, file locks, page copies).
//
// Consistency: every write goes to the inner store first, then drops whatever it may have
// changed here. A read that missed here loads from the inner store and keeps the result only
// if no write dropped anything meanwhile (a generation count), so a value read before a write
// committed is never kept after it. Writes by other daemons sharing a PostgreSQL store are
// told as they commit (store::follow_peers) and drop what they changed. Otherwise, and while
// that feed is down, writes by other processes (`runmirror mirror` on the same file, another
// daemon) are noticed through store::external_change_count, checked at most every
// |external_check| on lookups, and drop everything.
//
// Runs and list pages are bounded together by bytes, least recently used first out. Grants
// are kept only when present (a missing grant sends the request upstream anyway) and are few.
//
// Large list pages are kept in sealed memory files (runmirror/body_file.hpp), not on the heap:
// the session sends them with sendfile, without copying them into the socket. Each holds a
// file descriptor, so at most |max_files| are kept that way; past that they stay on the heap.

#include <chrono>
#include <cstddef>
#include <memory>

#include "runmirror/store.hpp"

namespace runmirror {

struct memory_cache_options {
    std::size_t budget_bytes = 12 * 1024 * 1024;
    std::chrono::milliseconds external_check{100};
    std::size_t file_threshold_bytes = 64 * 1024;  // pages at least this large go to a file
    std::size_t max_files = 256;
};

// Wraps |inner|; a budget of 0 returns |inner| itself.
std::unique_ptr<store> with_memory_cache(std::unique_ptr<store> inner,
                                         const memory_cache_options& options);

}  // namespace runmirror
