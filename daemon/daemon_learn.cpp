// Adaptive protection (maturity stage 4): the daemon's side of learned
// profiles. A policy in mode learn records what its processes do into a
// profile (daemon/learn/profile.h); the profile then moves through stages,
// each of which changes the policy that is installed in the learn policy's
// place, always through the atomic reload in daemon_reload.cpp:
//   learning  the learn policy itself (audit in the kernel), recording;
//   shadow    the exported allow-list in audit mode: would-deny verdicts are
//             counted per rule, anomalies are scored;
//   enforce   the exported allow-list in enforce mode;
//   audit     the learn policy in audit mode (after a rollback); anomalies
//             are still scored.
// Everything here runs on the pipeline's loop thread.
#include <time.h>

#include "daemon.h"
#include "learn/store.h"

namespace rampart {
namespace {

int64_t unix_now() { return static_cast<int64_t>(::time(nullptr)); }

grpc::Status no_profile(const std::string& name) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      "no profile named '" + name + "' (a policy in mode learn creates one; see `rampartctl profile list`)");
}

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

std::string Daemon::profile_dir() const {
  const auto& dir = opts_.config.learning.state_dir;
  return dir.empty() ? std::string() : dir + "/profiles";
}

void Daemon::load_profiles() {
  if (profile_dir().empty()) return;
  auto loaded = learn::load_profiles(profile_dir(), unix_now());
  for (auto& p : loaded.profiles) {
    log("profile '" + p.name + "': " + learn::stage_name(p.stage) + ", " + std::to_string(p.size()) + " items, from " +
        learn::profile_path(profile_dir(), p.name));
    std::string name = p.name;
    profiles_[name].profile = std::move(p);
  }
  for (const auto& r : loaded.rejected)
    log("warning: profile " + r.path + " rejected: " + r.reason + "; " +
        (r.moved_to.empty() ? "it could not be moved aside" : "moved aside to " + r.moved_to) + ", not loaded");
  rejected_profiles_.insert(rejected_profiles_.end(), loaded.rejected.begin(), loaded.rejected.end());
}

std::map<std::string, policy::Policy> Daemon::overlay_profiles(policy::PolicySet& set) {
  std::map<std::string, policy::Policy> sources;
  const int64_t now = unix_now();
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
    policy::Policy installed = source;
    if (prof.stage == learn::Stage::kAudit) {
      installed.mode = policy::Mode::kAudit;
    } else {
      auto mode = prof.stage == learn::Stage::kEnforce ? policy::Mode::kEnforce : policy::Mode::kAudit;
      auto generated = policy::PolicySet::load_text(learn::export_policy(prof, source, mode), "<profile " + name + ">");
      if (!generated || generated->policies().size() != 1) {
        log("warning: profile '" + name + "': its generated policy is invalid, the learn policy stays: " +
            (generated ? std::string("not one document") : generated.error().what()));
        continue;
      }
      installed = generated->policies().front();
      installed.pos = source.pos;  // where the workload's policy came from
    }
    set.replace(std::move(installed));
  }
  return sources;
}

void Daemon::learn_from(const sources::EventView& ev, const policy::Policy*& governed) {
  if (profiles_.empty() || !learnable(ev.type())) return;
  const rp_proc& p = ev.proc();
  // An open without a policy id has none; anything else costs a map lookup.
  if (ev.type() == RP_EV_OPEN && ev.as<rp_file_event>().policy_id == 0) return;
  if (!governed) governed = &governing(ev);
  const policy::Policy& pol = *governed;
  if (pol.builtin) return;
  auto it = profiles_.find(pol.name);
  if (it == profiles_.end()) return;
  LearnState& st = it->second;
  const int64_t now = unix_now();
  for (auto& o : learn::observe(ev, table_)) {
    // A learning profile records while its policy is in learn mode; under any
    // other mode (audit with a profile, say), it scores instead.
    if (st.profile.stage == learn::Stage::kLearning && pol.mode == policy::Mode::kLearn) {
      st.profile.record(o, now, learn_limits());
      st.dirty = true;  // counts and last-seen times change even when nothing is new
      continue;
    }
    // An empty profile has learned nothing to deviate from.
    if (st.profile.size() == 0 || st.profile.covers(o)) continue;
    const score::Rule& rule = learn::anomaly_rule(st.profile, o);
    // A process pays once for each new behaviour, not once per repetition.
    auto& seen = anomaly_seen_[p.tgid];
    if (seen.size() >= 256 || !seen.insert(std::string(learn::kind_name(o.kind)) + ":" + o.key).second) continue;
    ++st.anomalies[std::string(rule.id)];
    hits_.push_back({&rule, std::string(learn::kind_name(o.kind)) + " " + o.key});
  }
}

