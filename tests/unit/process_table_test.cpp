// Unit tests for ProcessTable, driven by synthetic snapshots and events, and
// for ProcReader against a fake /proc tree in a temporary directory and
// against the real /proc entry of the test process itself.
#include "pipeline/process_table.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using rampart::pipeline::ProcessInfo;
using rampart::pipeline::ProcessTable;
using rampart::pipeline::ProcReader;
using rampart::pipeline::ProcSnapshot;

namespace {

const std::string kId = "3f1c9a7e2b8d4c6f0a5e1d9b7c3a2f8e6d4b0c9a1e7f5d3b2a8c6e4f0d1b9a7c";
constexpr uint64_t kSec = 1'000'000'000;

ProcSnapshot snapshot(uint32_t tgid, uint32_t ppid, std::string exe, std::string cgroup = "/system.slice/ssh.service") {
  ProcSnapshot s;
  s.tgid = tgid;
  s.ppid = ppid;
  s.start_ns = tgid * kSec;
  s.uid = 1000;
  s.euid = 1000;
  s.comm = exe.substr(exe.rfind('/') + 1);
  s.exe = exe;
  s.args = {exe, "--flag"};
  s.cgroup_path = std::move(cgroup);
  return s;
}

std::vector<uint32_t> tgids(const std::vector<const ProcessInfo*>& chain) {
  std::vector<uint32_t> out;
  for (const ProcessInfo* p : chain) out.push_back(p->tgid);
  return out;
}

// A directory from mkdtemp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/rampart_proc_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& rel, const std::string& content) const {
    std::filesystem::create_directories(std::filesystem::path(path + "/" + rel).parent_path());
    std::ofstream(path + "/" + rel, std::ios::binary) << content;
  }
};

// A /proc/PID/stat line with the given comm, ppid and starttime (field 22).
std::string stat_line(uint32_t pid, const std::string& comm, uint32_t ppid, uint64_t start) {
  return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
         " 4242 4242 0 -1 4194560 1201 0 0 0 3 5 0 0 20 0 1 0 " + std::to_string(start) +
         " 8192000 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
}

std::string status_text(const std::string& name, uint32_t uid, uint32_t euid) {
  return "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\n" + "Uid:\t" +
         std::to_string(uid) + "\t" + std::to_string(euid) + "\t" + std::to_string(euid) + "\t" + std::to_string(euid) +
         "\nGid:\t0\t0\t0\t0\n";
}

uint64_t ticks_ns(uint64_t ticks) { return ticks * kSec / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)); }

}  // namespace

TEST_CASE("seeded processes are found with their container identity", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(1, 0, "/sbin/init", "/init.scope"),
              snapshot(200, 1, "/usr/bin/dockerd", "/system.slice/docker.service"),
              snapshot(300, 200, "/usr/sbin/nginx", "/system.slice/docker-" + kId + ".scope")});

  REQUIRE(table.size() == 3);
  const ProcessInfo* p = table.find(300);
  REQUIRE(p != nullptr);
  CHECK(p->tgid == 300);
  CHECK(p->ppid == 200);
  CHECK(p->start_ns == 300 * kSec);
  CHECK(p->uid == 1000);
  CHECK(p->comm == "nginx");
  CHECK(p->exe == "/usr/sbin/nginx");
  CHECK(p->args == std::vector<std::string>{"/usr/sbin/nginx", "--flag"});
  CHECK(p->container.runtime == "docker");
  CHECK(p->container.id == kId);
  CHECK_FALSE(p->exited);

  CHECK(table.find(200)->container.id.empty());
  CHECK(table.find(999) == nullptr);
}

