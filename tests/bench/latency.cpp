// rampart_latency: how fast a verdict reaches the kernel. Each trial starts a
// probe process under an enforce-mode policy; the probe sets the setuid bit
// on a file (rule rampart.chmod.setuid, 40 points: 100 -> 60, the policy's
// quarantine threshold) and then connects to a 127.0.0.1 listener in a loop
// until the kernel refuses it. Reported over N trials (default 1000), p50,
// p99 and max of:
//   event -> map update: the chmod event's kernel timestamp to the moment
//     rampartd wrote the quarantine verdict (verdict.applied_ns in its output);
//   event -> first denied connect: the probe's clock right after chmod
//     returned to its first connect that failed with EPERM.
// It reports; it does not fail on time (exit 1 only when something broke).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/net.h"
#include "support/rampartd.h"

namespace {

using rampart::testing::Daemon;

int64_t boot_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Probe mode: chmod +s, then connect until EPERM. Prints "t0 t1" (boot ns).
// A connect cut mid-handshake times out after 200 ms and the loop goes on.
int probe(uint16_t port, const char* file) {
  if (chmod(file, 04755) != 0) return 2;
  const int64_t t0 = boot_ns();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  // A connect in flight when the verdict lands has its packets dropped (the
  // socket is cut) and would wait out SYN retries: give up on it quickly.
  const timeval limit{0, 200'000};
  for (;;) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    int err = errno;
    close(s);
    if (rc != 0 && err == EPERM) break;
    if (boot_ns() - t0 > 2'000'000'000) return 3;  // never quarantined
  }
  std::printf("%lld %lld\n", static_cast<long long>(t0), static_cast<long long>(boot_ns()));
  return 0;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--probe") return probe(static_cast<uint16_t>(std::atoi(argv[2])), argv[3]);
  int trials = 1000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--trials" && i + 1 < argc)
      trials = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick")
      trials = 200;
    else {
      std::fprintf(stderr, "usage: rampart_latency [--trials N | --quick]\n");
      return 1;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "rampart_latency: must run as root (rampartd loads BPF programs)\n");
    return 1;
  }

  // rampartd (no config) on one policy for the probe, a copy of this binary in its scratch dir.
  Daemon daemon({.dir_template = "/tmp/rampart-latency-XXXXXX", .start = false});
  const std::string& dir = daemon.dir();
  const std::string probe_path = dir + "/probe";
  std::filesystem::copy_file("/proc/self/exe", probe_path);
  chmod(probe_path.c_str(), 0755);
  std::filesystem::create_directory(dir + "/files");
  daemon.write_policy("latency.yaml", rampart::testing::policy_for(
                                          "latency-probe", probe_path, "enforce",
                                          "  scoring:\n    weights: { rampart.exec.writable_dir: 0 }\n"
                                          "    thresholds: { alert: 95, deny: 90, quarantine: 60, kill: 5 }\n"));

  // A listener that accepts and closes.
  rampart::testing::Listener listener;
  const uint16_t port = listener.port();
  const bool ok = daemon.start();

  std::vector<double> to_denied_ms;
  int failures = 0;
  for (int t = 0; ok && t < trials; ++t) {
    std::string file = dir + "/files/f" + std::to_string(t);
    std::ofstream(file) << "x";
    int pipefd[2];
    if (pipe(pipefd) != 0) break;
    pid_t p = fork();
    if (p == 0) {
      dup2(pipefd[1], 1);
      close(pipefd[0]);
      execl(probe_path.c_str(), probe_path.c_str(), "--probe", std::to_string(port).c_str(), file.c_str(), nullptr);
      _exit(127);
    }
    close(pipefd[1]);
    char buf[128] = {};
    ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
    close(pipefd[0]);
    int status = 0;
    waitpid(p, &status, 0);
    long long t0 = 0, t1 = 0;
    if (n > 0 && std::sscanf(buf, "%lld %lld", &t0, &t1) == 2 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      to_denied_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    else
      ++failures;
  }

  daemon.stop();
  listener.close();

  // event -> map update, from rampartd's own output.
  std::vector<double> to_map_ms;
  std::ifstream in(daemon.output_path());
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("rampart.chmod.setuid") == std::string::npos) continue;
    auto e = nlohmann::json::parse(line);
    if (e["verdict"].contains("applied_ns") && e["verdict"]["level"] == "quarantine")
      to_map_ms.push_back(static_cast<double>(e["verdict"]["applied_ns"].get<int64_t>() - e["boot_ns"].get<int64_t>()) /
                          1e6);
  }
  if (!ok) {
    std::fprintf(stderr, "rampart_latency: rampartd did not start:\n%s\n", daemon.stderr_text().c_str());
    return 1;
  }

  auto over10 = std::count_if(to_denied_ms.begin(), to_denied_ms.end(), [](double v) { return v > 10.0; });
  std::printf("rampart_latency  %d trials, %zu quarantined, %d failed\n", trials, to_denied_ms.size(), failures);
  std::printf("%-34s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms");
  std::printf("%-34s %8.2f %8.2f %8.2f   (%zu samples)\n", "event -> verdict in kernel map", pct(to_map_ms, 50),
              pct(to_map_ms, 99), pct(to_map_ms, 100), to_map_ms.size());
  std::printf("%-34s %8.2f %8.2f %8.2f   (%ld over 10 ms)\n", "event -> first denied connect", pct(to_denied_ms, 50),
              pct(to_denied_ms, 99), pct(to_denied_ms, 100), static_cast<long>(over10));
  return failures == trials ? 1 : 0;
}
