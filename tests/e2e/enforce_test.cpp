// e2e tier: a policy file, rampartd, and a policed binary. A copy of bash is
// selected by its path; the policy lets it connect to one 127.0.0.1 port.
// bash connects through /dev/tcp right after exec, so this also checks that
// the policy applies from the exec on (assigned in the kernel, no race).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/files.h"
#include "support/net.h"
#include "support/policed.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::connect_script;
using rampart::testing::Daemon;
using rampart::testing::exec_config;
using rampart::testing::exec_policy;
using rampart::testing::Listener;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;
using rampart::testing::ScratchTmpfs;
using rampart::testing::slurp;
using rampart::testing::TempDir;

TEST_CASE("enforce policy for a binary: its denied connect fails with EPERM and other processes are untouched",
          "[e2e]") {
  Listener allowed, denied;
  PolicedBash s("enforce", allowed.port());
  REQUIRE(s.ready());
  CHECK(s.stderr_text().find("1 policies") != std::string::npos);

  auto [code, out] = run_shell(s.bash(), connect_script(allowed.port(), denied.port()));
  CHECK(out.find("connected-" + std::to_string(allowed.port())) != std::string::npos);
  CHECK(out.find("connected-" + std::to_string(denied.port())) == std::string::npos);
  CHECK(out.find("Operation not permitted") != std::string::npos);
  CHECK(code != 0);

  // The same script in the system's bash: no policy selects it.
  auto [code2, out2] = run_shell("/bin/bash", connect_script(allowed.port(), denied.port()));
  CHECK(code2 == 0);
  CHECK(out2.find("connected-" + std::to_string(denied.port())) != std::string::npos);

  auto enforce = s.enforce_events();
  const size_t denials = enforce.size();
  for (const auto& e : enforce) {
    CHECK(e["action"] == "denied");
    CHECK(e["mechanism"] == "cgroup_sock_addr");
    CHECK(e["policy"] == "e2e-policed");
    CHECK(e["op"] == "connect");
    CHECK(e["operation_completed"] == "no");
    CHECK(e["remote"]["addr"] == "127.0.0.1");
    CHECK(e["remote"]["port"] == denied.port());
    CHECK(e["proc"]["exe"] == s.bash());
  }
  CHECK(denials == 1);
}

TEST_CASE("the same policy in audit mode lets everything through and reports would-deny", "[e2e]") {
  Listener allowed, denied;
  PolicedBash s("audit", allowed.port());
  REQUIRE(s.ready());
  auto [code, out] = run_shell(s.bash(), connect_script(allowed.port(), denied.port()));
  CHECK(code == 0);
  CHECK(out.find("connected-" + std::to_string(denied.port())) != std::string::npos);
  auto enforce = s.enforce_events();
  const size_t would = enforce.size();
  for (const auto& e : enforce) {
    CHECK(e["action"] == "would_deny");
    CHECK(e["operation_completed"] == "yes");
    CHECK(e["remote"]["port"] == denied.port());
  }
  CHECK(would == 1);
}

TEST_CASE("rampartd refuses to start on an invalid policy and names file:line:column", "[e2e]") {
  // No config: the policy directory alone.
  Daemon d({.policies = {{"bad.yaml",
                          "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: bad\nspec:\n"
                          "  selector:\n    uids: [0]\n  mode: enforce\n  allow:\n    network:\n"
                          "      connect: [\"10.0.0.1/8:80\"]\n"}},
            .output = "/dev/null",
            .dir_template = "/tmp/rampart-badpol-XXXXXX",
            .start = false});
  d.spawn();
  const int status = d.wait_exit();
  auto err = d.stderr_text();
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(err.find(d.policy_dir() + "/bad.yaml:11:") != std::string::npos);
  CHECK(err.find("refusing to start") != std::string::npos);
  CHECK(err.find("attached") == std::string::npos);
}

