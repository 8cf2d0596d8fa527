// What rampartd reports about itself (GetStatus, `rampartctl status`), in
// its own types: the capability matrix it probed, the mechanism that
// enforces each kind of operation, the counters (one reading of the
// registry that the stats line and /metrics render from) and the bounded
// state. api/service.cpp translates it for gRPC.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpf/probe.h"
#include "ops/counters.h"
#include "policy/policy.h"

namespace rampart::edges {

// One bounded in-memory structure: how full it is and how it stays bounded.
struct StateUse {
  const char* name;
  uint64_t entries, limit, bytes, evictions;
  const char* eviction;
};

// How one kind of operation is enforced on this host, and what that means.
struct MechanismUse {
  std::string operation, mechanism, detail;
};

struct StatusReport {
  uint32_t pid = 0;
  uint64_t uptime_ns = 0;
  std::vector<bpf::Capability> capabilities;
  std::vector<MechanismUse> mechanisms;
  std::vector<std::string> attached_programs;
  uint32_t traced_syscalls = 0;
  ops::Counters::Snapshot counters;
  std::vector<StateUse> state;
  std::map<std::string, uint64_t> verdicts_by_level;  // processes at each level now
  uint64_t denies = 0, would_deny = 0, quarantined_manually = 0;
  std::string policy_dir, api_listeners;
  uint32_t stream_subscribers = 0;
  uint64_t stream_sent = 0, stream_missed = 0;
  uint32_t process_rate = 0, cgroup_rate = 0;
  uint64_t ringbuf_bytes = 0;
  uint64_t writes_superseded = 0;
  std::optional<uint64_t> oldest_pending_write_ms;
  std::string last_write_error;
  uint64_t resident_bytes = 0, open_fds = 0;
};

// What enforces exec, files, privilege, the network, quarantine and
// rampartd itself, given the kernel's mechanisms and the policies in force.
struct MechanismInputs {
  std::string hooks;        // "bpf_lsm" or "bpf_fmod_ret": the LSM programs are loaded; "": not
  bool guard = false;       // a fanotify guard is running
  bool network = false;     // the cgroup socket hooks enforce
  bool socket_cut = false;  // cgroup skb hooks drop a quarantined process's existing sockets' packets
};
std::vector<MechanismUse> describe_mechanisms(const policy::PolicySet& set, const MechanismInputs& in);

}  // namespace rampart::edges
