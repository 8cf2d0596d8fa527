// The trust-scoring engine: per-process scores kept exactly in 1/60e9-point
// units, decayed lazily (only when a process is touched, read or ticked), and
// levels derived from the whole-point score alone, so a level drops back as
// soon as decay lifts the score above its threshold (no hysteresis). A sorted
// index of stored scores lets eviction find a process at baseline without
// scanning; only when none is at baseline does it scan all of them.
#include "score/trust.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "util/memory.h"

namespace rampart::score {

const char* level_name(Level l) {
  switch (l) {
    case Level::kObserve:
      return "observe";
    case Level::kAlert:
      return "alert";
    case Level::kDeny:
      return "deny";
    case Level::kQuarantine:
      return "quarantine";
    case Level::kKill:
      return "kill";
  }
  return "unknown";
}

Level level_for(int score, const policy::Thresholds& t) {
  if (score <= t.kill) return Level::kKill;
  if (score <= t.quarantine) return Level::kQuarantine;
  if (score <= t.deny) return Level::kDeny;
  if (score <= t.alert) return Level::kAlert;
  return Level::kObserve;
}

TrustEngine::TrustEngine(Limits limits) : limits_(limits) {
  // A zero limit would make every insert evict what it just inserted.
  limits_.max_processes = std::max<size_t>(limits_.max_processes, 1);
  limits_.max_evidence = std::max<size_t>(limits_.max_evidence, 1);
}

void TrustEngine::decay(Proc& p, uint64_t now_ns) {
  // Timestamps that go backwards (events from another CPU arriving late)
  // neither decay nor move the clock back.
  if (now_ns <= p.last_ns) return;
  uint64_t elapsed = now_ns - p.last_ns;
  p.last_ns = now_ns;
  int64_t deficit = kFullUnits - p.units;
  if (deficit <= 0 || p.decay_per_minute == 0) return;
  // Test against deficit / rate first, so elapsed * rate cannot overflow.
  uint64_t rate = p.decay_per_minute;
  if (elapsed > static_cast<uint64_t>(deficit) / rate) {
    p.units = kFullUnits;
  } else {
    p.units += static_cast<int64_t>(elapsed * rate);
  }
}

void TrustEngine::adopt(Proc& p, const policy::Scoring& s, std::string_view policy_name) {
  p.thresholds = s.thresholds;
  p.decay_per_minute = s.decay_per_minute;
  if (!policy_name.empty()) p.policy = std::string(policy_name);
}

Verdict TrustEngine::make_verdict(uint32_t tgid, const Proc& p) const {
  Verdict v;
  v.tgid = tgid;
  v.score = points(p);
  v.level = level_for(v.score, p.thresholds);
  v.previous_level = p.reported;
  v.policy = p.policy;
  v.evidence.assign(p.evidence.begin(), p.evidence.end());
  v.evidence_dropped = p.evidence_dropped;
  v.as_of_ns = p.last_ns;
  return v;
}

Verdict TrustEngine::report(uint32_t tgid, Proc& p) {
  Verdict v = make_verdict(tgid, p);
  v.level_changed = v.level != p.reported;
  p.reported = v.level;
  return v;
}

void TrustEngine::add_evidence(Proc& p, Evidence ev) {
  p.evidence.push_back(std::move(ev));
  ++evidence_entries_;
  while (p.evidence.size() > limits_.max_evidence) {
    p.evidence.pop_front();
    ++p.evidence_dropped;
    ++evidence_dropped_;
    --evidence_entries_;
  }
}

TrustEngine::Proc& TrustEngine::upsert(uint32_t tgid, uint64_t ts_ns) {
  if (auto it = procs_.find(tgid); it != procs_.end()) return it->second;
  if (procs_.size() >= limits_.max_processes) evict_one(ts_ns);
  Proc& p = procs_[tgid];
  p.last_ns = ts_ns;
  reindex(tgid, p);
  return p;
}

void TrustEngine::evict_one(uint64_t now_ns) {
  if (procs_.empty()) return;
  // A process stored at baseline is at baseline now too (decay only raises a
  // score), so it is among the most trusted; the least recently touched goes.
  uint32_t victim = 0;
  if (auto it = index_.lower_bound({kFullUnits, 0, 0}); it != index_.end()) {
    victim = std::get<2>(*it);
  } else {
    // None at baseline: rank by the score decayed to now, ties to the least
    // recently touched.
    int64_t best_units = -1;
    uint64_t best_last = std::numeric_limits<uint64_t>::max();
    for (const auto& [tgid, p] : procs_) {
      Proc copy_state;
      copy_state.units = p.units;
      copy_state.last_ns = p.last_ns;
      copy_state.decay_per_minute = p.decay_per_minute;
      decay(copy_state, now_ns);
      if (copy_state.units > best_units || (copy_state.units == best_units && p.last_ns < best_last)) {
        best_units = copy_state.units;
        best_last = p.last_ns;
        victim = tgid;
      }
    }
  }
  on_exit(victim);
  ++evictions_;
}

Verdict TrustEngine::hit(uint32_t tgid, uint64_t ts_ns, Evidence ev, const policy::Scoring& scoring,
                         std::string_view policy_name) {
  Proc& p = upsert(tgid, ts_ns);
  unindex(tgid, p);
  decay(p, ts_ns);  // at the rate in force until now, before adopting the new one
  adopt(p, scoring, policy_name);
  if (auto w = scoring.weights.find(ev.rule_id); w != scoring.weights.end()) ev.weight = w->second;
  // Weights above 100 take the score to 0 anyway; capping keeps the product in range.
  int64_t loss = static_cast<int64_t>(std::min<uint32_t>(ev.weight, 100)) * kUnitsPerPoint;
  p.units = std::max<int64_t>(p.units - loss, 0);
  reindex(tgid, p);
  if (ev.ts_ns == 0) ev.ts_ns = ts_ns;
  add_evidence(p, std::move(ev));
  return report(tgid, p);
}

Verdict TrustEngine::track(uint32_t tgid, uint64_t ts_ns, const policy::Scoring& scoring,
                           std::string_view policy_name) {
  Proc& p = upsert(tgid, ts_ns);
  unindex(tgid, p);
  decay(p, ts_ns);
  adopt(p, scoring, policy_name);
  reindex(tgid, p);
  return report(tgid, p);
}

Verdict TrustEngine::on_fork(uint32_t parent_tgid, uint32_t child_tgid, uint64_t ts_ns,
                             const policy::Scoring& scoring) {
  // A stale entry under the child's pid (its exit was missed) is replaced.
  on_exit(child_tgid);
  auto pit = procs_.find(parent_tgid);
  if (pit == procs_.end()) {
    Verdict v;
    v.tgid = child_tgid;
    v.level = level_for(100, scoring.thresholds);
    v.previous_level = v.level;
    v.as_of_ns = ts_ns;
    return v;
  }
  // Read everything needed from the parent now: eviction below may remove it.
  Proc& parent = pit->second;
  unindex(parent_tgid, parent);
  decay(parent, ts_ns);  // exact, so decaying in place changes no later result
  reindex(parent_tgid, parent);
  int parent_score = points(parent);
  std::string policy = parent.policy;
  uint32_t inherit = std::min<uint32_t>(scoring.inherit_percent, 100);
  int inherited = static_cast<int>((static_cast<uint32_t>(100 - parent_score) * inherit) / 100);

  Proc& child = upsert(child_tgid, ts_ns);
  unindex(child_tgid, child);
  adopt(child, scoring, policy);
  child.units = static_cast<int64_t>(100 - inherited) * kUnitsPerPoint;
  reindex(child_tgid, child);
  add_evidence(child, Evidence{ts_ns, "rampart.inherited", static_cast<uint32_t>(inherited), "fork",
                               "inherited from PID " + std::to_string(parent_tgid) + " (score " +
                                   std::to_string(parent_score) + ", " + std::to_string(inherit) + "%)"});
  // A new child has no entry in the kernel map, which reads as observe.
  return report(child_tgid, child);
}

void TrustEngine::on_exit(uint32_t tgid) {
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  unindex(tgid, it->second);
  evidence_entries_ -= it->second.evidence.size();
  procs_.erase(it);
}

std::optional<Verdict> TrustEngine::verdict(uint32_t tgid, uint64_t now_ns) const {
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return std::nullopt;
  Proc p = it->second;  // a copy: reads never change the stored state
  decay(p, now_ns);
  return make_verdict(tgid, p);
}

std::vector<Verdict> TrustEngine::list(Level min_level, uint64_t now_ns) const {
  std::vector<Verdict> out;
  for (const auto& [tgid, stored] : procs_) {
    // Decide on the score first, so only the verdicts returned copy evidence.
    Proc p;
    p.units = stored.units;
    p.last_ns = stored.last_ns;
    p.decay_per_minute = stored.decay_per_minute;
    decay(p, now_ns);
    if (level_for(points(p), stored.thresholds) < min_level) continue;
    out.push_back(*verdict(tgid, now_ns));
  }
  std::sort(out.begin(), out.end(), [](const Verdict& a, const Verdict& b) {
    return a.score != b.score ? a.score < b.score : a.tgid < b.tgid;
  });
  return out;
}

std::vector<Verdict> TrustEngine::tick(uint64_t now_ns) {
  std::vector<Verdict> changed;
  for (auto& [tgid, p] : procs_) {
    unindex(tgid, p);
    decay(p, now_ns);
    reindex(tgid, p);
    if (level_for(points(p), p.thresholds) != p.reported) changed.push_back(report(tgid, p));
  }
  std::sort(changed.begin(), changed.end(), [](const Verdict& a, const Verdict& b) { return a.tgid < b.tgid; });
  return changed;
}

size_t TrustEngine::approx_bytes() const {
  constexpr size_t kPerProc = sizeof(Proc) + sizeof(uint32_t) + util::kNodeOverhead +  // procs_ node
                              sizeof(IndexKey) + 4 * sizeof(void*);                    // index_ node
  size_t n = procs_.bucket_count() * sizeof(void*);
  for (const auto& [tgid, p] : procs_) {
    n += kPerProc + util::heap_bytes(p.policy);
    for (const auto& e : p.evidence)
      n += sizeof(Evidence) + util::heap_bytes(e.rule_id) + util::heap_bytes(e.event_type) + util::heap_bytes(e.detail);
  }
  return n;
}

}  // namespace rampart::score