TEST_CASE("a forked child starts as a copy of its parent", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(300, 1, "/usr/sbin/nginx", "/system.slice/docker-" + kId + ".scope")});
  table.set_cgroup(300, 77, "/system.slice/docker-" + kId + ".scope");

  table.on_fork(300, 301, 55 * kSec, 55 * kSec);
  const ProcessInfo* child = table.find(301);
  REQUIRE(child != nullptr);
  CHECK(child->tgid == 301);
  CHECK(child->ppid == 300);
  CHECK(child->start_ns == 55 * kSec);
  CHECK(child->exe == "/usr/sbin/nginx");
  CHECK(child->args == std::vector<std::string>{"/usr/sbin/nginx", "--flag"});
  CHECK(child->comm == "nginx");
  CHECK(child->uid == 1000);
  CHECK(child->euid == 1000);
  CHECK(child->cgroup_id == 77);
  CHECK(child->container.id == kId);
  CHECK_FALSE(child->exited);

  SECTION("an unknown parent gives a minimal child") {
    table.on_fork(4000, 4001, 60 * kSec, 60 * kSec);
    const ProcessInfo* orphan = table.find(4001);
    REQUIRE(orphan != nullptr);
    CHECK(orphan->ppid == 4000);
    CHECK(orphan->start_ns == 60 * kSec);
    CHECK(orphan->exe.empty());
    CHECK(orphan->args.empty());
    CHECK(table.find(4000) == nullptr);
  }
  SECTION("a fork onto an exited pid replaces the old entry") {
    table.on_exit(301, 0, 56 * kSec);
    table.on_fork(300, 301, 57 * kSec, 57 * kSec);
    const ProcessInfo* reused = table.find(301);
    REQUIRE(reused != nullptr);
    CHECK_FALSE(reused->exited);
    CHECK(reused->exit_ns == 0);
    CHECK(reused->start_ns == 57 * kSec);
    table.sweep(1000 * kSec);
    CHECK(table.find(301) != nullptr);
  }
}

TEST_CASE("exec replaces the image and returns the previous executable", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(100, 1, "/bin/bash")});
  table.on_fork(100, 101, 10 * kSec, 10 * kSec);

  std::optional<std::string> previous = table.on_exec(101, 100, 10 * kSec, 0, 0, "curl", "/usr/bin/curl",
                                                      {"curl", "-s", "http://example.com"}, 42, 11 * kSec);
  REQUIRE(previous.has_value());
  CHECK(*previous == "/bin/bash");

  const ProcessInfo* p = table.find(101);
  REQUIRE(p != nullptr);
  CHECK(p->exe == "/usr/bin/curl");
  CHECK(p->comm == "curl");
  CHECK(p->args == std::vector<std::string>{"curl", "-s", "http://example.com"});
  CHECK(p->uid == 0);
  CHECK(p->euid == 0);
  CHECK(p->ppid == 100);
  CHECK(p->cgroup_id == 42);

  SECTION("an exec of the same file still reports it") {
    previous = table.on_exec(101, 100, 10 * kSec, 0, 0, "curl", "/usr/bin/curl", {"curl"}, 42, 12 * kSec);
    REQUIRE(previous.has_value());
    CHECK(*previous == "/usr/bin/curl");
  }
  SECTION("an unknown pid is created and has no previous executable") {
    previous = table.on_exec(500, 1, 13 * kSec, 0, 0, "sh", "/bin/sh", {"sh"}, 42, 13 * kSec);
    CHECK_FALSE(previous.has_value());
    REQUIRE(table.find(500) != nullptr);
    CHECK(table.find(500)->exe == "/bin/sh");
  }
  SECTION("a seeded cgroup path survives the exec") {
    previous = table.on_exec(100, 1, 100 * kSec, 1000, 1000, "vim", "/usr/bin/vim", {"vim"}, 9, 14 * kSec);
    CHECK(table.find(100)->cgroup_path == "/system.slice/ssh.service");
    CHECK(table.find(100)->cgroup_id == 9);
  }
}

TEST_CASE("exited processes stay for the grace period, then sweep drops them", "[unit]") {
  ProcessTable table(ProcessTable::Limits{1024, 5 * kSec});
  table.seed({snapshot(1, 0, "/sbin/init"), snapshot(10, 1, "/bin/true")});

  table.on_exit(10, 3, 100 * kSec);
  const ProcessInfo* p = table.find(10);
  REQUIRE(p != nullptr);
  CHECK(p->exited);
  CHECK(p->exit_ns == 100 * kSec);
  CHECK(p->exit_code == 3);
  CHECK(table.size() == 2);

  table.on_exit(999, 0, 100 * kSec);  // unknown: nothing to record
  CHECK(table.find(999) == nullptr);

  table.sweep(104 * kSec);
  CHECK(table.find(10) != nullptr);
  table.sweep(105 * kSec);  // exit_ns + grace <= now
  CHECK(table.find(10) == nullptr);
  CHECK(table.find(1) != nullptr);
  CHECK(table.size() == 1);
  CHECK(table.evictions() == 0);
}

