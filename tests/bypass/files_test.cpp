// bypass tier, files: attempts to walk around a file deny enforced through
// fanotify, each after its control (the plain operation, refused). The
// attacker is a copy of files_attacker selected by a policy; the protected
// files live on a scratch tmpfs, the only thing rampartd marks. The guard's
// own failure modes are here too: a stalled decision thread, a rampartd
// killed while an open waits on it, and fault injection, which only the test
// build (rampartd_faults) honours.
#include "support/files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/policed.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::Daemon;
using rampart::testing::policy_for;
using rampart::testing::run_shell;
using rampart::testing::ScratchTmpfs;
using rampart::testing::slurp;
using rampart::testing::TempDir;
using rampart::testing::timeout_scale;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kOriginal = "original contents\n";

// rampartd (or another build of it) with one enforce-mode policy selecting a
// copy of the attacker in its directory, on a config that marks nothing of
// the machine's own: only the files the deny rules name, on the scratch tmpfs.
struct Attacked {
  Daemon d;
  std::string attacker;
  Attacked(const std::string& spec, const std::string& extra_config = "", const std::string& binary = "")
      : d({.config = "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n" + extra_config,
           .binary = binary,
           .start = false}) {
    attacker = d.path("attacker");
    std::filesystem::copy_file(RAMPART_FILES_ATTACKER, attacker);
    chmod(attacker.c_str(), 0755);
    d.write_policy("files.yaml", policy_for("bypass-files", attacker, "enforce", spec));
    d.start();
  }
  // Runs the attacker with args; its output, then "rc=N" (137: killed).
  std::string run(const std::string& args) const {
    return run_shell("/bin/bash", attacker + " " + args + "; echo rc=$?").second;
  }
  std::vector<json> enforce_events() {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    d.stop();
    std::vector<json> out;
    for (auto& e : d.events())
      if (e["type"] == "enforce") out.push_back(std::move(e));
    return out;
  }
};

std::string deny_files(const std::string& access, const std::string& path) {
  return "  deny:\n    - id: protect-file\n      files: { " + access + ": [\"" + path + "\"] }\n";
}

std::string protected_file(const ScratchTmpfs& fs, const std::string& name = "protected.txt") {
  std::string p = fs.path + "/" + name;
  std::ofstream(p) << kOriginal;
  return p;
}

bool has(const std::string& out, const std::string& line) { return out.find(line + "\n") != std::string::npos; }

// The control of a read-deny attempt: a plain read of `target` is refused.
void expect_read_refused(const Attacked& a, const std::string& target) {
  std::string out = a.run("read " + target);
  INFO(out);
  CHECK(has(out, "open_read=EPERM"));
  CHECK(has(out, "rc=0"));
}

// open(path, flags) from this process: how long it took (ms) and whether it opened.
struct TimedOpen {
  long ms = 0;
  bool ok = false;
};
TimedOpen timed_open(const std::string& path, int flags) {
  auto t0 = Clock::now();
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  TimedOpen r{std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(), fd >= 0};
  if (fd >= 0) close(fd);
  return r;
}

// Polls pred every 5 ms for up to a second.
bool eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 200 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return pred();
}

// n opens of path for reading at once, from threads of this process, while
// something holds rampartd. release() ends that hold, once: after the opens
// returned, or after 4 x bound_ms if they have not (the test then fails
// instead of hanging).
std::vector<TimedOpen> held_opens(const std::string& path, size_t n, long bound_ms,
                                  const std::function<void()>& release) {
  std::vector<TimedOpen> opens(n);
  std::vector<std::thread> threads;
  for (auto& o : opens) threads.emplace_back([&o, &path] { o = timed_open(path, O_RDONLY); });
  std::atomic<bool> joined{false};
  std::thread rescue([&] {
    for (long waited = 0; !joined && waited < 4 * bound_ms; waited += 10)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    release();
  });
  for (auto& t : threads) t.join();
  joined = true;
  rescue.join();
  return opens;
}

