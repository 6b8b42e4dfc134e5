// The listener and the server's lifetime: bind, accept on every thread, and on SIGINT/SIGTERM
// or stop() drain gracefully (stop accepting, close idle connections, let in-flight requests
// finish within limits.shutdown_grace, then stop the threads).
#include "runmirror/server.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "util/logging.hpp"

#include "admin/admin_routes.hpp"
#include "cache/run_cache.hpp"
#include "cache/upstream_guard.hpp"
#include "net/http_session.hpp"
#include "net/overload.hpp"
#include "net/upstream_client.hpp"
#include "net/upstream_pool.hpp"
#include "obs/metrics.hpp"
#include "obs/request_log.hpp"
#include "store/retention.hpp"
#include "sync/peer_events.hpp"
#include "sync/sync_worker.hpp"
#include "util/cpu_budget.hpp"
#include "util/service_notify.hpp"

namespace runmirror {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Opens, binds and listens; |ec| says what failed.
void bind_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint,
                   boost::system::error_code& ec) {
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
}

[[noreturn]] void cannot_listen(const listen_options& listen, const boost::system::error_code& ec) {
    throw std::runtime_error("cannot listen on " + listen.host + ":" + std::to_string(listen.port) +
                             ": " + ec.message());
}

class server_impl final : public server {
  public:
    // |adopted_socket|: a listening socket (listening_socket) to accept on, or -1 to bind one
    // in run().
    server_impl(const serve_options& options, store& db, int adopted_socket = -1)
        : adopted_socket_(adopted_socket),
          options_(options),
          db_(db),
          threads_(choose_thread_count(options.listen.threads)),
          ioc_(static_cast<int>(thread_count())),
          signals_(ioc_, SIGINT, SIGTERM),
          acceptor_(ioc_),
          keys_(options.sync.service_key),
          requests_(options.request_log_size, options.access_log,
                    options.log_json ? obs::log_format::json : obs::log_format::text) {
        auto now = [] { return clock_type::now(); };
        if (options_.cache.mode == serve_mode::online) {
            pool_ = std::make_unique<net::upstream_pool>(ioc_, options_.upstream, thread_count());
            client_ = net::make_upstream_client(*pool_, options_.limits);
            health_ = std::make_unique<upstream_health>(options_.upstream.failure_threshold,
                                                        options_.upstream.cooldown,
                                                        options_.upstream.max_cooldown);
            auto probe_timer = [this](millis delay, std::function<void()> task) {
                run_after(delay, std::move(task));
            };
            guard_ = std::make_unique<upstream_guard>(*client_, *health_, now, probe_timer);
            // The sync worker's polls wait while the upstream is down rather than pile onto it.
            worker_guard_ = std::make_unique<upstream_guard>(*client_, *health_, now, probe_timer,
                                                             upstream_guard::when_down::fail_fast);
        }
        peer_events_ = peer_events::connect(db_, events_);
        cache_ = std::make_unique<run_cache>(db_, guard_.get(), options_.cache, now);
        if (guard_) {
            sync_options sync = options_.sync;
            if (is_postgres_uri(options_.store.path)) sync.shared_store_rescan = sync.poll_interval;
            worker_ =
                std::make_unique<sync_worker>(db_, *worker_guard_, keys_, events_, sync, now,
                                              [this](millis delay, std::function<void()> task) {
                                                  run_after(delay, std::move(task));
                                              });
            cache_->set_observer(worker_.get());
        }
        if (options_.retention.max_db_bytes > 0) {
            pruner_ = std::make_unique<store_pruner>(
                db_, retention_settings{.max_bytes = options_.retention.max_db_bytes,
                                        .retain_final = options_.retention.retain_final,
                                        .unfinished_max_age = options_.sync.max_age});
        }
        admin_context admin;
        admin.mode = options_.cache.mode;
        admin.admin_token = options_.admin_token;
        admin.scope = options_.scope;
        admin.upstream_url = options_.upstream.url;
        admin.health = health_.get();
        admin.db = &db_;
        admin.requests = &requests_;
        if (worker_) {
            admin.sync_state = [worker = worker_.get()](time_point now) {
                return worker->snapshot(now);
            };
        }
        context_ = std::make_unique<net::session_context>(net::session_context{
            options_.limits, *cache_, pool_.get(), guard_.get(), std::move(admin), events_,
            registry_, stopping_, overload_,
            make_site_policy(options_.listen.host, options_.listen.allowed_hosts)});
    }

