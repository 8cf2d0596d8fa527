// What an operator may ask of rampartd, in its own types: the API (and
// any other front end) reads the engine's state and acts through this. No
// generated protobuf type appears here; daemon/api/service.cpp translates.
// Every call runs on the pipeline's loop thread, and every action is
// audited (an "audit" record and a log line) by the daemon.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/peer.h"
#include "edges/status.h"
#include "engine/engine.h"
#include "engine/policy_runtime.h"

namespace rampart {

// What an operator is told when a pid or a profile name names nothing.
inline std::string no_process_message(uint32_t pid) {
  return "no process with pid " + std::to_string(pid) + " (it may have exited)";
}
inline std::string no_profile_message(const std::string& name) {
  return "no profile named '" + name + "' (a policy in mode learn creates one; see `rampartctl profile list`)";
}

// The answer to an action on a process or a profile.
struct Outcome {
  enum class Code { kOk, kNotFound, kRefused, kFailed };
  Code code = Code::kOk;
  std::string message;   // for the operator; on an error, why
  bool pending = false;  // quarantine: accepted, not yet in the kernel (retried)
  std::string stage;     // profiles: the stage it is in now
  static Outcome error(Code c, std::string m) { return Outcome{c, std::move(m), false, {}}; }
};

// A reload as the API asks for it: text, or else the directory `dir` ("" =
// the configured one). An explicit reload applies deletions of policy files.
struct ReloadAsk {
  std::string dir, text, source;
};
struct ReloadAnswer {
  engine::ReloadResult result;
  uint32_t retry_in_ms = 0;  // a refused reload of the policy directory is retried after this
  std::string invalid;       // the request itself was wrong (no such directory)
};

class Control {
 public:
  virtual ~Control() = default;
  virtual engine::Engine& engine() = 0;
  virtual const engine::Engine& engine() const = 0;
  virtual Outcome quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer) = 0;
  virtual Outcome release(uint32_t pid, const std::string& reason, const api::Peer& peer) = 0;
  virtual ReloadAnswer reload(const ReloadAsk& ask, const api::Peer& peer) = 0;
  virtual Outcome promote(const std::string& name, bool force, const std::string& reason, const api::Peer& peer) = 0;
  virtual Outcome rollback(const std::string& name, const std::string& reason, const api::Peer& peer) = 0;
  virtual void peer_refused(const api::Peer& peer, const std::string& why) = 0;
  // Capabilities, mechanisms, counters and state, for GetStatus.
  virtual edges::StatusReport status() = 0;
  // The profiles directory ("" when learning keeps no state).
  virtual std::string profile_dir() const = 0;
};

}  // namespace rampart
