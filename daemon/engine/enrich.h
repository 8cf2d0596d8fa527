// The Enrich stage: who did it. Keeps the process table (lineage, exe,
// argv, uid) up to date from exec, fork and exit events and /proc, resolves
// each process's cgroup to a path and a container or pod, and puts an
// exec'd process under the policy that selects it, before anything reads
// which policy governs it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "engine/act.h"
#include "engine/policy_runtime.h"
#include "engine/work.h"
#include "k8s/pods.h"
#include "pipeline/process_table.h"

namespace rampart::engine {

class Enrich {
 public:
  Enrich(pipeline::ProcessTable& table, pipeline::ProcReader& proc, const PolicyRuntime& policies, Act& act,
         std::string cgroup_root);

  void run(Work& w);
  // Seeds a process read from /proc now (API lookups); false if it is gone.
  bool known_process(uint32_t pid);
  // At exit, after the event was written.
  void forget(uint32_t tgid, uint32_t exit_code, uint64_t ts_ns) { table_.on_exit(tgid, exit_code, ts_ns); }

  // The kubelet's pod list (kubernetes.kubelet_url); `refresh` asks for a
  // new one when a process names a pod the list does not have.
  void set_pods(k8s::PodMap pods) { pods_ = std::move(pods); }
  void on_unknown_pod(std::function<void()> refresh) { refresh_pods_ = std::move(refresh); }
  const k8s::PodMap* pods() const { return refresh_pods_ ? &pods_ : nullptr; }

  const std::unordered_map<uint64_t, std::string>& cgroup_paths() const { return cgroup_paths_; }
  uint64_t cgroup_path_resets() const { return cgroup_path_resets_; }

 private:
  void ensure_known(const rp_proc& p);
  void resolve_cgroup(uint32_t tgid, uint64_t cgroup_id);

  pipeline::ProcessTable& table_;
  pipeline::ProcReader& proc_;
  const PolicyRuntime& policies_;
  Act& act_;
  std::string cgroup_root_;                                 // for cgroup paths by id
  std::unordered_map<uint64_t, std::string> cgroup_paths_;  // cgroup id → path
  uint64_t cgroup_path_resets_ = 0;
  k8s::PodMap pods_;
  std::function<void()> refresh_pods_;
};

}  // namespace rampart::engine
