// bypass tier, network: an attacker inside a policed workload tries to walk
// around a network deny. Each case first runs the plain operation, which must
// fail with EPERM (the policy is in force), then the same destination in
// another form: IPv4-mapped IPv6 (::ffff:127.0.0.1), the unspecified address
// (0.0.0.0, ::), which the kernel sends to this host, and for UDP sendto
// beside connect. The workload is a copy of net_probe selected by path.
// Quarantine: a process holding an established TCP connection, a connected
// UDP socket and a listener from before its verdict must get no packet
// through any of them, either way, while other processes' loopback traffic
// flows.
#include "support/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "support/ctl.h"
#include "support/policed.h"
#include "support/rampartd.h"
#include "support/workload.h"

using nlohmann::json;
using namespace rampart::testing;
using namespace std::chrono_literals;

namespace {

// rampartd with one enforce-mode policy selecting a copy of net_probe.
class PolicedProbe : public Daemon {
 public:
  explicit PolicedProbe(const std::string& spec, bool api = false)
      : Daemon(
            {.config = kScopedConfig, .api = api, .dir_template = "/tmp/rampart-bypass-net-XXXXXX", .start = false}) {
    probe_ = path("policed-probe");
    std::filesystem::copy_file(NET_PROBE_PATH, probe_);
    chmod(probe_.c_str(), 0755);
    write_policy("net.yaml", policy_for("bypass-net", probe_, "enforce", spec));
    start();
  }
  // Runs the policed probe; what it printed ("ok", "EPERM", ...).
  std::string run(const std::string& op, const std::string& proto, const std::string& addr, uint16_t port) const {
    return run_probe(probe_, op, proto, addr, port);
  }
  static std::string run_probe(const std::string& exe, const std::string& op, const std::string& proto,
                               const std::string& addr, uint16_t port) {
    std::string cmd = exe + " " + op + " " + proto + " " + addr + " " + std::to_string(port) + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return "popen failed";
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof(buf), f)) out += buf;
    pclose(f);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }
  // The enforce events about the probe so far.
  std::vector<json> enforce_events() const {
    std::this_thread::sleep_for(200ms);
    std::vector<json> out;
    for (auto& e : events())
      if (e["type"] == "enforce") out.push_back(std::move(e));
    return out;
  }
  const std::string& probe() const { return probe_; }

 private:
  std::string probe_;
};

std::string deny_spec(const std::string& target) {
  return "  deny:\n    - id: no-target\n      network: { connect: [\"" + target + "\"] }\n      action: deny\n";
}

}  // namespace

