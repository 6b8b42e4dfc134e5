#pragma once
// Plain configuration structs. config/load_options builds them once (file, then RUNMIRROR_*
// environment, then flags; later wins) and validates them; each module receives only its own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runmirror/clock.hpp"

namespace runmirror {

enum class serve_mode { online, offline };

// What the browse API, the events stream and the page show a caller without the admin token:
// every tenant's resources, or only those an API key's grants allow (the key is then needed).
enum class browse_scope { all, tenant };

struct listen_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8787;  // 0: pick a free port (tests); the chosen one is logged
    unsigned threads = 0;       // 0: one per CPU the process may use (util/cpu_budget)
    std::size_t max_connections = 4096;
    // Host/Origin names accepted besides loopback ones and |host| (http/request_site.hpp),
    // canonical (lower case, IPv6 in brackets).
    std::vector<std::string> allowed_hosts;
};

struct limits_options {
    std::size_t header_limit = 16 * 1024;                 // request or response header block
    std::size_t request_body_limit = 8 * 1024 * 1024;     // bodies the daemon buffers itself
    std::size_t response_body_limit = 256 * 1024 * 1024;  // upstream answers the daemon buffers
    // Upstream answers larger than this are not stored: they are relayed from an unlinked file
    // in |spill_dir| (empty: the store's directory), so memory stays bounded.
    std::size_t store_body_limit = 32 * 1024 * 1024;
    std::string spill_dir;
    // Pass-through reads this much of a request body before contacting upstream (see
    // read_body_start in net/http_session.cpp); larger bodies stream on from there.
    std::size_t request_buffer_size = 256 * 1024;
    millis read_timeout{30'000};  // one client request, header and body
    millis idle_timeout{60'000};  // keep-alive wait for the next request
    millis write_timeout{30'000};
    millis shutdown_grace{10'000};  // in-flight requests may finish this long after SIGTERM
};

struct upstream_options {
    std::string url = "https://api.cloud.llamaindex.ai";
    std::string ca_file;  // extra trusted CA (PEM), beside the system store
    millis connect_timeout{3'000};
    millis tls_timeout{5'000};
    millis response_timeout{30'000};  // until the response header arrives
    millis total_timeout{120'000};    // the whole exchange
    std::size_t max_idle_per_host = 16;
    // Circuit breaker: this many consecutive failures mark the upstream down for a cool-down
    // that doubles per failed retry up to max_cooldown (cache/upstream_health).
    unsigned failure_threshold = 5;
    millis cooldown{1'000};
    millis max_cooldown{60'000};
};

struct store_options {
    std::string path;  // empty: <data dir>/runmirror.db
    // The file of the secret tenants are keyed with (util/tenant_secret.hpp); after loading,
    // empty only for a ":memory:" store (a random secret, never written).
    std::string tenant_secret_path;  // empty: beside the db, "<db without extension>.tenant-secret"
    // Hot runs and list pages held in memory in front of SQLite (store/memory_cache).
    std::size_t memory_cache_bytes = 12 << 20;
    // A PostgreSQL store's watch claims (postgres_store_options::watch_lease).
    millis watch_lease{60'000};
};

struct cache_options {
    serve_mode mode = serve_mode::online;
    millis pending_max_age{2'000};  // CREATED/PENDING runs served from the store this long
    millis list_max_age{5'000};     // list pages served from the store this long
    // ... and past that, served at once for this long while refreshed in the background.
    millis stale_while_revalidate{60'000};
};

struct sync_options {
    millis poll_interval{1'000};     // first poll after a run is seen; x1.5 per unchanged answer
    millis poll_cap{30'000};         // ... up to this (jitter +-20% on top)
    millis max_age{24 * 3'600'000};  // a watch not final by then is given up
    unsigned concurrency = 4;        // polls in flight at once
    double rate = 10;                // upstream polls per second, for the whole worker
    std::string service_key;         // LLAMA_CLOUD_API_KEY: polls watches whose client is gone
    // A store other daemons share (PostgreSQL): the worker looks at it at least this often, as
    // nothing tells it of watches the others create or leave behind (a daemon that died). Zero:
    // only when due or told (SQLite: every watch comes through this daemon).
    millis shared_store_rescan{0};
};

// --max-db-size and --retain-final (store/retention.hpp).
struct retention_options {
    std::uint64_t max_db_bytes = 0;  // 0: no cap
    bool retain_final = true;        // false: final resources may be pruned too, oldest first
};

struct serve_options {
    listen_options listen;
    limits_options limits;
    upstream_options upstream;
    store_options store;
    cache_options cache;
    sync_options sync;
    retention_options retention;
    // Empty: /_runmirror/* is open, and only a loopback listen address is accepted.
    std::string admin_token;
    browse_scope scope = browse_scope::all;
    std::string log_level = "info";
    bool log_json = false;                // --log-format json: the log and the access log
    std::string access_log;               // a file, one line per request; empty: none
    std::size_t request_log_size = 1000;  // requests kept for /_runmirror/api/requests
};

}  // namespace runmirror
