// The Enrich stage; see enrich.h.
#include "engine/enrich.h"

namespace rampart::engine {

Enrich::Enrich(pipeline::ProcessTable& table, pipeline::ProcReader& proc, const PolicyRuntime& policies, Act& act,
               std::string cgroup_root)
    : table_(table), proc_(proc), policies_(policies), act_(act), cgroup_root_(std::move(cgroup_root)) {}

void Enrich::run(Work& w) {
  const auto& ev = w.ev;
  const rp_proc& p = ev.proc();
  switch (ev.type()) {
    case RP_EV_EXEC: {
      const auto& e = ev.as<rp_exec_event>();
      std::vector<std::string> args;
      sources::for_each_arg(e, [&args](std::string_view arg) { args.emplace_back(arg); });
      ensure_known(p);  // so the parent chain and the previous image are known
      w.replaced_exe = table_.on_exec(p.tgid, p.ppid, p.start_ns, p.uid, p.euid, sources::fixed_str(p.comm),
                                      sources::fixed_str(e.filename), std::move(args), p.cgroup_id, e.hdr.ts_ns);
      resolve_cgroup(p.tgid, p.cgroup_id);
      act_.assign_selected(p.tgid, policies_);
      break;
    }
    case RP_EV_FORK: {
      const auto& e = ev.as<rp_fork_event>();
      ensure_known(p);
      table_.on_fork(p.tgid, e.child_tgid, e.child_start_ns, e.hdr.ts_ns);
      act_.on_fork(p.tgid, e.child_tgid);
      if (e.hdr.flags & RP_F_INHERIT_FAILED) act_.inherit_in_userspace(p.tgid, e.child_tgid);
      break;
    }
    default:
      ensure_known(p);
      break;
  }
}

bool Enrich::known_process(uint32_t pid) {
  const auto* info = table_.find(pid);
  if (info && !info->exited) return true;
  if (auto snap = proc_.read(pid)) {
    table_.seed({*snap});
    return true;
  }
  return false;
}

void Enrich::ensure_known(const rp_proc& p) {
  if (table_.find(p.tgid)) return;
  // Started before we attached and missed by the /proc seed, or raced it.
  if (auto snap = proc_.read(p.tgid)) {
    table_.seed({*snap});
    return;
  }
  pipeline::ProcSnapshot s;
  s.tgid = p.tgid;
  s.ppid = p.ppid;
  s.start_ns = p.start_ns;
  s.uid = p.uid;
  s.euid = p.euid;
  s.comm = std::string(sources::fixed_str(p.comm));
  table_.seed({s});
}

void Enrich::resolve_cgroup(uint32_t tgid, uint64_t cgroup_id) {
  // The id → path cache is the authority: an entry copied at fork from a
  // parent seeded out of /proc has a path, but not necessarily this id's.
  auto it = cgroup_paths_.find(cgroup_id);
  if (it == cgroup_paths_.end()) {
    auto path = proc_.cgroup_path(tgid);
    // Gone before /proc could be read: ask the cgroup filesystem by id.
    if (path.empty()) path = pipeline::ProcReader::cgroup_path_by_id(cgroup_root_, cgroup_id);
    if (path.empty()) return;
    if (cgroup_paths_.size() > 65536) {  // bound; refilled on demand
      cgroup_paths_.clear();
      ++cgroup_path_resets_;
    }
    it = cgroup_paths_.emplace(cgroup_id, std::move(path)).first;
  }
  const auto* info = table_.find(tgid);
  if (info && info->cgroup_id == cgroup_id && info->cgroup_path == it->second) return;
  table_.set_cgroup(tgid, cgroup_id, it->second);
  // A pod the kubelet's last list did not have: ask again (at most every 5 s).
  if (refresh_pods_ && (info = table_.find(tgid)) && !info->container.pod_uid.empty() &&
      !pods_.count(info->container.pod_uid))
    refresh_pods_();
}

}  // namespace rampart::engine