TEST_CASE("a TCP connect to ::ffff:127.0.0.1 or 0.0.0.0 under a deny of 127.0.0.1:PORT fails with EPERM", "[bypass]") {
  Listener target, other;
  PolicedProbe d(deny_spec("127.0.0.1:" + std::to_string(target.port())));
  REQUIRE(d.ready());
  // Controls: the denied destination is refused; another port is reached (the probe works).
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", target.port()) == "EPERM");
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", other.port()) == "ok");
  // The bypass attempts.
  CHECK(d.run("connect", "tcp", "::ffff:127.0.0.1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "0.0.0.0", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "::ffff:0.0.0.0", target.port()) == "EPERM");
  // The other forms of an allowed destination still work.
  CHECK(d.run("connect", "tcp", "::ffff:127.0.0.1", other.port()) == "ok");
  CHECK(d.run("connect", "tcp", "0.0.0.0", other.port()) == "ok");

  // Each refusal names the rule, the address it matched, and the form given.
  std::set<std::string> given;
  size_t denied = 0;
  for (const auto& e : d.enforce_events()) {
    if (e["action"] != "denied") continue;
    ++denied;
    CHECK(e["mechanism"] == "cgroup_sock_addr");
    CHECK(e["reason"] == "deny_rule");
    CHECK(e["deny_rule"] == "no-target");
    CHECK(e["remote"]["addr"] == "127.0.0.1");
    CHECK(e["remote"]["port"] == target.port());
    given.insert(e.value("given_addr", std::string("as is")));
  }
  CHECK(denied == 4);
  CHECK(given == std::set<std::string>{"as is", "::ffff:127.0.0.1", "0.0.0.0", "::ffff:0.0.0.0"});
}

TEST_CASE("a TCP connect to :: under a deny of [::1]:PORT fails with EPERM", "[bypass]") {
  Listener target(AF_INET6);
  PolicedProbe d(deny_spec("[::1]:" + std::to_string(target.port())));
  REQUIRE(d.ready());
  REQUIRE(d.run("connect", "tcp", "::1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "::", target.port()) == "EPERM");
}

TEST_CASE(
    "a TCP connect to :: or ::1 under a deny of 127.0.0.1:PORT fails with EPERM, and to 127.0.0.1 or 0.0.0.0 under a "
    "deny of [::1]:PORT: a dual-stack listener is reached through both loopbacks",
    "[bypass]") {
  Listener target(AF_INET6, /*dual_stack=*/true), other(AF_INET6, /*dual_stack=*/true);
  PolicedProbe d("  deny:\n    - id: no-v4\n      network: { connect: [\"127.0.0.1:" + std::to_string(target.port()) +
                 "\", \"[::1]:" + std::to_string(other.port()) + "\"] }\n      action: deny\n");
  REQUIRE(d.ready());
  // Controls: each denied destination as written is refused; the listeners
  // answer on both loopbacks to a process outside the policy.
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", target.port()) == "EPERM");
  REQUIRE(d.run("connect", "tcp", "::1", other.port()) == "EPERM");
  for (const char* addr : {"127.0.0.1", "::1", "::", "0.0.0.0"}) {
    REQUIRE(PolicedProbe::run_probe(NET_PROBE_PATH, "connect", "tcp", addr, target.port()) == "ok");
    REQUIRE(PolicedProbe::run_probe(NET_PROBE_PATH, "connect", "tcp", addr, other.port()) == "ok");
  }
  // The other family's loopback, given as itself or as the unspecified address.
  CHECK(d.run("connect", "tcp", "::1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "::", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "127.0.0.1", other.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "0.0.0.0", other.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "::ffff:127.0.0.1", other.port()) == "EPERM");
  // The same through the UDP send hooks (sendmsg6, sendmsg4).
  CHECK(d.run("sendto", "udp", "::1", target.port()) == "EPERM");
  CHECK(d.run("sendto", "udp", "127.0.0.1", other.port()) == "EPERM");

  std::set<std::pair<std::string, std::string>> seen;  // (decided on, given)
  for (const auto& e : d.enforce_events()) {
    if (e["action"] != "denied") continue;
    CHECK(e["reason"] == "deny_rule");
    seen.insert({e["remote"]["addr"].get<std::string>(), e.value("given_addr", std::string("as is"))});
  }
  CHECK(seen == std::set<std::pair<std::string, std::string>>{{"127.0.0.1", "as is"},
                                                              {"::1", "as is"},
                                                              {"127.0.0.1", "::1"},
                                                              {"127.0.0.1", "::"},
                                                              {"::1", "127.0.0.1"},
                                                              {"::1", "0.0.0.0"},
                                                              {"::1", "::ffff:127.0.0.1"}});
}

TEST_CASE("an allow-list entry for 127.0.0.1:PORT does not allow [::1]:PORT", "[bypass]") {
  Listener target(AF_INET6, /*dual_stack=*/true);
  PolicedProbe d("  allow:\n    network:\n      connect: [\"127.0.0.1:" + std::to_string(target.port()) + "\"]\n");
  REQUIRE(d.ready());
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", target.port()) == "ok");
  CHECK(d.run("connect", "tcp", "0.0.0.0", target.port()) == "ok");
  CHECK(d.run("connect", "tcp", "::1", target.port()) == "EPERM");
}

TEST_CASE("a deny rule written as [::ffff:127.0.0.1]:PORT refuses the plain IPv4 connect too", "[bypass]") {
  Listener target;
  PolicedProbe d(deny_spec("[::ffff:127.0.0.1]:" + std::to_string(target.port())));
  REQUIRE(d.ready());
  REQUIRE(d.run("connect", "tcp", "::ffff:127.0.0.1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "127.0.0.1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "0.0.0.0", target.port()) == "EPERM");
}

TEST_CASE("a UDP sendto or connect to ::ffff:127.0.0.1 or 0.0.0.0 under a deny of 127.0.0.1:PORT fails with EPERM",
          "[bypass]") {
  const uint16_t port = free_port(SOCK_DGRAM), other = free_port(SOCK_DGRAM);
  PolicedProbe d(deny_spec("127.0.0.1:" + std::to_string(port)));
  REQUIRE(d.ready());
  REQUIRE(d.run("sendto", "udp", "127.0.0.1", port) == "EPERM");
  REQUIRE(d.run("sendto", "udp", "127.0.0.1", other) == "ok");
  CHECK(d.run("sendto", "udp", "::ffff:127.0.0.1", port) == "EPERM");
  CHECK(d.run("sendto", "udp", "0.0.0.0", port) == "EPERM");
  CHECK(d.run("sendto", "udp", "::ffff:0.0.0.0", port) == "EPERM");
  // A connected UDP socket: the connect is the one check.
  REQUIRE(d.run("connect", "udp", "127.0.0.1", port) == "EPERM");
  CHECK(d.run("connect", "udp", "::ffff:127.0.0.1", port) == "EPERM");
  CHECK(d.run("connect", "udp", "0.0.0.0", port) == "EPERM");
  CHECK(d.run("sendto", "udp", "::ffff:127.0.0.1", other) == "ok");
}

TEST_CASE(
    "under an allow-list without PORT, 127.0.0.1:PORT, ::ffff:127.0.0.1:PORT and 0.0.0.0:PORT all fail with EPERM",
    "[bypass]") {
  Listener target, allowed;
  const uint16_t udp_port = free_port(SOCK_DGRAM);
  PolicedProbe d("  allow:\n    network:\n      connect: [\"127.0.0.1:" + std::to_string(allowed.port()) + "\"]\n");
  REQUIRE(d.ready());
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", target.port()) == "EPERM");
  REQUIRE(d.run("connect", "tcp", "127.0.0.1", allowed.port()) == "ok");
  CHECK(d.run("connect", "tcp", "::ffff:127.0.0.1", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "0.0.0.0", target.port()) == "EPERM");
  CHECK(d.run("connect", "tcp", "::", target.port()) == "EPERM");
  REQUIRE(d.run("sendto", "udp", "127.0.0.1", udp_port) == "EPERM");
  CHECK(d.run("sendto", "udp", "::ffff:127.0.0.1", udp_port) == "EPERM");
  CHECK(d.run("sendto", "udp", "0.0.0.0", udp_port) == "EPERM");
  // The allowed destination, in each form, is reached: the forms are the same place.
  CHECK(d.run("connect", "tcp", "::ffff:127.0.0.1", allowed.port()) == "ok");
  CHECK(d.run("connect", "tcp", "0.0.0.0", allowed.port()) == "ok");
  for (const auto& e : d.enforce_events()) {
    CHECK(e["reason"] == "not_allowed");
    CHECK(e["action"] == "denied");
  }
}

TEST_CASE("under allow.network.listen without PORT, a bind of PORT on ::ffff:127.0.0.1, 0.0.0.0 or :: fails with EPERM",
          "[bypass]") {
  const uint16_t port = free_port(), allowed = free_port();
  PolicedProbe d("  allow:\n    network:\n      listen: [" + std::to_string(allowed) + "]\n");
  REQUIRE(d.ready());
  REQUIRE(d.run("bind", "tcp", "127.0.0.1", port) == "EPERM");
  REQUIRE(d.run("bind", "tcp", "127.0.0.1", allowed) == "ok");
  CHECK(d.run("bind", "tcp", "::ffff:127.0.0.1", port) == "EPERM");
  CHECK(d.run("bind", "tcp", "0.0.0.0", port) == "EPERM");
  CHECK(d.run("bind", "tcp", "::", port) == "EPERM");
  CHECK(d.run("bind", "udp", "0.0.0.0", port) == "EPERM");
  CHECK(d.run("bind", "tcp", "::", allowed) == "ok");
}

namespace {

void set_timeout(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

uint16_t port_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

// 0 if one byte (or more) arrived on fd within its receive timeout, else the errno.
int recv_errno(int fd) {
  char buf[64];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? 0 : n == 0 ? ECONNRESET : errno;
}

// The peer (this test process, never quarantined): a TCP listener and a UDP socket on loopback.
struct Peer {
  int listener = -1, udp = -1;
  Peer() {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto sa = loopback(0);
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    REQUIRE(listen(listener, 16) == 0);
    REQUIRE(bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    set_timeout(listener, 2000);
    set_timeout(udp, 500);
  }
  ~Peer() {
    close(listener);
    close(udp);
  }
};

// The sockets a Holder works on: a TCP connection to the peer, a UDP socket
// connected to the peer, and a listener of its own.
struct HeldSockets {
  int tcp = -1, udp = -1, listener = -1;
  // Made by the calling process; -1s if one of them could not be made.
  static HeldSockets open(const Peer& peer) { return open(port_of(peer.listener), port_of(peer.udp)); }
  static HeldSockets open(uint16_t tcp_port, uint16_t udp_port) {
    HeldSockets h;
    h.tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    h.udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    h.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    auto to_tcp = loopback(tcp_port), to_udp = loopback(udp_port), any = loopback(0);
    if (connect(h.tcp, reinterpret_cast<sockaddr*>(&to_tcp), sizeof(to_tcp)) != 0 ||
        connect(h.udp, reinterpret_cast<sockaddr*>(&to_udp), sizeof(to_udp)) != 0 ||
        bind(h.listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 || listen(h.listener, 16) != 0) {
      h.close_all();
      return h;
    }
    set_timeout(h.tcp, 500);
    set_timeout(h.udp, 500);
    return h;
  }
  bool ok() const { return tcp >= 0 && udp >= 0 && listener >= 0; }
  void close_all() {
    for (int* fd : {&tcp, &udp, &listener})
      if (*fd >= 0) close(std::exchange(*fd, -1));
  }
};

// Sends the three sockets over a unix socket (SCM_RIGHTS).
bool pass_sockets(int unix_fd, const HeldSockets& h) {
  int fds[3] = {h.tcp, h.udp, h.listener};
  char cbuf[CMSG_SPACE(sizeof(fds))] = {};
  char byte = 'f';
  iovec iov{&byte, 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof(cbuf);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  std::memcpy(CMSG_DATA(c), fds, sizeof(fds));
  return sendmsg(unix_fd, &m, 0) == 1;
}

// Receives three sockets sent by pass_sockets.
bool take_sockets(int unix_fd, HeldSockets& h) {
  int fds[3] = {-1, -1, -1};
  char cbuf[CMSG_SPACE(sizeof(fds))] = {};
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof(cbuf);
  if (recvmsg(unix_fd, &m, 0) != 1) return false;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds))) return false;
  std::memcpy(fds, CMSG_DATA(c), sizeof(fds));
  h.close_all();
  h.tcp = fds[0];
  h.udp = fds[1];
  h.listener = fds[2];
  return true;
}

// A child holding, from before any verdict, a TCP connection to the peer, a
// UDP socket connected to the peer, and a listener. It made them itself, or
// (given `inherited`) inherited them at fork from the test process, which
// keeps its copies. It runs one command per byte on a pipe and answers with
// an errno (0: it worked); 'G' swaps its sockets for three passed over the
// unix socket `unix_to_holder` (SCM_RIGHTS), 'P' takes three of the test
// process's with pidfd_getfd.
struct Holder {
  pid_t pid = -1;
  int cmd = -1, res = -1, unix_to_holder = -1;
  uint16_t listen_port = 0, udp_port = 0;
  HeldSockets inherited;
  explicit Holder(const Peer& peer, bool inherit = false) {
    int a[2], b[2], x[2];
    REQUIRE(pipe(a) == 0);
    REQUIRE(pipe(b) == 0);
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x) == 0);
    if (inherit) {
      inherited = HeldSockets::open(peer);
      REQUIRE(inherited.ok());
    }
    const uint16_t tcp_to = port_of(peer.listener), udp_to = port_of(peer.udp);
    pid = spawn_child([&] {
      close(a[1]);
      close(b[0]);
      close(x[0]);
      // The peer's sockets came along with the fork: a quarantined holder would cut them too.
      close(peer.listener);
      close(peer.udp);
      HeldSockets h = inherit ? inherited : HeldSockets::open(tcp_to, udp_to);
      if (!h.ok()) return 1;
      uint16_t ports[2] = {port_of(h.listener), port_of(h.udp)};
      if (write(b[1], ports, sizeof(ports)) != sizeof(ports)) return 1;
      char op;
      while (read(a[0], &op, 1) == 1) {
        int err = 0;
        switch (op) {
          case 'S':  // send on the TCP connection
            err = send(h.tcp, "q", 1, MSG_NOSIGNAL) == 1 ? 0 : errno;
            break;
          case 'R':  // receive on it
            err = recv_errno(h.tcp);
            break;
          case 'U':  // send on the connected UDP socket
            err = send(h.udp, "q", 1, 0) == 1 ? 0 : errno;
            break;
          case 'V':  // receive on it
            err = recv_errno(h.udp);
            break;
          case 'A': {  // accept a connection within 1 s and answer it
            pollfd p{h.listener, POLLIN, 0};
            if (poll(&p, 1, 1000) != 1) {
              err = ETIMEDOUT;
              break;
            }
            int k = accept(h.listener, nullptr, nullptr);
            err = k >= 0 && send(k, "hi", 2, MSG_NOSIGNAL) == 2 ? 0 : errno;
            if (k >= 0) close(k);
            break;
          }
          case 'G':  // take three sockets passed over the unix socket
            err = take_sockets(x[1], h) ? 0 : errno ? errno : EPROTO;
            break;
          case 'P': {  // take three sockets from the parent with pidfd_getfd, their numbers on the unix socket
            int nums[3];
            int pidfd = static_cast<int>(syscall(SYS_pidfd_open, getppid(), 0));
            if (read(x[1], nums, sizeof(nums)) != sizeof(nums) || pidfd < 0) {
              err = errno ? errno : EPROTO;
              break;
            }
            h.close_all();
            h.tcp = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, nums[0], 0));
            h.udp = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, nums[1], 0));
            h.listener = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, nums[2], 0));
            err = h.ok() ? 0 : errno;
            close(pidfd);
            break;
          }
        }
        if (write(b[1], &err, sizeof(err)) != sizeof(err)) return 1;
      }
      return 0;
    });
    close(a[0]);
    close(b[1]);
    close(x[1]);
    cmd = a[1];
    res = b[0];
    unix_to_holder = x[0];
    uint16_t ports[2] = {};
    REQUIRE(read(res, ports, sizeof(ports)) == sizeof(ports));
    listen_port = ports[0];
    udp_port = ports[1];
  }
  int run(char op) {
    int err = -1;
    if (write(cmd, &op, 1) != 1 || read(res, &err, sizeof(err)) != sizeof(err)) return -1;
    return err;
  }
  // Ends the holder: it exits at the end of its command stream, and the
  // kernel closes its sockets.
  void exit_now() {
    close(std::exchange(cmd, -1));
    waitpid(std::exchange(pid, -1), nullptr, 0);
  }
  ~Holder() {
    if (cmd >= 0) close(cmd);
    close(res);
    close(unix_to_holder);
    if (pid > 0) waitpid(pid, nullptr, 0);
    inherited.close_all();
  }
};

