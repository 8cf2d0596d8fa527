// What the engine's stages need from the kernel, as a small interface: the
// policy and verdict maps of one process, the signal that ends it, and the
// policy maps as a whole.
// The daemon plugs in BpfKernel (the real maps and kill(2)); the pipeline tests
// plug in a fake that records every write, so each stage runs without
// privileges or BPF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "enforce/map_writer.h"
#include "shared/rp_abi.h"
#include "util/result.h"

namespace rampart::engine {

// What one pass over a process's sockets did (Kernel::take_sockets).
struct SocketTake {
  uint32_t taken = 0;   // sockets made the process's own in the socket owner map
  uint32_t failed = 0;  // sockets it holds that could not be (error says why)
  std::string error;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // The policy id the kernel has for a process, 0 if none.
  virtual uint32_t policy_of(uint32_t tgid) const = 0;
  // The process's entry in the verdict map, if it has one.
  virtual std::optional<rp_verdict> verdict_of(uint32_t tgid) const = 0;
  // One whole map value each: the kernel holds the old value or the new one.
  virtual Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) = 0;
  virtual Result<void> assign_process(uint32_t tgid, uint32_t policy_id) = 0;
  // SIGKILL to the process tgid that started at start_ns (boot clock, as
  // events carry it; 0: unknown, the pid alone). A pid that another process
  // has taken since is not killed. True when it was sent.
  virtual bool kill(uint32_t tgid, uint64_t start_ns) = 0;
  // false once the process is gone (ESRCH).
  virtual bool alive(uint32_t tgid) const = 0;

  // Quarantine of sockets a process holds but another process owns
  // (inherited, passed over SCM_RIGHTS, taken with pidfd_getfd): every
  // process whose verdict denies the network (a walk of the whole verdict
  // map: read once, at start), and the pass that makes each inet socket in a process's fd table its
  // own, so that the skb hooks cut it under its verdict. `seen` holds the
  // socket inodes already settled for this process, and grows. Kernels
  // without socket cuts (and the fakes) have neither.
  virtual std::vector<uint32_t> net_denied() const { return {}; }
  virtual SocketTake take_sockets(uint32_t /*tgid*/, const rp_proc& /*owner*/, std::unordered_set<uint64_t>& /*seen*/) {
    return {};
  }
  // Continues a process left stopped (state T) by an attach whose tracer
  // was killed; true if it was stopped and got SIGCONT. The fakes do nothing.
  virtual bool continue_stopped(uint32_t /*tgid*/) { return false; }

  // The policy maps as a whole, for the policy runtime: the compiler's
  // writer, every (tgid, policy id) assignment, and clearing a bank of ids
  // [lo, hi] (rules zeroed, network entries deleted unless exe_only, exe
  // assignments deleted).
  virtual enforce::MapWriter& maps() = 0;
  virtual std::vector<std::pair<uint32_t, uint32_t>> process_policies() const = 0;
  virtual Result<void> clear_policy_ids(uint32_t lo, uint32_t hi, bool exe_only) = 0;
};

}  // namespace rampart::engine
