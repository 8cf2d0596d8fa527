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
// (file_rules.h). fanotify does not say whether an open reads or writes: the
// group reports the thread (FAN_REPORT_TID), and a BPF program records the
// flags of the open each thread is in (open_flags_map, set at sys_enter from
// the syscall's registers). Flags that are not known are judged as read and
// write, the stricter of the two.
//
// Two threads. The reader only reads events off the fanotify fd, queues them
// and answers "allow" for any event still unanswered at the deadline (queued
// or being decided), and counts it: a stalled decision never holds the host.
// The decider answers queued events in order, with a decision cache keyed by
// (policy, verdict, file, mount), which a rename or a new link (they change
// the inode's ctime) voids; a file with more than one name is decided afresh
// each time, since its names can be judged differently.
//
// Deny rules hold by identity as well as by name (file_identity.h): a hard
// link, a bind mount, a rename or an overlong path of a denied file is
// refused like its name, and so is a byte copy of a denied binary. Stopping, or any error on the fd, closes it, and
// closing lets every waiting operation through; if rampartd dies, the kernel
// closes it: the guard fails open, by design of fanotify.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "enforce/file_identity.h"
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
    int open_flags_map_fd = -1;  // tid -> rp_open_flags
    uint32_t deadline_ms = 1000;
    // Fault injection (test builds only, see fault_injection.h): each decision first sleeps this long.
    uint32_t fault_delay_ms = 0;
    Rules rules;
    // Per policy (index = policy id - 1): the files its deny rules name, by
    // identity, so that another name of one is refused too. The guard adds
    // each file that a deny rule refuses by name.
    std::vector<DeniedObjects> denied;
    DeniedObjects sensitive_objects;  // the sensitive files, refused under a deny-files verdict
  };

  static Result<std::unique_ptr<PermGuard>> start(Setup setup, Report report);
  ~PermGuard();
  PermGuard(const PermGuard&) = delete;
  PermGuard& operator=(const PermGuard&) = delete;

  uint64_t decisions() const;
  uint64_t denials() const;
  uint64_t overflows() const;
  uint64_t cache_hits() const;
  uint64_t deadline_expired() const;
  uint64_t access_unknown() const;
  uint64_t access_checks() const;
  uint64_t identity_denials() const;  // refused by identity or contents, not by the name
  uint64_t remarked() const;          // new files under a marked file's name (a rename over it), marked
  uint64_t watch_failures() const;    // marked files whose directory could not be watched, or watch overflows

 private:
  // Everything the threads touch. Shared with them, so that a decider stuck
  // past the stop deadline can be left behind without touching freed memory.
  struct State;
  explicit PermGuard(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
  std::thread reader_, decider_;
};

}  // namespace rampart::enforce
