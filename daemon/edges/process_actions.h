// An operator's word on one process: manual quarantine and release. Each
// is written into the kernel through the act stage (a refused write is
// retried until it lands), and each is audited.
#pragma once

#include <cstdint>
#include <string>

#include "control.h"
#include "edges/audit.h"
#include "engine/engine.h"

namespace rampart::edges {

class ProcessActions {
 public:
  // network_enforced: whether the cgroup hooks refuse a quarantined
  // process's network (the answer says so when they do not); socket_cut:
  // whether its existing sockets are cut too.
  ProcessActions(engine::Engine& engine, Audit& audit, bool network_enforced, bool socket_cut)
      : engine_(engine), audit_(audit), network_enforced_(network_enforced), socket_cut_(socket_cut) {}
  Outcome quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer);
  // Clears the verdict and pardons the score; descendants that only
  // inherited the verdict go back to their own.
  Outcome release(uint32_t pid, const std::string& reason, const api::Peer& peer);

 private:
  engine::Engine& engine_;
  Audit& audit_;
  bool network_enforced_, socket_cut_;
};

}  // namespace rampart::edges