TEST_CASE("enforce policy: an exec outside allow.exec fails with EPERM, never runs, and the caller survives", "[e2e]") {
  ScratchTmpfs fs;
  std::string allowed = fs.install("/bin/true", "allowed-true");
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string marker = fs.dir + "/marker";
  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  if (!s.lsm()) CHECK(s.stderr_text().find("exec enforcement through fanotify") != std::string::npos);

  auto [code, out] = run_shell(s.bash(), allowed + " && echo ran-allowed; " + denied + " " + marker + "; echo rc=$?");
  CHECK(out.find("ran-allowed") != std::string::npos);
  CHECK(out.find("rc=126") != std::string::npos);  // bash: found but could not execute
  CHECK(out.find("Operation not permitted") != std::string::npos);
  CHECK(code == 0);                              // the caller went on to its last command
  CHECK_FALSE(std::filesystem::exists(marker));  // the denied image never ran

  // Outside the policy's selector: the system's bash runs the same binary.
  auto [code2, out2] = run_shell("/bin/bash", denied + " " + marker + "; echo rc=$?");
  CHECK(out2.find("rc=0") != std::string::npos);
  CHECK(std::filesystem::exists(marker));

  auto enforce = s.enforce_events();
  const size_t denials = enforce.size();
  for (const auto& e : enforce) {
    CHECK(e["op"] == "exec");
    CHECK(e["mechanism"] == s.file_mechanism());
    CHECK(e["action"] == "denied");
    CHECK(e["operation_completed"] == "no");
    CHECK(e["policy"] == "e2e-policed");
    CHECK(e["path"] == denied);
  }
  CHECK(denials == 1);
}

