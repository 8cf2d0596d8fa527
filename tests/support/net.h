// Loopback sockets for the tests: a listener that accepts and closes (so
// connects never back up on a full backlog), and a port that was free.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <thread>

namespace rampart::testing {

// Listens on 127.0.0.1 (or [::1] with AF_INET6) on an ephemeral port, and
// accepts and closes every connection on a thread of its own until close()
// or destruction.
class Listener {
 public:
  // dual_stack (AF_INET6): on [::], IPv4 and IPv6 alike, as many services listen.
  explicit Listener(int family = AF_INET, bool dual_stack = false);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  uint16_t port() const { return port_; }
  // Stops listening: the port is then refused (and free again).
  void close();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A loopback TCP port that was free a moment ago.
uint16_t free_port(int type = SOCK_STREAM);  // SOCK_DGRAM: a free UDP port

}  // namespace rampart::testing
