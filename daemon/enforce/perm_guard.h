// Exec and file enforcement through fanotify permission events, for kernels
// without BPF LSM. The kernel holds every exec of a file on a marked
// filesystem (FAN_OPEN_EXEC_PERM), and every open of a marked file, of a file
// in a marked directory, or of any file on a marked filesystem
// (FAN_OPEN_PERM), until this guard answers. A denied exec fails with EPERM,
// the new image never runs and the caller survives; a denied open fails with
// EPERM before the file is touched (O_TRUNC included).
//
// Decisions come from the same state the BPF programs read: the process's
// policy (proc_policy_map) and its trust verdict (verdict_map: deny-exec, and
// deny-files on the sensitive paths), plus each policy's exec and file rules
// (file_rules.h). fanotify does not say whether an open reads or writes; when
// the answer depends on it, the guard reads the caller's pending syscall from
// /proc/<pid>/syscall (the caller is blocked in it).
//
// The guard answers on its own thread, which never waits on anything but the
// fanotify fd. A decision cache keyed by (policy, verdict, file) skips path
// resolution for repeated opens. A watchdog answers "allow" for any event
// left unanswered past the deadline, and counts it: a stuck guard must not
// hang the host. If rampartd dies, the kernel closes the fd and lets every
// waiting operation through: it fails open, by design of fanotify.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "enforce/file_rules.h"
#include "shared/rp_abi.h"
#include "util/result.h"

namespace rampart::enforce {

class PermGuard {
 public:
  using Rules = std::vector<GuardRule>;  // index = policy id - 1
  using Report = std::function<void(const rp_enforce_event&)>;

  struct Setup {
    std::vector<std::string> exec_mounts;        // FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM
    std::vector<std::string> file_mounts;        // FAN_MARK_FILESYSTEM, FAN_OPEN_PERM
    std::vector<std::string> files;              // inode marks, FAN_OPEN_PERM
    std::vector<std::string> dirs;               // directory marks, FAN_OPEN_PERM on their children
    std::vector<policy::PathPattern> sensitive;  // refused under a deny-files verdict
    int proc_policy_map_fd = -1;
    int verdict_map_fd = -1;
    uint32_t deadline_ms = 1000;
    // Fault injection for tests: each decision first sleeps this long.
    uint32_t fault_delay_ms = 0;
    Rules rules;
  };

  static Result<std::unique_ptr<PermGuard>> start(Setup setup, Report report);
  ~PermGuard();
  PermGuard(const PermGuard&) = delete;
  PermGuard& operator=(const PermGuard&) = delete;

  uint64_t decisions() const { return decisions_; }
  uint64_t denials() const { return denials_; }
  uint64_t overflows() const { return overflows_; }
  uint64_t cache_hits() const { return cache_hits_; }
  uint64_t deadline_expired() const { return deadline_expired_; }
  uint64_t access_unknown() const { return access_unknown_; }
  uint64_t access_checks() const { return access_checks_; }

 private:
  PermGuard() = default;
  void run();
  void watchdog();
  bool allow(uint32_t pid, int fd, bool exec);
  void report(uint32_t pid, uint32_t policy_id, bool exec, uint8_t action, uint8_t reason, std::string_view path);
  std::optional<Access> pending_access(uint32_t pid) const;

  struct CacheKey {
    uint32_t policy_id, verdict_flags;
    uint64_t dev, ino;
    bool exec;
    bool operator==(const CacheKey&) const = default;
  };
  struct CacheHash {
    size_t operator()(const CacheKey& k) const {
      return std::hash<uint64_t>()(k.ino * 0x9e3779b97f4a7c15ull ^ k.dev ^ (uint64_t{k.policy_id} << 40) ^
                                   (uint64_t{k.verdict_flags} << 56) ^ k.exec);
    }
  };
  struct CacheEntry {
    OpenReasons reasons;  // exec: read and write both hold the exec reason
    uint64_t expires_ns = 0;
    std::string path;
  };
  // Resolves the file's path and what the rules (and a deny verdict) say of it.
  CacheEntry resolve(int fd, bool exec, const GuardRule* rule, bool verdict) const;

  int fan_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the thread to stop
  Setup setup_;
  Report report_;
  std::unordered_map<CacheKey, CacheEntry, CacheHash> cache_;
  // After an allowed exec of an ELF, the kernel opens its loader (ld.so) as
  // an exec too: that one open, by that process, of that file, is part of
  // the allowed exec. Keyed by pid. A direct execve of ld.so has no such
  // entry and is judged like any binary, and so is a script's "#!" program.
  struct FollowUp {
    uint64_t dev, ino, expires_ns;
  };
  std::unordered_map<uint32_t, FollowUp> follow_;
  void expect_interpreter(uint32_t pid, int fd, uint64_t now);
  std::thread thread_, watchdog_;
  // The event being decided (-1: none) and since when: the watchdog answers
  // it if the deadline passes, and whoever swaps it out first answers it.
  std::atomic<int> current_fd_{-1};
  std::atomic<uint64_t> current_since_ns_{0};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<uint64_t> decisions_{0}, denials_{0}, overflows_{0}, cache_hits_{0}, deadline_expired_{0},
      access_unknown_{0}, access_checks_{0};
};

}  // namespace rampart::enforce