TEST_CASE("the exec policy in audit mode lets the exec run and reports would-deny", "[e2e]") {
  ScratchTmpfs fs;
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string marker = fs.dir + "/marker";
  PolicedBash s("audit", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  auto [code, out] = run_shell(s.bash(), denied + " " + marker + "; echo rc=$?");
  CHECK(out.find("rc=0") != std::string::npos);
  CHECK(std::filesystem::exists(marker));
  auto enforce = s.enforce_events();
  const size_t would = enforce.size();
  for (const auto& e : enforce) {
    CHECK(e["action"] == "would_deny");
    CHECK(e["mechanism"] == s.file_mechanism());
  }
  CHECK(would == 1);
}

TEST_CASE("enforce policy: open with O_WRONLY and O_TRUNC of a protected file fails with EPERM and leaves it unchanged",
          "[e2e]") {
  ScratchTmpfs fs;
  std::string target = fs.path + "/protected.txt";
  const std::string original = "original contents\n";
  std::ofstream(target) << original;
  std::string spec = "  deny:\n    - id: protect-target\n      files: { write: [\"" + target + "\"] }\n";
  PolicedBash s("enforce", spec, "", fs.dir);
  REQUIRE(s.ready());
  if (!s.lsm()) CHECK(s.stderr_text().find("file protection through fanotify") != std::string::npos);

  // bash's '>' is open(O_WRONLY|O_CREAT|O_TRUNC).
  auto [code, out] = run_shell(s.bash(), "echo overwritten > " + target + "; echo rc=$?");
  CHECK(out.find("Operation not permitted") != std::string::npos);
  CHECK(out.find("rc=1") != std::string::npos);
  CHECK(slurp(target) == original);  // byte for byte: not even truncated

  // Other processes still read it.
  auto [code2, out2] = run_shell("/bin/bash", "cat " + target);
  CHECK(code2 == 0);
  CHECK(out2 == original);

  auto enforce = s.enforce_events();
  const size_t denials = enforce.size();
  for (const auto& e : enforce) {
    CHECK(e["op"] == "open");
    CHECK(e["mechanism"] == s.file_mechanism());
    CHECK(e["action"] == "denied");
    CHECK(e["reason"] == "deny_rule");
    CHECK(e["path"] == target);
  }
  CHECK(denials == 1);
}

namespace {

// The policed bash copy lives under /tmp, so its exec already costs 30 points
// (rampart.exec.writable_dir: 100 -> 70, deny level). It then writes an ssh
// authorized_keys file (50 more: 20, at or below the quarantine threshold 60),
// waits, and connects to a listener.
std::pair<int, std::string> persistence_then_connect(const PolicedBash& s, uint16_t port) {
  std::string ssh = s.dir() + "/home/.ssh";
  std::filesystem::create_directories(ssh);
  return run_shell(s.bash(), "echo ssh-ed25519 AAAA >> " + ssh +
                                 "/authorized_keys; sleep 0.3; exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
                                 " && echo connected || echo refused");
}

const std::string kQuarantineSpec = "  scoring:\n    thresholds: { alert: 95, deny: 90, quarantine: 60, kill: 5 }\n";

}  // namespace

TEST_CASE("a rule hit that lowers the score to quarantine cuts the process's network in the kernel", "[e2e]") {
  Listener open_port;  // no allow-list restricts it: only the verdict can refuse
  PolicedBash s("enforce", kQuarantineSpec, "");
  REQUIRE(s.ready());
  auto [code, out] = persistence_then_connect(s, open_port.port());
  CHECK(out.find("refused") != std::string::npos);
  CHECK(out.find("Operation not permitted") != std::string::npos);

  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  s.stop();
  const json* hit = nullptr;
  const json* refused = nullptr;
  auto evs = s.events();
  for (const auto& e : evs) {
    if (e.contains("rules") && e["rules"][0]["id"] == "rampart.persistence.authorized_keys") hit = &e;
    if (e["type"] == "enforce" && e["reason"] == "verdict") refused = &e;
  }
  REQUIRE(hit != nullptr);
  CHECK((*hit)["rules"][0]["mitre"] == "T1098.004");
  CHECK((*hit)["verdict"]["score"] == 20);
  CHECK((*hit)["verdict"]["level"] == "quarantine");
  CHECK((*hit)["verdict"]["previous_level"] == "deny");
  REQUIRE((*hit)["verdict"]["evidence"].size() == 2);
  CHECK((*hit)["verdict"]["evidence"][0]["rule"] == "rampart.exec.writable_dir");
  CHECK((*hit)["verdict"]["evidence"][1]["rule"] == "rampart.persistence.authorized_keys");
  CHECK((*hit)["verdict"]["level_changed"] == true);
  CHECK((*hit)["verdict"]["enforced"] == true);
  CHECK((*hit)["verdict"]["policy"] == "e2e-policed");
  REQUIRE(refused != nullptr);
  CHECK((*refused)["op"] == "connect");
  CHECK((*refused)["action"] == "denied");
  CHECK((*refused)["proc"]["tgid"] == (*hit)["proc"]["tgid"]);
}

TEST_CASE("in audit mode the same verdict is reported and not enforced", "[e2e]") {
  Listener open_port;
  PolicedBash s("audit", kQuarantineSpec, "");
  REQUIRE(s.ready());
  auto [code, out] = persistence_then_connect(s, open_port.port());
  CHECK(out.find("connected") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  s.stop();
  bool seen = false;
  for (const auto& e : s.events())
    if (e.contains("rules") && e["rules"][0]["id"] == "rampart.persistence.authorized_keys") {
      seen = true;
      CHECK(e["verdict"]["level"] == "quarantine");
      CHECK(e["verdict"]["enforced"] == false);
    }
  CHECK(seen);
  // Nothing was refused.
  for (const auto& e : s.events()) CHECK(e["type"] != "enforce");
}

namespace {

// "  deny:\n    - id: ID\n      KIND\n      weight: 1\n": a deny rule that
// costs the process one point, so that the score leaves the test alone.
std::string deny_rule(const std::string& id, const std::string& body, const std::string& action = "deny") {
  return "    - id: " + id + "\n      " + body + "\n      action: " + action + "\n      weight: 1\n";
}

std::string scoped_config(const ScratchTmpfs& fs, const std::string& extra = "", const std::string& sensitive = "[]") {
  return "enforcement:\n  exec_mounts: [\"" + fs.path + "\"]\n  sensitive_paths: " + sensitive + "\n" + extra;
}

}  // namespace

TEST_CASE("deny rules with a prefix and a glob protect every file below them, for writes or for reads", "[e2e]") {
  ScratchTmpfs fs;
  std::filesystem::create_directories(fs.path + "/conf/sub");
  std::filesystem::create_directories(fs.path + "/keys");
  std::ofstream(fs.path + "/conf/sub/app.conf") << "port=1\n";
  std::ofstream(fs.path + "/keys/server.pem") << "KEY\n";
  std::ofstream(fs.path + "/keys/readme.txt") << "hello\n";
  std::string spec = "  deny:\n" + deny_rule("conf-readonly", "files: { write: [\"" + fs.path + "/conf/\"] }") +
                     deny_rule("no-pem", "files: { read: [\"" + fs.path + "/keys/*.pem\"] }");
  PolicedBash s("enforce", spec, scoped_config(fs), fs.dir);
  REQUIRE(s.ready());

  auto [code, out] = run_shell(s.bash(), "read -r l < " + fs.path + "/conf/sub/app.conf && echo read-conf=$l; " +
                                             "echo port=2 > " + fs.path + "/conf/sub/app.conf; echo write-rc=$?; " +
                                             "read -r k < " + fs.path + "/keys/server.pem; echo pem-rc=$?; " +
                                             "read -r t < " + fs.path + "/keys/readme.txt && echo readme=$t");
  INFO(out);
  CHECK(out.find("read-conf=port=1") != std::string::npos);  // reading is allowed
  CHECK(out.find("write-rc=1") != std::string::npos);        // writing below the prefix is not
  CHECK(slurp(fs.path + "/conf/sub/app.conf") == "port=1\n");
  CHECK(out.find("pem-rc=1") != std::string::npos);      // the glob's match
  CHECK(out.find("readme=hello") != std::string::npos);  // not the glob's match

  auto enforce = s.enforce_events();
  std::set<std::string> rules;
  for (const auto& e : enforce) {
    CHECK(e["action"] == "denied");
    CHECK(e["mechanism"] == s.file_mechanism());
    CHECK(e["reason"] == "deny_rule");
    rules.insert(e.value("deny_rule", ""));
  }
  CHECK(rules == std::set<std::string>{"conf-readonly", "no-pem"});
}

TEST_CASE("allow.files on a marked filesystem: a write outside the allow-list fails with EPERM, inside it works",
          "[e2e]") {
  ScratchTmpfs fs;
  std::filesystem::create_directories(fs.path + "/out");
  std::ofstream(fs.path + "/input.txt") << "in\n";
  // /dev/ too: bash opens /dev/tty for writing, which BPF LSM (checking every filesystem) would refuse.
  std::string spec = "  allow:\n    files:\n      write: [\"" + fs.path + "/out/\", \"/dev/\"]\n";
  PolicedBash s("enforce", spec, scoped_config(fs, "  file_mounts: [\"" + fs.path + "\"]\n"), fs.dir);
  REQUIRE(s.ready());
  auto [code, out] =
      run_shell(s.bash(), "echo ok > " + fs.path + "/out/result && echo wrote-out; " + "echo x > " + fs.path +
                              "/input.txt; echo other-rc=$?; read -r l < " + fs.path + "/input.txt && echo read=$l");
  INFO(out);
  CHECK(out.find("wrote-out") != std::string::npos);
  CHECK(out.find("other-rc=1") != std::string::npos);
  CHECK(out.find("read=in") != std::string::npos);  // reads are not restricted
  CHECK(slurp(fs.path + "/input.txt") == "in\n");
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() == 1);
  CHECK(enforce[0]["reason"] == "not_allowed");
  CHECK(enforce[0]["path"] == fs.path + "/input.txt");
}

TEST_CASE("allow.files off the marked paths: a violating write is reported and its process killed after the fact",
          "[e2e]") {
  const TempDir scratch_dir("/tmp/rampart-files-XXXXXX");
  const std::string& scratch = scratch_dir.path();
  std::string spec = "  allow:\n    files:\n      write: [\"" + scratch + "/out/\", \"/dev/\"]\n";
  PolicedBash s("enforce", spec, "");
  REQUIRE(s.ready());
  auto [code, out] = run_shell(s.bash(), "echo x > " + scratch + "/elsewhere; sleep 2; echo survived");
  if (s.lsm()) {
    // With BPF LSM every open is checked in the kernel: refused, nothing written, nobody killed.
    CHECK(out.find("survived") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(scratch + "/elsewhere"));
    auto enforce = s.enforce_events();
    REQUIRE(enforce.size() == 1);
    CHECK(enforce[0]["mechanism"] == s.hooks_mechanism());
    CHECK(enforce[0]["action"] == "denied");
    return;
  }
  CHECK(out.find("survived") == std::string::npos);
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() == 1);
  CHECK(enforce[0]["mechanism"] == "rampartd_kill");
  CHECK(enforce[0]["action"] == "killed");
  CHECK(enforce[0]["operation_completed"] == "yes");  // the write happened: said so
  CHECK(enforce[0]["path"] == scratch + "/elsewhere");
}

