// Listen address parsing; see address.h.
#include "ops/address.h"

#include <arpa/inet.h>

namespace rampart::ops {

Result<ListenAddress> parse_listen_address(const std::string& text) {
  ListenAddress a;
  std::string port;
  bool v6 = false;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) return fail("'" + text + "': expected [ipv6]:port");
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    v6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return fail("'" + text + "': expected host:port");
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    return fail("'" + text + "': the port must be a number from 0 to 65535");
  a.port = static_cast<uint16_t>(std::stoul(port));
  if (v6) {
    in6_addr addr{};
    if (inet_pton(AF_INET6, a.host.c_str(), &addr) != 1)
      return fail("'" + text + "': '" + a.host + "' is not a numeric IPv6 address");
    a.loopback = IN6_IS_ADDR_LOOPBACK(&addr);
  } else {
    in_addr addr{};
    if (inet_pton(AF_INET, a.host.c_str(), &addr) != 1)
      return fail("'" + text + "': the host must be a numeric IPv4 address or [IPv6], got '" + a.host + "'");
    a.loopback = (ntohl(addr.s_addr) >> 24) == 127;
  }
  return a;
}

}  // namespace rampart::ops
