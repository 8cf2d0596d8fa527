// The policy set in force, as the stages see it, and the one place that
// changes it. Kernel policy ids come in two banks (ids 1..kBank and
// kBank+1..2*kBank): the set in force lives in one bank, and a reload
// compiles the next set into the other and flips every process to it (see
// policy_runtime.cpp). The stages only look up: which policy governs a
// process or an event, which policy selects a process, the id the kernel
// uses for a name.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "enforce/compiler.h"
#include "enforce/file_rules.h"
#include "engine/kernel.h"
#include "engine/mechanism.h"
#include "pipeline/process_table.h"
#include "policy/policy.h"
#include "score/violations.h"
#include "sources/decoder.h"

namespace rampart::engine {

inline constexpr uint32_t kBank = (RP_MAX_POLICIES - 1) / 2;  // policies per bank

class Act;
class Learner;

// What a reload did, or why it did not.
struct ReloadResult {
  bool applied = false;
  uint64_t generation = 0;  // in force after the attempt
  std::vector<std::string> added, removed, changed, notes;
  uint32_t unchanged = 0;
  // Why not: the loader's errors with their places, or what the kernel
  // refused (a message without a place).
  std::vector<policy::Diagnostic> errors;
  std::string errors_text() const;  // one "file:line:col: message" line each
  bool kernel_refused = false;      // the set was valid; the kernel refused a write
  uint64_t duration_ns = 0;
};

class PolicyRuntime {
 public:
  explicit PolicyRuntime(Kernel& kernel);
  ~PolicyRuntime();
  PolicyRuntime(const PolicyRuntime&) = delete;
  PolicyRuntime& operator=(const PolicyRuntime&) = delete;

  const policy::PolicySet& set() const { return set_; }
  // The policy a kernel id stands for (ids of the bank in force), else the default.
  const policy::Policy& by_id(uint32_t kernel_id) const;
  // The policy that governs a process: the kernel's assignment, else the default.
  const policy::Policy& governing(uint32_t tgid) const { return by_id(kernel_.policy_of(tgid)); }
  // The policy an event happened under: as the open recorded it, or for an
  // exec whose process is already gone, as it would have been.
  const policy::Policy& governing(const sources::EventView& ev, const pipeline::ProcessTable& table) const;
  // The most specific policy that selects the process (the default if none).
  const policy::Policy& select(const pipeline::ProcessInfo& info) const;
  // The id the kernel maps use for a policy now, 0 if none.
  uint32_t kernel_id(const std::string& name) const;
  // Policy names by kernel id - 1, both banks.
  const std::vector<std::string>& kernel_names() const { return kernel_names_; }
  // An enforce event with its kernel policy id made relative to the bank in
  // force (0 for a straggler on the old bank).
  rp_enforce_event rebased(const rp_enforce_event& e) const;
  const score::Violations& violations() const { return violations_; }
  // fanotify's view of each policy, by kernel id - 1 (this bank's ids past the base).
  const std::vector<enforce::GuardRule>& guard_rules() const { return guard_rules_; }
  const enforce::GuardRule* guard_rule(uint32_t kernel_id) const {
    return kernel_id && kernel_id <= guard_rules_.size() ? &guard_rules_[kernel_id - 1] : nullptr;
  }
  bool any_file_rules() const { return any_file_rules_; }
  uint32_t base() const { return base_; }
  uint64_t generation() const { return generation_; }
  const std::string& source() const { return source_; }
  const std::set<std::string>& kept_files() const { return kept_files_; }
  const enforce::Compiled& compiled() const { return compiled_; }
  const std::map<std::string, std::string>& files() const { return files_; }

  // --- changing it (on the loop thread) ---
  // The parts a reload works with: kernel writes with retries, the process
  // table (selection), the learner (profiles in learn policies' places).
  void connect(Act& act, const pipeline::ProcessTable& table, Learner& learner);
  // A kernel mechanism beyond the BPF policy maps (LSM path rules, fanotify).
  void add_mechanism(Mechanism& m) { mechanisms_.push_back(&m); }
  // BPF LSM enforces exec and files: the compiler also writes path rules.
  void use_path_rules(bool on) { path_rules_ = on; }
  // After a crash: the pinned maps hold the previous rampartd's policies. The
  // new set goes into the bank they do not use, so that processes still
  // under the old rules keep them until they are reassigned (no gap).
  void adopt_pinned_state();
  // Then, once the new set is in: the old bank's exe assignments go.
  void drop_stale_assignments();
  // The set at start: loaded from the policy directory (files: path → text).
  void set_initial(policy::PolicySet set, std::map<std::string, std::string> files, std::string source);
  // Installs the initial set into every mechanism.
  Result<void> install_initial();
  // Parses `text` (or the directory `dir` when text is empty), compiles it
  // into the other bank of every mechanism, flips every process to it, and
  // swaps; or changes nothing. keep_deleted: the policies of files deleted
  // from the directory stay in force (with an alert) instead of going.
  ReloadResult reload(const std::string& dir, const std::string& text, const std::string& source, bool keep_deleted);
  // A file whose policies are kept though it was deleted (alerted once).
  void on_kept(std::function<void(const std::string& path, const std::vector<std::string>& policies)> f) {
    kept_alert_ = std::move(f);
  }
  // The straggler bookkeeping after Act's retries.
  void after_write_retries();

 private:
  friend class MapBank;
  // The policy a process goes to under `set`: the one that selects it, else
  // the one it had by name (inherited from a selected parent), else none ("").
  std::string remap(const policy::PolicySet& set, const enforce::Compiled& compiled, uint32_t tgid,
                    const std::string& old_name) const;
  Result<void> stage_all(Candidate& next, size_t& staged);
  void abort_staged(size_t staged);
  void swap_in(Candidate& next, policy::PolicySet set);

  Kernel& kernel_;
  Act* act_ = nullptr;
  const pipeline::ProcessTable* table_ = nullptr;
  Learner* learner_ = nullptr;
  std::unique_ptr<Mechanism> map_bank_;
  std::vector<Mechanism*> mechanisms_;  // the map bank first
  bool path_rules_ = false;
  std::function<void(const std::string&, const std::vector<std::string>&)> kept_alert_;
  policy::PolicySet set_;
  enforce::Compiled compiled_;
  uint32_t base_ = 0;                      // kernel id = base + index + 1
  std::vector<std::string> kernel_names_;  // both banks
  std::vector<enforce::GuardRule> guard_rules_;
  bool any_file_rules_ = false;
  score::Violations violations_;
  uint64_t generation_ = 1;
  std::string source_;                               // where the set in force came from
  std::map<std::string, std::string> fingerprints_;  // name → its YAML, to tell what a reload changed
  std::map<std::string, std::string> files_;         // path → text of the directory set in force
  std::set<std::string> kept_files_;                 // of those, deleted files whose policies stay
};

}  // namespace rampart::engine
