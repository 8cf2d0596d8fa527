// e2e tier, overload: a ring buffer far too small for a burst, and
// kernel rate limits. A forced overflow must name the process that lost
// events in an "overload" record and a log line; a fail-closed enforce-mode
// policy then quarantines that process (its connect fails with EPERM) and a
// fail-open one does not. A noisy process over its cgroup's rate loses its
// excess (counted, and named) while a quiet one in another cgroup loses
// nothing. And rampartd copes with processes that exit while it reads
// /proc. Everything is scoped: the policy selects a copy of bash in the
// test's scratch dir, and the rate-limit children run in scratch cgroups.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/net.h"
#include "support/policed.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::Listener;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;

namespace {

// Scoped like every e2e config, with no API socket, no metrics port and no
// pins, so that it cannot collide with another rampartd on the machine.
const std::string kIsolated =
    "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n  pin_dir: \"\"\napi:\n  socket: \"\"\n"
    "metrics:\n  address: \"\"\n";

// An 8 KiB ring buffer (about 20 open records) that wakes rampartd only when
// nearly full: a burst of opens overflows it.
const std::string kTinyRing = kIsolated +
                              "ringbuf:\n  size_kb: 8\n  wakeup_kb: 7\n  poll_interval_ms: 1000\n"
                              "overload:\n  check_interval_ms: 50\n";

// The policed bash prints its pid, opens /dev/null 30000 times, waits for
// rampartd to act on the losses, then connects to a port its policy allows.
std::string burst_then_connect(uint16_t port) {
  return "echo pid=$$; for ((i=0;i<30000;i++)); do : > /dev/null; done; sleep 1; exec 3<>/dev/tcp/127.0.0.1/" +
         std::to_string(port) + " && echo connected";
}

uint32_t pid_in(const std::string& out) {
  auto at = out.find("pid=");
  return at == std::string::npos ? 0 : static_cast<uint32_t>(std::stoul(out.substr(at + 4)));
}

std::vector<json> of_type(const std::vector<json>& events, const std::string& type) {
  std::vector<json> out;
  for (const auto& e : events)
    if (e["type"] == type) out.push_back(e);
  return out;
}

std::vector<json> overloads_of(const std::vector<json>& events, uint32_t pid) {
  std::vector<json> out;
  for (const auto& e : of_type(events, "overload"))
    if (e["proc"]["pid"] == pid) out.push_back(e);
  return out;
}

// The exit stats line: drops per CPU add up to the drops of each type.
void check_drop_accounting(const std::vector<json>& events) {
  auto stats = of_type(events, "stats");
  REQUIRE_FALSE(stats.empty());
  const json& last = stats.back();
  uint64_t dropped = 0;
  for (const auto& [type, c] : last["events"].items()) {
    uint64_t per_cpu = 0;
    for (const auto& d : c["dropped_per_cpu"]) per_cpu += d.get<uint64_t>();
    CHECK(per_cpu == c["dropped"].get<uint64_t>());
    dropped += c["dropped"].get<uint64_t>();
  }
  CHECK(last["events"]["open"]["dropped"].get<uint64_t>() > 0);
  CHECK(dropped > 0);
  CHECK(last["overload"]["alerts"].get<uint64_t>() > 0);
}

// Runs the burst under `overload` and returns (the shell's output, the
// overload records naming it, every event).
struct BurstOutcome {
  std::string out;
  uint32_t pid = 0;
  std::vector<json> records, events;
  std::string stderr_text;
};

BurstOutcome run_burst(const std::string& overload) {
  Listener allowed;
  const std::string spec = "  overload: " + overload +
                           "\n  allow:\n    network:\n      connect: [\"127.0.0.1:" + std::to_string(allowed.port()) +
                           "\"]\n";
  PolicedBash s("enforce", spec, kTinyRing);
  REQUIRE(s.ready());
  BurstOutcome o;
  o.out = run_shell(s.bash(), burst_then_connect(allowed.port())).second;
  o.pid = pid_in(o.out);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  o.stderr_text = s.stderr_text();
  s.stop();
  o.events = s.events();
  o.records = overloads_of(o.events, o.pid);
  return o;
}

void check_names_the_burst(const BurstOutcome& o, const std::string& overload, const std::string& action) {
  INFO("shell output: " << o.out);
  REQUIRE(o.pid != 0);
  // Records from before the exec (the forked test process opening its
  // output file) carry the old comm; the burst's carry the policed bash's.
  std::vector<json> bash;
  for (const auto& r : o.records)
    if (r["proc"]["comm"] == "policed-bash") bash.push_back(r);
  REQUIRE_FALSE(bash.empty());
  uint64_t dropped = 0;
  bool acted = false;
  for (const auto& r : bash) {
    CHECK(r["reason"].get<std::string>().find("ring_buffer_full") != std::string::npos);
    dropped += r["dropped"].get<uint64_t>();
    // Losses read after the process exited (its last events) name no policy.
    if (r["action"] == "exited") continue;
    CHECK(r["policy"] == "e2e-policed");
    CHECK(r["mode"] == "enforce");
    CHECK(r["overload"] == overload);
  }
  // The first loss can be read while the record still carries the comm from
  // before the exec (a loaded machine reaches the overflow sooner), and it
  // is the one that acts; later ones find the verdict taken. So the action
  // may be on any record of the pid, and one that acts names the policy.
  for (const auto& r : o.records) {
    if (r["action"] != action) continue;
    acted = true;
    CHECK(r["policy"] == "e2e-policed");
    CHECK(r["overload"] == overload);
  }
  CHECK(dropped > 0);
  CHECK(acted);
  // The burst lost opens. The first record may name only what bash lost
  // while it started (an exec, an mmap), so any record counts.
  bool lost_opens = false;
  for (const auto& r : bash) {
    const auto& types = r["lost_types"];
    lost_opens = lost_opens || std::find(types.begin(), types.end(), "open") != types.end();
  }
  CHECK(lost_opens);
  // The log names it too.
  CHECK(o.stderr_text.find("pid " + std::to_string(o.pid) + " (policed-bash)") != std::string::npos);
  check_drop_accounting(o.events);
}

}  // namespace

