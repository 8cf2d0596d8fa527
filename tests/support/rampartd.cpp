// rampartd as a test fixture; see rampartd.h.
#include "support/rampartd.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "support/files.h"
#include "support/workload.h"

namespace rampart::testing {

using nlohmann::json;
using std::chrono::steady_clock;

std::chrono::milliseconds ready_timeout() { return std::chrono::seconds(30) * timeout_scale(); }

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)) {
  if (opts_.binary.empty()) opts_.binary = RAMPARTD_PATH;
  if (opts_.dir.empty()) {
    scratch_ = std::make_unique<TempDir>(opts_.dir_template);
    dir_ = scratch_->path();
  } else {
    dir_ = opts_.dir;
    chmod(dir_.c_str(), 0755);
  }
  if (opts_.api || opts_.config) {
    std::ofstream cfg(config_path());
    if (opts_.api) cfg << "api:\n  socket: " << socket() << "\n" << opts_.api_config;
    cfg << opts_.config.value_or("");
  }
  if (opts_.policy_dir) {
    std::filesystem::create_directories(policy_dir());
    for (const auto& [name, yaml] : opts_.policies) write_policy(name, yaml);
  }
  if (opts_.start) start();
}

Daemon::~Daemon() { stop(); }  // before scratch_ goes with the directory

std::string Daemon::output_path() const {
  if (opts_.output.empty() || opts_.output[0] == '/') return opts_.output;
  return path(opts_.output);
}

void Daemon::spawn() {
  if (running_) throw std::logic_error("rampartd is already running");
  // Everything the child needs is built before fork: threads of the test
  // (gRPC's, a Listener's) may hold the allocator's lock at that moment.
  std::vector<std::string> args{opts_.binary};
  if (opts_.api || opts_.config) args.insert(args.end(), {"--config", config_path()});
  if (opts_.policy_dir) args.insert(args.end(), {"--policy-dir", policy_dir()});
  if (!opts_.output.empty()) args.insert(args.end(), {"--output", output_path()});
  args.insert(args.end(), opts_.args.begin(), opts_.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string err = path("stderr.txt"), out = path("stdout.txt");
  const int uid = opts_.uid, gid = opts_.gid;
  // A reader of stderr.txt must not see the previous run's banner.
  std::filesystem::remove(err);
  std::filesystem::remove(out);
  ready_ = false;
  status_ = 0;
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    // Nothing of the test's own: not ctest's lock on the shared kernel (an
    // orphan holding it would stall every other run), and an orphan at all
    // only until the test process dies.
    close_range(3, ~0u, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(static_cast<gid_t>(gid)) != 0)) _exit(125);
    if (uid >= 0 && setuid(static_cast<uid_t>(uid)) != 0) _exit(125);
    execv(argv[0], argv.data());
    _exit(127);
  }
  running_ = true;
}

bool Daemon::start() {
  spawn();
  return wait_ready();
}

bool Daemon::running() {
  if (!running_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    running_ = false;
    status_ = r == pid_ ? st : status_;
  }
  return running_;
}

bool Daemon::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (stderr_text().find("attached ") != std::string::npos) return ready_ = true;
    if (!running()) break;  // it exited: the reason is in its stderr
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ready_ = stderr_text().find("attached ") != std::string::npos && running();
  if (!ready_) {
    // The reason (a verifier log, a config error) is in its stderr: show the end.
    std::string text = stderr_text();
    if (text.size() > 6000) text = "[...]" + text.substr(text.size() - 6000);
    std::cerr << "rampartd (pid " << pid_ << ") not ready: " << (running() ? "still starting" : "it exited")
              << "; its stderr:\n"
              << text << std::endl;
  }
  return ready_;
}

int Daemon::stop(int sig) {
  if (!running()) return status_;
  kill(pid_, sig);
  const auto deadline = steady_clock::now() + std::chrono::seconds(60) * timeout_scale();
  while (running()) {
    if (steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      int st = 0;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      running_ = false;
      status_ = st;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

int Daemon::wait_exit() {
  if (!running_) return status_;
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  running_ = false;
  status_ = st;
  return status_;
}

std::string Daemon::stderr_text() const { return slurp(path("stderr.txt")); }
std::string Daemon::stdout_text() const { return slurp(path("stdout.txt")); }

void Daemon::write_policy(const std::string& name, const std::string& yaml) const {
  write_file(policy_dir() + "/" + name, yaml);
}

std::vector<json> Daemon::events() const { return read_json_lines(output_path()); }

std::optional<json> Daemon::wait_for_event(const std::function<bool(const json&)>& pred,
                                           std::chrono::milliseconds timeout) const {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    for (auto& e : events())
      if (pred(e)) return std::move(e);
    if (steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Daemon::lsm() const { return !hooks_mechanism().empty(); }

std::string Daemon::hooks_mechanism() const {
  const std::string err = stderr_text();
  if (err.find("BPF LSM (self-test passed)") != std::string::npos) return "bpf_lsm";
  if (err.find("(BPF LSM not active) (self-test passed)") != std::string::npos) return "bpf_fmod_ret";
  return "";
}

std::string policy_for(const std::string& name, const std::string& exe, const std::string& mode,
                       const std::string& spec) {
  return "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: " + name +
         "\nspec:\n  selector:\n    executables: [\"" + exe + "\"]\n  mode: " + mode + "\n" + spec;
}

std::string policy_yaml(const std::string& name, const std::string& exe, const std::string& mode,
                        const std::string& allow_connect) {
  return policy_for(name, exe, mode, "  allow:\n    network:\n      connect: [" + allow_connect + "]\n");
}

}  // namespace rampart::testing
