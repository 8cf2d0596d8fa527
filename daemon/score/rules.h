// Built-in detection rules. Each is a pure function of one event and what
// the process table knows about its process; a hit carries the rule's id,
// MITRE ATT&CK technique, weight and a detail line, and feeds the trust score.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/process_table.h"
#include "sources/decoder.h"

namespace rampart::score {

struct Rule {
  std::string_view id;
  std::string_view mitre;
  uint32_t weight;
  std::string_view description;
};

struct RuleHit {
  const Rule* rule;
  std::string detail;
};

const std::vector<Rule>& builtin_rules();

// Appends the hits of every built-in rule on one event.
void evaluate(const sources::EventView& ev, const pipeline::ProcessTable& table, std::vector<RuleHit>& out);

}  // namespace rampart::score
