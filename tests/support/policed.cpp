// The policed-bash set-up and shell runs; see policed.h.
#include "support/policed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "support/files.h"
#include "support/workload.h"

namespace rampart::testing {

PolicedBash::PolicedBash(const std::string& mode, uint16_t allowed_port)
    : PolicedBash(mode, "  allow:\n    network:\n      connect: [\"127.0.0.1:" + std::to_string(allowed_port) + "\"]\n",
                  "") {}

PolicedBash::PolicedBash(const std::string& mode, const std::string& spec, const std::string& config,
                         const std::string& dir, const std::string& binary)
    : Daemon({.config = config.empty() ? kScopedConfig : config,
              .dir = dir,
              .dir_template = "/tmp/rampart-enforce-XXXXXX",
              .binary = binary,
              .start = false}) {
  bash_ = path("policed-bash");
  std::filesystem::copy_file("/bin/bash", bash_);
  chmod(bash_.c_str(), 0755);
  write_policy("e2e.yaml", policy_for("e2e-policed", bash_, mode, spec));
  start();
}

std::vector<nlohmann::json> PolicedBash::enforce_events() {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop();
  std::vector<nlohmann::json> out;
  for (auto& e : events())
    if (e["type"] == "enforce") out.push_back(std::move(e));
  return out;
}

std::pair<int, std::string> run_shell(const std::string& shell, const std::string& script) {
  const std::string out_path = "/tmp/rampart-shell-out-" + std::to_string(getpid());
  auto child = run_child([&] {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(shell.c_str(), shell.c_str(), "-c", script.c_str(), nullptr);
    return 126;
  });
  std::string out = slurp(out_path);
  std::filesystem::remove(out_path);
  return {WEXITSTATUS(child.status), out};
}

std::string connect_script(uint16_t a, uint16_t b) {
  return "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(a) + " && echo connected-" + std::to_string(a) +
         "; exec 4<>/dev/tcp/127.0.0.1/" + std::to_string(b) + " && echo connected-" + std::to_string(b);
}

std::string exec_policy(const ScratchTmpfs& fs) { return "  allow:\n    exec: [\"" + fs.path + "/allowed-*\"]\n"; }

std::string exec_config(const ScratchTmpfs& fs) {
  return "enforcement:\n  exec_mounts: [\"" + fs.path + "\"]\n  sensitive_paths: []\n";
}

}  // namespace rampart::testing
