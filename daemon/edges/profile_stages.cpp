// Profile stage changes; see profile_stages.h.
#include "edges/profile_stages.h"

#include "learn/store.h"
#include "ops/log.h"
#include "util/clock.h"

namespace rampart::edges {

Result<void> ProfileStages::set_stage(const std::string& name, learn::Stage stage) {
  auto& learner = engine_.learner();
  const learn::Stage from = learner.find(name)->profile.stage;
  learn::Profile before = learner.begin_stage(name, stage, unix_now_s());
  // The generated policy goes in like any policy change: parsed, compiled
  // into the other bank, every process flipped at once.
  auto resp = reloads_.reload_dir("profile " + name);
  if (!resp.applied) {
    learner.undo_stage(name, std::move(before));
    std::string why = resp.errors.empty() ? std::string("reload failed") : resp.errors.front().message;
    return fail("installing the policy for stage " + std::string(learn::stage_name(stage)) + ": " + why);
  }
  if (stage == learn::Stage::kAudit) {
    // Audit acts on nothing: verdicts the enforced profile put in the kernel go.
    auto& act = engine_.act();
    for (const auto& v : engine_.score().trust().list(score::Level::kObserve, 0))
      if (engine_.policies().governing(v.tgid).name == name && !act.manual_quarantine().count(v.tgid))
        (void)act.write_verdict(v.tgid, rp_verdict{0, 0}, "profile rollback");
  }
  learner.end_stage(name);
  ops::log_line("profile '" + name + "': " + learn::stage_name(from) + " -> " + learn::stage_name(stage));
  return {};
}

void ProfileStages::tick() {
  auto& learner = engine_.learner();
  if (learner.profiles().empty()) return;
  const int64_t now = unix_now_s();
  for (const auto& [name, stage] : learner.due(now))
    if (auto r = set_stage(name, stage); !r) ops::log_line("warning: profile '" + name + "': " + r.error().what());
  learner.flush_if_due(now);
}

Outcome ProfileStages::promote(const std::string& name, bool force, const std::string& reason, const api::Peer& peer) {
  const auto* st = engine_.learner().find(name);
  if (!st) return Outcome::error(Outcome::Code::kNotFound, no_profile_message(name));
  const auto& p = st->profile;
  const auto& cfg = cfg_.learning;
  auto refuse = [&](const std::string& why) {
    audit_.record("profile_promote", 0, peer, "refused", name + ": " + why);
    return Outcome::error(Outcome::Code::kRefused, why);
  };
  if (!engine_.learner().sources().count(name)) return refuse("no policy '" + name + "' in mode learn is loaded");
  learn::Stage next;
  switch (p.stage) {
    case learn::Stage::kEnforce:
      return refuse("profile '" + name + "' is already enforced");
    case learn::Stage::kShadow:
      next = learn::Stage::kEnforce;  // ends the shadow period early
      break;
    default:
      if (!force && !p.stable(unix_now_s(), cfg.stability_window_s))
        return refuse("profile '" + name + "' is not stable: its last new behaviour was " +
                      std::to_string(unix_now_s() - p.last_new) + " s ago, the stability window is " +
                      std::to_string(cfg.stability_window_s) + " s (--force promotes anyway)");
      next = cfg.shadow_period_s ? learn::Stage::kShadow : learn::Stage::kEnforce;
  }
  if (auto r = set_stage(name, next); !r) {
    audit_.record("profile_promote", 0, peer, "failed", name + ": " + r.error().what());
    return Outcome::error(Outcome::Code::kFailed, r.error().what());
  }
  audit_.record("profile_promote", 0, peer, "ok",
                name + ": " + learn::stage_name(next) + (reason.empty() ? "" : " (" + reason + ")"));
  Outcome o;
  o.stage = learn::stage_name(next);
  o.message = next == learn::Stage::kShadow
                  ? "shadow: the learned allow-list runs in audit mode for " + std::to_string(cfg.shadow_period_s) +
                        " s; would-deny verdicts are counted"
                  : "enforce: the learned allow-list is enforced";
  return o;
}

Outcome ProfileStages::rollback(const std::string& name, const std::string& reason, const api::Peer& peer) {
  if (!engine_.learner().has(name)) return Outcome::error(Outcome::Code::kNotFound, no_profile_message(name));
  if (auto r = set_stage(name, learn::Stage::kAudit); !r) {
    audit_.record("profile_rollback", 0, peer, "failed", name + ": " + r.error().what());
    return Outcome::error(Outcome::Code::kFailed, r.error().what());
  }
  audit_.record("profile_rollback", 0, peer, "ok", name + (reason.empty() ? "" : " (" + reason + ")"));
  Outcome o;
  o.stage = learn::stage_name(learn::Stage::kAudit);
  o.message = "audit: the workload's policy is back in audit mode; its profile still scores anomalies";
  return o;
}

}  // namespace rampart::edges