TEST_CASE("overload: a forced ring-buffer overflow names the process, and fail-closed quarantines it", "[e2e]") {
  auto o = run_burst("fail-closed");
  check_names_the_burst(o, "fail-closed", "quarantined");
  INFO("shell output: " << o.out);
  CHECK(o.out.find("connected") == std::string::npos);
  CHECK(o.out.find("Operation not permitted") != std::string::npos);
  CHECK(o.stderr_text.find("quarantined") != std::string::npos);
}

TEST_CASE("overload: fail-open alerts on the same overflow and refuses nothing", "[e2e]") {
  auto o = run_burst("fail-open");
  check_names_the_burst(o, "fail-open", "alert");
  INFO("shell output: " << o.out);
  CHECK(o.out.find("connected") != std::string::npos);
  for (const auto& r : o.records) CHECK((r["action"] == "alert" || r["action"] == "exited"));
}

TEST_CASE("rate limits: a noisy cgroup loses its excess, counted and named, and a quiet one loses nothing", "[e2e]") {
  // Per cgroup 2000 events/s with a burst of 500; per process 5000/s, 1000.
  const std::string config = kIsolated +
                             "ratelimit:\n  process_per_s: 5000\n  process_burst: 1000\n  cgroup_per_s: 2000\n"
                             "  cgroup_burst: 500\noverload:\n  check_interval_ms: 100\nringbuf:\n  size_mb: 64\n";
  PolicedBash s("audit", "", config);
  REQUIRE(s.ready());
  rampart::testing::ScratchCgroup noisy_cg("noisy"), quiet_cg("quiet");
  const std::string noisy_path = s.dir() + "/noisy-file", quiet_path = s.dir() + "/quiet-file";
  std::ofstream(noisy_path) << "x";
  std::ofstream(quiet_path) << "x";
  constexpr int kNoisy = 20000, kQuiet = 300;

  auto opener = [](const rampart::testing::ScratchCgroup& cg, const std::string& path, int n, int pause_us) {
    // The child starts once it is in the cgroup, so that all its opens count there.
    int go[2];
    REQUIRE(pipe(go) == 0);
    pid_t pid = rampart::testing::spawn_child([go, path, n, pause_us] {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) != 1) return 2;
      for (int i = 0; i < n; ++i) {
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) close(fd);
        if (pause_us) usleep(static_cast<useconds_t>(pause_us));
      }
      return 0;
    });
    close(go[0]);
    CHECK(cg.add(pid));
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    return pid;
  };
  pid_t quiet = opener(quiet_cg, quiet_path, kQuiet, 2000);  // about 400 opens/s, within the burst anyway
  pid_t noisy = opener(noisy_cg, noisy_path, kNoisy, 0);     // as fast as it can
  int st = 0;
  REQUIRE(waitpid(noisy, &st, 0) == noisy);
  CHECK(WEXITSTATUS(st) == 0);
  REQUIRE(waitpid(quiet, &st, 0) == quiet);
  CHECK(WEXITSTATUS(st) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  s.stop();
  auto events = s.events();

  size_t noisy_delivered = 0, quiet_delivered = 0;
  for (const auto& e : of_type(events, "open")) {
    if (e["proc"]["tgid"] == noisy) ++noisy_delivered;
    if (e["proc"]["tgid"] == quiet) ++quiet_delivered;
  }
  uint64_t noisy_limited = 0, noisy_dropped = 0;
  for (const auto& r : overloads_of(events, static_cast<uint32_t>(noisy))) {
    noisy_limited += r["rate_limited"].get<uint64_t>();
    noisy_dropped += r["dropped"].get<uint64_t>();
    CHECK(r["reason"].get<std::string>().find("rate_limited") != std::string::npos);
    CHECK(r["lost_types"] == json::array({"open"}));
    CHECK((r["action"] == "alert" || r["action"] == "exited"));
  }
  INFO("noisy: delivered " << noisy_delivered << ", rate-limited " << noisy_limited << ", dropped " << noisy_dropped
                           << "; quiet: delivered " << quiet_delivered);
  // Every event of the noisy process is accounted for: delivered, or lost and named.
  CHECK(noisy_delivered + noisy_limited + noisy_dropped == kNoisy);
  CHECK(noisy_limited > kNoisy / 2);
  CHECK(noisy_delivered >= 500);  // at least its cgroup's burst got through
  // The quiet process, in its own cgroup, lost nothing.
  CHECK(quiet_delivered == kQuiet);
  CHECK(overloads_of(events, static_cast<uint32_t>(quiet)).empty());

  auto stats = of_type(events, "stats");
  REQUIRE_FALSE(stats.empty());
  CHECK(stats.back()["events"]["open"]["rate_limited"].get<uint64_t>() >= noisy_limited);
  CHECK(stats.back()["events"]["exec"]["rate_limited"] == 0);  // never limited
}

