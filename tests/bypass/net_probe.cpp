// The network bypass tier's workload: one socket operation, as a policy
// selecting a copy of this binary sees it. `net_probe OP PROTO ADDR PORT`
// with OP connect, sendto or bind and PROTO tcp or udp; ADDR in either
// family (an address with ':' is IPv6, so "::ffff:127.0.0.1" makes an
// AF_INET6 socket). Prints "ok" or the errno's name, and exits 0 or 1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: net_probe connect|sendto|bind tcp|udp ADDR PORT\n");
    return 2;
  }
  const std::string op = argv[1], proto = argv[2], addr = argv[3];
  const int port = std::atoi(argv[4]);
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (addr.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr) != 1) return 2;
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &a->sin_addr) != 1) return 2;
    len = sizeof(*a);
  }
  int s = socket(family, proto == "udp" ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (s < 0) {
    std::printf("socket: %s\n", strerrorname_np(errno));
    return 2;
  }
  if (family == AF_INET6) {
    int off = 0;  // dual stack, whatever the sysctl says: mapped addresses must work
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  int rc = -1;
  if (op == "connect") {
    rc = connect(s, sa, len);
  } else if (op == "sendto") {
    rc = sendto(s, "x", 1, 0, sa, len) == 1 ? 0 : -1;
  } else if (op == "bind") {
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    rc = bind(s, sa, len);
  } else {
    return 2;
  }
  if (rc == 0) {
    std::printf("ok\n");
    return 0;
  }
  std::printf("%s\n", strerrorname_np(errno));
  return 1;
}
