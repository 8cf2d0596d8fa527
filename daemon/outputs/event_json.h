// The JSON-lines event schema: one object per event, one line each. The
// schema is documented in README.md ("Event schema"); keep the two in step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/pods.h"
#include "pipeline/process_table.h"
#include "score/rules.h"
#include "score/trust.h"
#include "sources/decoder.h"

namespace rampart::outputs {

inline constexpr int kSchemaVersion = 1;

struct EventContext {
  const pipeline::ProcessTable* table = nullptr;  // for exe, parent, container
  int64_t boot_to_realtime_ns = 0;                // realtime = boot + this
  std::string_view replaced_exe;                  // exec only: the image it replaced
  // Policy names by id (names[id - 1]), for enforce events; unset: only the id is written.
  const std::vector<std::string>* policy_names = nullptr;
  // Rule hits on this event and the process's verdict after them, if any.
  const std::vector<score::RuleHit>* hits = nullptr;
  const score::Verdict* verdict = nullptr;
  bool verdict_enforced = false;    // the governing policy is in enforce mode
  uint64_t verdict_applied_ns = 0;  // boot clock when the verdict reached the kernel map, 0 if it did not
  // Enforce events: the deny rule that matched, and whether rampartd killed the process for it.
  std::string_view deny_rule;
  bool killed_by_rule = false;
  // Pod metadata by pod UID (kubernetes.kubelet_url); unset: only pod_uid.
  const k8s::PodMap* pods = nullptr;
};

// Appends one event as a JSON object and a newline.
void append_event_json(std::string& out, const sources::EventView& ev, const EventContext& ctx);

// An enforce event's mechanism (RP_MECH_*) as written in the event: "fanotify", ...
const char* mechanism_name(uint8_t m);

// Formats a realtime timestamp as RFC 3339 UTC with nanoseconds, into buf.
std::string_view format_rfc3339(char (&buf)[40], int64_t realtime_ns);

}  // namespace rampart::outputs
