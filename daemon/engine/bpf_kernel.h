// The engine's Kernel on the real thing: the maps of the loaded BPF
// programs, and kills through a pidfd.
#pragma once

#include "bpf/loader.h"
#include "engine/kernel.h"
#include "pipeline/process_table.h"

namespace rampart::engine {

class BpfKernel final : public Kernel {
 public:
  explicit BpfKernel(bpf::Programs& programs) : programs_(programs) {}
  uint32_t policy_of(uint32_t tgid) const override { return programs_.policy_of(tgid); }
  std::optional<rp_verdict> verdict_of(uint32_t tgid) const override { return programs_.verdict_of(tgid); }
  Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) override { return programs_.set_verdict(tgid, v); }
  Result<void> assign_process(uint32_t tgid, uint32_t id) override { return programs_.assign_process(tgid, id); }
  bool kill(uint32_t tgid, uint64_t start_ns) override;
  bool alive(uint32_t tgid) const override;
  std::vector<uint32_t> net_denied() const override { return programs_.net_denied(); }
  SocketTake take_sockets(uint32_t tgid, const rp_proc& owner, std::unordered_set<uint64_t>& seen) override;
  bool continue_stopped(uint32_t tgid) override;
  enforce::MapWriter& maps() override { return programs_; }
  std::vector<std::pair<uint32_t, uint32_t>> process_policies() const override { return programs_.process_policies(); }
  Result<void> clear_policy_ids(uint32_t lo, uint32_t hi, bool exe_only) override {
    return programs_.clear_policy_ids(lo, hi, exe_only);
  }

 private:
  bpf::Programs& programs_;
  pipeline::ProcReader proc_;
};

}  // namespace rampart::engine
