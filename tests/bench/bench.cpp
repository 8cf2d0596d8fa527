// rampart_bench: what rampartd costs a workload on one core. Six syscall-heavy
// loops (openat+close on an unmarked file, on a file in a fanotify-marked
// directory, and on a write-protected file opened for reading;
// fork+exec+wait, TCP connect, getppid) each run in a child pinned to CPU 0
// under four conditions, interleaved over several repetitions: without
// anything, with empty programs on rampartd's hooks (the "hook floor": what
// attaching alone costs), with rampartd (no policy: the default audit), and
// with rampartd enforcing a policy on the bench itself (exec allow-list on
// the root filesystem through fanotify, a network allow-list in the cgroup
// hooks, deny rules that mark files). It prints median ops/s, the ratios to
// the baseline, and whether every event the monitored runs should have
// produced was delivered or is accounted for by ring-buffer drops. It
// reports; it never fails on a ratio.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rampart_bench_floor.skel.h"
#include "support/files.h"
#include "support/rampartd.h"

namespace {

using rampart::testing::Daemon;
using rampart::testing::slurp;
using rampart::testing::TempDir;

using Json = nlohmann::ordered_json;

constexpr int kWorkloadCpu = 0;
constexpr int kCheckClockEvery = 16;  // ops between clock reads: keeps the timer out of the loop cost

volatile sig_atomic_t g_interrupted = 0;

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }
std::string errno_text(const std::string& what) { return what + ": " + strerror(errno); }

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set);
}

std::string wait_status_text(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

enum class Kind { kOpen, kOpenMarked, kOpenWriteProtected, kForkExec, kConnect, kGetppid };

// Files in the scratch dir, set before any workload forks: one in a directory
// that a deny rule's glob marks (allowed: decided and cached), and one that a
// deny rule protects from writes (read: the guard must ask the open's mode).
std::string g_marked_file, g_write_protected_file;

struct Workload {
  Kind kind;
  const char* name;
  std::vector<const char*> types;  // event types it produces, whose drops are its drops (none: every type)
  uint64_t events_per_op;
};

const std::vector<Workload> kWorkloads = {
    {Kind::kOpen, "openat+close", {"open"}, 1},
    {Kind::kOpenMarked, "openat marked", {"open"}, 1},
    {Kind::kOpenWriteProtected, "openat wprotect", {"open"}, 1},
    {Kind::kForkExec, "fork+exec+wait", {"fork", "exec", "exit"}, 3},
    {Kind::kConnect, "tcp connect", {"connect"}, 1},
    {Kind::kGetppid, "getppid", {}, 0},
};

int failure(const char*& what, const char* call, int err = errno) {
  what = call;
  return err;
}

// One op of a workload. Returns 0, or an errno with `what` naming the call.
int run_op(Kind kind, const sockaddr_in& addr, const char*& what) {
  switch (kind) {
    case Kind::kOpen:
    case Kind::kOpenMarked:
    case Kind::kOpenWriteProtected: {
      const char* path = kind == Kind::kOpen         ? "/etc/hostname"
                         : kind == Kind::kOpenMarked ? g_marked_file.c_str()
                                                     : g_write_protected_file.c_str();
      int fd = openat(AT_FDCWD, path, O_RDONLY);
      if (fd < 0) return failure(what, "openat of the workload's file");
      close(fd);
      return 0;
    }
    case Kind::kForkExec: {
      pid_t pid = fork();
      if (pid < 0) return failure(what, "fork");
      if (pid == 0) {
        char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
        char* envp[] = {nullptr};
        execve("/bin/true", argv, envp);
        _exit(127);
      }
      int status = 0;
      if (waitpid(pid, &status, 0) < 0) return failure(what, "waitpid");
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return failure(what, "/bin/true did not exit 0", ECHILD);
      return 0;
    }
    case Kind::kConnect: {
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) return failure(what, "socket");
      // Reset on close: no TIME_WAIT, so the loop never runs out of local ports.
      linger lg{1, 0};
      setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      int rc = connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
      int err = errno;
      close(s);
      if (rc < 0) return failure(what, "connect 127.0.0.1", err);
      return 0;
    }
    case Kind::kGetppid:
      syscall(SYS_getppid);
      return 0;
  }
  return 0;
}