// Connects to 127.0.0.1:port within ms; the socket, or -1 if the handshake did not complete.
int connect_within(uint16_t port, int ms) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  auto sa = loopback(port);
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 && errno != EINPROGRESS) {
    close(s);
    return -1;
  }
  pollfd p{s, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof(err);
  if (poll(&p, 1, ms) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    close(s);
    return -1;
  }
  fcntl(s, F_SETFL, 0);
  set_timeout(s, 1000);
  return s;
}

// A counter's value from rampartd's /metrics.
uint64_t metric(uint16_t port, const std::string& series) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto sa = loopback(port);
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(s);
    return 0;
  }
  std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n", body;
  if (write(s, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return 0;
  char buf[4096];
  for (ssize_t n; (n = read(s, buf, sizeof(buf))) > 0;) body.append(buf, static_cast<size_t>(n));
  close(s);
  size_t at = body.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + series.size() + 2));
}

// Controls, before the verdict: each of the holder's sockets passes traffic
// both ways. s: the peer's end of the holder's TCP connection.
void expect_flowing(Holder& h, const Peer& peer, int s, uint16_t udp_port, uint16_t listen_port) {
  auto holder_udp = loopback(udp_port);
  REQUIRE(h.run('S') == 0);
  REQUIRE(recv_errno(s) == 0);
  REQUIRE(send(s, "p", 1, MSG_NOSIGNAL) == 1);
  REQUIRE(h.run('R') == 0);
  REQUIRE(h.run('U') == 0);
  REQUIRE(recv_errno(peer.udp) == 0);
  REQUIRE(sendto(peer.udp, "p", 1, 0, reinterpret_cast<sockaddr*>(&holder_udp), sizeof(holder_udp)) == 1);
  REQUIRE(h.run('V') == 0);
  int before = connect_within(listen_port, 1000);
  REQUIRE(before >= 0);
  REQUIRE(h.run('A') == 0);
  REQUIRE(recv_errno(before) == 0);
  close(before);
}