TEST_CASE("descendants lists live children, grandchildren and so on, not exited ones", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(1, 0, "/sbin/init"), snapshot(50, 1, "/bin/bash"), snapshot(60, 50, "/bin/sleep"),
              snapshot(61, 50, "/bin/bash"), snapshot(70, 61, "/bin/cat"), snapshot(80, 1, "/bin/other")});
  auto sorted = [](std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(table.descendants(50)) == std::vector<uint32_t>{60, 61, 70});
  CHECK(table.descendants(61) == std::vector<uint32_t>{70});
  CHECK(table.descendants(70).empty());
  CHECK(table.descendants(12345).empty());
  table.on_fork(70, 71, 5 * kSec, 5 * kSec);  // a child forked later is found too
  CHECK(sorted(table.descendants(50)) == std::vector<uint32_t>{60, 61, 70, 71});
  table.on_exit(60, 0, 6 * kSec);
  CHECK(sorted(table.descendants(50)) == std::vector<uint32_t>{61, 70, 71});
  SECTION("a cycle of stale pids ends at the first repeat") {
    table.seed({snapshot(200, 202, "/a"), snapshot(201, 200, "/b"), snapshot(202, 201, "/c")});
    CHECK(sorted(table.descendants(200)) == std::vector<uint32_t>{201, 202});
  }
}

TEST_CASE("ancestors lists the parent chain nearest first", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(1, 0, "/sbin/init"), snapshot(50, 1, "/usr/sbin/sshd"), snapshot(60, 50, "/usr/sbin/sshd"),
              snapshot(70, 60, "/bin/bash"), snapshot(80, 70, "/usr/bin/python3")});

  CHECK(tgids(table.ancestors(80)) == std::vector<uint32_t>{70, 60, 50, 1});
  CHECK(tgids(table.ancestors(80, 2)) == std::vector<uint32_t>{70, 60});
  CHECK(table.ancestors(80, 0).empty());
  CHECK(table.ancestors(1).empty());
  CHECK(table.ancestors(12345).empty());

  SECTION("stops at the first unknown pid") {
    table.seed({snapshot(90, 777, "/bin/sleep")});
    CHECK(table.ancestors(90).empty());
    table.seed({snapshot(91, 90, "/bin/sleep")});
    CHECK(tgids(table.ancestors(91)) == std::vector<uint32_t>{90});
  }
  SECTION("stops after pid 1 even if pid 1 names a parent") {
    table.seed({snapshot(1, 5, "/sbin/init"), snapshot(5, 0, "/bin/odd")});
    CHECK(tgids(table.ancestors(50)) == std::vector<uint32_t>{1});
  }
  SECTION("a cycle ends at the first repeat") {
    table.seed({snapshot(200, 202, "/a"), snapshot(201, 200, "/b"), snapshot(202, 201, "/c")});
    CHECK(tgids(table.ancestors(200)) == std::vector<uint32_t>{202, 201});
    CHECK(tgids(table.ancestors(201, 100)) == std::vector<uint32_t>{200, 202});
    table.seed({snapshot(300, 300, "/self")});
    CHECK(table.ancestors(300).empty());
  }
}

TEST_CASE("a full table evicts the oldest exited entry first, then the least recent", "[unit]") {
  ProcessTable table(ProcessTable::Limits{4, 5 * kSec});
  table.seed({snapshot(1, 0, "/a"), snapshot(2, 1, "/b"), snapshot(3, 1, "/c"), snapshot(4, 1, "/d")});
  table.on_exit(3, 0, 10 * kSec);
  table.on_exit(2, 0, 11 * kSec);

  table.on_fork(1, 5, 12 * kSec, 12 * kSec);  // evicts 3: exited first
  CHECK(table.size() == 4);
  CHECK(table.evictions() == 1);
  CHECK(table.find(3) == nullptr);
  CHECK(table.find(2) != nullptr);

  table.on_fork(1, 6, 13 * kSec, 13 * kSec);  // evicts 2, the remaining exited one
  CHECK(table.evictions() == 2);
  CHECK(table.find(2) == nullptr);

  // No exited entries left: the least recently touched live one goes. The
  // forks touched 1, so 4 is the oldest.
  table.on_fork(1, 7, 14 * kSec, 14 * kSec);
  CHECK(table.evictions() == 3);
  CHECK(table.find(4) == nullptr);
  CHECK(table.size() == 4);

  // set_cgroup and exec touch: 5 becomes the most recent, 6 the oldest.
  table.set_cgroup(5, 1, "/");
  table.on_exec(1, 0, 1, 0, 0, "init", "/sbin/init", {}, 1, 15 * kSec);
  table.on_exec(7, 1, 14 * kSec, 0, 0, "x", "/x", {}, 1, 15 * kSec);
  table.on_exec(5, 1, 12 * kSec, 0, 0, "y", "/y", {}, 1, 15 * kSec);
  table.on_fork(1, 8, 16 * kSec, 16 * kSec);
  CHECK(table.evictions() == 4);
  CHECK(table.find(6) == nullptr);
  for (uint32_t tgid : {1u, 5u, 7u, 8u}) CHECK(table.find(tgid) != nullptr);
}