// perm_guard.deadline_expired from rampartd's exit stats (0 when not reported).
uint64_t deadline_expired(const Daemon& d) {
  uint64_t n = 0;
  for (const auto& e : d.events())
    if (e["type"] == "stats" && e.contains("perm_guard")) n = e["perm_guard"].value("deadline_expired", uint64_t{0});
  return n;
}

// Sets an environment variable for the rampartd started in this scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE(
    "an O_WRONLY|O_TRUNC open of a write-denied file from a second thread, while the first thread sits in open() of "
    "a FIFO, fails with EPERM every time and the file keeps its content",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  std::string fifo = fs.dir + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  Attacked a(deny_files("write", target));
  REQUIRE(a.d.ready());

  // Control: the plain open from the process's only thread.
  std::string out = a.run("open-write " + target);
  INFO(out);
  CHECK(has(out, "open_write=EPERM"));
  CHECK(slurp(target) == kOriginal);

  // The attempt: the process's main thread is in an open that reads (of the
  // FIFO) when the second thread's open that writes asks the guard.
  constexpr int kRounds = 20;
  out = a.run("race " + fifo + " " + target + " " + std::to_string(kRounds));
  INFO(out);
  CHECK(has(out, "refused=" + std::to_string(kRounds)));
  CHECK(has(out, "opened=0"));
  CHECK(has(out, "rc=0"));
  CHECK(slurp(target) == kOriginal);  // byte for byte: never truncated

  auto enforce = a.enforce_events();
  CHECK(enforce.size() == kRounds + 1);
  for (const auto& e : enforce) {
    CHECK(e["op"] == "open");
    CHECK(e["action"] == "denied");
    CHECK(e["mechanism"] == a.d.file_mechanism());
    CHECK(e["path"] == target);
  }
}

TEST_CASE(
    "an O_PATH open of a read-denied file succeeds and its process is not killed, while a plain O_RDONLY open of it "
    "fails with EPERM",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs, "secret.txt");
  Attacked a(deny_files("read", target));
  REQUIRE(a.d.ready());
  expect_read_refused(a, target);

  // O_PATH reads nothing: allowed, and no after-the-fact kill follows.
  std::string out = a.run("opath " + target);
  INFO(out);
  CHECK(has(out, "open_path=ok"));
  CHECK(has(out, "fstat=ok"));
  CHECK(has(out, "alive=yes"));
  CHECK(has(out, "rc=0"));

  auto enforce = a.enforce_events();
  REQUIRE(enforce.size() == 1);  // the control's refusal, nothing for the O_PATH open
  CHECK(enforce[0]["action"] == "denied");
  CHECK(enforce[0]["mechanism"] == a.d.file_mechanism());
}

TEST_CASE(
    "a read-denied file reached through a symlink, through an O_PATH fd reopened by /proc/self/fd, and by openat2 "
    "with RESOLVE_* flags fails with EPERM every time",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs, "secret.txt");
  Attacked a(deny_files("read", target));
  REQUIRE(a.d.ready());
  expect_read_refused(a, target);

  // A symlink elsewhere (outside the marked tmpfs): the open lands on the file.
  TempDir elsewhere("/tmp/rampart-symlink-XXXXXX");
  const std::string link = elsewhere.path() + "/innocent";
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  std::string out = a.run("read " + link);
  INFO(out);
  CHECK(has(out, "open_read=EPERM"));
  CHECK(out.find("read_bytes") == std::string::npos);

  // O_PATH reads nothing; reopening it through its magic link is an open.
  out = a.run("reopen " + target);
  INFO(out);
  CHECK(has(out, "open_path=ok"));
  CHECK(has(out, "reopen=EPERM"));
  CHECK(out.find("read_bytes") == std::string::npos);

  // openat2's path resolution modes, and RESOLVE_CACHED (no slow path).
  out = a.run("openat2 " + fs.path + " secret.txt");
  INFO(out);
  CHECK(has(out, "openat2=EPERM"));
  // From the dcache or not at all: EAGAIN says it would have to look further.
  CHECK((has(out, "openat2_cached=EPERM") || has(out, "openat2_cached=" + std::string(std::strerror(EAGAIN)))));
  CHECK(has(out, "rc=0"));

  auto enforce = a.enforce_events();
  CHECK(enforce.size() >= 4);
  for (const auto& e : enforce) {
    CHECK(e["action"] == "denied");
    CHECK(e["mechanism"] == a.d.file_mechanism());
  }
  CHECK(slurp(target) == kOriginal);
}