TEST_CASE("an exec deny rule refuses its binaries with EPERM without an exec allow-list", "[e2e]") {
  ScratchTmpfs fs;
  std::string allowed = fs.install("/bin/true", "tool-true");
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string spec = "  deny:\n" + deny_rule("no-denied", "exec: [\"" + fs.path + "/denied-*\"]");
  PolicedBash s("enforce", spec, scoped_config(fs), fs.dir);
  REQUIRE(s.ready());
  auto [code, out] =
      run_shell(s.bash(), allowed + " && echo ran-tool; " + denied + " " + fs.dir + "/marker; echo rc=$?");
  CHECK(out.find("ran-tool") != std::string::npos);
  CHECK(out.find("rc=126") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(fs.dir + "/marker"));
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() == 1);
  CHECK(enforce[0]["deny_rule"] == "no-denied");
  CHECK(enforce[0]["op"] == "exec");
}

TEST_CASE("the deny level of the trust ladder refuses exec and sensitive files in the kernel but not the network",
          "[e2e]") {
  ScratchTmpfs fs;
  std::string tool = fs.install("/bin/true", "tool-true");
  std::ofstream(fs.path + "/secret") << "s3cret\n";
  Listener open_port;
  // The policed bash lives under /tmp: its exec costs 30 points, 100 -> 70, the deny level here.
  std::string spec = "  scoring:\n    thresholds: { alert: 95, deny: 90, quarantine: 20, kill: 5 }\n";
  PolicedBash s("enforce", spec, scoped_config(fs, "", "[\"" + fs.path + "/secret\"]"), fs.dir);
  REQUIRE(s.ready());
  auto [code, out] = run_shell(s.bash(), "sleep 0.3; " + tool + "; echo exec-rc=$?; read -r l < " + fs.path +
                                             "/secret; echo secret-rc=$?; exec 3<>/dev/tcp/127.0.0.1/" +
                                             std::to_string(open_port.port()) + " && echo connected");
  INFO(out);
  CHECK(out.find("exec-rc=126") != std::string::npos);
  CHECK(out.find("secret-rc=1") != std::string::npos);
  CHECK(out.find("connected") != std::string::npos);
  auto enforce = s.enforce_events();
  std::set<std::string> ops;
  for (const auto& e : enforce) {
    CHECK(e["reason"] == "verdict");
    CHECK(e["action"] == "denied");
    ops.insert(e["op"].get<std::string>());
  }
  CHECK(ops == std::set<std::string>{"exec", "open"});
}

