// systemd integration; see systemd.h.
#include "ops/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace rampart::ops {

bool under_notify_socket() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

void notify_ready(const std::string& status) { sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str()); }

void notify_status(const std::string& status) { sd_notifyf(0, "STATUS=%s", status.c_str()); }

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=shutting down"); }

std::chrono::microseconds Watchdog::start() {
  uint64_t usec = 0;
  // > 0: WatchdogSec is set for this process (WATCHDOG_PID matches, or is unset).
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  interval_ = std::chrono::microseconds(usec / 2);
  arm();
  return interval_;
}

void Watchdog::arm() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    // Sent from the loop that owns the pipeline: if the loop hangs, the pings stop.
    sd_notify(0, "WATCHDOG=1");
    ++pings_;
    arm();
  });
}

}  // namespace rampart::ops