struct ChildReport {
  uint64_t ops = 0;
  int64_t elapsed_ns = 0;
  int err = 0;
  char what[64] = "";
};

[[noreturn]] void workload_child(Kind kind, double seconds, const sockaddr_in& addr, int report_fd) {
  ChildReport r;
  const char* what = "";
  if (pin_to_cpu(kWorkloadCpu) < 0) {
    r.err = errno;
    what = "sched_setaffinity to CPU 0";
  }
  const int64_t start = mono_ns(), end = start + static_cast<int64_t>(seconds * 1e9);
  int64_t now = start;
  while (!r.err && now < end) {
    for (int i = 0; i < kCheckClockEvery && !r.err; ++i) {
      if ((r.err = run_op(kind, addr, what)) == 0) ++r.ops;
    }
    now = mono_ns();
  }
  r.elapsed_ns = now - start;
  snprintf(r.what, sizeof(r.what), "%s", what);
  ssize_t n = write(report_fd, &r, sizeof(r));
  _exit(n == sizeof(r) ? 0 : 1);
}

struct RunResult {
  pid_t pid = -1;
  uint64_t ops = 0;
  double ops_per_s = 0;
};

// Runs one workload in a child and waits for its report; kills it on any failure.
RunResult run_workload(const Workload& w, double seconds, const sockaddr_in& addr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) fail(errno_text("pipe2"));
  pid_t pid = fork();
  if (pid < 0) fail(errno_text("fork"));
  if (pid == 0) {
    close(fds[0]);
    workload_child(w.kind, seconds, addr, fds[1]);
  }
  close(fds[1]);
  auto abort_child = [&](const std::string& msg) {
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    fail(std::string(w.name) + ": " + msg);
  };
  ChildReport r;
  const int64_t deadline = mono_ns() + static_cast<int64_t>((seconds + 30) * 1e9);
  pollfd pfd{fds[0], POLLIN, 0};
  while (poll(&pfd, 1, 200) <= 0) {
    if (g_interrupted) abort_child("interrupted");
    if (mono_ns() > deadline) abort_child("workload child " + std::to_string(pid) + " did not finish in time");
  }
  ssize_t n = read(fds[0], &r, sizeof(r));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (g_interrupted) fail("interrupted");
  if (n != sizeof(r)) fail(std::string(w.name) + ": workload child died (" + wait_status_text(status) + ")");
  if (r.err) fail(std::string(w.name) + ": " + r.what + ": " + strerror(r.err));
  return {pid, r.ops, static_cast<double>(r.ops) * 1e9 / static_cast<double>(r.elapsed_ns)};
}

// Accepts and closes on the listener CPU, so the connect loop has a peer.
class Listener {
 public:
  explicit Listener(int cpu) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail(errno_text("listener socket"));
    addr_.sin_family = AF_INET;
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr_);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr_), sizeof(addr_)) < 0 || listen(fd_, SOMAXCONN) < 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr_), &len) < 0)
      fail(errno_text("listener on 127.0.0.1"));
    thread_ = std::thread([this, cpu] {
      pin_to_cpu(cpu);
      while (!stopping_) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          close(c);
        } else if (errno != EINTR && errno != ECONNABORTED) {
          break;
        }
      }
    });
  }
  ~Listener() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);  // wakes the blocked accept
    thread_.join();
    close(fd_);
  }
  const sockaddr_in& addr() const { return addr_; }

 private:
  int fd_ = -1;
  sockaddr_in addr_{};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// One rampartd (support/rampartd.h), its output in a scratch dir of its own
// that goes with it.
class Rampartd {
 public:
  // policy_dir: "" runs without policies (the built-in default, audit).
  // binary: another rampartd build ("" : this one).
  explicit Rampartd(const std::string& policy_dir = "", const std::string& binary = "")
      : daemon_({.policy_dir = false,
                 .args = policy_dir.empty() ? std::vector<std::string>{"--quiet"}
                                            : std::vector<std::string>{"--quiet", "--policy-dir", policy_dir},
                 .dir_template = "/tmp/rampart-bench-XXXXXX",
                 .binary = binary,
                 .start = false}),
        marker_(daemon_.path("ready")) {
    daemon_.spawn();
  }

