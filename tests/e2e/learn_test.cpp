// e2e: learned profiles, on the real kernel, with the real rampartd and
// rampartctl. A small loopback server (learn_workload.cpp, run from a
// scratch tmpfs, the only filesystem rampartd marks) is learned under a
// policy in mode learn, exported, shadowed and enforced; then it deviates.
// Also: a profile survives a restart, and a corrupt profile file is
// reported and set aside.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "support/ctl.h"
#include "support/files.h"
#include "support/net.h"
#include "support/rampartd.h"
#include "support/scratch_tmpfs.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::ctl;
using rampart::testing::Daemon;
using rampart::testing::free_port;
using rampart::testing::json_u64;
using rampart::testing::Listener;
using rampart::testing::ScratchTmpfs;
using rampart::testing::slurp;

namespace {

// One request to the workload: a line out, a line back ("" if it could not connect).
std::string ask(uint16_t port, const std::string& line) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    std::string out = line + "\n";
    (void)!write(fd, out.data(), out.size());
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

// The workload installed on a scratch tmpfs, with its config and log
// directories, a loopback backend, and rampartd with a learn policy for it.
class LearnSetup {
 public:
  // learning: more keys of the config's learning section (state_dir and
  // flush_interval_s are set here).
  explicit LearnSetup(std::string learning = "  stability_window_s: 1\n  shadow_period_s: 3600\n")
      : learning_(std::move(learning)),
        fs_("/run/rampart-learn-XXXXXX"),
        base_(fs_.path + "/app"),
        port_(free_port()),
        daemon_({.config = config(), .api = true, .dir_template = "/tmp/rampart-api-XXXXXX", .start = false}) {
    std::filesystem::create_directories(base_ + "/conf");
    std::filesystem::create_directories(base_ + "/log");
    std::filesystem::create_directories(base_ + "/other");
    std::ofstream(base_ + "/conf/app.conf") << "greeting=hello\n";
    exe_ = fs_.install(LEARN_WORKLOAD_PATH, "server");
    // Quarantine at 50: a new executable (50 points) is enough on its own.
    daemon_.write_policy("server.yaml",
                         rampart::testing::policy_for("server", exe_, "learn",
                                                      "  scoring:\n    thresholds: {alert: 80, deny: 60, "
                                                      "quarantine: 50, kill: 5}\n"));
    REQUIRE(daemon_.start());
  }
  ~LearnSetup() { stop_workload(); }

  std::string config() const {
    return "enforcement:\n  exec_mounts: [\"" + fs_.path + "\"]\n  file_mounts: [\"" + fs_.path +
           "\"]\n  sensitive_paths: []\n  pin_dir: \"\"\nmetrics:\n  address: \"\"\n"
           "learning:\n  state_dir: " +
           fs_.dir + "/state\n  flush_interval_s: 1\n" + learning_;
  }

