// The buffered upstream client: one request out, one whole response back, over a pooled
// connection. Every forwarded miss pays for what happens here, so an exchange is a small state
// machine driven by completion handlers on the connection's executor, not a coroutine over
// Beast's composed operations: the request is serialised once into one string and written with
// a plain non-blocking send, the response is read into the connection's buffer and fed to
// Beast's parser (which keeps the framing rules: Content-Length, chunked, close-delimited,
// limits). A timer per connection, armed lazily, bounds the exchange. On a TLS connection the
// same state machine writes and reads through the TLS stream's asynchronous operations.
#include "net/upstream_client.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "http/header_rules.hpp"
#include "net/standalone_upstream.hpp"
#include "util/logging.hpp"

namespace runmirror::net {

namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

namespace {
class exchange;
}  // namespace

// The deadline of the exchange in progress on one connection. Its timer stays armed between
// exchanges and, when it fires, looks at |deadline| again: starting an exchange, moving on
// from the response timeout to the total timeout and finishing are a few stores, not a wait
// and a cancel (with its completion) each. It fires about once per response timeout while
// the connection is busy, and stops when it finds it idle.
//
// Only touched on the connection's executor. The pending wait holds the watch, so a connection
// that goes away leaves it to expire on its own.
struct exchange_watch : std::enable_shared_from_this<exchange_watch> {
    explicit exchange_watch(const asio::any_io_executor& executor) : timer(executor) {}

    // |e| is bounded by |at| from now on.
    void watch(exchange* e, steady::time_point at) {
        current = e;
        deadline = at;
        if (armed && timer.expiry() <= at) return;  // fires in time and looks again
        timer.expires_at(at);                       // a later wait ends as cancelled
        arm();
    }

    void arm() {
        armed = true;
        timer.async_wait([self = shared_from_this()](error_code ec) { self->on_fire(ec); });
    }

    void on_fire(error_code ec);

    asio::steady_timer timer;
    bool armed = false;
    steady::time_point deadline;
    exchange* current = nullptr;  // the exchange |deadline| is for; null between exchanges
};

namespace {

// The request as it goes on the wire: request line, the caller's end-to-end fields, Host, and
// a Content-Length when there is a body (or the method expects one).
std::string serialise_request(const request& req, const std::string& host_header) {
    const end_to_end_filter filter(req.headers);
    std::array<char, 24> length;
    std::size_t length_size = 0;
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        length_size = static_cast<std::size_t>(
            std::to_chars(length.data(), length.data() + length.size(), req.body.size()).ptr -
            length.data());
    }
    // Sized first, then written in place: one allocation, no growth checks per piece.
    std::size_t size = req.method.size() + 1 + req.target.size() + 11 + 6 + host_header.size() + 2 +
                       (length_size ? 16 + length_size + 2 : 0) + 2 + req.body.size();
    for (const auto& f : req.headers) {
        if (filter.keeps(f.name)) size += f.name.size() + 2 + f.value.size() + 2;
    }
    std::string out(size, '\0');
    char* at = out.data();
    auto put = [&at](std::string_view s) {
        std::memcpy(at, s.data(), s.size());
        at += s.size();
    };
    put(req.method);
    put(" ");
    put(req.target);
    put(" HTTP/1.1\r\n");
    for (const auto& f : req.headers) {
        if (!filter.keeps(f.name)) continue;
        put(f.name);
        put(": ");
        put(f.value);
        put("\r\n");
    }
    put("Host: ");
    put(host_header);
    put("\r\n");
    if (length_size) {
        put("Content-Length: ");
        put({length.data(), length_size});
        put("\r\n");
    }
    put("\r\n");
    put(req.body);
    assert(at == out.data() + out.size());
    return out;
}

// Beast's HTTP/1 response parser (framing: Content-Length, chunked, close-delimited; the header
// and body limits; keep-alive) writing straight into the response the run cache takes. Beast's
// parser<string_body> would build a basic_fields, a node per field, to be copied out, and
// zero-fills the body before copying each piece into it.
//
// With |known| bytes (a revalidation), a 200 whose Content-Length matches is compared as it
// arrives instead of copied; if it is the same to the end, the answer shares |known|. At the
// first difference the part that matched is copied from |known| and copying goes on as usual.
//
// A body larger than |spill_at| bytes goes to an unlinked file in |spill_dir| instead
// (answer.file_body): too large to store, it is relayed from there, and memory stays bounded
// by the read buffer whatever its size.
class reply_parser final : public http::basic_parser<false> {
  public:
    reply_parser(std::shared_ptr<const std::string> known, std::size_t spill_at,
                 const std::string& spill_dir)
        : known_(std::move(known)), spill_at_(spill_at), spill_dir_(spill_dir) {}

