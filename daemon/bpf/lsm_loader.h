// The BPF LSM programs (bpf/lsm.bpf.c): loaded apart from the tracing
// programs, on their maps, only where the kernel has BPF LSM. A loaded and
// attached LSM program whose LSM is not active denies nothing and reports no
// error, so load() ends with a self-test: a child of rampartd must get EPERM
// from an open. Only then is the LSM path used; otherwise the caller keeps
// the fallbacks (cgroup hooks, fanotify, kill at syscall exit).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpf/loader.h"
#include "enforce/file_rules.h"
#include "util/result.h"

struct rampart_lsm;

namespace rampart::bpf {

class LsmPrograms {
 public:
  // How the programs reach the kernel's security checks: as BPF LSM
  // programs, or (BPF LSM not active, trampolines there) as fmod_ret
  // programs on the security_*() functions that call the LSM hooks.
  enum class Hooks { kLsm, kFmodRet };
  // Error: why the LSM path is not used (for the capability matrix).
  static Result<std::unique_ptr<LsmPrograms>> load(Programs& base, uint32_t self_tgid, Hooks hooks = Hooks::kLsm);
  ~LsmPrograms();
  LsmPrograms(const LsmPrograms&) = delete;
  LsmPrograms& operator=(const LsmPrograms&) = delete;

  const std::vector<std::string>& attached() const { return attached_; }
  Hooks hooks() const { return hooks_; }
  // "bpf_lsm" or "bpf_fmod_ret", as enforce events name the mechanism.
  const char* mechanism() const { return hooks_ == Hooks::kLsm ? "bpf_lsm" : "bpf_fmod_ret"; }
  // RP_PRIV_* the hooks refuse with EPERM.
  static constexpr uint32_t kPrivileges = RP_PRIV_PTRACE | RP_PRIV_MODULE | RP_PRIV_MOUNT | RP_PRIV_BPF;

  Result<void> add_path_rules(uint32_t policy_id, const std::vector<enforce::PathEntry>& entries);
  // Removes every path rule of the policy ids lo..hi (a recycled reload bank).
  Result<void> remove_path_rules(uint32_t lo, uint32_t hi);
  // Files by identity (inode_rules_map): dev is the kernel's s_dev.
  struct InodeRule {
    uint64_t ino;
    uint32_t dev;
    uint32_t flags;  // RP_PR_*_DENY, RP_PR_SENSITIVE
  };
  Result<void> add_inode_rules(uint32_t policy_id, const std::vector<InodeRule>& rules);
  Result<void> remove_inode_rules(uint32_t lo, uint32_t hi);
  // Keeps every process but rampartd and its supervisor (`supervisor_tgid`,
  // e.g. systemd, if it is still our parent) away from rampartd: signals
  // (pid 1 may always stop it), ptrace, fds to its maps, programs and links,
  // its pin dir, and the kill, freeze and limit files of its cgroup
  // (`cgroup`, a path under `cgroup2_mount`) and their ancestors. Both are
  // known by pid and start time; the protection ends when rampartd does, for
  // the next one to take over.
  Result<void> protect(const Programs& base, uint32_t supervisor_tgid, const std::string& cgroup2_mount,
                       const std::string& cgroup);

 private:
  LsmPrograms() = default;
  Result<void> self_test();

  rampart_lsm* skel_ = nullptr;
  Hooks hooks_ = Hooks::kLsm;
  PinDir* pins_ = nullptr;  // the base programs' (they outlive us)
  bool owns_pins_ = false;
  std::vector<struct bpf_link*> links_;
  std::vector<std::string> attached_;
};

}  // namespace rampart::bpf
