// Listen address parsing; see address.h.
#include "ops/address.h"

#include <arpa/inet.h>

#include "util/number.h"

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
  auto n = parse_number<uint16_t>(port, 0, 65535);
  if (!n) return fail("'" + text + "': the port " + n.error().message);
  a.port = *n;
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
