// Listen addresses for rampartd's HTTP endpoint: "host:port" or
// "[v6]:port", with a numeric host (no name lookups at start-up).
#pragma once

#include <cstdint>
#include <string>

#include "util/result.h"

namespace rampart::ops {

struct ListenAddress {
  std::string host;
  uint16_t port = 0;      // 0: the kernel picks one (tests)
  bool loopback = false;  // 127.0.0.0/8 or ::1
};
Result<ListenAddress> parse_listen_address(const std::string& text);

}  // namespace rampart::ops