TEST_CASE("set_cgroup stores the path and derives the container identity", "[unit]") {
  ProcessTable table;
  table.seed({snapshot(10, 1, "/bin/sh", "/user.slice/user-0.slice/session-1.scope")});
  CHECK(table.find(10)->container.id.empty());

  table.set_cgroup(10, 1234,
                   "/kubepods.slice/kubepods-besteffort.slice/"
                   "kubepods-besteffort-pod8d2b6f4e_1a3c_4e5f_9b7d_0c2e4a6f8b1d.slice/"
                   "cri-containerd-" +
                       kId + ".scope");
  const ProcessInfo* p = table.find(10);
  REQUIRE(p != nullptr);
  CHECK(p->cgroup_id == 1234);
  CHECK(p->cgroup_path.ends_with(".scope"));
  CHECK(p->container.runtime == "containerd");
  CHECK(p->container.id == kId);
  CHECK(p->container.pod_uid == "8d2b6f4e-1a3c-4e5f-9b7d-0c2e4a6f8b1d");

  table.set_cgroup(10, 1, "/");
  CHECK(table.find(10)->container.id.empty());

  table.set_cgroup(99, 1, "/docker/" + kId);  // unknown pid: nothing created
  CHECK(table.find(99) == nullptr);
}

TEST_CASE("ProcReader reads a fake proc tree and skips what it cannot read", "[unit]") {
  TempDir root;
  // A process whose comm holds spaces and ')'.
  root.write("1234/stat", stat_line(1234, "my (odd) comm", 1, 98765));
  root.write("1234/status", status_text("my (odd) comm", 1000, 0));
  root.write("1234/comm", "my (odd) comm\n");
  root.write("1234/cmdline", std::string("/opt/app/bin\0--name\0\0last arg\0", 30));
  root.write("1234/cgroup", "1:name=systemd:/legacy\n0::/system.slice/docker-" + kId + ".scope\n");
  std::filesystem::create_symlink("/opt/app/bin", root.path + "/1234/exe");
  // A kernel thread: no exe link, empty cmdline.
  root.write("2/stat", stat_line(2, "kthreadd", 0, 3));
  root.write("2/status", status_text("kthreadd", 0, 0));
  root.write("2/comm", "kthreadd\n");
  root.write("2/cmdline", "");
  root.write("2/cgroup", "0::/\n");
  // Gone midway: no stat. Malformed: no ')' in stat.
  root.write("77/status", status_text("gone", 0, 0));
  root.write("78/stat", "78 (broken S 1 2 3\n");
  root.write("78/status", status_text("broken", 0, 0));
  // Not processes.
  root.write("net/dev", "");
  root.write("uptime", "1.0 2.0\n");
  root.write("99999999999/stat", stat_line(1, "too big", 0, 1));

  ProcReader reader(root.path);
  std::vector<ProcSnapshot> all = reader.read_all();
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.tgid < b.tgid; });
  REQUIRE(all.size() == 2);

  const ProcSnapshot& kthread = all[0];
  CHECK(kthread.tgid == 2);
  CHECK(kthread.ppid == 0);
  CHECK(kthread.comm == "kthreadd");
  CHECK(kthread.exe.empty());
  CHECK(kthread.args.empty());
  CHECK(kthread.cgroup_path == "/");
  CHECK(kthread.start_ns == ticks_ns(3));

  const ProcSnapshot& app = all[1];
  CHECK(app.tgid == 1234);
  CHECK(app.ppid == 1);
  CHECK(app.comm == "my (odd) comm");
  CHECK(app.uid == 1000);
  CHECK(app.euid == 0);
  CHECK(app.exe == "/opt/app/bin");
  CHECK(app.args == std::vector<std::string>{"/opt/app/bin", "--name", "", "last arg"});
  CHECK(app.cgroup_path == "/system.slice/docker-" + kId + ".scope");
  CHECK(app.start_ns == ticks_ns(98765));

  CHECK_FALSE(reader.read(77).has_value());
  CHECK_FALSE(reader.read(78).has_value());
  CHECK_FALSE(reader.read(5555).has_value());
  CHECK(reader.cgroup_path(1234) == app.cgroup_path);
  CHECK(reader.cgroup_path(5555).empty());

  SECTION("comm falls back to stat when the comm file is missing") {
    std::filesystem::remove(root.path + "/1234/comm");
    std::optional<ProcSnapshot> again = reader.read(1234);
    REQUIRE(again.has_value());
    CHECK(again->comm == "my (odd) comm");
  }
  SECTION("a missing root reads as no processes") { CHECK(ProcReader(root.path + "/nope").read_all().empty()); }
}

