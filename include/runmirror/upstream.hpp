#pragma once
// The upstream as the run cache sees it: send one buffered request, get one buffered response
// or an error. The network implementation lives in src/net/upstream_client.cpp; tests of the
// run cache use a fake.

#include <functional>
#include <memory>

#include "runmirror/clock.hpp"
#include "runmirror/http_types.hpp"
#include "runmirror/result.hpp"

namespace runmirror {

struct upstream_reply {
    error failure;       // failure.code != ok: no usable response (refused, timeout, ...)
    response answer;     // valid when !failure; any HTTP status, 5xx included
    millis retry_in{0};  // failure.code == unavailable: when the upstream is tried again
    double seconds = 0;  // how long the exchange took (set by upstream_guard)
};

class upstream {
  public:
    using handler = std::function<void(upstream_reply)>;
    virtual ~upstream() = default;

    // Sends |req| (origin-form target, end-to-end headers; Host and framing are set by the
    // implementation) and calls |on_reply| exactly once, on a thread of the implementation's
    // choosing, possibly before async_send returns. The response body is buffered up to the
    // configured limit; beyond it the reply fails with errc::too_large. The answer's fields are
    // the upstream's, less those that only framed it on the connection: Content-Length,
    // Transfer-Encoding and the hop-by-hop fields (a Connection field that names other fields
    // may stay, for the caller's own filter).
    virtual void async_send(request req, handler on_reply) = 0;

    // As async_send, to revalidate bytes the caller holds (|known_body|: a stored run). When
    // the answer is a 200 whose body is those very bytes, the reply may share them
    // (answer.shared_body == known_body, answer.body empty) instead of carrying a copy: the
    // common "unchanged" answer then costs no allocation and no copy of its body. By default,
    // a plain async_send.
    virtual void async_revalidate(request req, std::shared_ptr<const std::string> known_body,
                                  handler on_reply) {
        (void)known_body;
        async_send(std::move(req), std::move(on_reply));
    }

    // Whether the upstream is believed down right now (a circuit breaker's view): a caller that
    // holds a stored answer may serve it at once rather than wait on a request likely to fail.
    // It is only a hint; requests sent meanwhile are still sent.
    virtual bool believed_down() const { return false; }
};

}  // namespace runmirror