// Under the verdict: no byte gets through any of the holder's sockets, either way.
void expect_cut(Holder& h, const Peer& peer, int s, uint16_t udp_port, uint16_t listen_port) {
  auto holder_udp = loopback(udp_port);
  // TCP, out: the send is queued, but nothing reaches the peer (retransmits included).
  h.run('S');
  CHECK(recv_errno(s) == EAGAIN);
  // TCP, in: the peer's bytes never arrive.
  REQUIRE(send(s, "p", 1, MSG_NOSIGNAL) == 1);
  CHECK(h.run('R') == EAGAIN);
  // UDP, out: the send fails with EPERM, and nothing arrives.
  CHECK(h.run('U') == EPERM);
  CHECK(recv_errno(peer.udp) == EAGAIN);
  // UDP, in.
  REQUIRE(sendto(peer.udp, "p", 1, 0, reinterpret_cast<sockaddr*>(&holder_udp), sizeof(holder_udp)) == 1);
  CHECK(h.run('V') == EAGAIN);
  // The listener: a new connection from outside never completes, and accept gets nothing.
  int after = connect_within(listen_port, 1000);
  CHECK(after < 0);
  if (after >= 0) close(after);
  CHECK(h.run('A') == ETIMEDOUT);
}

// Quarantines pid through the API (rampartctl), which must succeed.
auto quarantine(const Daemon& d, pid_t pid) {
  auto q = ctl(d.socket(), {"quarantine", std::to_string(pid), "--reason", "bypass test"});
  INFO(q.out << q.err);
  REQUIRE(q.code == 0);
  return q;
}