    response& answer() { return answer_; }

  private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                         error_code&) override {}  // a response parser never sees a request line
    void on_response_impl(int status, beast::string_view, int, error_code&) override {
        answer_.status = status;
        answer_.headers.reserve(12);  // 768 bytes: still in malloc's per-thread cache
    }
    void on_field_impl(http::field field, beast::string_view name, beast::string_view value,
                       error_code&) override {
        // Fields that only frame this response on this connection were the parser's business
        // (see upstream.hpp); everyone after the client would drop them anyway.
        switch (field) {
            case http::field::content_length:
            case http::field::transfer_encoding:
            case http::field::keep_alive:
            case http::field::proxy_connection:
            case http::field::te:
            case http::field::trailer:
            case http::field::upgrade:
            case http::field::proxy_authenticate:
            case http::field::proxy_authorization:
            case http::field::host: return;
            case http::field::connection:
                // Kept when it names other fields, so that they are dropped downstream too.
                if (iequals(value, "keep-alive") || iequals(value, "close")) return;
                break;
            default: break;
        }
        answer_.headers.push_back({std::string(name), std::string(value)});
    }
    void on_header_impl(error_code&) override {}
    // The length was checked against the body limit before this is called.
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override {
        if (!length) return;
        length_ = static_cast<std::size_t>(*length);
        comparing_ = known_ && answer_.status == 200 && length_ == known_->size();
        if (length_ > spill_at_) return spill(ec);
        if (!comparing_) answer_.body.reserve(length_);
    }
    std::size_t on_body_impl(beast::string_view bytes, error_code& ec) override {
        if (comparing_) {
            if (known_->compare(matched_, bytes.size(), bytes.data(), bytes.size()) == 0) {
                matched_ += bytes.size();
                return bytes.size();
            }
            comparing_ = false;  // changed upstream: a copy after all
            answer_.body.reserve(length_);
            answer_.body.assign(*known_, 0, matched_);
        }
        return keep(bytes, ec);
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view bytes,
                                   error_code& ec) override {
        return keep(bytes, ec);
    }
    void on_finish_impl(error_code&) override {
        if (comparing_) answer_.shared_body = std::move(known_);
        if (spill_) answer_.file_body = spill_->finish();
    }

    std::size_t keep(beast::string_view bytes, error_code& ec) {
        if (!spill_ && answer_.body.size() + bytes.size() > spill_at_) spill(ec);
        if (ec) return 0;
        if (!spill_) {
            answer_.body.append(bytes.data(), bytes.size());
        } else if (!spill_->append({bytes.data(), bytes.size()})) {
            log::warn("upstream answer not kept: writing it to {}: {}", spill_dir_,
                      spill_->error());
            ec = make_error_code(boost::system::errc::io_error);  // ours, not the upstream's
            return 0;
        }
        return bytes.size();
    }
    // From here on the body goes to a file, what came before first.
    void spill(error_code& ec) {
        std::string error;
        spill_ = body_file_writer::open(spill_dir_, error);
        if (!spill_ || !spill_->append(answer_.body)) {
            log::warn("upstream answer not kept: {}", spill_ ? spill_->error() : error);
            ec = make_error_code(boost::system::errc::io_error);
            return;
        }
        std::string().swap(answer_.body);
    }

