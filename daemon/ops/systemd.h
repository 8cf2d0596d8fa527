// systemd integration (Type=notify): READY=1 once the programs are attached,
// STOPPING=1 at shutdown, and WATCHDOG=1 pings from the pipeline's loop at
// half of WatchdogSec, so a stuck loop (not just a dead process) gets the
// service restarted. Without NOTIFY_SOCKET (not under systemd) every call
// does nothing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace rampart::ops {

// Whether systemd is listening (NOTIFY_SOCKET is set).
bool under_notify_socket();
void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();

// Pings the watchdog from `io` while the loop runs.
class Watchdog {
 public:
  explicit Watchdog(boost::asio::io_context& io) : timer_(io) {}
  // Arms the timer when systemd asks for pings (sd_watchdog_enabled);
  // returns the ping interval, zero when there is none.
  std::chrono::microseconds start();
  void stop() { timer_.cancel(); }
  uint64_t pings() const { return pings_; }

 private:
  void arm();
  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{0};
  uint64_t pings_ = 0;
};

}  // namespace rampart::ops
