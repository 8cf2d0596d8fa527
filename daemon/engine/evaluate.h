// The Evaluate stage: what an event means under the policy that governs its
// process. For an enforce event (the kernel or fanotify refused something,
// or would have in audit mode): the violation it stands for and the deny
// rule that matched. For any other event: the built-in rules, the learned
// profile (recording or anomalies), and allow.files opens fanotify could
// not see. The result is a list of rule hits for Score.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/learner.h"
#include "engine/policy_runtime.h"
#include "engine/work.h"
#include "pipeline/process_table.h"
#include "score/rules.h"

namespace rampart::engine {

class Evaluate {
 public:
  // file_mounts: filesystems fanotify watches whole (enforcement.file_mounts).
  Evaluate(const PolicyRuntime& policies, const pipeline::ProcessTable& table, Learner& learner,
           std::vector<std::string> file_mounts);

  void run(Work& w);
  // The governing policy of the work's event, looked up once.
  const policy::Policy& governing(Work& w) const;
  void forget(uint32_t tgid) { seen_.erase(tgid); }
  size_t history_entries() const;

 private:
  // Adds the hit an enforce event stands for; returns the deny rule that matched, if any.
  const policy::DenyRule* on_violation(const rp_enforce_event& e, std::vector<score::RuleHit>& hits);
  void check_open_after(Work& w, const rp_file_event& e) const;

  const PolicyRuntime& policies_;
  const pipeline::ProcessTable& table_;
  Learner& learner_;
  std::vector<std::string> file_mounts_;
  score::ConnectHistory connects_;  // executables seen connecting out
  // When a process last paid for each violation rule: a refused operation
  // retried in a loop costs once a minute, not once per try.
  std::unordered_map<uint32_t, std::vector<std::pair<const score::Rule*, uint64_t>>> seen_;
};

}  // namespace rampart::engine