    response answer_;
    std::shared_ptr<const std::string> known_;
    const std::size_t spill_at_;
    const std::string& spill_dir_;
    std::unique_ptr<body_file_writer> spill_;
    std::size_t length_ = 0;   // the Content-Length, when there is one
    bool comparing_ = false;   // every body byte so far was |known_|'s
    std::size_t matched_ = 0;  // how many
};

// Reads go into the connection's buffer in pieces of this size, larger while a long body is
// still to come; a buffer grown past the piece size is given back when the exchange ends.
constexpr std::size_t read_piece = 16 * 1024;
constexpr std::size_t max_read_piece = 64 * 1024;

class exchange : public std::enable_shared_from_this<exchange> {
  public:
    exchange(upstream_pool& pool, const limits_options& limits, const request& req,
             std::shared_ptr<const std::string> known_body, upstream::handler on_reply)
        : pool_(pool),
          limits_(limits),
          wire_(serialise_request(req, pool.endpoint().host_header)),
          head_(req.method == "HEAD"),
          known_body_(std::move(known_body)),
          on_reply_(std::move(on_reply)),
          total_deadline_(steady::now() + pool.options().total_timeout) {}

    // From any thread: takes a connection and runs the exchange on its executor.
    void start(bool fresh) {
        if (!fresh) {
            if (auto conn = pool_.try_idle()) return run_on(std::move(conn));
        }
        // Resolve, connect and handshake are rare (a cold pool or a retry): a coroutine does.
        asio::co_spawn(pool_.connection_executor(), pool_.acquire(true),
                       [self = shared_from_this()](std::exception_ptr e,
                                                   std::pair<connection_ptr, error> got) {
                           if (e) got.second = {errc::internal, "upstream connect failed"};
                           if (got.second) return self->reply_failure(std::move(got.second));
                           self->run_on(std::move(got.first));
                       });
    }

  private:
    void run_on(connection_ptr conn) {
        if (pool_.runs_here()) return begin(std::move(conn));
        auto executor = conn->tcp().get_executor();
        asio::dispatch(executor, [self = shared_from_this(), conn = std::move(conn)]() mutable {
            self->begin(std::move(conn));
        });
    }

    // On the connection's executor from here on.
    void begin(connection_ptr conn) {
        conn_ = std::move(conn);
        ++attempt_;
        timed_out_ = false;
        written_ = 0;
        parser_.emplace(known_body_, limits_.store_body_limit, limits_.spill_dir);
        parser_->eager(true);
        parser_->header_limit(static_cast<std::uint32_t>(limits_.header_limit));
        parser_->body_limit(limits_.response_body_limit);
        if (head_) parser_->skip(true);

        // Until the response header: the response timeout (within the total); then the rest
        // of the total (see feed).
        if (!conn_->watch)
            conn_->watch = std::make_shared<exchange_watch>(conn_->tcp().get_executor());
        conn_->watch->watch(
            this, std::min(steady::now() + pool_.options().response_timeout, total_deadline_));
        if (is_tls()) return write_tls();
        write_plain();
    }

    bool is_tls() const { return std::holds_alternative<tls_stream>(conn_->stream); }
    tcp::socket& socket() { return conn_->tcp().socket(); }

  public:
    // From the watch, when the deadline has passed: the pending wait or read completes with
    // operation_aborted, which fail() reports as a timeout.
    void on_timeout() {
        timed_out_ = true;
        error_code ignored;
        socket().cancel(ignored);
    }

  private:
    // ---- writing: a plain socket is written at once (the request is small, the socket
    // empty); a TLS stream through its asynchronous write.