TEST_CASE("a network deny rule with action kill refuses the connect and rampartd ends the process", "[e2e]") {
  Listener denied, open_port;
  std::string spec =
      "  deny:\n" +
      deny_rule("no-port", "network: { connect: [\"127.0.0.1:" + std::to_string(denied.port()) + "\"] }", "kill");
  PolicedBash s("enforce", spec, "");
  REQUIRE(s.ready());
  auto [code, out] =
      run_shell(s.bash(), "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(open_port.port()) +
                              " && echo connected-open; exec 4<>/dev/tcp/127.0.0.1/" + std::to_string(denied.port()) +
                              " || echo refused; sleep 2; echo survived");
  INFO(out);
  CHECK(out.find("connected-open") != std::string::npos);
  CHECK(out.find("survived") == std::string::npos);
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() >= 1);
  CHECK(enforce[0]["mechanism"] == "cgroup_sock_addr");
  CHECK(enforce[0]["reason"] == "deny_rule");
  CHECK(enforce[0]["deny_rule"] == "no-port");
  CHECK(enforce[0]["killed"] == true);
  CHECK(enforce[0]["rules"][0]["id"] == "no-port");
}

TEST_CASE("a guard that does not answer in time lets the exec through and counts it", "[e2e]") {
  ScratchTmpfs fs;
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string marker = fs.dir + "/marker";
  setenv("RAMPART_FAULT_GUARD_DELAY_MS", "600", 1);
  PolicedBash s("enforce", exec_policy(fs), scoped_config(fs, "  decision_deadline_ms: 100\n"), fs.dir,
                RAMPARTD_FAULTS_PATH);
  unsetenv("RAMPART_FAULT_GUARD_DELAY_MS");
  REQUIRE(s.ready());
  if (s.lsm()) return;  // no fanotify guard: the LSM hooks decide in the kernel, without a deadline
  CHECK(s.stderr_text().find("fault injection") != std::string::npos);
  auto [code, out] = run_shell(s.bash(), denied + " " + marker + "; echo rc=$?");
  CHECK(out.find("rc=0") != std::string::npos);  // failed open: the deadline passed
  CHECK(std::filesystem::exists(marker));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  s.stop();
  const json* stats = nullptr;
  auto evs = s.events();
  for (const auto& e : evs)
    if (e["type"] == "stats") stats = &e;
  REQUIRE(stats != nullptr);
  CHECK((*stats)["perm_guard"]["deadline_expired"].get<uint64_t>() >= 1);
}

