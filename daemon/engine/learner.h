// Adaptive protection: learned profiles. A policy in mode learn records
// what its processes do into a profile (learn/profile.h); the profile then
// moves through stages, each of which changes the policy installed in the
// learn policy's place (always through the policy runtime's reload):
//   learning  the learn policy itself (audit in the kernel), recording;
//   shadow    the exported allow-list in audit mode: would-deny verdicts are
//             counted per rule, anomalies are scored;
//   enforce   the exported allow-list in enforce mode;
//   audit     the learn policy in audit mode (after a rollback); anomalies
//             are still scored.
// In the pipeline it sits in Evaluate: it records an event's behaviour, or
// scores what is new to the profile as an anomaly hit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/config.h"
#include "learn/profile.h"
#include "learn/store.h"
#include "pipeline/process_table.h"
#include "policy/policy.h"
#include "score/rules.h"
#include "sources/decoder.h"

namespace rampart::engine {

class Learner {
 public:
  struct State {
    learn::Profile profile;
    bool dirty = false;                         // changed since last written
    std::map<std::string, uint64_t> anomalies;  // behaviour outside the profile, per rule id
  };

  explicit Learner(const config::LearningConfig& cfg) : cfg_(cfg) {}

  // The profiles directory, "" when learning.state_dir is "".
  std::string dir() const;
  void load();  // at start, before the policies
  // Puts in each learn policy's place what its profile's stage calls for;
  // returns the learn policies as written (for export and promotion).
  std::map<std::string, policy::Policy> overlay(policy::PolicySet& set);
  // Whether an event could interest a profile (checked before the policy lookup).
  bool wants(const sources::EventView& ev) const;
  // Records (learning) or scores (anomaly hits appended to `hits`) the event's behaviour.
  void observe(const sources::EventView& ev, const policy::Policy& governing, const pipeline::ProcessTable& table,
               std::vector<score::RuleHit>& hits);
  // A would-deny under a shadowed profile's policy, counted per rule.
  void count_shadow(const rp_enforce_event& e, const policy::Policy& pol, std::string_view deny_id);
  void forget(uint32_t tgid) { anomaly_seen_.erase(tgid); }

  // Stage changes: begin returns the profile as it was, for undo if the
  // reload that installs the stage's policy fails.
  learn::Profile begin_stage(const std::string& name, learn::Stage stage, int64_t now);
  void undo_stage(const std::string& name, learn::Profile before) { profiles_.at(name).profile = std::move(before); }
  void end_stage(const std::string& name);
  // Due stage changes: shadow periods that ended, stable profiles to promote.
  std::vector<std::pair<std::string, learn::Stage>> due(int64_t now) const;
  void flush_if_due(int64_t now);
  void save(bool all);

  const std::map<std::string, State>& profiles() const { return profiles_; }
  bool has(const std::string& name) const { return profiles_.count(name) != 0; }
  const State* find(const std::string& name) const;
  const std::map<std::string, policy::Policy>& sources() const { return sources_; }
  void set_sources(std::map<std::string, policy::Policy> s) { sources_ = std::move(s); }
  const std::vector<learn::Rejected>& rejected() const { return rejected_; }
  uint64_t save_errors() const { return save_errors_; }
  const config::LearningConfig& config() const { return cfg_; }
  size_t anomaly_entries() const;

 private:
  learn::Limits limits() const { return learn::Limits{cfg_.collapse_threshold, cfg_.max_items}; }

  const config::LearningConfig& cfg_;
  std::map<std::string, State> profiles_;
  std::map<std::string, policy::Policy> sources_;  // loaded learn policies, as written
  std::vector<learn::Rejected> rejected_;
  std::unordered_map<uint32_t, std::unordered_set<std::string>> anomaly_seen_;  // tgid → anomalies it paid for
  uint64_t save_errors_ = 0;
  int64_t last_flush_ = 0;
};

}  // namespace rampart::engine