    void write_plain() {
        while (written_ < wire_.size()) {
            error_code ec;
            written_ += socket().write_some(
                asio::buffer(wire_.data() + written_, wire_.size() - written_), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                if (timed_out_) return fail(beast::error::timeout);
                return socket().async_wait(tcp::socket::wait_write,
                                           [self = shared_from_this()](error_code wec) {
                                               if (wec) return self->fail(wec);
                                               self->write_plain();
                                           });
            }
            if (ec) return fail(ec);
        }
        read();
    }

    void write_tls() {
        asio::async_write(std::get<tls_stream>(conn_->stream), asio::buffer(wire_),
                          [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->fail(ec);
                              self->read();
                          });
    }

    // ---- reading: parse what the connection's buffer holds, read more until the response is
    // whole. A plain socket reads through async_receive rather than async_wait and a read of
    // its own: Asio then tries the read at once only when the previous one did not drain the
    // socket, and otherwise queues it without a system call, where async_wait re-arms epoll
    // (an epoll_ctl) every time.

    void read() {
        auto& buffered = conn_->buffer;
        if (buffered.size() > 0) {
            error_code ec;
            buffered.consume(feed(buffered.data(), ec));
            if (ec && ec != http::error::need_more) return fail(ec);
            if (!ec && parser_->is_done()) return complete();
        }
        if (timed_out_) return fail(beast::error::timeout);  // it fired while a read was queued
        std::size_t piece = read_piece;
        if (auto rest = parser_->content_length_remaining()) {
            piece = std::clamp<std::size_t>(static_cast<std::size_t>(*rest), read_piece,
                                            max_read_piece);
        }
        auto on_read = [self = shared_from_this()](error_code ec, std::size_t n) {
            self->conn_->buffer.commit(n);
            if (ec) return self->fail_read(ec);
            self->read();
        };
        if (is_tls()) {
            std::get<tls_stream>(conn_->stream)
                .async_read_some(buffered.prepare(piece), std::move(on_read));
        } else {
            socket().async_receive(buffered.prepare(piece), std::move(on_read));
        }
    }

    // ---- parsing and the end of an exchange

    // Hands |bytes| to the parser; returns how many it took. Once the header is in, the rest
    // of the total deadline applies.
    std::size_t feed(asio::const_buffer bytes, error_code& ec) {
        const bool had_header = parser_->is_header_done();
        const std::size_t used = parser_->put(bytes, ec);
        if (!had_header && parser_->is_header_done()) conn_->watch->deadline = total_deadline_;
        return used;
    }

    // A read error: the end of the stream finishes a close-delimited body (as Beast's read).
    void fail_read(error_code ec) {
        if (ec != asio::error::eof) return fail(ec);
        if (!parser_->got_some()) return fail(http::error::end_of_stream);
        ec = {};
        parser_->put_eof(ec);
        if (ec) return fail(ec);
        complete();
    }

    void complete() {
        finish_attempt();
        upstream_reply reply;
        reply.answer = std::move(parser_->answer());
        // Bytes after the response, or a response without keep-alive: not reused.
        if (parser_->keep_alive() && conn_->buffer.size() == 0) {
            if (conn_->buffer.capacity() > read_piece) conn_->buffer.shrink_to_fit();
            pool_.release(std::move(conn_));
        }
        conn_.reset();
        deliver(std::move(reply));
    }

    void fail(error_code ec) {
        if (timed_out_) ec = beast::error::timeout;
        const bool nothing_received = !parser_->got_some();
        const bool reused = conn_->reused;
        finish_attempt();
        conn_.reset();
        // A reused connection may have been closed by the upstream since it was parked; such
        // a failure before any response byte is retried once on a new connection. The request
        // is held whole, so it can be replayed.
        if (reused && nothing_received && attempt_ == 1 && ec != beast::error::timeout) {
            return start(true);
        }
        reply_failure(upstream_error(
            ec, nothing_received ? "waiting for upstream response" : "reading upstream response"));
    }