// The cgroup_skb enforce events: each names `pid`. The directions reported
// for sockets it did not make itself (taken) or for its own.
std::set<std::string> cut_ops(const Daemon& d, pid_t pid, bool taken) {
  std::set<std::string> ops;
  for (const auto& e : d.events()) {
    if (e["type"] != "enforce" || e["mechanism"] != "cgroup_skb") continue;
    CHECK(e["proc"]["tgid"] == pid);
    CHECK(e["reason"] == "verdict");
    const bool flagged = e.contains("flags") && e["flags"].dump().find("socket_taken") != std::string::npos;
    if (flagged == taken) ops.insert(e["op"].get<std::string>());
  }
  return ops;
}

}  // namespace

TEST_CASE(
    "a quarantined process's TCP connection, connected UDP socket and listener from before its verdict pass "
    "nothing either way",
    "[bypass]") {
  const uint16_t metrics_port = free_port();
  Daemon d(
      {.config = kScopedConfig + "metrics:\n  address: 127.0.0.1:" + std::to_string(metrics_port) + "\n", .api = true});
  REQUIRE(d.ready());
  Peer peer;
  Holder h(peer);
  int s = accept(peer.listener, nullptr, nullptr);
  REQUIRE(s >= 0);
  set_timeout(s, 500);

  expect_flowing(h, peer, s, h.udp_port, h.listen_port);

  auto q = quarantine(d, h.pid);
  CHECK(q.out.find("existing sockets pass no more packets") != std::string::npos);
  expect_cut(h, peer, s, h.udp_port, h.listen_port);

  // An unrelated process's loopback traffic, to the same peer, still flows both ways.
  const pid_t other = spawn_child([&] {
    int c = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
    auto to_tcp = loopback(port_of(peer.listener)), to_udp = loopback(port_of(peer.udp));
    if (connect(c, reinterpret_cast<sockaddr*>(&to_tcp), sizeof(to_tcp)) != 0) return 1;
    if (send(c, "z", 1, MSG_NOSIGNAL) != 1) return 2;
    if (sendto(u, "z", 1, 0, reinterpret_cast<sockaddr*>(&to_udp), sizeof(to_udp)) != 1) return 3;
    set_timeout(c, 2000);
    return recv_errno(c) == 0 ? 0 : 4;  // the peer's answer
  });
  int s2 = accept(peer.listener, nullptr, nullptr);
  REQUIRE(s2 >= 0);
  set_timeout(s2, 1000);
  CHECK(recv_errno(s2) == 0);
  CHECK(send(s2, "r", 1, MSG_NOSIGNAL) == 1);
  CHECK(recv_errno(peer.udp) == 0);
  int status = -1;
  waitpid(other, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  close(s2);

  // The drops are counted per packet and reported per socket and direction.
  const uint64_t sent = metric(metrics_port, "rampart_quarantine_packets_dropped_total{direction=\"send\"}");
  const uint64_t received = metric(metrics_port, "rampart_quarantine_packets_dropped_total{direction=\"receive\"}");
  CHECK(sent >= 2);      // the TCP byte (and its retransmits) and the UDP datagram
  CHECK(received >= 3);  // the peer's TCP byte, its datagram, the SYN
  std::set<std::string> ops;
  size_t cut_events = 0;
  for (const auto& e : d.events()) {
    if (e["type"] != "enforce" || e["mechanism"] != "cgroup_skb") continue;
    ++cut_events;
    CHECK(e["proc"]["tgid"] == h.pid);
    CHECK(e["reason"] == "verdict");
    CHECK(e["action"] == "denied");
    CHECK(e["remote"]["addr"] == "127.0.0.1");
    CHECK_FALSE(e.contains("flags"));  // its own sockets
    ops.insert(e["op"].get<std::string>());
  }
  CHECK(ops == std::set<std::string>{"send", "receive"});
  CHECK(cut_events >= 3);
  CHECK(cut_events <= 6);  // at most one per socket and direction: the TCP, the UDP, the listener
  CHECK(cut_events < sent + received);

  // Release: the connected UDP socket passes traffic again.
  REQUIRE(ctl(d.socket(), {"release", std::to_string(h.pid)}).code == 0);
  CHECK(h.run('U') == 0);
  CHECK(recv_errno(peer.udp) == 0);
  close(s);
}

TEST_CASE(
    "bytes a quarantined process wrote into a TCP connection never reach the peer, not even after the process exits",
    "[bypass]") {
  Daemon d({.config = kScopedConfig, .api = true});
  REQUIRE(d.ready());
  Peer peer;
  Holder h(peer);
  int s = accept(peer.listener, nullptr, nullptr);
  REQUIRE(s >= 0);
  set_timeout(s, 500);
  // Control: its bytes arrive.
  REQUIRE(h.run('S') == 0);
  REQUIRE(recv_errno(s) == 0);

  quarantine(d, h.pid);
  REQUIRE(h.run('S') == 0);  // queued in the kernel, cut on the wire
  CHECK(recv_errno(s) == EAGAIN);
  // The process exits and its verdict goes with it; the kernel goes on
  // retransmitting the byte, then sends a FIN. Neither arrives.
  const pid_t gone = h.pid;
  h.exit_now();
  for (int i = 0; i < 4; ++i) CHECK(recv_errno(s) == EAGAIN);  // 2 s: RTOs of 0.2, 0.4 and 0.8 s
  // Reported under the process, as before it exited.
  std::set<std::string> ops;
  for (const auto& e : d.events())
    if (e["type"] == "enforce" && e["mechanism"] == "cgroup_skb" && e["proc"]["tgid"] == gone)
      ops.insert(e["op"].get<std::string>());
  CHECK(ops.count("send") == 1);
  close(s);
}

TEST_CASE(
    "a quarantined process's TCP connection, connected UDP socket and listener inherited from a parent outside the "
    "quarantine pass nothing either way",
    "[bypass]") {
  Daemon d({.config = kScopedConfig, .api = true});
  REQUIRE(d.ready());
  Peer peer;
  Holder h(peer, /*inherit=*/true);  // the test process made them and keeps its copies
  int s = accept(peer.listener, nullptr, nullptr);
  REQUIRE(s >= 0);
  set_timeout(s, 500);
  expect_flowing(h, peer, s, h.udp_port, h.listen_port);

  quarantine(d, h.pid);
  expect_cut(h, peer, s, h.udp_port, h.listen_port);
  // The parent sends on the shared UDP socket through its sendmsg hook, which
  // records owners: the socket stays the quarantined child's, and cut.
  auto to_udp = loopback(port_of(peer.udp)), holder_udp = loopback(h.udp_port);
  CHECK(sendto(h.inherited.udp, "z", 1, 0, reinterpret_cast<sockaddr*>(&to_udp), sizeof(to_udp)) < 0);
  CHECK(recv_errno(peer.udp) == EAGAIN);
  REQUIRE(sendto(peer.udp, "p", 1, 0, reinterpret_cast<sockaddr*>(&holder_udp), sizeof(holder_udp)) == 1);
  CHECK(h.run('V') == EAGAIN);
  // Reported under the quarantined process, marked as sockets it did not make.
  CHECK(cut_ops(d, h.pid, true) == std::set<std::string>{"send", "receive"});

  // Release: the sockets pass again, for the child and for the parent that made them.
  REQUIRE(ctl(d.socket(), {"release", std::to_string(h.pid)}).code == 0);
  CHECK(h.run('U') == 0);
  CHECK(recv_errno(peer.udp) == 0);
  CHECK(send(h.inherited.udp, "z", 1, 0) == 1);
  CHECK(recv_errno(peer.udp) == 0);
  close(s);
}

TEST_CASE(
    "a TCP connection, connected UDP socket and listener passed over SCM_RIGHTS to, or taken with pidfd_getfd by, a "
    "process already quarantined pass nothing either way (sends at once, all within 1 s)",
    "[bypass]") {
  Daemon d({.config = kScopedConfig, .api = true});
  REQUIRE(d.ready());
  Peer peer;
  Holder h(peer);
  int own = accept(peer.listener, nullptr, nullptr);  // the holder's own connection
  REQUIRE(own >= 0);
  quarantine(d, h.pid);

  // Made by the test process, which is not quarantined: they pass traffic.
  HeldSockets given = HeldSockets::open(peer);
  REQUIRE(given.ok());
  int s = accept(peer.listener, nullptr, nullptr);
  REQUIRE(s >= 0);
  set_timeout(s, 500);
  REQUIRE(send(given.tcp, "g", 1, MSG_NOSIGNAL) == 1);
  REQUIRE(recv_errno(s) == 0);
  REQUIRE(send(given.udp, "g", 1, 0) == 1);
  REQUIRE(recv_errno(peer.udp) == 0);
  const uint16_t udp_port = port_of(given.udp), listen_port = port_of(given.listener);

  // Handed over (or taken); the giver closes its copies, so the holder's are the only ones.
  SECTION("over SCM_RIGHTS") {
    REQUIRE(pass_sockets(h.unix_to_holder, given));
    REQUIRE(h.run('G') == 0);
  }
  SECTION("taken with pidfd_getfd") {
    int nums[3] = {given.tcp, given.udp, given.listener};
    REQUIRE(write(h.unix_to_holder, nums, sizeof(nums)) == sizeof(nums));
    REQUIRE(h.run('P') == 0);
  }
  given.close_all();
  // Its first sends are cut at once: the kernel sees a quarantined process send on them.
  CHECK(h.run('U') == EPERM);
  CHECK(recv_errno(peer.udp) == EAGAIN);
  h.run('S');
  CHECK(recv_errno(s) == EAGAIN);
  std::this_thread::sleep_for(1s);  // the quarantine's socket scan runs every 500 ms: the listener too
  expect_cut(h, peer, s, udp_port, listen_port);
  CHECK(cut_ops(d, h.pid, true) == std::set<std::string>{"send", "receive"});
  close(s);
  close(own);
}
