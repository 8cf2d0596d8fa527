// One event on its way down the engine's stages, and what each stage found
// out about it. Enrich fills in the process, Evaluate the governing policy
// and the rule hits, Score the verdicts, Act what reached the kernel, and
// Emit writes the event with all of it. A stage reads what the stages above
// it wrote and never calls back up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "outputs/event_json.h"
#include "policy/policy.h"
#include "score/rules.h"
#include "score/trust.h"
#include "sources/decoder.h"

namespace rampart::engine {

struct Work {
  explicit Work(const sources::EventView& e) : ev(e) {}
  const sources::EventView& ev;

  // Enrich: the exe an exec replaced.
  std::optional<std::string> replaced_exe;

  // Evaluate: the governing policy (looked up only when needed: a map
  // syscall), the rule hits, and for an enforce event the deny rule.
  const policy::Policy* governed = nullptr;
  std::vector<score::RuleHit> hits;
  const policy::DenyRule* deny = nullptr;
  bool kill_for_rule = false;  // a kill rule matched a refused operation
  // An allow.files violation fanotify could not see: the open already
  // happened; Act kills the opener (enforce mode) and reports it.
  std::optional<rp_enforce_event> after_the_fact;

  // Score: the verdicts whose level changed, in order, and the process's
  // verdict after this event's hits.
  std::vector<score::Verdict> changed;
  std::optional<score::Verdict> verdict;
  bool verdict_enforced = false;

  // Act: when the last verdict reached the kernel map (0: it did not), and
  // whether the process was killed for a kill rule.
  uint64_t verdict_applied_ns = 0;
  bool killed_by_rule = false;
};

}  // namespace rampart::engine
