// Exec and file enforcement through fanotify permission events, for kernels
// without BPF LSM. The kernel holds every exec of a file on a marked
// filesystem (FAN_OPEN_EXEC_PERM), and every open of a protected file
// (FAN_OPEN_PERM, inode marks), until this guard answers. A denied exec
// fails with EPERM, the new image never runs and the caller survives; a
// denied open fails with EPERM before the file is touched (O_TRUNC included).
// fanotify does not say whether an open is for reading or writing, so a
// protected file refuses every open by the processes its rule applies to.
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

class PermGuard {
 public:
  struct Rule {
    bool enforce = false;        // false: audit (allow and report would-deny)
    bool restrict_exec = false;  // allow.exec present
    std::vector<policy::PathPattern> allow;
    std::vector<policy::PathPattern> protected_files;  // from deny rules (files.read / files.write)
  };
  // Index = policy id - 1.
  using Rules = std::vector<Rule>;
  using Report = std::function<void(const rp_enforce_event&)>;

  // Marks each of exec_mounts' filesystems for FAN_OPEN_EXEC_PERM and each of
  // files for FAN_OPEN_PERM, then starts the thread.
  static Result<std::unique_ptr<PermGuard>> start(const std::vector<std::string>& exec_mounts,
                                                  const std::vector<std::string>& files, int proc_policy_map_fd,
                                                  Rules rules, Report report);
  ~PermGuard();
  PermGuard(const PermGuard&) = delete;
  PermGuard& operator=(const PermGuard&) = delete;

  uint64_t decisions() const { return decisions_; }
  uint64_t denials() const { return denials_; }
  uint64_t overflows() const { return overflows_; }

 private:
  PermGuard() = default;
  void run();
  bool allow(uint32_t tgid, int fd, bool exec);

  int fan_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the thread to stop
  int map_fd_ = -1;
  Rules rules_;
  Report report_;
  std::thread thread_;
  std::atomic<uint64_t> decisions_{0}, denials_{0}, overflows_{0};
};

}  // namespace rampart::enforce
