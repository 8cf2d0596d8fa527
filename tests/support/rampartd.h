// The one way the tests start rampartd: a scratch directory with its config
// (rampart.yaml), policies (policies/), event output (events.jsonl), stderr
// and stdout (stderr.txt, stdout.txt), and the process, started, waited on
// until its programs are attached, stopped with a signal and restarted on
// the same directory. The e2e, api, lsm and bench targets build on it; the
// binary is RAMPARTD_PATH, which the test-support library defines.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/files.h"

namespace rampart::testing {

// How long rampartd may take to attach: 30 s, times RAMPART_TEST_TIMEOUT_SCALE.
std::chrono::milliseconds ready_timeout();

// Fields in declaration order, for designated initializers.
struct DaemonOptions {
  // rampartd's config, written to DIR/rampart.yaml and passed with --config.
  // Without it (and without api) rampartd runs on its built-in defaults.
  std::optional<std::string> config;
  // The API socket at DIR/rampart.sock: "api:\n  socket: ...\n" first in
  // the config, then api_config (more keys under api:, indented by two
  // spaces), then config.
  bool api = false;
  std::string api_config;
  // Policy files (name, YAML) in DIR/policies, passed with --policy-dir.
  std::vector<std::pair<std::string, std::string>> policies;
  bool policy_dir = true;
  // --output: a name in DIR, or an absolute path; "" leaves it out.
  std::string output = "events.jsonl";
  // More command-line arguments, after the ones above.
  std::vector<std::string> args;
  // An existing directory to use (and leave) instead of a new scratch one.
  std::string dir;
  std::string dir_template = "/tmp/rampart-test-XXXXXX";
  // Another binary (a copy of rampartd), and the uid and gid to run it as.
  std::string binary;
  int uid = -1, gid = -1;
  // Start in the constructor and wait until ready (or until it exits).
  bool start = true;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions opts = {});
  virtual ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts it (again, on the same directory; stderr and stdout start over)
  // and waits until it is ready. False if it exited or timed out.
  bool start();
  // Starts it without waiting.
  void spawn();
  // Waits until its banner says its programs are attached; false if it
  // exited first or the time ran out.
  bool wait_ready(std::chrono::milliseconds timeout = ready_timeout());
  bool ready() const { return ready_; }
  // Whether the process is still there (reaps it if it exited).
  bool running();
  // Sends sig and waits for the exit (SIGKILL after 60 s); the wait status.
  // Without a running process, the status it last exited with.
  int stop(int sig = SIGTERM);
  // SIGKILL: no orderly shutdown, as in a crash.
  void kill_hard() { stop(SIGKILL); }
  // Waits for it to exit by itself; the wait status.
  int wait_exit();
  pid_t pid() const { return pid_; }

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string config_path() const { return path("rampart.yaml"); }
  std::string policy_dir() const { return path("policies"); }
  std::string output_path() const;
  std::string socket() const { return path("rampart.sock"); }
  std::string stderr_text() const;
  std::string stdout_text() const;
  // Writes a policy file into policy_dir() (read at the next start or reload).
  void write_policy(const std::string& name, const std::string& yaml) const;

  // Every event written so far (a line still being written is left out);
  // throws on a line that is not JSON.
  std::vector<nlohmann::json> events() const;
  // Polls events() until one matches or the time runs out.
  std::optional<nlohmann::json> wait_for_event(const std::function<bool(const nlohmann::json&)>& pred,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  // Whether it chose the kernel's security hooks (its self-test passed) for
  // exec, files and privilege: BPF LSM programs, or the same programs as
  // fmod_ret programs on security_*() where BPF LSM is not active.
  bool lsm() const;
  // "bpf_lsm", "bpf_fmod_ret", or "" (neither).
  std::string hooks_mechanism() const;
  // The mechanism that refuses execs and file opens on this kernel.
  std::string file_mechanism() const { return lsm() ? hooks_mechanism() : "fanotify"; }

 private:
  DaemonOptions opts_;
  std::unique_ptr<TempDir> scratch_;  // when no directory was given
  std::string dir_;
  pid_t pid_ = -1;
  bool running_ = false, ready_ = false;
  int status_ = 0;
};

// A policy document selecting one executable by path, in mode, with spec
// (the YAML after spec.mode, indented by two spaces).
std::string policy_for(const std::string& name, const std::string& exe, const std::string& mode,
                       const std::string& spec);
// The same with a network allow-list: allow_connect is the list's contents.
std::string policy_yaml(const std::string& name, const std::string& exe, const std::string& mode,
                        const std::string& allow_connect);

}  // namespace rampart::testing
