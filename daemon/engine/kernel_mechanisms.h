// The kernel mechanisms beyond the BPF policy maps that a policy set is
// installed into (see mechanism.h): BPF LSM path rules where BPF LSM is
// active, fanotify permission marks and rules where it is not.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bpf/loader.h"
#include "bpf/lsm_loader.h"
#include "config/config.h"
#include "enforce/perm_guard.h"
#include "engine/mechanism.h"

namespace rampart::engine {

// Exec and file rules by path (path_rules_map), and the files deny rules
// name by identity (inode_rules_map), for the BPF LSM programs, keyed by
// kernel policy id.
class LsmPathRules final : public Mechanism {
 public:
  explicit LsmPathRules(bpf::LsmPrograms& lsm) : lsm_(lsm) {}
  const char* name() const override { return "LSM path rules"; }
  Result<void> stage(Candidate& next) override;
  void commit(bool) override { staged_ = false; }
  void abort() override;

 private:
  bpf::LsmPrograms& lsm_;
  uint32_t base_ = 0;
  bool staged_ = false;
};

// The sensitive files by identity, under policy 0 (RP_PR_SENSITIVE), for the
// BPF LSM programs: refused under a deny-files verdict whatever their name.
Result<void> install_sensitive_inodes(bpf::LsmPrograms& lsm, const std::vector<policy::PathPattern>& sensitive);

// A fanotify guard per bank: it answers exec and open permission events
// for the processes on that bank's ids. A reload starts the new bank's
// guard beside the old one; the old one stops at commit, or when the last
// process that could not be moved has moved.
class FanotifyGuard final : public Mechanism {
 public:
  FanotifyGuard(const config::Config& cfg, const bpf::Programs& programs, enforce::PermGuard::Report report)
      : cfg_(cfg), programs_(programs), report_(std::move(report)) {}
  const char* name() const override { return "fanotify"; }
  Result<void> stage(Candidate& next) override;
  void commit(bool stragglers) override;
  void abort() override;
  void stragglers_gone() override;
  // The guard in force, null when no policy needs one.
  const enforce::PermGuard* current() const { return current_.get(); }
  void stop();  // closing its fd lets any exec still waiting through

 private:
  const config::Config& cfg_;
  const bpf::Programs& programs_;
  enforce::PermGuard::Report report_;
  std::unique_ptr<enforce::PermGuard> current_, next_, straggler_;
  void forget_marked_devs();
  std::set<uint32_t> marked_devs_;  // in exec_marked_map, for the guards' exec marks
  // exec_deny_size_map entries of the bank in force, the staged one, and the
  // bank stragglers are still on.
  using SizeKeys = std::vector<rp_exec_size_key>;
  SizeKeys sizes_, next_sizes_, straggler_sizes_;
  void stage_sizes(const std::vector<enforce::DeniedObjects>& denied);
  void forget(SizeKeys& keys);
};

}  // namespace rampart::engine
