// api-tier helpers around a live rampartd: a prober process whose loopback
// connects tell whether it is quarantined, and the audit records about a pid.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "support/files.h"
#include "support/rampartd.h"
#include "support/workload.h"

namespace rampart::testing {

// A forked child that, for each byte on `cmd`, connects to 127.0.0.1:port
// and answers with the errno (0: connected).
struct Prober {
  pid_t pid = -1;
  int cmd = -1, res = -1;
  explicit Prober(uint16_t port) {
    int a[2], b[2];
    REQUIRE(pipe(a) == 0);
    REQUIRE(pipe(b) == 0);
    pid = spawn_child([&] {
      // Only the pipes: the test process's sockets (its listener) came along
      // with the fork, and quarantine cuts every socket a process holds.
      for (int fd = 3; fd < 1024; ++fd)
        if (fd != a[0] && fd != b[1]) close(fd);
      char c;
      while (read(a[0], &c, 1) == 1) {
        if (c == 'f') {  // fork: the child serves the pipes from now on
          pid_t k = fork();
          if (k > 0) {
            waitpid(k, nullptr, 0);
            return 0;
          }
          int me = k == 0 ? getpid() : -errno;
          if (write(b[1], &me, sizeof(me)) != sizeof(me) || k < 0) return 1;
          continue;
        }
        int s = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int err = connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 ? 0 : errno;
        close(s);
        if (write(b[1], &err, sizeof(err)) != sizeof(err)) return 1;
      }
      return 0;
    });
    close(a[0]);
    close(b[1]);
    cmd = a[1];
    res = b[0];
  }
  // Forks; the child answers from now on. Returns its pid.
  pid_t fork_server() {
    int child = -1;
    if (write(cmd, "f", 1) != 1 || read(res, &child, sizeof(child)) != sizeof(child)) return -1;
    return child;
  }
  int connect_errno() {
    int err = -1;
    if (write(cmd, "c", 1) != 1 || read(res, &err, sizeof(err)) != sizeof(err)) return -1;
    return err;
  }
  ~Prober() {
    close(cmd);
    close(res);
    waitpid(pid, nullptr, 0);
  }
};

// The audit records about pid in the daemon's event output.
inline std::vector<nlohmann::json> audits_of(const Daemon& d, pid_t pid) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the audit line follows the answer
  std::vector<nlohmann::json> out;
  for (const auto& e : d.events())
    if (e["type"] == "audit" && e["pid"] == pid) out.push_back(e);
  return out;
}

}  // namespace rampart::testing