  // Ready once a failed open of our marker path shows up in its output:
  // then its programs are attached and its output is flowing.
  void wait_ready() {
    const int64_t deadline = mono_ns() + 30'000'000'000;
    while (mono_ns() < deadline) {
      if (g_interrupted) fail("interrupted");
      int fd = open(marker_.c_str(), O_RDONLY);
      if (fd >= 0) close(fd);
      if (!daemon_.running())
        fail("rampartd exited during start-up (" + wait_status_text(daemon_.stop()) + ")" + stderr_text());
      if (slurp(out_path()).find(marker_) != std::string::npos) return;
      sleep_ms(50);
    }
    fail("rampartd did not start delivering events within 30 s" + stderr_text());
  }

  // SIGTERM: it drains what the kernel submitted, then appends its stats line.
  void stop() {
    const int status = daemon_.stop();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("rampartd failed at shutdown (" + wait_status_text(status) + ")" + stderr_text());
  }
  std::string out_path() const { return daemon_.output_path(); }

 private:
  std::string stderr_text() const {
    std::string text = daemon_.stderr_text();
    return text.empty() ? "" : "; its stderr:\n" + text;
  }

  Daemon daemon_;
  std::string marker_;
};

// What one monitored run delivered, and what the kernel dropped meanwhile.
struct SessionCounts {
  uint64_t delivered = 0;
  std::map<std::string, uint64_t> by_type;
  uint64_t dropped = 0;
  std::vector<uint64_t> dropped_per_cpu;
  uint64_t enforce_events = 0;  // refusals and would-deny reports: none expected
  uint64_t guard_decisions = 0, guard_cache_hits = 0, guard_access_checks = 0;
};

// The fields the counts need, found by substring: rampartd writes "type"
// before "proc", and "tgid"/"ppid" first occur inside "proc".
struct LineView {
  std::string_view type;
  uint64_t tgid = 0, ppid = 0;
};

uint64_t number_after(std::string_view line, std::string_view key, size_t from) {
  auto at = line.find(key, from);
  uint64_t v = 0;
  if (at != std::string_view::npos) std::from_chars(line.data() + at + key.size(), line.data() + line.size(), v);
  return v;
}

bool parse_line(std::string_view line, LineView& out) {
  constexpr std::string_view kType = "\"type\":\"";
  auto t = line.find(kType);
  if (t == std::string_view::npos) return false;
  auto start = t + kType.size(), end = line.find('"', start);
  auto proc = line.find("\"proc\":{", end);
  if (end == std::string_view::npos || proc == std::string_view::npos) return false;
  out.type = line.substr(start, end - start);
  out.tgid = number_after(line, "\"tgid\":", proc);
  out.ppid = number_after(line, "\"ppid\":", proc);
  return true;
}

// Whether an event line is one of those the ops of workload `kind`, run as `pid`, must produce.
bool is_expected_event(Kind kind, const LineView& e, std::string_view line, uint64_t pid) {
  switch (kind) {
    case Kind::kOpen:
    case Kind::kOpenMarked:
    case Kind::kOpenWriteProtected:
      return e.type == "open" && e.tgid == pid;
    case Kind::kConnect:
      return e.type == "connect" && e.tgid == pid;
    case Kind::kGetppid:
      return e.tgid == pid && e.type != "exit";  // its own exit is not per op
    case Kind::kForkExec:
      if (e.type == "fork") return e.tgid == pid;
      if (e.type == "exec") return e.ppid == pid && line.find("\"filename\":\"/bin/true\"") != std::string_view::npos;
      if (e.type == "exit") return e.ppid == pid;
      return false;
  }
  return false;
}