    // The attempt is over: the watch must not call back, the connection may soon be someone
    // else's.
    void finish_attempt() { conn_->watch->current = nullptr; }

    void reply_failure(error failure) {
        upstream_reply reply;
        reply.failure = std::move(failure);
        deliver(std::move(reply));
    }

    void deliver(upstream_reply reply) {
        auto on_reply = std::move(on_reply_);
        on_reply(std::move(reply));
    }

    upstream_pool& pool_;
    const limits_options& limits_;
    const std::string wire_;  // the whole request, kept for a replay
    const bool head_;
    const std::shared_ptr<const std::string> known_body_;  // see reply_parser
    upstream::handler on_reply_;
    const steady::time_point total_deadline_;

    connection_ptr conn_;
    std::optional<reply_parser> parser_;
    std::size_t written_ = 0;
    int attempt_ = 0;
    bool timed_out_ = false;
};

class upstream_client final : public upstream {
  public:
    upstream_client(upstream_pool& pool, const limits_options& limits)
        : pool_(pool), limits_(limits) {}

    void async_send(request req, handler on_reply) override {
        std::make_shared<exchange>(pool_, limits_, req, nullptr, std::move(on_reply))->start(false);
    }

    void async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                          handler on_reply) override {
        std::make_shared<exchange>(pool_, limits_, req, std::move(known_body), std::move(on_reply))
            ->start(false);
    }

  private:
    upstream_pool& pool_;
    limits_options limits_;
};

}  // namespace

void exchange_watch::on_fire(error_code ec) {
    if (ec) return;  // replaced by an earlier wait, which is the one that counts
    armed = false;
    if (!current) return;  // idle: armed again by the next exchange
    if (steady::now() < deadline) {
        timer.expires_at(deadline);
        return arm();
    }
    current->on_timeout();
}

std::unique_ptr<upstream> make_upstream_client(upstream_pool& pool, const limits_options& limits) {
    return std::make_unique<upstream_client>(pool, limits);
}

namespace {

class standalone_upstream final : public upstream {
  public:
    standalone_upstream(const upstream_options& upstream, const limits_options& limits)
        : work_(asio::make_work_guard(ioc_)),
          pool_(ioc_, upstream, 1),
          client_(pool_, limits),
          thread_([this] { ioc_.run(); }) {}

    // Waits for the exchanges still running, then stops. Not by letting run() run dry: a pooled
    // connection's deadline timer (exchange_watch) stays armed for up to the response timeout
    // after its last exchange, and the process would wait for it.
    ~standalone_upstream() override {
        {
            std::unique_lock lock(mutex_);
            all_answered_.wait(lock, [this] { return in_flight_ == 0; });
        }
        ioc_.stop();
        thread_.join();
    }

    void async_send(request req, handler on_reply) override {
        {
            std::lock_guard lock(mutex_);
            ++in_flight_;
        }
        client_.async_send(std::move(req),
                           [this, on_reply = std::move(on_reply)](upstream_reply reply) mutable {
                               on_reply(std::move(reply));
                               std::lock_guard lock(mutex_);
                               if (--in_flight_ == 0) all_answered_.notify_all();
                           });
    }

  private:
    std::mutex mutex_;
    std::condition_variable all_answered_;
    int in_flight_ = 0;
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    upstream_pool pool_;
    upstream_client client_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<upstream> make_standalone_upstream(const upstream_options& upstream,
                                                   const limits_options& limits) {
    return std::make_unique<standalone_upstream>(upstream, limits);
}

upstream_reply send_and_wait(upstream& up, request req) {
    std::promise<upstream_reply> done;
    auto reply = done.get_future();
    up.async_send(std::move(req), [&done](upstream_reply r) { done.set_value(std::move(r)); });
    return reply.get();
}

}  // namespace runmirror::net
