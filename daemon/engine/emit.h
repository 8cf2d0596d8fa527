// The Emit stage: the event, with everything the stages above found out,
// as one JSON line on the output, offered to the API's stream subscribers,
// and counted for the metrics (events by type, verdicts by level,
// enforcement by mechanism and action, event-to-verdict latency).
#pragma once

#include <array>
#include <cstdint>

#include "api/event_hub.h"
#include "engine/act.h"
#include "engine/enrich.h"
#include "engine/output.h"
#include "engine/policy_runtime.h"
#include "engine/score.h"
#include "engine/work.h"
#include "ops/metrics.h"

namespace rampart::engine {

class Emit {
 public:
  Emit(Output& out, api::EventHub& hub, const pipeline::ProcessTable& table, const PolicyRuntime& policies,
       const Enrich& enrich, const Score& score, const Act& act)
      : out_(out), hub_(hub), table_(table), policies_(policies), enrich_(enrich), score_(score), act_(act) {}

  void run(const Work& w);
  // events.exclude: these types are evaluated like any other, and written
  // out (and streamed) only when they cost trust.
  void exclude(const std::vector<uint32_t>& types);

  // Counters of what went out.
  const std::array<uint64_t, RP_EV_MAX>& delivered() const { return delivered_; }
  // Evaluated, not written out: events.exclude.
  const std::array<uint64_t, RP_EV_MAX>& excluded() const { return excluded_count_; }
  uint64_t denies() const { return denies_; }
  uint64_t would_deny() const { return would_deny_; }
  const std::array<uint64_t, 5>& verdicts_by_level() const { return verdicts_by_level_; }
  const std::array<std::array<uint64_t, 4>, RP_MECH_MAX>& enforcement_by_mechanism() const {
    return enforcement_by_mech_;
  }
  const ops::Histogram& verdict_latency() const { return verdict_latency_; }

 private:
  void publish(const Work& w, size_t json_begin);
  void count(const Work& w);

  Output& out_;
  api::EventHub& hub_;
  const pipeline::ProcessTable& table_;
  const PolicyRuntime& policies_;
  const Enrich& enrich_;
  const Score& score_;
  const Act& act_;
  std::array<uint64_t, RP_EV_MAX> delivered_{};
  std::array<bool, RP_EV_MAX> excluded_{};
  std::array<uint64_t, RP_EV_MAX> excluded_count_{};
  uint64_t denies_ = 0, would_deny_ = 0;                                    // enforce events
  std::array<uint64_t, 5> verdicts_by_level_{};                             // by score::Level
  std::array<std::array<uint64_t, 4>, RP_MECH_MAX> enforcement_by_mech_{};  // [RP_MECH_*][RP_ACT_*]
  ops::Histogram verdict_latency_;                                          // event ts → verdict (applied) time
};

}  // namespace rampart::engine
