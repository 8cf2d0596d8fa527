// One way a compiled policy set reaches the kernel. The policy runtime
// installs every set into all of them through this interface, the same
// way at start, on reload, on a learned profile's promotion and on
// rollback:
//   stage   put the next set into its bank beside the set in force, which
//           keeps working (any failure: abort, nothing changed);
//   commit  the next set is in force; what only the old set needed goes,
//           unless processes are still left on the old bank;
//   abort   the attempt failed: the set in force stays as it was.
// The mechanisms: the BPF policy maps (always), BPF LSM path rules (when
// BPF LSM is active), fanotify marks and rules (when it is not).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "enforce/compiler.h"
#include "enforce/file_rules.h"
#include "policy/policy.h"
#include "util/result.h"

namespace rampart::engine {

// A policy set on its way in: kernel id = base + index + 1.
struct Candidate {
  const policy::PolicySet& set;
  uint32_t base = 0;
  enforce::Compiled compiled;                   // filled by the map bank, read by the others
  std::vector<enforce::GuardRule> guard_rules;  // by kernel id - 1 (ids below base: empty)
  std::vector<std::string> notes;               // for the log and the reload answer
};

class Mechanism {
 public:
  virtual ~Mechanism() = default;
  virtual const char* name() const = 0;
  virtual Result<void> stage(Candidate& next) = 0;
  // stragglers: processes the flip could not move are still on the old bank.
  virtual void commit(bool stragglers) = 0;
  virtual void abort() = 0;
  // The last straggler has moved off the old bank.
  virtual void stragglers_gone() {}
};

}  // namespace rampart::engine