TEST_CASE(
    "truncate(2) of a write-denied file is refused with EPERM in the kernel's security hooks, and without them it is "
    "seen as a write and its process killed after the fact",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs, "config.txt");
  Attacked a(deny_files("write", target));
  REQUIRE(a.d.ready());

  // Control: an open for writing is refused.
  std::string out = a.run("open-write " + target);
  INFO(out);
  CHECK(has(out, "open_write=EPERM"));
  CHECK(slurp(target) == kOriginal);

  // truncate(2) opens nothing: no fanotify permission event.
  out = a.run("truncate " + target);
  INFO(out);
  auto enforce = a.enforce_events();
  REQUIRE(enforce.size() == 2);
  CHECK(enforce[1]["op"] == "open");
  CHECK(enforce[1]["path"] == target);
  if (a.d.lsm()) {
    CHECK(has(out, "truncate=EPERM"));
    CHECK(has(out, "alive=yes"));
    CHECK(slurp(target) == kOriginal);
    CHECK(enforce[1]["action"] == "denied");
    CHECK(enforce[1]["mechanism"] == a.d.hooks_mechanism());
    return;
  }
  // Without the hooks nothing can refuse it: it happens, then the process dies.
  CHECK(has(out, "truncate=ok"));
  CHECK(out.find("alive=yes") == std::string::npos);
  CHECK(has(out, "rc=137"));
  CHECK(enforce[1]["action"] == "killed");
  CHECK(enforce[1]["mechanism"] == "rampartd_kill");
  CHECK(enforce[1]["operation_completed"] == "yes");
  bool seen = false;
  for (const auto& e : a.d.events())
    if (e["type"] == "open" && e["syscall"] == "truncate" && e["path"] == target) seen = e["truncate"] == true;
  CHECK(seen);
}

TEST_CASE(
    "a stalled decision thread holds no open past the deadline: four opens waiting at once all return within about "
    "decision_deadline_ms, and the stall is counted",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  ScopedEnv delay("RAMPART_FAULT_GUARD_DELAY_MS", "5000");
  constexpr long kDeadlineMs = 200;
  Attacked a(deny_files("write", target), "  decision_deadline_ms: " + std::to_string(kDeadlineMs) + "\n",
             RAMPARTD_FAULTS_PATH);
  REQUIRE(a.d.ready());
  if (a.d.lsm()) return;  // no fanotify guard: the LSM hooks decide in the kernel
  CHECK(a.d.stderr_text().find("fault injection") != std::string::npos);

  // Every open of the marked file goes through the stalled guard. The first
  // is in the decision thread's hands, the others queue behind it.
  std::vector<TimedOpen> opens(4);
  std::vector<std::thread> threads;
  for (auto& o : opens) threads.emplace_back([&o, &target] { o = timed_open(target, O_RDONLY); });
  for (auto& t : threads) t.join();
  const long bound = (kDeadlineMs + 800) * timeout_scale();
  for (size_t i = 0; i < opens.size(); ++i) {
    std::printf("stalled guard: open %zu returned after %ld ms (deadline %ld ms, bound %ld ms)\n", i, opens[i].ms,
                kDeadlineMs, bound);
    CHECK(opens[i].ok);                     // answered "allow" at the deadline
    CHECK(opens[i].ms >= kDeadlineMs / 2);  // control: the guard did hold it
    CHECK(opens[i].ms < bound);
  }

  // Stopping does not wait for the stalled decision either.
  auto t0 = Clock::now();
  a.d.stop();
  const long stop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("stalled guard: rampartd stopped in %ld ms (stall 5000 ms)\n", stop_ms);
  CHECK(stop_ms < 4000 * timeout_scale());
  CHECK(deadline_expired(a.d) >= opens.size());
}