TEST_CASE("ProcReader reads the test process itself from the real /proc", "[unit]") {
  char self_exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  REQUIRE(n > 0);

  ProcReader reader;
  std::optional<ProcSnapshot> self = reader.read(static_cast<uint32_t>(::getpid()));
  REQUIRE(self.has_value());
  CHECK(self->tgid == static_cast<uint32_t>(::getpid()));
  CHECK(self->exe == std::string(self_exe, static_cast<size_t>(n)));
  CHECK(self->ppid == static_cast<uint32_t>(::getppid()));
  CHECK(self->uid == ::getuid());
  CHECK(self->euid == ::geteuid());
  CHECK_FALSE(self->comm.empty());
  CHECK_FALSE(self->args.empty());
  CHECK(self->start_ns > 0);

  std::vector<ProcSnapshot> all = reader.read_all();
  CHECK(std::any_of(all.begin(), all.end(), [](const ProcSnapshot& s) { return s.tgid == uint32_t(::getpid()); }));
}

TEST_CASE("the table's approximate bytes follow its entries", "[unit]") {
  ProcessTable table(ProcessTable::Limits{8, 5 * kSec});
  const size_t empty = table.approx_bytes();
  table.seed({snapshot(1, 0, "/a")});
  const size_t one = table.approx_bytes();
  CHECK(one > empty + sizeof(ProcessInfo));
  ProcessTable longer(ProcessTable::Limits{8, 5 * kSec});
  longer.seed({snapshot(1, 0, "/a")});
  table.on_exec(1, 0, 1, 0, 0, "x", "/a", {}, 1, kSec);
  longer.on_exec(1, 0, 1, 0, 0, "x", "/a/very/long/path/to/an/executable/so/that/it/is/on/the/heap", {}, 1, kSec);
  CHECK(longer.approx_bytes() > table.approx_bytes());
  CHECK(table.limit() == 8);
  for (uint32_t t = 2; t < 40; ++t) table.on_fork(1, t, t * kSec, t * kSec);
  CHECK(table.size() == 8);  // bounded: the memory is too
  const size_t full = table.approx_bytes();
  for (uint32_t t = 40; t < 400; ++t) table.on_fork(1, t, t * kSec, t * kSec);
  CHECK(table.approx_bytes() <= full + 64 * sizeof(void*));  // only the hash buckets may differ
}

TEST_CASE("ProcReader survives processes that exit while it reads /proc", "[unit]") {
  // Children that live for microseconds, forked for as long as the reader
  // scans: each read either gets a whole snapshot or skips the process.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> spawned{0};
  std::thread storm([&] {
    while (!stop.load()) {
      pid_t pid = ::fork();
      if (pid == 0) ::_exit(0);
      if (pid > 0) {
        ::waitpid(pid, nullptr, 0);
        ++spawned;
      }
    }
  });
  ProcReader reader;
  size_t scans = 0, seen = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    for (const auto& s : reader.read_all()) {
      ++seen;
      CHECK(s.tgid != 0);
      CHECK(s.start_ns > 0);
    }
    // A pid that just exited reads as absent, never as an error.
    for (uint32_t pid = 1; pid < 64; ++pid) (void)reader.read(pid);
    ++scans;
  }
  stop = true;
  storm.join();
  INFO("scans " << scans << ", snapshots " << seen << ", children " << spawned.load());
  CHECK(scans > 0);
  CHECK(spawned.load() > 100);
  CHECK(reader.read(static_cast<uint32_t>(::getpid())).has_value());
}

TEST_CASE("a kill reaches only the process that started when the event said", "[unit]") {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  REQUIRE(child > 0);
  ProcReader reader;
  auto started = reader.start_ns(static_cast<uint32_t>(child));
  REQUIRE(started);
  // Another process's start time (one that held the pid a second earlier): not signalled.
  CHECK_FALSE(reader.signal_if_same(static_cast<uint32_t>(child), *started - 1'000'000'000, SIGKILL));
  int status = 0;
  CHECK(waitpid(child, &status, WNOHANG) == 0);  // still running
  // Its own start time: killed.
  CHECK(reader.signal_if_same(static_cast<uint32_t>(child), *started, SIGKILL));
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  // Gone: nothing is sent.
  CHECK_FALSE(reader.signal_if_same(static_cast<uint32_t>(child), *started, SIGKILL));
}