void Daemon::count_shadow(const rp_enforce_event& e, const policy::DenyRule* deny) {
  if (profiles_.empty() || e.action != RP_ACT_WOULD_DENY || e.reason == RP_REASON_VERDICT) return;
  const policy::Policy& pol = policy_by_id(e.policy_id);  // a kernel id, as the event has it
  auto it = profiles_.find(pol.name);
  if (it == profiles_.end() || it->second.profile.stage != learn::Stage::kShadow) return;
  ++it->second.profile.would_deny[deny ? deny->id : std::string("allow.") + sources::event_type_name(e.op)];
  it->second.dirty = true;
}

learn::Limits Daemon::learn_limits() const {
  return learn::Limits{opts_.config.learning.collapse_threshold, opts_.config.learning.max_items};
}

void Daemon::save_profiles(bool all) {
  if (profile_dir().empty()) return;
  for (auto& [name, st] : profiles_) {
    if (!st.dirty && !all) continue;
    if (auto r = learn::save_profile(profile_dir(), st.profile); !r) {
      if (profile_save_errors_++ == 0) log("warning: saving profile '" + name + "': " + r.error().what());
      continue;
    }
    st.dirty = false;
  }
}

Result<void> Daemon::set_stage(const std::string& name, learn::Stage stage) {
  LearnState& st = profiles_.at(name);
  const learn::Profile before = st.profile;
  const int64_t now = unix_now();
  st.profile.stage = stage;
  st.profile.stage_since = now;
  if (stage == learn::Stage::kShadow) {
    st.profile.shadow_until = now + opts_.config.learning.shadow_period_s;
    st.profile.would_deny.clear();
  }
  // The generated policy goes in like any policy change: parsed, compiled
  // into the other bank, every process flipped at once.
  auto resp = reload(opts_.config.policy_dir, "", "profile " + name);
  if (!resp.applied()) {
    st.profile = before;
    std::string why = resp.errors_size() ? resp.errors(0).message() : std::string("reload failed");
    return fail("installing the policy for stage " + std::string(learn::stage_name(stage)) + ": " + why);
  }
  ++reloads_ok_;
  if (stage == learn::Stage::kAudit) {
    // Audit acts on nothing: verdicts the enforced profile put in the kernel go.
    for (const auto& v : trust_.list(score::Level::kObserve, 0))
      if (governing(v.tgid).name == name && !manual_quarantine_.count(v.tgid))
        (void)write_verdict(v.tgid, rp_verdict{0, 0}, "profile rollback");
  }
  st.dirty = true;
  save_profiles(false);
  log("profile '" + name + "': " + learn::stage_name(before.stage) + " -> " + learn::stage_name(stage));
  return {};
}

void Daemon::tick_profiles() {
  if (profiles_.empty()) return;
  const int64_t now = unix_now();
  const auto& cfg = opts_.config.learning;
  std::vector<std::pair<std::string, learn::Stage>> moves;
  for (const auto& [name, st] : profiles_) {
    const auto& p = st.profile;
    if (p.stage == learn::Stage::kShadow && now >= p.shadow_until) moves.emplace_back(name, learn::Stage::kEnforce);
    if (p.stage == learn::Stage::kLearning && cfg.auto_promote && learn_sources_.count(name) &&
        p.stable(now, cfg.stability_window_s))
      moves.emplace_back(name, cfg.shadow_period_s ? learn::Stage::kShadow : learn::Stage::kEnforce);
  }
  for (const auto& [name, stage] : moves)
    if (auto r = set_stage(name, stage); !r) log("warning: profile '" + name + "': " + r.error().what());
  if (now - last_profile_flush_ >= static_cast<int64_t>(cfg.flush_interval_s)) {
    last_profile_flush_ = now;
    save_profiles(false);
  }
}

// --- API ---

void Daemon::fill_profile_summary(const LearnState& st, v1::ProfileSummary* out) const {
  const auto& p = st.profile;
  const int64_t window = opts_.config.learning.stability_window_s;
  out->set_name(p.name);
  out->set_stage(learn::stage_name(p.stage));
  out->set_items(p.size());
  out->set_dropped_items(p.dropped_items);
  for (size_t k = 0; k < learn::kKinds; ++k)
    (*out->mutable_items_by_kind())[learn::kind_name(static_cast<learn::Kind>(k))] = p.items[k].size();
  out->set_created(p.created);
  out->set_last_new(p.last_new);
  out->set_stage_since(p.stage_since);
  out->set_shadow_until(p.shadow_until);
  out->set_stable(p.stable(unix_now(), window));
  out->set_stable_at(p.last_new + window);
  out->set_policy_loaded(learn_sources_.count(p.name) > 0);
  for (const auto& [rule, n] : p.would_deny) (*out->mutable_would_deny())[rule] = n;
  for (const auto& [rule, n] : st.anomalies) (*out->mutable_anomalies())[rule] = n;
  if (!profile_dir().empty()) out->set_file(learn::profile_path(profile_dir(), p.name));
}

