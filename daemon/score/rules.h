// Built-in detection rules. Each is a pure function of one event and what
// the process table knows about its process; a hit carries the rule's id,
// MITRE ATT&CK technique, weight and a detail line, and feeds the trust score.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
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

// Executables seen making an outbound connect, for "first outbound connect".
// Bounded: past the limit the oldest entry is forgotten (and counted), so a
// forgotten executable's next connect fires once more.
class ConnectHistory {
 public:
  explicit ConnectHistory(size_t max = 16384) : max_(max) {}
  // True the first time `exe` is seen; remembers it.
  bool first(std::string_view exe);
  size_t size() const { return seen_.size(); }
  uint64_t forgotten() const { return forgotten_; }

 private:
  size_t max_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> order_;
  uint64_t forgotten_ = 0;
};

// What the rules may consult beyond the event itself.
struct RuleContext {
  const pipeline::ProcessTable& table;
  // The governing policy lists bpf() as part of the workload's job
  // (privilege.bpf: true): its BPF program loads are expected.
  bool bpf_expected = false;
  ConnectHistory* connects = nullptr;  // null: the first-connect rule is off
};

// Appends the hits of every built-in rule on one event.
void evaluate(const sources::EventView& ev, const RuleContext& ctx, std::vector<RuleHit>& out);

}  // namespace rampart::score