TEST_CASE("/proc races: rampartd starts and runs while thousands of processes exit under its /proc reads", "[e2e]") {
  // Short-lived children for the whole test: rampartd's start-up scan of
  // /proc and its per-event lookups of unknown pids race their exits.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> spawned{0};
  std::thread storm([&] {
    while (!stop.load()) {
      pid_t pid = fork();
      if (pid == 0) {
        if (spawned.load() % 4 == 0) execl("/bin/true", "true", nullptr);
        _exit(0);
      }
      if (pid > 0) {
        waitpid(pid, nullptr, 0);
        ++spawned;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PolicedBash s("audit", "", kIsolated);
  const bool ready = s.ready();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  storm.join();
  REQUIRE(ready);
  s.stop();
  const std::string err = s.stderr_text();
  INFO("children " << spawned.load() << "; stderr:\n" << err);
  CHECK(spawned.load() > 500);
  CHECK(err.find("error") == std::string::npos);
  CHECK(err.find("detached; exiting") != std::string::npos);  // an orderly exit, not a crash
  auto events = s.events();
  CHECK(of_type(events, "exit").size() > 100);
  auto stats = of_type(events, "stats");
  REQUIRE_FALSE(stats.empty());
  for (const auto& [reason, n] : stats.back()["decode_errors"].items()) CHECK(n == 0);
}
