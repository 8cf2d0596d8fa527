// Map sweeps for policy reload: removing one bank of policy ids from the
// enforcement maps, and listing the kernel's process assignments. See
// engine/policy_runtime.cpp for how a reload uses them.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "bpf/loader.h"
#include "bpf/map_sweep.h"
#include "rampart_bpf.skel.h"

namespace rampart::bpf {
namespace {

template <typename Key>
uint32_t value_id(int fd, const Key& k) {
  uint32_t id = 0;
  return bpf_map_lookup_elem(fd, &k, &id) == 0 ? id : 0;
}

}  // namespace

Result<void> Programs::clear_policy_ids(uint32_t lo, uint32_t hi, bool exe_only) {
  if (auto r = delete_where<rp_exe_key>(skel_->maps.exe_policy_map, lo, hi, value_id<rp_exe_key>); !r) return r;
  if (exe_only) return {};
  if (auto r = delete_where<uint64_t>(skel_->maps.cgroup_policy_map, lo, hi, value_id<uint64_t>); !r) return r;
  auto net4 = [](int, const rp_net4_key& k) { return k.policy_id; };
  auto net6 = [](int, const rp_net6_key& k) { return k.policy_id; };
  for (auto* m : {skel_->maps.net_allow4_map, skel_->maps.net_deny4_map})
    if (auto r = delete_where<rp_net4_key>(m, lo, hi, net4); !r) return r;
  for (auto* m : {skel_->maps.net_allow6_map, skel_->maps.net_deny6_map})
    if (auto r = delete_where<rp_net6_key>(m, lo, hi, net6); !r) return r;
  rp_policy_rule empty{};
  for (uint32_t id = lo; id <= hi && id < RP_MAX_POLICIES; ++id)
    if (auto r = set_policy_rule(id, empty); !r) return r;
  return {};
}

std::vector<std::pair<uint32_t, uint32_t>> Programs::process_policies() const {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  int fd = bpf_map__fd(skel_->maps.proc_policy_map);
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  // A key deleted under us restarts the walk from the first key: bound it.
  for (int guard = 0; guard < (1 << 18) && bpf_map_get_next_key(fd, prev, &next) == 0; ++guard) {
    uint32_t id = 0;
    if (bpf_map_lookup_elem(fd, &next, &id) == 0) out.emplace_back(next, id);
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace rampart::bpf
