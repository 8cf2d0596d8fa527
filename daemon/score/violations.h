// Policy violations as rule hits. The kernel (or the fanotify guard) reports
// every operation a policy refused, or in audit mode would have refused, as
// an enforce event; each one costs the process trust, like a built-in rule:
// the weight of the deny rule that matched it, or, for an operation missing
// from an allow-list, the weight of rampart.policy.not_allowed. Refusals that
// a verdict caused (quarantine) cost nothing more: they are its consequence.
// Pure logic over a PolicySet; rebuilt whenever the set changes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "score/rules.h"
#include "shared/rp_abi.h"

namespace rampart::score {

// The rule every allow-list violation counts as.
const Rule& not_allowed_rule();

class Violations {
 public:
  Violations() = default;
  // Keeps a pointer to `set`, which must outlive this object (or until the next rebuild).
  explicit Violations(const policy::PolicySet& set);

  struct Match {
    const Rule* rule;
    const policy::DenyRule* deny;  // the deny rule, when one matched
    std::string detail;
  };
  // What an enforce event costs; nullopt when it costs nothing (verdict-driven, unknown policy).
  std::optional<Match> match(const rp_enforce_event& e) const;

 private:
  const policy::PolicySet* set_ = nullptr;
  std::vector<std::vector<Rule>> deny_;  // [policy id - 1][deny rule index]
};

}  // namespace rampart::score
