// e2e tier: the built-in rules fire on real actions. One bash script, run
// under rampartd, performs each action; every action is harmless: files are
// created in a scratch dir (or created and removed at once), system files are
// opened for appending and closed without a byte written, and the kernel
// refuses the module load. The assertion: each rule id appears on an event
// of the script's process tree.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/workload.h"

using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("built-in rules fire on real actions", "[e2e]") {
  char tmpl[] = "/var/tmp/rampart-rules-XXXXXX";
  const std::string d = mkdtemp(tmpl);
  const std::string out = d + "/events.jsonl", err = d + "/stderr.txt";
  const bool had_rampart_dir = std::filesystem::exists("/etc/rampart");

  pid_t daemon = fork();
  if (daemon == 0) {
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(e, 2);
    execl(RAMPARTD_PATH, RAMPARTD_PATH, "--output", out.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 1000 && slurp(err).find("attached ") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(slurp(err).find("attached ") != std::string::npos);

  // rule id -> the action that triggers it
  const std::vector<std::pair<std::string, std::string>> actions = {
      {"rampart.exec.writable_dir", "cp /bin/true /tmp/rp-rules-true-$$ && /tmp/rp-rules-true-$$; rm -f /tmp/rp-rules-true-$$"},
      {"rampart.exec.hidden_file", "cp /bin/true " + d + "/.hidden && " + d + "/.hidden"},
      {"rampart.chmod.setuid", "touch " + d + "/suid && chmod u+s " + d + "/suid"},
      {"rampart.persistence.cron", ": >> /etc/cron.rampart-test-$$; rm -f /etc/cron.rampart-test-$$"},
      {"rampart.persistence.systemd", "mkdir -p " + d + "/home/.config/systemd/user && : >> " + d +
                                          "/home/.config/systemd/user/x.service"},
      {"rampart.persistence.authorized_keys", "mkdir -p " + d + "/home/.ssh && : >> " + d + "/home/.ssh/authorized_keys"},
      {"rampart.persistence.account_files", ": >> /etc/passwd"},
      {"rampart.persistence.shell_profile", ": >> /etc/profile"},
      {"rampart.privilege.kernel_handlers", ": >> /proc/sys/kernel/core_pattern"},
      {"rampart.defense_evasion.rampart_tamper", "mkdir -p /etc/rampart && : >> /etc/rampart/rp-test-$$ && rm -f /etc/rampart/rp-test-$$"},
      {"rampart.credentials.shadow_read", "cat /etc/shadow > /dev/null"},
      {"rampart.credentials.ssh_private_key", "mkdir -p " + d + "/home/.ssh && echo k > " + d + "/home/.ssh/id_ed25519 && cat " +
                                                  d + "/home/.ssh/id_ed25519 > /dev/null"},
      {"rampart.defense_evasion.log_tamper", ": > /var/log/rampart-test-$$.log && rm /var/log/rampart-test-$$.log"},
      {"rampart.defense_evasion.history_tamper", "echo ls > " + d + "/home/.bash_history && rm " + d + "/home/.bash_history"},
      {"rampart.namespace.change", "unshare --mount true"},
      {"rampart.exec.reverse_shell", "/usr/bin/python3 -c 'import socket,os; a,b=socket.socketpair(); os.dup2(b.fileno(),0); os.execv(\"/bin/sh\",[\"sh\",\"-c\",\"true\"])'"},
      {"rampart.exec.shell_from_service", "cp /bin/bash " + d + "/nginx && " + d + "/nginx -c '/bin/sh -c true; true'"},
      {"rampart.exec.fileless", "/usr/bin/python3 -c 'import os; f=os.memfd_create(\"rp\"); os.write(f, open(\"/bin/true\",\"rb\").read()); os.execv(\"/proc/self/fd/%d\" % f, [\"x\"])'"},
      {"rampart.module.load", "/usr/bin/python3 -c 'import ctypes,os; fd=os.open(\"/etc/hostname\",os.O_RDONLY); ctypes.CDLL(None).syscall(313, fd, b\"\", 0)'"},
  };
  std::string script;
  for (const auto& [id, action] : actions) script += "(" + action + ") >/dev/null 2>&1; ";
  script += "echo rules-done";

  auto child = rampart::testing::run_child([&] {
    int fd = open((d + "/script.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("HOME", (d + "/home").c_str(), 1);
    execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
    return 126;
  });
  REQUIRE(slurp(d + "/script.txt").find("rules-done") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(daemon, SIGTERM);
  waitpid(daemon, nullptr, 0);
  if (!had_rampart_dir) std::filesystem::remove("/etc/rampart");

  // Which rules fired on the script's process tree.
  std::map<uint64_t, uint64_t> parent;
  std::vector<json> evs;
  {
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line)) evs.push_back(json::parse(line));
  }
  for (const auto& e : evs)
    if (e["type"] == "fork") parent[e["child_pid"].get<uint64_t>()] = e["proc"]["tgid"].get<uint64_t>();
  auto in_script = [&](uint64_t pid) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
      if (pid == static_cast<uint64_t>(child.pid)) return true;
      auto it = parent.find(pid);
      if (it == parent.end()) return false;
      pid = it->second;
    }
    return false;
  };
  std::set<std::string> fired;
  for (const auto& e : evs)
    if (e.contains("rules") && in_script(e["proc"]["tgid"].get<uint64_t>()))
      for (const auto& r : e["rules"]) fired.insert(r["id"].get<std::string>());
  for (const auto& [id, action] : actions) {
    INFO(id << " on: " << action);
    CHECK(fired.count(id) == 1);
  }
  std::error_code ec;
  std::filesystem::remove_all(d, ec);
}
