// Learned profiles, the daemon's side: the API over them (list, get,
// export, promote, rollback) and stage changes, each of which installs the
// stage's policy through the policy runtime's reload. The profiles
// themselves, and what the pipeline learns into them, are in
// engine/learner.h. Everything here runs on the pipeline's loop thread.
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

}  // namespace

Result<void> Daemon::set_stage(const std::string& name, learn::Stage stage) {
  auto& learner = engine_->learner();
  const learn::Stage from = learner.find(name)->profile.stage;
  learn::Profile before = learner.begin_stage(name, stage, unix_now());
  // The generated policy goes in like any policy change: parsed, compiled
  // into the other bank, every process flipped at once.
  auto resp = reload(opts_.config.policy_dir, "", "profile " + name);
  if (!resp.applied()) {
    learner.undo_stage(name, std::move(before));
    std::string why = resp.errors_size() ? resp.errors(0).message() : std::string("reload failed");
    return fail("installing the policy for stage " + std::string(learn::stage_name(stage)) + ": " + why);
  }
  ++reloads_ok_;
  if (stage == learn::Stage::kAudit) {
    // Audit acts on nothing: verdicts the enforced profile put in the kernel go.
    auto& act = engine_->act();
    for (const auto& v : engine_->score().trust().list(score::Level::kObserve, 0))
      if (policies().governing(v.tgid).name == name && !act.manual_quarantine().count(v.tgid))
        (void)act.write_verdict(v.tgid, rp_verdict{0, 0}, "profile rollback");
  }
  learner.end_stage(name);
  log("profile '" + name + "': " + learn::stage_name(from) + " -> " + learn::stage_name(stage));
  return {};
}

void Daemon::tick_profiles() {
  auto& learner = engine_->learner();
  if (learner.profiles().empty()) return;
  const int64_t now = unix_now();
  for (const auto& [name, stage] : learner.due(now))
    if (auto r = set_stage(name, stage); !r) log("warning: profile '" + name + "': " + r.error().what());
  learner.flush_if_due(now);
}

// --- API ---

void Daemon::fill_profile_summary(const engine::Learner::State& st, v1::ProfileSummary* out) const {
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
  out->set_policy_loaded(engine_->learner().sources().count(p.name) > 0);
  for (const auto& [rule, n] : p.would_deny) (*out->mutable_would_deny())[rule] = n;
  for (const auto& [rule, n] : st.anomalies) (*out->mutable_anomalies())[rule] = n;
  if (!engine_->learner().dir().empty()) out->set_file(learn::profile_path(engine_->learner().dir(), p.name));
}

grpc::Status Daemon::list_profiles(const std::string& name, v1::ListProfilesResponse* out) {
  if (!name.empty() && !engine_->learner().profiles().count(name)) return no_profile(name);
  for (const auto& [n, st] : engine_->learner().profiles())
    if (name.empty() || n == name) fill_profile_summary(st, out->add_profiles());
  for (const auto& r : engine_->learner().rejected()) {
    auto* o = out->add_rejected();
    o->set_path(r.path);
    o->set_reason(r.reason);
    o->set_moved_to(r.moved_to);
  }
  out->set_state_dir(engine_->learner().dir());
  return grpc::Status::OK;
}

grpc::Status Daemon::get_profile(const std::string& name, v1::GetProfileResponse* out) {
  auto it = engine_->learner().profiles().find(name);
  if (it == engine_->learner().profiles().end()) return no_profile(name);
  fill_profile_summary(it->second, out->mutable_summary());
  out->set_json(learn::to_json(it->second.profile));
  return grpc::Status::OK;
}

grpc::Status Daemon::export_profile(const std::string& name, v1::ExportProfileResponse* out) {
  auto it = engine_->learner().profiles().find(name);
  if (it == engine_->learner().profiles().end()) return no_profile(name);
  auto src = engine_->learner().sources().find(name);
  if (src == engine_->learner().sources().end())
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no policy '" + name + "' in mode learn is loaded: its selector is needed for the export");
  out->set_yaml(learn::export_policy(it->second.profile, src->second, policy::Mode::kEnforce));
  return grpc::Status::OK;
}

grpc::Status Daemon::promote_profile(const v1::ProfileActionRequest& req, const api::Peer& peer,
                                     v1::ProfileActionResponse* out) {
  auto it = engine_->learner().profiles().find(req.name());
  if (it == engine_->learner().profiles().end()) return no_profile(req.name());
  const auto& p = it->second.profile;
  const auto& cfg = opts_.config.learning;
  auto refuse = [&](const std::string& why) {
    audit("profile_promote", 0, peer, "refused", req.name() + ": " + why);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why);
  };
  if (!engine_->learner().sources().count(req.name()))
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
  if (!engine_->learner().profiles().count(req.name())) return no_profile(req.name());
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
