// The Score stage: each rule hit lowers the trust score of the process
// that caused it, under its policy's weights and thresholds, and the score
// gives the process a level (observe, alert, deny, quarantine, kill). A
// fork passes a share of the parent's distrust to the child; scores decay
// back toward 100 over time.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/evaluate.h"
#include "engine/policy_runtime.h"
#include "engine/work.h"
#include "score/trust.h"

namespace rampart::engine {

class Score {
 public:
  Score(score::TrustEngine::Limits limits, const PolicyRuntime& policies, const Evaluate& evaluate)
      : trust_(limits), policies_(policies), evaluate_(evaluate) {}

  void run(Work& w);
  // Decay: the verdicts whose level fell since they were last reported.
  std::vector<score::Verdict> tick(uint64_t now) { return trust_.tick(now); }
  void forget(uint32_t tgid) { trust_.on_exit(tgid); }
  score::TrustEngine& trust() { return trust_; }
  const score::TrustEngine& trust() const { return trust_; }
  uint64_t rule_hits() const { return rule_hits_; }

 private:
  score::TrustEngine trust_;
  const PolicyRuntime& policies_;
  const Evaluate& evaluate_;
  uint64_t rule_hits_ = 0;
};

}  // namespace rampart::engine
