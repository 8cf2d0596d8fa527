// The enforcement state the kernel reads, as an interface: the policy
// compiler and the verdict engine write through it, rampartd implements it
// with the real BPF maps (bpf::Programs), and unit tests with a fake.
#pragma once

#include <cstdint>

#include "shared/rp_abi.h"
#include "util/result.h"

namespace rampart::enforce {

// Which LPM pair a network entry goes to: the allow-lists or the deny rules.
enum class NetList : uint8_t { kAllow, kDeny };

class MapWriter {
 public:
  virtual ~MapWriter() = default;
  virtual Result<void> set_policy_rule(uint32_t policy_id, const rp_policy_rule& rule) = 0;
  // addr in network byte order; prefix_len 0-32 / 0-128.
  virtual Result<void> add_net4(NetList list, uint32_t policy_id, const uint8_t (&addr)[4], uint8_t prefix_len,
                                const rp_port_set& ports) = 0;
  virtual Result<void> add_net6(NetList list, uint32_t policy_id, const uint8_t (&addr)[16], uint8_t prefix_len,
                                const rp_port_set& ports) = 0;
  // The policy a process gets when it execs this file (in the kernel, at exec).
  virtual Result<void> assign_exe(const rp_exe_key& exe, uint32_t policy_id) = 0;
  // policy_id 0 removes the assignment.
  virtual Result<void> assign_process(uint32_t tgid, uint32_t policy_id) = 0;
  virtual Result<void> assign_cgroup(uint64_t cgroup_id, uint32_t policy_id) = 0;
  // flags 0 removes the verdict.
  virtual Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) = 0;
};

}  // namespace rampart::enforce
