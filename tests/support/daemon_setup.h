// Test support for the daemon tiers (e2e, and lsm in the VM): a scratch dir
// with a copy of bash, a policy for it and rampartd running on it; a tmpfs
// the test mounts; a loopback listener; running a shell and reading what it
// printed. The including target defines RAMPARTD_PATH.
#pragma once

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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/scratch_tmpfs.h"
#include "support/workload.h"

namespace rampart::testing {

using nlohmann::json;

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Listener {
  int fd;
  uint16_t port = 0;
  Listener() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(listen(fd, 64) == 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { close(fd); }
};

inline const std::string kScopedConfig = "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n";

// A scratch dir with a copy of bash, a policy for it, and rampartd running.
class PolicedSetup {
 public:
  PolicedSetup(const std::string& mode, uint16_t allowed_port)
      : PolicedSetup(
            mode, "  allow:\n    network:\n      connect: [\"127.0.0.1:" + std::to_string(allowed_port) + "\"]\n", "") {
  }

  // spec: the YAML after spec.mode (allow, deny, ...); config: rampartd's config.
  PolicedSetup(const std::string& mode, const std::string& spec, const std::string& config,
               const std::string& dir = "") {
    char tmpl[] = "/tmp/rampart-enforce-XXXXXX";
    owns_dir_ = dir.empty();
    dir_ = owns_dir_ ? std::string(mkdtemp(tmpl)) : dir;
    chmod(dir_.c_str(), 0755);
    bash_ = dir_ + "/policed-bash";
    std::filesystem::copy_file("/bin/bash", bash_);
    chmod(bash_.c_str(), 0755);
    std::filesystem::create_directory(dir_ + "/policies");
    std::ofstream(dir_ + "/policies/e2e.yaml") << "apiVersion: rampart.dev/v1\n"
                                                  "kind: Policy\n"
                                                  "metadata:\n"
                                                  "  name: e2e-policed\n"
                                                  "spec:\n"
                                                  "  selector:\n"
                                                  "    executables: [\""
                                               << bash_ << "\"]\n  mode: " << mode << "\n"
                                               << spec;
    // Never the machine's own filesystems: no exec marks on /, no marks on /etc.
    std::ofstream(dir_ + "/rampart.yaml") << (config.empty() ? kScopedConfig : config);
    start();
  }
  // Starts rampartd (again, after stop() or kill_hard()); stderr.txt starts over.
  void start() {
    std::filesystem::remove(dir_ + "/stderr.txt");  // ready() must not read a previous run's
    pid_ = fork();
    if (pid_ == 0) {
      int e = open((dir_ + "/stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(e, 2);
      execl(RAMPARTD_PATH, RAMPARTD_PATH, "--config", (dir_ + "/rampart.yaml").c_str(), "--policy-dir",
            (dir_ + "/policies").c_str(), "--output", (dir_ + "/events.jsonl").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 1000 * timeout_scale() && !ready(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // SIGKILL: no orderly shutdown, as in a crash.
  void kill_hard() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  ~PolicedSetup() {
    stop();
    std::error_code ec;
    if (owns_dir_) std::filesystem::remove_all(dir_, ec);
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  bool ready() const { return slurp(dir_ + "/stderr.txt").find("attached ") != std::string::npos; }
  std::string stderr_text() const { return slurp(dir_ + "/stderr.txt"); }
  // Whether rampartd chose BPF LSM (its self-test passed) for exec, files and privilege.
  bool lsm() const { return stderr_text().find("BPF LSM (self-test passed)") != std::string::npos; }
  // The mechanism that refuses execs and file opens on this kernel.
  std::string file_mechanism() const { return lsm() ? "bpf_lsm" : "fanotify"; }
  const std::string& bash() const { return bash_; }
  const std::string& dir() const { return dir_; }
  // Lets the last events arrive, stops rampartd, and returns its enforce events.
  std::vector<json> enforce_events() {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop();
    std::vector<json> out;
    for (auto& e : events())
      if (e["type"] == "enforce") out.push_back(std::move(e));
    return out;
  }
  std::vector<json> events() const {
    std::vector<json> out;
    std::ifstream in(dir_ + "/events.jsonl");
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

 private:
  std::string dir_, bash_;
  bool owns_dir_ = true;
  pid_t pid_ = -1;
};

// Runs `shell -c script` and returns (exit code, stdout+stderr).
inline std::pair<int, std::string> run_shell(const std::string& shell, const std::string& script) {
  std::string out_path = "/tmp/rampart-enforce-out-" + std::to_string(getpid());
  auto child = rampart::testing::run_child([&] {
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

inline std::string connect_script(uint16_t a, uint16_t b) {
  return "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(a) + " && echo connected-" + std::to_string(a) +
         "; exec 4<>/dev/tcp/127.0.0.1/" + std::to_string(b) + " && echo connected-" + std::to_string(b);
}

inline std::string exec_policy(const ScratchTmpfs& fs) {
  return "  allow:\n    exec: [\"" + fs.path + "/allowed-*\"]\n";
}
inline std::string exec_config(const ScratchTmpfs& fs) {
  return "enforcement:\n  exec_mounts: [\"" + fs.path + "\"]\n  sensitive_paths: []\n";
}

}  // namespace rampart::testing