    ~server_impl() override {
        if (adopted_socket_ >= 0) ::close(adopted_socket_);  // never ran
    }

    int run() override {
        // A client that goes away mid-answer must end its session, not the daemon: sendfile(2)
        // has no MSG_NOSIGNAL, so a broken pipe is an error code here, never a signal.
        std::signal(SIGPIPE, SIG_IGN);
        bind();
        const auto local = acceptor_.local_endpoint();
        notify_ready("listening on " + local.address().to_string() + ":" +
                     std::to_string(local.port()));
        signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            log::info("signal {}: shutting down", signal);
            begin_shutdown();
        });
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        if (worker_) asio::post(ioc_, [this] { worker_->start(); });
        if (pruner_) pruner_->start();
        if (stop_requested_) asio::post(ioc_, [this] { begin_shutdown(); });

        std::vector<std::thread> threads;
        for (unsigned i = 1; i < thread_count(); ++i)
            threads.emplace_back([this] { ioc_.run(); });
        ioc_.run();
        for (auto& t : threads)
            t.join();
        // The sync worker's polls in flight were abandoned with the threads: on a shared
        // store, other daemons take their watches now instead of after the lease.
        try {
            db_.release_claims();
        } catch (const store_error& e) {
            log::warn("watches this daemon had claimed wait out their lease: {}", e.what());
        }
        log::info("stopped");
        return 0;
    }

    void stop() override {
        stop_requested_ = true;
        asio::post(ioc_, [this] { begin_shutdown(); });
    }

  private:
    unsigned thread_count() const { return threads_; }

    // --threads N, or with 0 one per CPU the process may use (affinity mask, cgroup quota):
    // more threads than CPUs only add contention and context switches.
    static unsigned choose_thread_count(unsigned requested) {
        if (requested > 0) {
            log::info("{} worker thread(s) (--threads)", requested);
            return requested;
        }
        const cpu_budget budget = read_cpu_budget();
        log::info("{} worker thread(s) (affinity {} CPUs, cgroup quota {})", budget.usable(),
                  budget.affinity, budget.quota ? std::to_string(*budget.quota) + " CPUs" : "none");
        return budget.usable();
    }

    void bind() {
        boost::system::error_code ec;
        auto address = asio::ip::make_address(options_.listen.host, ec);
        if (ec) throw std::runtime_error("invalid listen address " + options_.listen.host);
        tcp::endpoint endpoint(address, options_.listen.port);
        if (adopted_socket_ >= 0) {
            acceptor_.assign(endpoint.protocol(), std::exchange(adopted_socket_, -1), ec);
        } else {
            bind_acceptor(acceptor_, endpoint, ec);
        }
        if (ec) cannot_listen(options_.listen, ec);
        auto local = acceptor_.local_endpoint();
        log::info("listening on {}:{} (upstream {}{})", local.address().to_string(), local.port(),
                  options_.upstream.url,
                  options_.cache.mode == serve_mode::offline ? ", offline" : "");
    }

    asio::awaitable<void> accept_loop() {
        while (!stopping_) {
            // A strand serialises a session's handlers across threads; with one thread there
            // is nothing to serialise, and it costs a lock and executor copies per handler.
            const asio::any_io_executor session_executor =
                thread_count() == 1 ? asio::any_io_executor(ioc_.get_executor())
                                    : asio::any_io_executor(asio::make_strand(ioc_));
            auto [ec, socket] = co_await acceptor_.async_accept(session_executor, use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || stopping_) break;
                // Out of descriptors or similar: back off briefly instead of spinning.
                log::warn("accept: {}", ec.message());
                asio::steady_timer pause(ioc_, std::chrono::milliseconds(50));
                co_await pause.async_wait(use_tuple);
                continue;
            }
            if (!overload_.admit(socket)) continue;  // full: it answers 503 and closes
            socket.set_option(tcp::no_delay(true));
            auto executor = socket.get_executor();
            asio::co_spawn(executor, net::run_http_session(std::move(socket), *context_),
                           [this](std::exception_ptr e) {
                               overload_.release();
                               if (!e) return;
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& ex) {
                                   log::error("session failed: {}", ex.what());
                               }
                           });
        }
    }

    // The upstream guard's probe timer. Tasks still pending at shutdown are dropped unrun.
    void run_after(millis delay, std::function<void()> task) {
        auto timer = std::make_shared<asio::steady_timer>(ioc_, delay);
        timer->async_wait([timer, task = std::move(task)](const boost::system::error_code& ec) {
            if (!ec) task();
        });
    }

    // Runs on the io_context. Idempotent.
    void begin_shutdown() {
        if (stopping_.exchange(true)) return;
        notify_stopping();
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        signals_.cancel(ignored);
        if (worker_) worker_->stop();
        if (pruner_) pruner_->stop();
        registry_.close_idle();
        shutdown_deadline_ = std::chrono::steady_clock::now() + options_.limits.shutdown_grace;
        asio::co_spawn(ioc_, drain(), asio::detached);
    }

    // Waits for in-flight sessions to end, up to the grace period, then stops the threads.
    asio::awaitable<void> drain() {
        asio::steady_timer tick(ioc_);
        while (registry_.size() > 0 && std::chrono::steady_clock::now() < shutdown_deadline_) {
            registry_.close_idle();  // sessions that finished a request meanwhile
            tick.expires_after(std::chrono::milliseconds(20));
            co_await tick.async_wait(use_tuple);
        }
        if (registry_.size() > 0) {
            log::warn("shutdown grace over: closing {} connection(s)", registry_.size());
        }
        ioc_.stop();
    }

    int adopted_socket_;  // until bind() hands it to acceptor_
    serve_options options_;
    store& db_;
    unsigned threads_;  // runs ioc_; also sizes the upstream pool and decides on strands
    asio::io_context ioc_;
    asio::signal_set signals_;
    tcp::acceptor acceptor_;
    std::unique_ptr<net::upstream_pool> pool_;
    std::unique_ptr<upstream> client_;
    std::unique_ptr<upstream_health> health_;
    std::unique_ptr<upstream_guard> guard_;         // clients' requests
    std::unique_ptr<upstream_guard> worker_guard_;  // the sync worker's polls
    std::unique_ptr<run_cache> cache_;
    event_hub events_;
    std::unique_ptr<peer_events> peer_events_;  // with a shared store only
    key_ring keys_;
    obs::request_log requests_;
    std::unique_ptr<sync_worker> worker_;
    std::unique_ptr<store_pruner> pruner_;  // with --max-db-size only
    net::session_registry registry_;
    std::atomic<bool> stopping_{false};
    net::overload_control overload_{ioc_, registry_, options_.listen, stopping_};
    std::atomic<bool> stop_requested_{false};
    std::unique_ptr<net::session_context> context_;
    std::chrono::steady_clock::time_point shutdown_deadline_;

    // The store's counts take a few indexed reads: a scrape every few seconds reuses them.
    std::mutex counts_mutex_;
    std::optional<std::pair<std::chrono::steady_clock::time_point, store_counts>> counts_;
    // Last: gone before anything it reads.
    obs::scoped_gauge_source gauges_{
        [this](std::vector<obs::gauge_family>& out) { report_gauges(out); }};

    void report_gauges(std::vector<obs::gauge_family>& out) {
        using gauge = obs::gauge_family;
        const auto number = [](auto v) { return static_cast<double>(v); };
        out.push_back(gauge{"runmirror_client_connections",
                            "Open client connections.",
                            {{"", number(registry_.size())}}});
        if (pool_) {
            out.push_back(gauge{"runmirror_upstream_idle_connections",
                                "Upstream connections parked for reuse.",
                                {{"", number(pool_->idle_count())}}});
        }
        if (health_) {
            const health_snapshot h = health_->snapshot(clock_type::now());
            out.push_back(gauge{"runmirror_upstream_up",
                                "1 while the upstream is believed up, 0 while its circuit is open.",
                                {{"", h.up ? 1.0 : 0.0}}});
            out.push_back(gauge{"runmirror_upstream_consecutive_failures",
                                "Upstream failures in a row (the circuit opens at "
                                "--failure-threshold).",
                                {{"", number(h.consecutive_failures)}}});
        }
        out.push_back(gauge{"runmirror_coalesced_waiting_clients",
                            "Clients waiting right now on another request's upstream answer.",
                            {{"", number(cache_->waiting_clients())}}});
        store_counts c;
        try {
            std::lock_guard lock(counts_mutex_);
            const auto now = std::chrono::steady_clock::now();
            if (!counts_ || now - counts_->first > std::chrono::seconds(5)) {
                counts_.emplace(now, db_.counts());
            }
            c = counts_->second;
        } catch (const std::exception& e) {
            log::warn("metrics: store counts unavailable: {}", e.what());
            return;
        }
        gauge rows{"runmirror_store_rows", "Stored resources (representations), by kind.", {}};
        for (const auto& [kind, n] : c.rows_by_kind)
            rows.series.emplace_back("kind=\"" + kind + "\"", number(n));
        out.push_back(std::move(rows));
        out.push_back(gauge{"runmirror_store_file_bytes",
                            "Size of the store's database file (without its WAL).",
                            {{"", number(c.file_bytes)}}});
        if (pruner_) {
            gauge pruned{"runmirror_store_pruned_total",
                         "Rows removed to keep the store under --max-db-size, by class.",
                         {}};
            const prune_counts counts = pruner_->pruned();
            for (std::size_t i = 0; i < counts.size(); ++i) {
                pruned.series.emplace_back(
                    "class=\"" +
                        std::string(prune_class_name(static_cast<prune_cursor::stage>(i))) + "\"",
                    number(counts[i]));
            }
            out.push_back(std::move(pruned));
            out.push_back(gauge{"runmirror_store_used_bytes",
                                "Bytes the store's pages hold, free pages not counted (what "
                                "--max-db-size caps).",
                                {{"", number(db_.used_bytes())}}});
            out.push_back(gauge{"runmirror_store_max_bytes",
                                "The cap on the store's used bytes (--max-db-size).",
                                {{"", number(options_.retention.max_db_bytes)}}});
        }
        gauge watches{"runmirror_watches", "Sync worker watches, by kind and state.", {}};
        for (const auto& [kind, state, n] : c.watches)
            watches.series.emplace_back("kind=\"" + kind + "\",state=\"" + state + "\"", number(n));
        out.push_back(std::move(watches));
        double lag = 0;
        if (c.earliest_due) {
            lag = std::max(
                0.0, std::chrono::duration<double>(clock_type::now() - *c.earliest_due).count());
        }
        out.push_back(gauge{"runmirror_sync_poll_lag_seconds",
                            "How far behind its due time the most overdue active watch is.",
                            {{"", lag}}});
    }
};

}  // namespace

std::unique_ptr<server> make_server(const serve_options& options, store& db) {
    return std::make_unique<server_impl>(options, db);
}

std::unique_ptr<server> make_server(const serve_options& options, store& db,
                                    listening_socket listener) {
    return std::make_unique<server_impl>(options, db, listener.release());
}

listening_socket::listening_socket(const listen_options& listen) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(listen.host, ec);
    if (ec) throw std::runtime_error("invalid listen address " + listen.host);
    asio::io_context ioc(1);
    tcp::acceptor acceptor(ioc);
    bind_acceptor(acceptor, tcp::endpoint(address, listen.port), ec);
    if (ec) cannot_listen(listen, ec);
    fd_ = acceptor.release(ec);
    if (ec) cannot_listen(listen, ec);
}

listening_socket::~listening_socket() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace runmirror