grpc::Status Daemon::list_profiles(const std::string& name, v1::ListProfilesResponse* out) {
  if (!name.empty() && !profiles_.count(name)) return no_profile(name);
  for (const auto& [n, st] : profiles_)
    if (name.empty() || n == name) fill_profile_summary(st, out->add_profiles());
  for (const auto& r : rejected_profiles_) {
    auto* o = out->add_rejected();
    o->set_path(r.path);
    o->set_reason(r.reason);
    o->set_moved_to(r.moved_to);
  }
  out->set_state_dir(profile_dir());
  return grpc::Status::OK;
}

grpc::Status Daemon::get_profile(const std::string& name, v1::GetProfileResponse* out) {
  auto it = profiles_.find(name);
  if (it == profiles_.end()) return no_profile(name);
  fill_profile_summary(it->second, out->mutable_summary());
  out->set_json(learn::to_json(it->second.profile));
  return grpc::Status::OK;
}

grpc::Status Daemon::export_profile(const std::string& name, v1::ExportProfileResponse* out) {
  auto it = profiles_.find(name);
  if (it == profiles_.end()) return no_profile(name);
  auto src = learn_sources_.find(name);
  if (src == learn_sources_.end())
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no policy '" + name + "' in mode learn is loaded: its selector is needed for the export");
  out->set_yaml(learn::export_policy(it->second.profile, src->second, policy::Mode::kEnforce));
  return grpc::Status::OK;
}

grpc::Status Daemon::promote_profile(const v1::ProfileActionRequest& req, const api::Peer& peer,
                                     v1::ProfileActionResponse* out) {
  auto it = profiles_.find(req.name());
  if (it == profiles_.end()) return no_profile(req.name());
  const auto& p = it->second.profile;
  const auto& cfg = opts_.config.learning;
  auto refuse = [&](const std::string& why) {
    audit("profile_promote", 0, peer, "refused", req.name() + ": " + why);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
  };
  if (!learn_sources_.count(req.name()))
    return refuse("no policy '" + req.name() + "' in mode learn is loaded");
  learn::Stage next;
  switch (p.stage) {
    case learn::Stage::kEnforce:
      return refuse("profile '" + req.name() + "' is already enforced");
    case learn::Stage::kShadow:
      next = learn::Stage::kEnforce;  // ends the shadow period early
      break;
    default:
      if (!req.force() && !p.stable(unix_now(), cfg.stability_window_s))
        return refuse("profile '" + req.name() + "' is not stable: its last new behaviour was " +
                      std::to_string(unix_now() - p.last_new) + " s ago, the stability window is " +
                      std::to_string(cfg.stability_window_s) + " s (--force promotes anyway)");
      next = cfg.shadow_period_s ? learn::Stage::kShadow : learn::Stage::kEnforce;
  }
  if (auto r = set_stage(req.name(), next); !r) {
    audit("profile_promote", 0, peer, "failed", req.name() + ": " + r.error().what());
    return grpc::Status(grpc::StatusCode::INTERNAL, r.error().what());
  }
  audit("profile_promote", 0, peer, "ok", req.name() + ": " + learn::stage_name(next) +
                                              (req.reason().empty() ? "" : " (" + req.reason() + ")"));
  out->set_name(req.name());
  out->set_stage(learn::stage_name(next));
  out->set_message(next == learn::Stage::kShadow
                       ? "shadow: the learned allow-list runs in audit mode for " +
                             std::to_string(cfg.shadow_period_s) + " s; would-deny verdicts are counted"
                       : "enforce: the learned allow-list is enforced");
  return grpc::Status::OK;
}

grpc::Status Daemon::rollback_profile(const v1::ProfileActionRequest& req, const api::Peer& peer,
                                      v1::ProfileActionResponse* out) {
  if (!profiles_.count(req.name())) return no_profile(req.name());
  if (auto r = set_stage(req.name(), learn::Stage::kAudit); !r) {
    audit("profile_rollback", 0, peer, "failed", req.name() + ": " + r.error().what());
    return grpc::Status(grpc::StatusCode::INTERNAL, r.error().what());
  }
  audit("profile_rollback", 0, peer, "ok", req.name() + (req.reason().empty() ? "" : " (" + req.reason() + ")"));
  out->set_name(req.name());
  out->set_stage(learn::stage_name(learn::Stage::kAudit));
  out->set_message("audit: the workload's policy is back in audit mode; its profile still scores anomalies");
  return grpc::Status::OK;
}

}  // namespace rampart