SessionCounts scan_output(const std::string& path, const Workload& w, pid_t pid) {
  SessionCounts c;
  std::ifstream in(path);
  if (!in) fail("cannot read rampartd output " + path);
  std::string line, stats_line;
  LineView e;
  while (std::getline(in, line)) {
    if (line.find("\"type\":\"stats\"") != std::string::npos) {
      if (line.find("\"reason\":\"exit\"") != std::string::npos) stats_line = line;
    } else if (line.find("\"type\":\"enforce\"") != std::string::npos) {
      ++c.enforce_events;
    } else if (parse_line(line, e) && is_expected_event(w.kind, e, line, static_cast<uint64_t>(pid))) {
      ++c.delivered;
      ++c.by_type[std::string(e.type)];
    }
  }
  if (stats_line.empty()) fail("rampartd output " + path + " has no final stats line");
  auto stats = Json::parse(stats_line);
  if (stats.contains("perm_guard")) {
    const auto& g = stats.at("perm_guard");
    c.guard_decisions = g.at("decisions").get<uint64_t>();
    c.guard_cache_hits = g.at("cache_hits").get<uint64_t>();
    c.guard_access_checks = g.at("access_checks").get<uint64_t>();
  }
  auto events = stats.at("events");
  // A workload that should produce no events (getppid) owns the drops of every type.
  std::vector<std::string> types(w.types.begin(), w.types.end());
  if (types.empty())
    for (const auto& [type, s] : events.items()) types.push_back(type);
  for (const auto& t : types) {
    const auto& s = events.at(t);
    if (!s.contains("dropped")) fail("rampartd could not read its kernel counters: " + stats_line);
    c.dropped += s.at("dropped").get<uint64_t>();
    auto per_cpu = s.at("dropped_per_cpu").get<std::vector<uint64_t>>();
    c.dropped_per_cpu.resize(std::max(c.dropped_per_cpu.size(), per_cpu.size()));
    for (size_t i = 0; i < per_cpu.size(); ++i) c.dropped_per_cpu[i] += per_cpu[i];
  }
  return c;
}

// One workload's results over all reps.
// The "hook floor" condition: empty programs on rampartd's hooks, so the
// report can say how much of the overhead is the hooks themselves.
class HookFloor {
 public:
  HookFloor() {
    skel_ = rampart_bench_floor__open_and_load();
    if (!skel_) fail(errno_text("loading the hook-floor BPF programs"));
    if (rampart_bench_floor__attach(skel_) != 0) {
      rampart_bench_floor__destroy(skel_);
      fail(errno_text("attaching the hook-floor BPF programs"));
    }
  }
  ~HookFloor() { rampart_bench_floor__destroy(skel_); }
  HookFloor(const HookFloor&) = delete;
  HookFloor& operator=(const HookFloor&) = delete;

 private:
  rampart_bench_floor* skel_ = nullptr;
};

struct Totals {
  std::vector<double> baseline, floor, monitored, enforcing;  // ops/s, one per rep
  std::vector<double> compared;                               // monitored by the --compare build
  uint64_t enforce_events = 0, guard_decisions = 0, guard_cache_hits = 0, guard_access_checks = 0;  // enforcing runs
  uint64_t expected = 0, delivered = 0, dropped = 0;
  uint64_t unexplained = 0, extra = 0;  // missing beyond the drops of their rep; more than expected
  std::vector<uint64_t> dropped_per_cpu;
  std::map<std::string, uint64_t> by_type;

