// The trust-scoring engine: turns rule hits into graduated verdicts. Each
// tracked process (tgid) has a trust score that starts at 100, loses a rule's
// weight on every hit and regains its policy's decay_per_minute points per
// minute. The score selects a level on the policy's response ladder
// (observe → alert → deny → quarantine → kill); every verdict carries the
// most recent evidence. Pure logic: no BPF, no I/O, no clock of its own (the
// caller passes boot-clock timestamps), so it is tested with synthetic hits.
// The caller mirrors levels into the kernel map whenever a verdict says its
// level changed. Runs on the pipeline thread only, so it takes no locks.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "policy/policy.h"

namespace rampart::score {

// The response ladder, least to most severe; comparable with < and >=.
enum class Level : uint8_t { kObserve, kAlert, kDeny, kQuarantine, kKill };
// "observe", "alert", "deny", "quarantine", "kill".
const char* level_name(Level l);

// The level a whole-point score selects: kill if score <= kill, else
// quarantine if <= quarantine, deny if <= deny, alert if <= alert, else observe.
Level level_for(int score, const policy::Thresholds& t);

// One rule hit or policy violation against a process.
struct Evidence {
  uint64_t ts_ns = 0;      // boot clock; 0 in hit() means "the hit's ts_ns"
  std::string rule_id;     // e.g. "deny-shadow-read"; "rampart.inherited" for fork inheritance
  uint32_t weight = 0;     // points subtracted; in a verdict, the weight actually applied
  std::string event_type;  // e.g. "exec", "file_open", "connect", "fork"
  std::string detail;      // human-readable: path, address, parent pid
};

// A process's standing at one moment.
struct Verdict {
  uint32_t tgid = 0;
  int score = 100;  // whole points, rounded down, in [0, 100]
  Level level = Level::kObserve;
  // The level last reported to the caller before this verdict (by hit,
  // on_fork, track or tick), and whether this verdict differs from it: when
  // true the caller must write `level` to the kernel map. Always false from
  // the read-only verdict() and list().
  Level previous_level = Level::kObserve;
  bool level_changed = false;
  std::string policy;              // name of the governing policy, as last given
  std::vector<Evidence> evidence;  // oldest first; at most Limits::max_evidence
  uint64_t evidence_dropped = 0;   // older evidence no longer kept
  uint64_t as_of_ns = 0;           // the time decay was applied up to
};

class TrustEngine {
 public:
  struct Limits {
    size_t max_processes = 65536;  // past it, the most trusted process is evicted
    size_t max_evidence = 32;      // per process; the most recent are kept
  };

  TrustEngine() : TrustEngine(Limits{}) {}
  explicit TrustEngine(Limits limits);

  // A rule hit. Starts tracking tgid (at 100) if it is not tracked yet. In
  // order: decay up to ts_ns at the rate in force until now, adopt `scoring`
  // (thresholds and decay) as the process's policy, subtract the weight
  // (scoring.weights[rule_id] wins over ev.weight), clamp at 0, record the
  // evidence, recompute the level.
  Verdict hit(uint32_t tgid, uint64_t ts_ns, Evidence ev, const policy::Scoring& scoring,
              std::string_view policy_name = {});

  // Registers tgid under a policy (or changes its policy, e.g. after exec or
  // a reload) without a hit. New thresholds may change the level.
  Verdict track(uint32_t tgid, uint64_t ts_ns, const policy::Scoring& scoring, std::string_view policy_name = {});

  // fork: if the parent is tracked, the child is tracked with score
  // 100 - floor(inherit_percent * (100 - parent score) / 100), the parent's
  // policy name, and one "rampart.inherited" evidence naming the parent.
  // `scoring` is the policy governing the fork: its inherit_percent applies,
  // and the child adopts its thresholds and decay. An untracked parent is at baseline, so
  // its child stays untracked (an observe verdict at 100 is returned).
  Verdict on_fork(uint32_t parent_tgid, uint32_t child_tgid, uint64_t ts_ns, const policy::Scoring& scoring);

  // exit: forgets the process.
  void on_exit(uint32_t tgid);

  // Read-only: decay is applied to a copy, so the stored state and the level
  // last reported are untouched (level_changed is false). nullopt if untracked.
  std::optional<Verdict> verdict(uint32_t tgid, uint64_t now_ns) const;
  // Every tracked process at min_level or above, as of now_ns; lowest score
  // first (most suspicious), then by tgid.
  std::vector<Verdict> list(Level min_level, uint64_t now_ns) const;

  // Applies decay to every process up to now_ns and returns the verdicts
  // whose level changed (dropped back) since last reported, so the caller
  // can relax the kernel map. Call periodically (e.g. once a second).
  std::vector<Verdict> tick(uint64_t now_ns);

  size_t size() const { return procs_.size(); }
  // Whether tgid has a score of its own (a rule hit, or inherited distrust).
  bool tracked(uint32_t tgid) const { return procs_.count(tgid) != 0; }
  uint64_t evictions() const { return evictions_; }
  size_t limit() const { return limits_.max_processes; }
  // Evidence entries dropped because a process had max_evidence already (all processes, ever).
  uint64_t evidence_dropped() const { return evidence_dropped_; }
  size_t evidence_entries() const { return evidence_entries_; }
  // Approximate heap bytes: process entries, the score index and every evidence chain.
  size_t approx_bytes() const;

 private:
  // The score is kept exactly, in units of 1/60e9 point: decay at D points
  // per minute then adds D units per nanosecond, so no fraction is ever lost
  // and decay over [a,b] then [b,c] equals decay over [a,c].
  static constexpr int64_t kUnitsPerPoint = 60'000'000'000;  // ns per minute
  static constexpr int64_t kFullUnits = 100 * kUnitsPerPoint;

  struct Proc {
    int64_t units = kFullUnits;
    uint64_t last_ns = 0;  // decay applied up to here
    policy::Thresholds thresholds;
    uint32_t decay_per_minute = 5;
    std::string policy;
    Level reported = Level::kObserve;  // the level the caller was last told
    std::deque<Evidence> evidence;
    uint64_t evidence_dropped = 0;
  };
  // (units, last_ns, tgid): the stored score, for finding the most trusted.
  using IndexKey = std::tuple<int64_t, uint64_t, uint32_t>;

  static void decay(Proc& p, uint64_t now_ns);
  static int points(const Proc& p) { return static_cast<int>(p.units / kUnitsPerPoint); }
  static void adopt(Proc& p, const policy::Scoring& s, std::string_view policy_name);
  Verdict make_verdict(uint32_t tgid, const Proc& p) const;
  // Builds the verdict, sets level_changed against the last reported level,
  // and records the new level as reported.
  Verdict report(uint32_t tgid, Proc& p);
  void add_evidence(Proc& p, Evidence ev);
  // The entry for tgid, created at baseline (evicting first if full).
  Proc& upsert(uint32_t tgid, uint64_t ts_ns);
  void evict_one(uint64_t now_ns);
  // Callers that change units or last_ns bracket the change with these.
  void unindex(uint32_t tgid, const Proc& p) { index_.erase({p.units, p.last_ns, tgid}); }
  void reindex(uint32_t tgid, const Proc& p) { index_.insert({p.units, p.last_ns, tgid}); }

  Limits limits_;
  std::unordered_map<uint32_t, Proc> procs_;
  std::set<IndexKey> index_;
  uint64_t evictions_ = 0;
  uint64_t evidence_dropped_ = 0;
  size_t evidence_entries_ = 0;  // kept now, over all processes
};

}  // namespace rampart::score
