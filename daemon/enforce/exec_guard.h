// Exec enforcement through fanotify permission events, for kernels without
// BPF LSM. The kernel holds every exec of a file on a marked filesystem until
// this guard answers; a denied exec fails with EPERM, the new image never
// runs, and the caller survives.
//
// The guard answers on its own thread, which never waits on anything but the
// fanotify fd: the policy of the process comes from the kernel's
// proc_policy_map (a map lookup), the rules from an immutable snapshot taken
// at start. Reports go to a callback that must only hand them off (rampartd
// posts them to its pipeline loop). If rampartd dies, the kernel closes the
// fd and lets every waiting exec through: it fails open, by design of
// fanotify. Marks are placed only when some policy restricts exec.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "policy/policy.h"
#include "shared/rp_abi.h"
#include "util/result.h"

namespace rampart::enforce {

class ExecGuard {
 public:
  struct Rule {
    bool enforce = false;        // false: audit (allow and report would-deny)
    bool restrict_exec = false;  // allow.exec present
    std::vector<policy::PathPattern> allow;
  };
  // Index = policy id - 1.
  using Rules = std::vector<Rule>;
  using Report = std::function<void(const rp_enforce_event&)>;

  // Marks each mount's filesystem for FAN_OPEN_EXEC_PERM and starts the thread.
  static Result<std::unique_ptr<ExecGuard>> start(const std::vector<std::string>& mounts, int proc_policy_map_fd,
                                                  Rules rules, Report report);
  ~ExecGuard();
  ExecGuard(const ExecGuard&) = delete;
  ExecGuard& operator=(const ExecGuard&) = delete;

  uint64_t decisions() const { return decisions_; }
  uint64_t denials() const { return denials_; }
  uint64_t overflows() const { return overflows_; }

 private:
  ExecGuard() = default;
  void run();
  bool allow(uint32_t tgid, int fd);

  int fan_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the thread to stop
  int map_fd_ = -1;
  Rules rules_;
  Report report_;
  std::thread thread_;
  std::atomic<uint64_t> decisions_{0}, denials_{0}, overflows_{0};
};

}  // namespace rampart::enforce
