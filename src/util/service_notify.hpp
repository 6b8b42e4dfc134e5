#pragma once
// Tells the service manager that started the daemon (systemd, Type=notify) what state it is
// in, through libsystemd's sd_notify: nothing happens when $NOTIFY_SOCKET is unset, as when
// run from a shell or a test. Failures are ignored: the daemon serves either way, and systemd
// reports a start that never said READY when its timeout passes.

#include <string_view>

namespace runmirror {

// The store is open and the daemon listens: `systemctl start` may return. |status| is the
// one-line state `systemctl status` shows.
void notify_ready(std::string_view status);
// Shutting down: in-flight requests are finishing.
void notify_stopping();

}  // namespace runmirror