  void add_monitored(const RunResult& r, const SessionCounts& c, uint64_t events_per_op) {
    const uint64_t want = r.ops * events_per_op;
    const uint64_t missing = want > c.delivered ? want - c.delivered : 0;
    monitored.push_back(r.ops_per_s);
    expected += want;
    delivered += c.delivered;
    dropped += c.dropped;
    unexplained += missing > c.dropped ? missing - c.dropped : 0;
    extra += c.delivered > want ? c.delivered - want : 0;
    dropped_per_cpu.resize(std::max(dropped_per_cpu.size(), c.dropped_per_cpu.size()));
    for (size_t i = 0; i < c.dropped_per_cpu.size(); ++i) dropped_per_cpu[i] += c.dropped_per_cpu[i];
    for (const auto& [type, n] : c.by_type) by_type[type] += n;
  }
  void add_enforcing(const RunResult& r, const SessionCounts& c) {
    enforcing.push_back(r.ops_per_s);
    enforce_events += c.enforce_events;
    guard_decisions += c.guard_decisions;
    guard_cache_hits += c.guard_cache_hits;
    guard_access_checks += c.guard_access_checks;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string drops_text(const Totals& t) {
  std::string s = "dropped " + std::to_string(t.dropped) + " (";
  for (size_t i = 0; i < t.dropped_per_cpu.size(); ++i)
    s += (i ? ", cpu" : "cpu") + std::to_string(i) + " " + std::to_string(t.dropped_per_cpu[i]);
  return s + ")";
}

// Prints the table and its notes; returns the same results as JSON.
Json report(const std::vector<Totals>& totals) {
  std::printf("%-15s %14s %15s %7s %9s %11s %21s  %s\n", "workload", "baseline ops/s", "monitored ops/s", "ratio",
              "enforcing", "hook floor", "delivered/expected", "kernel drops, all monitored runs");
  Json out = Json::array();
  std::vector<std::string> notes;
  for (size_t wi = 0; wi < kWorkloads.size(); ++wi) {
    const Workload& w = kWorkloads[wi];
    const Totals& t = totals[wi];
    const double base = median(t.baseline), mon = median(t.monitored), ratio = mon / base;
    const double floor_ratio = median(t.floor) / base;
    const double enforcing_ratio = median(t.enforcing) / base;
    std::string events = std::to_string(t.delivered) + "/" + std::to_string(t.expected);
    std::printf("%-15s %14.0f %15.0f %7.3f %9.3f %11.3f %21s  %s\n", w.name, base, mon, ratio, enforcing_ratio,
                floor_ratio, events.c_str(), drops_text(t).c_str());
    if (!t.compared.empty()) {
      char line[160];
      std::snprintf(line, sizeof(line), "%s: monitored ratio %.3f with the --compare build, %.3f with this one", w.name,
                    median(t.compared) / base, ratio);
      notes.push_back(line);
    }
    const std::string name = w.name;
    if (t.enforce_events)
      notes.push_back(name + ": " + std::to_string(t.enforce_events) +
                      " enforce events under the bench policy, none expected");
    if (t.guard_decisions)
      notes.push_back(name + " enforcing: fanotify decisions " + std::to_string(t.guard_decisions) + ", cache hits " +
                      std::to_string(t.guard_cache_hits) + ", open modes read from /proc " +
                      std::to_string(t.guard_access_checks));
    if (t.unexplained)
      notes.push_back(name + ": " + std::to_string(t.unexplained) + " expected events MISSING, not explained by drops");
    if (t.extra) notes.push_back(name + ": " + std::to_string(t.extra) + " events MORE than expected");
    if (w.types.size() > 1) {
      std::string s = name + " delivered by type:";
      for (const auto& [type, n] : t.by_type) s += " " + type + " " + std::to_string(n);
      notes.push_back(s);
    }
    out.push_back({{"name", w.name},
                   {"baseline_ops_per_s", t.baseline},
                   {"monitored_ops_per_s", t.monitored},
                   {"median_baseline_ops_per_s", base},
                   {"median_monitored_ops_per_s", mon},
                   {"ratio", ratio},
                   {"hook_floor_ops_per_s", t.floor},
                   {"hook_floor_ratio", floor_ratio},
                   {"enforcing_ops_per_s", t.enforcing},
                   {"enforcing_ratio", enforcing_ratio},
                   {"compared_ops_per_s", t.compared},
                   {"enforcing_enforce_events", t.enforce_events},
                   {"enforcing_guard_decisions", t.guard_decisions},
                   {"enforcing_guard_cache_hits", t.guard_cache_hits},
                   {"enforcing_guard_access_checks", t.guard_access_checks},
                   {"events_expected", t.expected},
                   {"events_delivered", t.delivered},
                   {"events_delivered_by_type", t.by_type},
                   {"dropped", t.dropped},
                   {"dropped_per_cpu", t.dropped_per_cpu},
                   {"missing_unexplained_by_drops", t.unexplained},
                   {"extra", t.extra}});
  }
  std::printf("\n");
  if (std::none_of(totals.begin(), totals.end(), [](const Totals& t) { return t.unexplained || t.extra; }))
    std::printf("every expected event was delivered or counted as dropped\n");
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  return out;
}

// The enforcing condition's policy: it selects this bench binary, so the
// workload children inherit it at fork. It allows what the workloads do, so
// nothing is refused; what it costs is the checks themselves. Returns the
// policy directory.
std::string write_bench_policy(const std::string& dir) {
  const std::string protected_dir = dir + "/protected", policies = dir + "/policies";
  std::filesystem::create_directories(protected_dir);
  std::filesystem::create_directories(policies);
  g_marked_file = protected_dir + "/data.txt";
  g_write_protected_file = protected_dir + "/config.txt";
  std::ofstream(g_marked_file) << "data\n";
  std::ofstream(g_write_protected_file) << "config\n";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  std::ofstream(policies + "/bench.yaml") << "apiVersion: rampart.dev/v1\n"
                                             "kind: Policy\n"
                                             "metadata:\n"
                                             "  name: bench\n"
                                             "spec:\n"
                                             "  selector:\n"
                                             "    executables: [\""
                                          << self << "\"]\n"
                                          << "  mode: enforce\n"
                                             "  allow:\n"
                                             "    exec: [\"/usr/bin/*\", \"/bin/*\"]\n"
                                             "    network:\n"
                                             "      connect: [\"127.0.0.0/8\"]\n"
                                             "  deny:\n"
                                             "    - id: bench-keys\n"
                                             "      files: { read: [\""
                                          << protected_dir << "/*.key\"] }\n"
                                          << "    - id: bench-config\n"
                                             "      files: { write: [\""
                                          << g_write_protected_file << "\"] }\n";
  return policies;
}

constexpr const char* kUsage = R"(usage: rampart_bench [--seconds S] [--reps N] [--quick] [--json FILE]

Measures the throughput of six workloads pinned to CPU 0: without rampartd,
with empty programs on rampartd's hooks (the hook floor), with rampartd, and
with rampartd enforcing a policy on the bench (fanotify exec checks on the
root filesystem, network allow-list, marked files); interleaved, N
repetitions, medians reported. It checks the events delivered for the
monitored runs. Must run as root.

  --seconds S   duration of each run (default 2)
  --reps N      repetitions per condition (default 5, at least 1)
  --quick       1 s runs, 3 repetitions (smoke test); --seconds/--reps override
  --json FILE   also write the results as JSON
  --compare BIN also run each workload monitored by another rampartd build
                (e.g. the previous release), interleaved with the others, and
                print its ratio beside this build's
)";

struct Options {
  double seconds = 2;
  int reps = 5;
  std::string json_path;
  std::string compare;  // another rampartd to measure in the same run
};

// Returns the exit code when the program should stop here (help, usage error).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
  std::optional<double> seconds;
  std::optional<int> reps;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "-h" || a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--reps" && has_value) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--json" && has_value) {
      o.json_path = argv[++i];
    } else if (a == "--compare" && has_value) {
      o.compare = argv[++i];
    } else {
      std::fprintf(stderr, "rampart_bench: bad argument '%s'\n%s", a.c_str(), kUsage);
      return 1;
    }
  }
  o.seconds = seconds.value_or(quick ? 1 : 2);
  o.reps = reps.value_or(quick ? 3 : 5);
  if (o.seconds <= 0 || o.reps < 1) {
    std::fprintf(stderr, "rampart_bench: --seconds must be > 0 and --reps >= 1\n");
    return 1;
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  Options opt;
  if (auto code = parse_options(argc, argv, opt)) return *code;
  if (geteuid() != 0) {
    std::fprintf(stderr, "rampart_bench: must run as root (rampartd loads BPF programs); try: sudo %s\n", argv[0]);
    return 1;
  }
  if (access(RAMPARTD_PATH, X_OK) != 0) fail(errno_text(std::string("rampartd binary ") + RAMPARTD_PATH));
  if (!opt.compare.empty() && access(opt.compare.c_str(), X_OK) != 0)
    fail(errno_text("--compare binary " + opt.compare));

  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  const int listener_cpu = ncpu > 1 ? 1 : 0;
  utsname u{};
  uname(&u);
  const std::string kernel = std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
  char date[64];
  time_t now = time(nullptr);
  strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
  std::printf("rampart_bench  %s\nkernel         %s\n", date, kernel.c_str());
  std::printf("setup          %ld CPUs; workloads on CPU %d, TCP listener on CPU %d; %g s per run, %d reps, medians\n",
              ncpu, kWorkloadCpu, listener_cpu, opt.seconds, opt.reps);
  std::printf("rampartd       %s --quiet --output <tmp>, one instance per monitored run\n", RAMPARTD_PATH);
  std::printf("enforcing      the same, with --policy-dir <tmp>/policies: an enforce-mode policy on the bench\n\n");
  std::fflush(stdout);

  TempDir dir("/tmp/rampart-bench-XXXXXX");
  const std::string policies = write_bench_policy(dir.path());
  Listener listener(listener_cpu);
  std::vector<Totals> totals(kWorkloads.size());
  for (int rep = 0; rep < opt.reps; ++rep) {
    for (size_t wi = 0; wi < kWorkloads.size(); ++wi) {
      const Workload& w = kWorkloads[wi];
      Totals& t = totals[wi];
      // Four conditions (five with --compare), their order rotated every
      // rep to cancel drift.
      enum Condition { kBaseline, kFloor, kMonitored, kEnforcing, kCompared };
      constexpr Condition kAll[5] = {kBaseline, kFloor, kMonitored, kEnforcing, kCompared};
      const int n = opt.compare.empty() ? 4 : 5;
      for (int k = 0; k < n; ++k) {
        const Condition c = kAll[(k + rep) % n];
        if (c == kBaseline) {
          t.baseline.push_back(run_workload(w, opt.seconds, listener.addr()).ops_per_s);
          continue;
        }
        if (c == kFloor) {
          HookFloor hooks;
          t.floor.push_back(run_workload(w, opt.seconds, listener.addr()).ops_per_s);
          continue;
        }
        if (c == kCompared) {
          Rampartd other("", opt.compare);
          other.wait_ready();
          t.compared.push_back(run_workload(w, opt.seconds, listener.addr()).ops_per_s);
          other.stop();
          continue;
        }
        // One rampartd per monitored run: its stats line then counts only this workload's drops.
        Rampartd daemon(c == kEnforcing ? policies : "");
        daemon.wait_ready();
        RunResult r = run_workload(w, opt.seconds, listener.addr());
        daemon.stop();
        if (c == kEnforcing)
          t.add_enforcing(r, scan_output(daemon.out_path(), w, r.pid));
        else
          t.add_monitored(r, scan_output(daemon.out_path(), w, r.pid), w.events_per_op);
      }
      std::fprintf(
          stderr, "rep %d/%d  %-15s baseline %10.0f  hook floor %10.0f  monitored %10.0f  enforcing %10.0f ops/s\n",
          rep + 1, opt.reps, w.name, t.baseline.back(), t.floor.back(), t.monitored.back(), t.enforcing.back());
    }
  }

  Json out = {{"date", date},
              {"kernel", kernel},
              {"cpus", ncpu},
              {"workload_cpu", kWorkloadCpu},
              {"listener_cpu", listener_cpu},
              {"seconds", opt.seconds},
              {"reps", opt.reps},
              {"workloads", report(totals)}};
  if (!opt.json_path.empty()) {
    std::ofstream f(opt.json_path);
    f << out.dump(2) << "\n";
    if (!f) fail("cannot write " + opt.json_path);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // No SA_RESTART: Ctrl-C interrupts the waits, and the error path cleans up.
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rampart_bench: error: %s\n", e.what());
    return 1;
  }
}
