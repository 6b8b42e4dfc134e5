#pragma once
// A SQLite VFS that forwards everything to the default VFS and lets a test (or a benchmark) see
// and fail the writes: the store's disk as a test controls it. Used by the store's write-health
// tests (fail writes with SQLITE_FULL / SQLITE_IOERR_WRITE, open the file read-only) and by
// bench/write_cost.cpp (count the bytes written to the database and its WAL).
//
// While a shim_vfs exists it is SQLite's default VFS, so open_sqlite_store and every reader
// connection it opens go through it; its destructor makes the previous default the default
// again. One at a time, and only while no connection opened through it is still open.

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

namespace runmirror::testing {

class shim_vfs {
  public:
    enum class file_kind { main_db, wal, other };

    shim_vfs() : base_(sqlite3_vfs_find(nullptr)) {
        if (base_ == nullptr) throw std::runtime_error("shim_vfs: no default VFS");
        std::memset(&vfs_, 0, sizeof vfs_);
        vfs_.iVersion = base_->iVersion < 3 ? base_->iVersion : 3;
        vfs_.szOsFile = static_cast<int>(sizeof(shim_file)) + base_->szOsFile;
        vfs_.mxPathname = base_->mxPathname;
        vfs_.zName = "runmirror-shim";
        vfs_.pAppData = this;
        vfs_.xOpen = &shim_vfs::open;
        vfs_.xDelete = [](sqlite3_vfs* v, const char* name, int sync) {
            return self(v)->base_->xDelete(self(v)->base_, name, sync);
        };
        vfs_.xAccess = [](sqlite3_vfs* v, const char* name, int flags, int* out) {
            return self(v)->base_->xAccess(self(v)->base_, name, flags, out);
        };
        vfs_.xFullPathname = [](sqlite3_vfs* v, const char* name, int n, char* out) {
            return self(v)->base_->xFullPathname(self(v)->base_, name, n, out);
        };
        vfs_.xDlOpen = [](sqlite3_vfs* v, const char* name) {
            return self(v)->base_->xDlOpen(self(v)->base_, name);
        };
        vfs_.xDlError = [](sqlite3_vfs* v, int n, char* out) {
            self(v)->base_->xDlError(self(v)->base_, n, out);
        };
        vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* sym) {
            return self(v)->base_->xDlSym(self(v)->base_, h, sym);
        };
        vfs_.xDlClose = [](sqlite3_vfs* v, void* h) {
            self(v)->base_->xDlClose(self(v)->base_, h);
        };
        vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
            return self(v)->base_->xRandomness(self(v)->base_, n, out);
        };
        vfs_.xSleep = [](sqlite3_vfs* v, int us) {
            return self(v)->base_->xSleep(self(v)->base_, us);
        };
        vfs_.xCurrentTime = [](sqlite3_vfs* v, double* out) {
            return self(v)->base_->xCurrentTime(self(v)->base_, out);
        };
        vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
            return self(v)->base_->xGetLastError(self(v)->base_, n, out);
        };
        if (vfs_.iVersion >= 2) {
            vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
                return self(v)->base_->xCurrentTimeInt64(self(v)->base_, out);
            };
        }
        if (vfs_.iVersion >= 3) {
            vfs_.xSetSystemCall = [](sqlite3_vfs* v, const char* name, sqlite3_syscall_ptr p) {
                return self(v)->base_->xSetSystemCall(self(v)->base_, name, p);
            };
            vfs_.xGetSystemCall = [](sqlite3_vfs* v, const char* name) {
                return self(v)->base_->xGetSystemCall(self(v)->base_, name);
            };
            vfs_.xNextSystemCall = [](sqlite3_vfs* v, const char* name) {
                return self(v)->base_->xNextSystemCall(self(v)->base_, name);
            };
        }
        if (sqlite3_vfs_register(&vfs_, 1) != SQLITE_OK) {
            throw std::runtime_error("shim_vfs: cannot register");
        }
    }

    ~shim_vfs() {
        sqlite3_vfs_unregister(&vfs_);
        sqlite3_vfs_register(base_, 1);  // the default again
    }

    shim_vfs(const shim_vfs&) = delete;
    shim_vfs& operator=(const shim_vfs&) = delete;

    // Every write to the database file or its WAL fails with this code (0: none fails).
    std::atomic<int> fail_writes{0};
    // Main database files are opened read-only, as SQLite opens a file it may not write.
    std::atomic<bool> read_only_db{false};
    // Bytes written, by file kind, and writes refused.
    std::atomic<std::uint64_t> db_bytes{0}, wal_bytes{0}, other_bytes{0}, refused_writes{0};
    // The highest end offset written to any WAL: how large the WAL grew.
    std::atomic<std::uint64_t> wal_high_water{0};

    // While |log_pages| is set, the page number of every page written: to the WAL (read from
    // each frame's 24-byte header, which SQLite writes on its own just before the page) and to
    // the database file (its offset over the write's size, as checkpoints write whole pages).
    // commit marks a WAL frame that ends a transaction. Read |page_log| once the writers stop.
    struct page_write {
        file_kind kind;
        std::uint32_t page;
        bool commit;
    };
    std::atomic<bool> log_pages{false};
    std::mutex page_log_mutex;
    std::vector<page_write> page_log;

  private:
    struct shim_file {
        sqlite3_file head;  // pMethods: first, as SQLite requires
        shim_vfs* owner;
        file_kind kind;
        sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
    };

    static shim_vfs* self(sqlite3_vfs* v) { return static_cast<shim_vfs*>(v->pAppData); }
    static shim_file* file(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f); }
    static sqlite3_file* real(sqlite3_file* f) { return file(f)->real(); }

    static int open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
        shim_vfs* me = self(v);
        shim_file* sf = file(f);
        sf->head.pMethods = nullptr;  // until the real open succeeds: SQLite then skips xClose
        sf->owner = me;
        sf->kind = (flags & SQLITE_OPEN_MAIN_DB) ? file_kind::main_db
                   : (flags & SQLITE_OPEN_WAL)   ? file_kind::wal
                                                 : file_kind::other;
        if (sf->kind == file_kind::main_db && me->read_only_db.load()) {
            flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
        }
        int rc = me->base_->xOpen(me->base_, name, sf->real(), flags, out_flags);
        if (rc != SQLITE_OK) return rc;
        const int version = sf->real()->pMethods ? sf->real()->pMethods->iVersion : 1;
        sf->head.pMethods = version >= 3 ? &methods_v3 : version >= 2 ? &methods_v2 : &methods_v1;
        return SQLITE_OK;
    }

    static int write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
        shim_file* sf = file(f);
        shim_vfs* me = sf->owner;
        if (sf->kind != file_kind::other) {
            if (const int code = me->fail_writes.load(); code != 0) {
                ++me->refused_writes;
                return code;
            }
        }
        const int rc = real(f)->pMethods->xWrite(real(f), data, amount, offset);
        if (rc == SQLITE_OK && me->log_pages.load()) me->log_page(sf->kind, data, amount, offset);
        if (rc == SQLITE_OK) {
            const auto bytes = static_cast<std::uint64_t>(amount);
            switch (sf->kind) {
                case file_kind::main_db: me->db_bytes += bytes; break;
                case file_kind::wal: {
                    me->wal_bytes += bytes;
                    const auto end = static_cast<std::uint64_t>(offset) + bytes;
                    auto seen = me->wal_high_water.load();
                    while (end > seen && !me->wal_high_water.compare_exchange_weak(seen, end)) {
                    }
                    break;
                }
                case file_kind::other: me->other_bytes += bytes; break;
            }
        }
        return rc;
    }

    void log_page(file_kind kind, const void* data, int amount, sqlite3_int64 offset) {
        const auto* b = static_cast<const unsigned char*>(data);
        auto be32 = [b](int at) {
            return static_cast<std::uint32_t>(b[at]) << 24 |
                   static_cast<std::uint32_t>(b[at + 1]) << 16 |
                   static_cast<std::uint32_t>(b[at + 2]) << 8 |
                   static_cast<std::uint32_t>(b[at + 3]);
        };
        std::optional<page_write> w;
        if (kind == file_kind::wal && amount == 24 && offset >= 32) {
            w = page_write{kind, be32(0), be32(4) != 0};  // page number, db size after a commit
        } else if (kind == file_kind::main_db && amount >= 512 && offset % amount == 0) {
            w = page_write{kind, static_cast<std::uint32_t>(offset / amount + 1), false};
        }
        if (!w) return;
        std::lock_guard lock(page_log_mutex);
        page_log.push_back(*w);
    }

    static int close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
    static int read(sqlite3_file* f, void* data, int amount, sqlite3_int64 offset) {
        return real(f)->pMethods->xRead(real(f), data, amount, offset);
    }
    static int truncate(sqlite3_file* f, sqlite3_int64 size) {
        return real(f)->pMethods->xTruncate(real(f), size);
    }
    static int sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
    static int file_size(sqlite3_file* f, sqlite3_int64* size) {
        return real(f)->pMethods->xFileSize(real(f), size);
    }
    static int lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
    static int unlock(sqlite3_file* f, int level) {
        return real(f)->pMethods->xUnlock(real(f), level);
    }
    static int check_reserved(sqlite3_file* f, int* out) {
        return real(f)->pMethods->xCheckReservedLock(real(f), out);
    }
    static int file_control(sqlite3_file* f, int op, void* arg) {
        return real(f)->pMethods->xFileControl(real(f), op, arg);
    }
    static int sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
    static int device_characteristics(sqlite3_file* f) {
        return real(f)->pMethods->xDeviceCharacteristics(real(f));
    }
    static int shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
        return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
    }
    static int shm_lock(sqlite3_file* f, int offset, int n, int flags) {
        return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
    }
    static void shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
    static int shm_unmap(sqlite3_file* f, int delete_flag) {
        return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
    }
    static int fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
        return real(f)->pMethods->xFetch(real(f), offset, amount, out);
    }
    static int unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
        return real(f)->pMethods->xUnfetch(real(f), offset, p);
    }

    static constexpr sqlite3_io_methods methods(int version) {
        return {version,
                &close,
                &read,
                &write,
                &truncate,
                &sync,
                &file_size,
                &lock,
                &unlock,
                &check_reserved,
                &file_control,
                &sector_size,
                &device_characteristics,
                version >= 2 ? &shm_map : nullptr,
                version >= 2 ? &shm_lock : nullptr,
                version >= 2 ? &shm_barrier : nullptr,
                version >= 2 ? &shm_unmap : nullptr,
                version >= 3 ? &fetch : nullptr,
                version >= 3 ? &unfetch : nullptr};
    }
    static inline const sqlite3_io_methods methods_v1 = methods(1);
    static inline const sqlite3_io_methods methods_v2 = methods(2);
    static inline const sqlite3_io_methods methods_v3 = methods(3);

    sqlite3_vfs* base_;
    sqlite3_vfs vfs_;
};

}  // namespace runmirror::testing
