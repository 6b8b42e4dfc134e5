#include "util/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace runmirror {

void notify_ready(std::string_view status) {
    const std::string message = "READY=1\nSTATUS=" + std::string(status);
    sd_notify(0, message.c_str());
}

void notify_stopping() {
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}

}  // namespace runmirror
