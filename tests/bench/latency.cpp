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

namespace {

int64_t boot_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Probe mode: chmod +s, then connect until EPERM. Prints "t0 t1" (boot ns).
int probe(uint16_t port, const char* file) {
  if (chmod(file, 04755) != 0) return 2;
  const int64_t t0 = boot_ns();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  for (;;) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    int err = errno;
    close(s);
    if (rc != 0 && err == EPERM) break;
    if (boot_ns() - t0 > 2'000'000'000) return 3;  // never quarantined
  }
  std::printf("%lld %lld\n", static_cast<long long>(t0), static_cast<long long>(boot_ns()));
  return 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

  char tmpl[] = "/tmp/rampart-latency-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string probe_path = dir + "/probe";
  std::filesystem::copy_file("/proc/self/exe", probe_path);
  chmod(probe_path.c_str(), 0755);
  std::filesystem::create_directory(dir + "/policies");
  std::filesystem::create_directory(dir + "/files");
  std::ofstream(dir + "/policies/latency.yaml")
      << "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: latency-probe\nspec:\n  selector:\n"
         "    executables: [\""
      << probe_path
      << "\"]\n  mode: enforce\n  scoring:\n    weights: { rampart.exec.writable_dir: 0 }\n"
         "    thresholds: { alert: 95, deny: 90, quarantine: 60, kill: 5 }\n";

  // A listener on CPU 1 that accepts and closes.
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(la);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&la), len) != 0 || listen(lfd, 1024) != 0) {
    std::perror("listener");
    return 1;
  }
  getsockname(lfd, reinterpret_cast<sockaddr*>(&la), &len);
  const uint16_t port = ntohs(la.sin_port);
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop) {
      int c = accept(lfd, nullptr, nullptr);
      if (c >= 0) close(c);
    }
  });

  const std::string out = dir + "/events.jsonl", err = dir + "/stderr.txt";
  pid_t daemon = fork();
  if (daemon == 0) {
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(e, 2);
    execl(RAMPARTD_PATH, RAMPARTD_PATH, "--policy-dir", (dir + "/policies").c_str(), "--output", out.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 1500 && slurp(err).find("attached ") == std::string::npos; ++i) {
    if (waitpid(daemon, nullptr, WNOHANG) == daemon) break;  // it exited: the error is in its stderr
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool ok = slurp(err).find("attached ") != std::string::npos;

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

  kill(daemon, SIGTERM);
  waitpid(daemon, nullptr, 0);
  stop = true;
  shutdown(lfd, SHUT_RDWR);
  close(lfd);
  acceptor.join();

  // event -> map update, from rampartd's own output.
  std::vector<double> to_map_ms;
  std::ifstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("rampart.chmod.setuid") == std::string::npos) continue;
    auto e = nlohmann::json::parse(line);
    if (e["verdict"].contains("applied_ns") && e["verdict"]["level"] == "quarantine")
      to_map_ms.push_back(static_cast<double>(e["verdict"]["applied_ns"].get<int64_t>() - e["boot_ns"].get<int64_t>()) /
                          1e6);
  }
  std::error_code ec;
  if (!ok) {
    std::fprintf(stderr, "rampart_latency: rampartd did not start:\n%s\n", slurp(err).c_str());
    std::filesystem::remove_all(dir, ec);
    return 1;
  }
  std::filesystem::remove_all(dir, ec);

  auto over10 = std::count_if(to_denied_ms.begin(), to_denied_ms.end(), [](double v) { return v > 10.0; });
  std::printf("rampart_latency  %d trials, %zu quarantined, %d failed\n", trials, to_denied_ms.size(), failures);
  std::printf("%-34s %8s %8s %8s\n", "", "p50 ms", "p99 ms", "max ms");
  std::printf("%-34s %8.2f %8.2f %8.2f   (%zu samples)\n", "event -> verdict in kernel map", pct(to_map_ms, 50),
              pct(to_map_ms, 99), pct(to_map_ms, 100), to_map_ms.size());
  std::printf("%-34s %8.2f %8.2f %8.2f   (%ld over 10 ms)\n", "event -> first denied connect", pct(to_denied_ms, 50),
              pct(to_denied_ms, 99), pct(to_denied_ms, 100), static_cast<long>(over10));
  return failures == trials ? 1 : 0;
}
