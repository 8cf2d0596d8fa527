// The audit trail: every operator action (an API call, SIGHUP, a profile
// stage change, a refused caller) becomes an {"type":"audit"} record in
// the event output and a log line, whatever its result.
#pragma once

#include <cstdint>
#include <string>

#include "api/peer.h"
#include "engine/output.h"

namespace rampart::edges {

class Audit {
 public:
  explicit Audit(engine::Output& out) : out_(out) {}
  void record(const std::string& action, uint32_t pid, const api::Peer& peer, const std::string& result,
              const std::string& detail);

 private:
  engine::Output& out_;
};

}  // namespace rampart::edges