TEST_CASE("rampartd SIGKILLed while a process waits on its permission event: the process goes on", "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  // A decision that takes 20 s under a 60 s deadline: the open waits on rampartd.
  ScopedEnv delay("RAMPART_FAULT_GUARD_DELAY_MS", "20000");
  Attacked a(deny_files("write", target), "  decision_deadline_ms: 60000\n", RAMPARTD_FAULTS_PATH);
  REQUIRE(a.d.ready());
  if (a.d.lsm()) return;

  std::atomic<bool> done{false};
  TimedOpen result;
  std::thread opener([&] {
    result = timed_open(target, O_RDONLY);
    done = true;
  });
  // Control: while rampartd lives, the open is held.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  CHECK_FALSE(done.load());

  auto t0 = Clock::now();
  a.d.kill_hard();
  while (!done && Clock::now() - t0 < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const long after_kill = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::printf("SIGKILLed rampartd: the waiting open returned %ld ms after the kill (%ld ms in all)\n", after_kill,
              result.ms);
  CHECK(done.load());
  if (!done) a.d.stop();  // nothing else can release it
  opener.join();
  CHECK(result.ok);  // the kernel closed the fd: allowed
  CHECK(after_kill < 2000 * timeout_scale());
}

TEST_CASE(
    "a SIGSTOPped rampartd holds no open past about twice decision_deadline_ms: its watchdog process lets it "
    "through, and once rampartd runs again a denied write is refused",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  constexpr long kDeadlineMs = 300;
  Attacked a(deny_files("write", target), "  decision_deadline_ms: " + std::to_string(kDeadlineMs) + "\n");
  REQUIRE(a.d.ready());
  if (a.d.lsm()) return;  // no fanotify guard: the LSM hooks decide in the kernel
  // Control: the write is refused while rampartd runs.
  CHECK(has(a.run("open-write " + target), "open_write=EPERM"));

  REQUIRE(kill(a.d.pid(), SIGSTOP) == 0);
  REQUIRE(eventually([&] {
    std::string st = slurp("/proc/" + std::to_string(a.d.pid()) + "/stat");
    size_t at = st.rfind(')');
    return at != std::string::npos && at + 2 < st.size() && st[at + 2] == 'T';
  }));
  // Opens of the marked file by a process outside the policy: the guard
  // holds each until it is answered, and nothing in rampartd runs.
  const long bound = (3 * kDeadlineMs + 800) * timeout_scale();
  auto opens = held_opens(target, 3, bound, [&] { kill(a.d.pid(), SIGCONT); });
  for (size_t i = 0; i < opens.size(); ++i) {
    std::printf("stopped rampartd: open %zu returned after %ld ms (deadline %ld ms, bound %ld ms)\n", i, opens[i].ms,
                kDeadlineMs, bound);
    CHECK(opens[i].ok);
    CHECK(opens[i].ms < bound);
  }
  CHECK(std::max({opens[0].ms, opens[1].ms, opens[2].ms}) >= kDeadlineMs);  // control: they were held
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(has(a.run("open-write " + target), "open_write=EPERM"));
  CHECK(slurp(target) == kOriginal);
  a.d.stop();
  CHECK(deadline_expired(a.d) >= opens.size());
}

TEST_CASE(
    "a frozen rampartd (cgroup.freeze of its cgroup) holds no open past about twice decision_deadline_ms: its "
    "watchdog lives in a cgroup of its own",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  constexpr long kDeadlineMs = 300;
  Attacked a(deny_files("write", target), "  decision_deadline_ms: " + std::to_string(kDeadlineMs) + "\n");
  REQUIRE(a.d.ready());
  if (a.d.lsm()) return;
  CHECK(has(a.run("open-write " + target), "open_write=EPERM"));  // control
  rampart::testing::ScratchCgroup cg("frozen-rampartd");
  REQUIRE(cg.add(a.d.pid()));
  std::ofstream(cg.path() + "/cgroup.freeze") << "1\n";
  REQUIRE(eventually([&] { return slurp(cg.path() + "/cgroup.events").find("frozen 1") != std::string::npos; }));
  const long bound = (3 * kDeadlineMs + 800) * timeout_scale();
  const TimedOpen held =
      held_opens(target, 1, bound, [&] { std::ofstream(cg.path() + "/cgroup.freeze") << "0\n"; }).front();
  std::printf("frozen rampartd: the open returned after %ld ms (deadline %ld ms, bound %ld ms)\n", held.ms, kDeadlineMs,
              bound);
  CHECK(held.ok);
  CHECK(held.ms >= kDeadlineMs);  // control: it was held
  CHECK(held.ms < bound);
  // Thawed, it refuses again; moved back, so that the scratch cgroup can go.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(has(a.run("open-write " + target), "open_write=EPERM"));
  a.d.stop();
  CHECK(deadline_expired(a.d) >= 1);
}

TEST_CASE(
    "a forbidden PTRACE_ATTACH without the hooks: the tracer is killed before its next instruction, and its target, "
    "stopped by the attach, runs again",
    "[bypass]") {
  Attacked a("  allow:\n    privilege:\n      ptrace: false\n");
  REQUIRE(a.d.ready());
  if (a.d.lsm()) return;  // the hooks refuse the attach itself (lsm tier)
  const pid_t target = fork();
  REQUIRE(target >= 0);
  if (target == 0) {
    execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto state = [target] {
    std::string st = slurp("/proc/" + std::to_string(target) + "/stat");
    size_t at = st.rfind(')');
    return at != std::string::npos && at + 2 < st.size() ? st[at + 2] : '?';
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(state() == 'S');
  std::string out = a.run("ptrace-attach " + std::to_string(target));
  INFO(out);
  CHECK(has(out, "rc=137"));                  // killed at the syscall's exit
  CHECK_FALSE(has(out, "ptrace_attach=ok"));  // before it could print
  char seen = '?';
  for (int i = 0; i < 300 && (seen = state()) != 'S'; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(seen == 'S');  // not T: continued
  kill(target, SIGKILL);
  waitpid(target, nullptr, 0);
}

TEST_CASE(
    "RAMPART_FAULT_GUARD_DELAY_MS slows the test build's decisions, and the shipped rampartd ignores it: its "
    "decisions are not delayed",
    "[bypass]") {
  ScratchTmpfs fs;
  std::string target = protected_file(fs);
  ScopedEnv delay("RAMPART_FAULT_GUARD_DELAY_MS", "3000");
  const std::string config = "  decision_deadline_ms: 1000\n";

  {  // Control: the test build honours it; an open of the marked file waits out the deadline.
    Attacked a(deny_files("write", target), config, RAMPARTD_FAULTS_PATH);
    REQUIRE(a.d.ready());
    if (a.d.lsm()) return;
    CHECK(a.d.stderr_text().find("fault injection") != std::string::npos);
    auto o = timed_open(target, O_RDONLY);
    std::printf("fault build: open took %ld ms\n", o.ms);
    CHECK(o.ms >= 800);
  }
  Attacked a(deny_files("write", target), config);
  REQUIRE(a.d.ready());
  CHECK(a.d.stderr_text().find("fault injection") == std::string::npos);
  auto o = timed_open(target, O_RDONLY);
  std::printf("shipped build: open took %ld ms\n", o.ms);
  CHECK(o.ok);
  CHECK(o.ms < 500);
  // And the guard still refuses: the variable did not switch anything off.
  std::string out = a.run("open-write " + target);
  INFO(out);
  CHECK(has(out, "open_write=EPERM"));
  a.d.stop();
  CHECK(deadline_expired(a.d) == 0);
}