  void start_workload() {
    const std::string exe = exe_, base = base_, port = std::to_string(port_), backend = std::to_string(backend_.port());
    workload_ = rampart::testing::spawn_child([&] {
      execl(exe.c_str(), exe.c_str(), base.c_str(), port.c_str(), backend.c_str(), nullptr);
      return 127;
    });
    for (int i = 0; i < 250 && ask(port_, "GET") != "ok"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  void stop_workload() {
    if (workload_ <= 0) return;
    ask(port_, "QUIT");
    kill(workload_, SIGKILL);
    waitpid(workload_, nullptr, 0);
    workload_ = -1;
  }
  // n normal requests; returns how many were answered "ok".
  int serve(int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += ask(port_, "GET") == "ok";
    return ok;
  }
  rampart::testing::CtlResult ctl(std::vector<std::string> args) const {
    return rampart::testing::ctl(daemon_.socket(), args);
  }
  json status() const {
    auto r = ctl({"--json", "profile", "status", "server"});
    REQUIRE(r.code == 0);
    return json::parse(r.out)["profiles"][0];
  }
  // Lets the last events arrive (flushed within the poll interval).
  std::vector<json> events_after(size_t skip) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto all = daemon_.events();
    return std::vector<json>(all.begin() + static_cast<long>(std::min(skip, all.size())), all.end());
  }

  std::string learning_;
  ScratchTmpfs fs_;
  std::string base_, exe_;
  uint16_t port_;
  Listener backend_;
  Daemon daemon_;
  pid_t workload_ = -1;
};

bool is_workload(const json& e, pid_t server) { return e["proc"]["tgid"] == server || e["proc"]["ppid"] == server; }

}  // namespace

TEST_CASE("learn: a loopback server is learned, exported, enforced, and its deviations are stopped", "[e2e]") {
  LearnSetup s;
  REQUIRE(s.daemon_.ready());
  s.start_workload();
  CHECK(s.serve(300) == 300);

  // Learned: its executable, config, log, backend and port.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto shown = s.ctl({"profile", "show", "server"});
  REQUIRE(shown.code == 0);
  INFO(shown.out);
  for (const std::string& item : {s.exe_, s.base_ + "/conf/app.conf", s.base_ + "/log/app.log",
                                  "127.0.0.1:" + std::to_string(s.backend_.port()), std::to_string(s.port_)})
    CHECK(shown.out.find(item) != std::string::npos);

  auto exported = s.ctl({"profile", "export", "server"});
  REQUIRE(exported.code == 0);
  INFO(exported.out);
  CHECK(exported.out.find("mode: enforce") != std::string::npos);
  // The config: read at start, by the GET that found the server ready, and by 300 more.
  CHECK(exported.out.find("app.conf\"  # 302 opens") != std::string::npos);
  // It passes validation unchanged.
  rampart::testing::write_file(s.daemon_.dir() + "/exported.yaml", exported.out);
  auto valid = s.ctl({"policy", "validate", s.daemon_.dir() + "/exported.yaml"});
  CHECK(valid.code == 0);

  // Stable after 1 s without new behaviour: learning → shadow → enforce.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto promoted = s.ctl({"profile", "promote", "server"});
  INFO(promoted.err);
  REQUIRE(promoted.code == 0);
  CHECK(s.status()["stage"] == "shadow");
  REQUIRE(s.ctl({"profile", "promote", "server"}).code == 0);
  CHECK(s.status()["stage"] == "enforce");

  // The stage survives a restart; the new server runs under the learned policy.
  s.stop_workload();
  s.daemon_.stop();
  REQUIRE(s.daemon_.start());
  CHECK(s.status()["stage"] == "enforce");
  auto listed = s.ctl({"policy", "list"});
  CHECK(listed.out.find("enforce") != std::string::npos);
  const size_t mark = s.daemon_.events().size();
  s.start_workload();
  REQUIRE(s.workload_ > 0);

  // The normal workload: zero denies, zero alerts.
  CHECK(s.serve(500) == 500);
  std::string denies, alerts;
  for (const auto& e : s.events_after(mark)) {
    if (!is_workload(e, s.workload_)) continue;
    if (e["type"] == "enforce") denies += e.dump() + "\n";
    if (e.contains("rules")) alerts += e.dump() + "\n";
  }
  CHECK(denies == "");
  CHECK(alerts == "");

  // Deviations. A shell: new executable, 50 points, quarantine (score 50);
  // /bin/sh is on a filesystem not marked for exec checks, so under the
  // learned allow.exec it is killed before it runs (fail closed).
  const size_t before_dev = s.daemon_.events().size();
  CHECK(ask(s.port_, "SHELL") != "shell 7");
  // A new peer: refused in the kernel.
  const uint16_t other = free_port();
  CHECK(ask(s.port_, "PEER " + std::to_string(other)) == "peer " + std::to_string(EPERM));
  // A write outside its directories: refused by fanotify.
  // (fanotify asks after O_CREAT made the file: it stays, empty.)
  CHECK(ask(s.port_, "WRITE " + s.base_ + "/other/dropped") == "write " + std::to_string(EPERM));
  CHECK(std::filesystem::file_size(s.base_ + "/other/dropped") == 0);

  bool shell_quarantined = false, shell_killed = false, connect_denied = false, write_denied = false;
  for (const auto& e : s.events_after(before_dev)) {
    if (!is_workload(e, s.workload_)) continue;
    if (e["type"] == "exec" && e.value("filename", "") == "/bin/sh" && e.contains("rules")) {
      bool new_exec = false;
      for (const auto& r : e["rules"]) new_exec = new_exec || r["id"] == "rampart.profile.new_exec";
      shell_quarantined = new_exec && e["verdict"]["level"] == "quarantine" && e["verdict"]["enforced"] == true;
    }
    if (e["type"] == "enforce" && e["op"] == "exec" && e["action"] == "killed" && e["mechanism"] == "sigkill")
      shell_killed = true;
    if (e["type"] == "enforce" && e["action"] == "denied") {
      connect_denied = connect_denied || (e["op"] == "connect" && e["remote"]["port"] == other);
      write_denied = write_denied || (e["op"] == "open" && e.value("path", "") == s.base_ + "/other/dropped");
    }
  }
  CHECK(shell_quarantined);
  CHECK(shell_killed);
  CHECK(connect_denied);
  CHECK(write_denied);
  auto st = s.status();
  CHECK(json_u64(st["anomalies"]["rampart.profile.new_exec"]) == 1);
  CHECK(json_u64(st["anomalies"]["rampart.profile.new_peer"]) == 1);  // refused, and still new behaviour

  // Rollback: audit again; the same deviation is let through.
  REQUIRE(s.ctl({"profile", "rollback", "server"}).code == 0);
  CHECK(s.status()["stage"] == "audit");
  CHECK(ask(s.port_, "PEER " + std::to_string(other)) == "peer " + std::to_string(ECONNREFUSED));
}

TEST_CASE("learn: in the shadow period, would-deny counts equal the deviations injected", "[e2e]") {
  LearnSetup s;
  REQUIRE(s.daemon_.ready());
  s.start_workload();
  CHECK(s.serve(200) == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(s.ctl({"profile", "promote", "server"}).code == 0);
  REQUIRE(s.status()["stage"] == "shadow");
  // The running server moved to the shadow policy with the reload.
  CHECK(s.serve(100) == 100);
  CHECK(s.status()["would_deny"].empty());

  constexpr int kPeers = 3, kWrites = 2;
  for (int i = 0; i < kPeers; ++i) CHECK(ask(s.port_, "PEER " + std::to_string(free_port())) != "");
  for (int i = 0; i < kWrites; ++i)
    CHECK(ask(s.port_, "WRITE " + s.base_ + "/other/f" + std::to_string(i)) == "write 0");  // audit: let through
  CHECK(ask(s.port_, "SHELL") == "shell 7");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto st = s.status();
  INFO(st.dump());
  CHECK(json_u64(st["would_deny"]["allow.connect"]) == kPeers);
  CHECK(json_u64(st["would_deny"]["allow.open"]) == kWrites);
  // The shell's exec, on a filesystem not marked for exec checks, is one enforce would have killed.
  CHECK(json_u64(st["would_deny"]["allow.exec"]) == 1);
  CHECK(st["would_deny"].size() == 3);
  CHECK(json_u64(st["anomalies"]["rampart.profile.new_exec"]) == 1);
  auto text = s.ctl({"profile", "status", "server"});
  CHECK(text.out.find("allow.connect  " + std::to_string(kPeers)) != std::string::npos);
  // The counts are part of the profile: a restart goes on from them.
  s.stop_workload();
  s.daemon_.stop();
  REQUIRE(s.daemon_.start());
  auto again = s.status();
  CHECK(again["stage"] == "shadow");
  CHECK(again["would_deny"] == st["would_deny"]);
}

TEST_CASE("learn: a profile survives a restart, and a corrupt profile file is set aside", "[e2e]") {
  LearnSetup s("  stability_window_s: 3600\n");
  REQUIRE(s.daemon_.ready());
  s.start_workload();
  CHECK(s.serve(50) == 50);
  s.stop_workload();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const json before = s.status();
  REQUIRE(json_u64(before["items"]) > 0);
  s.daemon_.stop();  // SIGTERM: written at exit
  const std::string profiles =
      before["file"].get<std::string>().substr(0, before["file"].get<std::string>().rfind('/'));
  REQUIRE(std::filesystem::exists(profiles + "/server.json"));
  std::ofstream(profiles + "/broken.json") << "{\"version\": 1, \"name\": \"broken\", \"stage\": ";

  REQUIRE(s.daemon_.start());
  const json after = s.status();
  CHECK(after["items"] == before["items"]);
  CHECK(after["items_by_kind"] == before["items_by_kind"]);
  CHECK(after["created"] == before["created"]);
  CHECK(after["stage"] == "learning");

  const std::string err = s.daemon_.stderr_text();
  INFO(err);
  CHECK(err.find("warning: profile " + profiles + "/broken.json rejected: not valid JSON; moved aside to " + profiles +
                 "/broken.json.corrupt-") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(profiles + "/broken.json"));
  auto list = s.ctl({"--json", "profile", "list"});
  REQUIRE(list.code == 0);
  auto j = json::parse(list.out);
  REQUIRE(j["rejected"].size() == 1);
  CHECK(j["rejected"][0]["path"] == profiles + "/broken.json");
  CHECK(j["rejected"][0]["reason"] == "not valid JSON");
  CHECK(j["profiles"].size() == 1);
  CHECK(s.ctl({"status"}).code == 0);  // and the daemon goes on

  // Not stable yet (the window is an hour): promotion is refused, and says why.
  auto early = s.ctl({"profile", "promote", "server"});
  CHECK(early.code == 1);
  CHECK(early.err.find("is not stable") != std::string::npos);
  CHECK(s.status()["stage"] == "learning");
  auto unknown = s.ctl({"profile", "show", "nosuch"});
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("no profile named 'nosuch'") != std::string::npos);
  CHECK(s.ctl({"profile", "bogus"}).code == 2);
}

TEST_CASE("learn: with auto_promote, a stable profile goes to shadow and then to enforce by itself", "[e2e]") {
  LearnSetup s("  stability_window_s: 1\n  shadow_period_s: 2\n  auto_promote: true\n");
  REQUIRE(s.daemon_.ready());
  s.start_workload();
  CHECK(s.serve(20) == 20);
  // Stable 1 s after its last new behaviour, shadow for 2 s, then enforced.
  for (int i = 0; i < 200 && s.status()["stage"] != "enforce"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(s.status()["stage"] == "enforce");
  const std::string err = s.daemon_.stderr_text();
  INFO(err);
  const auto to_shadow = err.find("profile 'server': learning -> shadow");
  const auto to_enforce = err.find("profile 'server': shadow -> enforce");
  CHECK(to_shadow != std::string::npos);
  CHECK(to_enforce != std::string::npos);
  CHECK(to_shadow < to_enforce);
  // Enforced: the running server keeps working, and a new peer is refused.
  CHECK(s.serve(20) == 20);
  CHECK(ask(s.port_, "PEER " + std::to_string(free_port())) == "peer " + std::to_string(EPERM));
}
