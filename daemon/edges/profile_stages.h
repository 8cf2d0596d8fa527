// Learned profiles' stages, the daemon's side: promotion (by an operator,
// or automatic once a profile is stable), the end of a shadow period, and
// rollback. Each stage change installs the stage's generated policy
// through the policy runtime, like any reload, and is undone when the
// kernel refuses it. The profiles themselves, and what the pipeline learns
// into them, are engine/learner.h's.
#pragma once

#include <string>

#include "config/config.h"
#include "control.h"
#include "edges/audit.h"
#include "edges/reloads.h"
#include "engine/engine.h"

namespace rampart::edges {

class ProfileStages {
 public:
  ProfileStages(engine::Engine& engine, Reloads& reloads, Audit& audit, const config::Config& cfg)
      : engine_(engine), reloads_(reloads), audit_(audit), cfg_(cfg) {}
  // Housekeeping: due promotions, ends of shadow periods, flushes.
  void tick();
  Outcome promote(const std::string& name, bool force, const std::string& reason, const api::Peer& peer);
  Outcome rollback(const std::string& name, const std::string& reason, const api::Peer& peer);

 private:
  Result<void> set_stage(const std::string& name, learn::Stage stage);

  engine::Engine& engine_;
  Reloads& reloads_;
  Audit& audit_;
  const config::Config& cfg_;
};

}  // namespace rampart::edges