TEST_CASE("an allowed script runs through its allowed interpreter, whose loader belongs to the exec", "[e2e]") {
  ScratchTmpfs fs;
  std::string interp = fs.install("/bin/bash", "allowed-bash");
  std::string script = fs.path + "/allowed-script.sh";
  std::ofstream(script) << "#!" << interp << "\necho script-ran\n";
  chmod(script.c_str(), 0755);
  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  // The kernel opens the script, then its "#!" program, both as execs, and
  // both are judged: here both are allowed. A script whose program is not
  // allowed is refused (tests/bypass/exec_test.cpp).
  auto [code, out] = run_shell(s.bash(), script + "; echo script-rc=$?");
  INFO(out);
  CHECK(out.find("script-ran") != std::string::npos);
  CHECK(out.find("script-rc=0") != std::string::npos);
  CHECK(s.enforce_events().empty());
}

TEST_CASE("enforcement survives a SIGKILLed rampartd through its pins, and a restart takes over without a gap",
          "[e2e]") {
  Listener denied, open_port;
  const std::string pins = "/sys/fs/bpf/rampart-e2e-" + std::to_string(getpid());
  std::string spec =
      "  deny:\n    - id: no-port\n      network: { connect: [\"127.0.0.1:" + std::to_string(denied.port()) +
      "\"] }\n      weight: 1\n";
  PolicedBash s("enforce", spec, rampart::testing::kScopedConfig + "  pin_dir: " + pins + "\n");
  REQUIRE(s.ready());
  REQUIRE(std::filesystem::exists(pins + "/policy_map"));
  // A policed bash tries both ports every 100 ms for about 4 s, in subshells
  // forked along the way (each inherits the policy in the kernel).
  const std::string out = s.dir() + "/loop.txt";
  const std::string loop = "for i in $(seq 40); do (exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(denied.port()) +
                           ") 2>/dev/null && echo denied-port-connected || echo denied-port-refused; (exec "
                           "3<>/dev/tcp/127.0.0.1/" +
                           std::to_string(open_port.port()) +
                           ") && echo open-port-connected; sleep 0.1; done; echo loop-done";
  pid_t looper = rampart::testing::spawn_child([&] {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(s.bash().c_str(), s.bash().c_str(), "-c", loop.c_str(), nullptr);
    return 126;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  s.kill_hard();
  // Nothing removed the pins: the programs are still attached and the maps still hold the policy.
  CHECK(std::filesystem::exists(pins + "/policy_map"));
  CHECK_FALSE(std::filesystem::is_empty(pins + "/links"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  s.start();
  REQUIRE(s.ready());
  INFO(s.stderr_text());
  CHECK(s.stderr_text().find("took over the enforcement state") != std::string::npos);
  int status = 0;
  waitpid(looper, &status, 0);
  const std::string text = slurp(out);
  INFO(text.substr(0, 2000));
  CHECK(text.find("loop-done") != std::string::npos);
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count("denied-port-connected") == 0);  // before, during and after the outage
  CHECK(count("denied-port-refused") == 40);
  CHECK(count("open-port-connected") == 40);
  s.stop();
  // An orderly stop removes the pins: enforcement ends with the daemon.
  CHECK_FALSE(std::filesystem::exists(pins + "/policy_map"));
  std::error_code ec;
  std::filesystem::remove_all(pins, ec);
}
