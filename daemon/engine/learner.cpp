// Learned profiles; see learner.h.
#include "engine/learner.h"

#include <time.h>

#include "ops/log.h"
#include "util/clock.h"

namespace rampart::engine {
namespace {

bool learnable(uint32_t type) {
  switch (type) {
    case RP_EV_EXEC:
    case RP_EV_OPEN:
    case RP_EV_CONNECT:
    case RP_EV_BIND:
    case RP_EV_SETUID:
    case RP_EV_SETGID:
    case RP_EV_CAPSET:
    case RP_EV_PTRACE:
    case RP_EV_PROCESS_VM_WRITEV:
    case RP_EV_MODULE_LOAD:
    case RP_EV_BPF:
    case RP_EV_MOUNT:
    case RP_EV_UMOUNT:
    case RP_EV_UNSHARE:
    case RP_EV_SETNS:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string Learner::dir() const { return cfg_.state_dir.empty() ? std::string() : cfg_.state_dir + "/profiles"; }

const Learner::State* Learner::find(const std::string& name) const {
  auto it = profiles_.find(name);
  return it == profiles_.end() ? nullptr : &it->second;
}

void Learner::load() {
  if (dir().empty()) return;
  auto loaded = learn::load_profiles(dir(), unix_now_s());
  for (auto& p : loaded.profiles) {
    ops::log_line("profile '" + p.name + "': " + learn::stage_name(p.stage) + ", " + std::to_string(p.size()) +
                  " items, from " + learn::profile_path(dir(), p.name));
    std::string name = p.name;
    profiles_[name].profile = std::move(p);
  }
  for (const auto& r : loaded.rejected)
    ops::log_line("warning: profile " + r.path + " rejected: " + r.reason + "; " +
                  (r.moved_to.empty() ? "it could not be moved aside" : "moved aside to " + r.moved_to) +
                  ", not loaded");
  rejected_.insert(rejected_.end(), loaded.rejected.begin(), loaded.rejected.end());
}

std::map<std::string, policy::Policy> Learner::overlay(policy::PolicySet& set) {
  std::map<std::string, policy::Policy> sources;
  const int64_t now = unix_now_s();
  for (const auto& p : set.policies()) {
    if (p.mode != policy::Mode::kLearn) continue;
    sources.emplace(p.name, p);
    auto [it, created] = profiles_.try_emplace(p.name);
    if (created) {
      it->second.profile.name = p.name;
      it->second.profile.created = it->second.profile.stage_since = now;
      it->second.dirty = true;
    }
  }
  for (const auto& [name, source] : sources) {
    const learn::Profile& prof = profiles_[name].profile;
    if (prof.stage == learn::Stage::kLearning) continue;
    const policy::Mode mode = prof.stage == learn::Stage::kEnforce ? policy::Mode::kEnforce : policy::Mode::kAudit;
    // Audit keeps the learn policy's lists; shadow and enforce install the learned ones.
    policy::Policy installed = prof.stage == learn::Stage::kAudit ? source : learn::learned_policy(prof, source, mode);
    installed.mode = mode;
    set.replace(std::move(installed));
  }
  return sources;
}

bool Learner::wants(const sources::EventView& ev) const {
  if (profiles_.empty() || !learnable(ev.type())) return false;
  // An open without a policy id has none; anything else costs a map lookup.
  return !(ev.type() == RP_EV_OPEN && ev.as<rp_file_event>().policy_id == 0);
}

void Learner::observe(const sources::EventView& ev, const policy::Policy& pol, const pipeline::ProcessTable& table,
                      std::vector<score::RuleHit>& hits) {
  if (pol.builtin) return;
  auto it = profiles_.find(pol.name);
  if (it == profiles_.end()) return;
  State& st = it->second;
  const int64_t now = unix_now_s();
  for (auto& o : learn::observe(ev, table)) {
    // A learning profile records while its policy is in learn mode; under any
    // other mode (audit with a profile, say), it scores instead.
    if (st.profile.stage == learn::Stage::kLearning && pol.mode == policy::Mode::kLearn) {
      st.profile.record(o, now, limits());
      st.dirty = true;  // counts and last-seen times change even when nothing is new
      continue;
    }
    // An empty profile has learned nothing to deviate from.
    if (st.profile.size() == 0 || st.profile.covers(o)) continue;
    const score::Rule& rule = learn::anomaly_rule(st.profile, o);
    // A process pays once for each new behaviour, not once per repetition.
    auto& seen = anomaly_seen_[ev.proc().tgid];
    if (seen.size() >= 256 || !seen.insert(std::string(learn::kind_name(o.kind)) + ":" + o.key).second) continue;
    ++st.anomalies[std::string(rule.id)];
    hits.push_back({&rule, std::string(learn::kind_name(o.kind)) + " " + o.key});
  }
}

void Learner::count_shadow(const rp_enforce_event& e, const policy::Policy& pol, std::string_view deny_id) {
  if (profiles_.empty() || e.action != RP_ACT_WOULD_DENY || e.reason == RP_REASON_VERDICT) return;
  auto it = profiles_.find(pol.name);
  if (it == profiles_.end() || it->second.profile.stage != learn::Stage::kShadow) return;
  ++it->second.profile
        .would_deny[deny_id.empty() ? std::string("allow.") + sources::event_type_name(e.op) : std::string(deny_id)];
  it->second.dirty = true;
}

learn::Profile Learner::begin_stage(const std::string& name, learn::Stage stage, int64_t now) {
  State& st = profiles_.at(name);
  learn::Profile before = st.profile;
  st.profile.stage = stage;
  st.profile.stage_since = now;
  if (stage == learn::Stage::kShadow) {
    st.profile.shadow_until = now + cfg_.shadow_period_s;
    st.profile.would_deny.clear();
  }
  return before;
}

void Learner::end_stage(const std::string& name) {
  profiles_.at(name).dirty = true;
  save(false);
}

std::vector<std::pair<std::string, learn::Stage>> Learner::due(int64_t now) const {
  std::vector<std::pair<std::string, learn::Stage>> moves;
  for (const auto& [name, st] : profiles_) {
    const auto& p = st.profile;
    if (p.stage == learn::Stage::kShadow && now >= p.shadow_until) moves.emplace_back(name, learn::Stage::kEnforce);
    if (p.stage == learn::Stage::kLearning && cfg_.auto_promote && sources_.count(name) &&
        p.stable(now, cfg_.stability_window_s))
      moves.emplace_back(name, cfg_.shadow_period_s ? learn::Stage::kShadow : learn::Stage::kEnforce);
  }
  return moves;
}

void Learner::flush_if_due(int64_t now) {
  if (now - last_flush_ >= static_cast<int64_t>(cfg_.flush_interval_s)) {
    last_flush_ = now;
    save(false);
  }
}

void Learner::save(bool all) {
  if (dir().empty()) return;
  for (auto& [name, st] : profiles_) {
    if (!st.dirty && !all) continue;
    if (auto r = learn::save_profile(dir(), st.profile); !r) {
      if (save_errors_++ == 0) ops::log_line("warning: saving profile '" + name + "': " + r.error().what());
      continue;
    }
    st.dirty = false;
  }
}

size_t Learner::anomaly_entries() const {
  size_t n = 0;
  for (const auto& [tgid, s] : anomaly_seen_) n += s.size();
  return n;
}

}  // namespace rampart::engine
