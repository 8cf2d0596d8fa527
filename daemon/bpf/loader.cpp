// Loading and attaching the BPF programs; see loader.h.
#include "bpf/loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "rampart_bpf.skel.h"
#include "sources/syscall_table.h"

namespace rampart::bpf {
namespace {

bool excluded(const LoadOptions& o, uint32_t type) {
  return std::find(o.excluded_events.begin(), o.excluded_events.end(), type) != o.excluded_events.end();
}

struct ProcessProg {
  const char* name;
  uint32_t type;
};
constexpr ProcessProg kProcessProgs[] = {
    {"process_exec", RP_EV_EXEC},
    {"process_fork", RP_EV_FORK},
    {"process_exit", RP_EV_EXIT},
};

}  // namespace

Programs::~Programs() {
  for (auto* l : links_) bpf_link__destroy(l);
  if (skel_) rampart_bpf__destroy(skel_);
}

int Programs::ringbuf_fd() const { return bpf_map__fd(skel_->maps.events_map); }

Result<std::unique_ptr<Programs>> Programs::load(const LoadOptions& opts, const Capabilities& caps) {
  if (!caps.btf) return fail("kernel BTF missing (/sys/kernel/btf/vmlinux): rampart needs CONFIG_DEBUG_INFO_BTF=y");
  if (!caps.ringbuf) return fail("the kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8+)");
  if (!caps.tp_btf) return fail("the kernel cannot load tp_btf programs (BTF-enabled tracepoints, Linux 5.5+)");

  // Create a ring buffer of the configured size once on its own, so that a
  // failure is reported as what it is rather than as a failed program load.
  int probe_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rp_rb_probe", 0, 0, opts.ringbuf_bytes, nullptr);
  if (probe_fd < 0)
    return fail_errno("cannot create the " + std::to_string(opts.ringbuf_bytes >> 20) +
                      " MiB ring buffer events_map (lower ringbuf.size_mb, or check memory and the kernel's "
                      "BPF ring buffer support)");
  close(probe_fd);

  std::unique_ptr<Programs> p(new Programs());
  p->skel_ = rampart_bpf__open();
  if (!p->skel_) return fail_errno("opening the embedded BPF object");

  p->skel_->rodata->rp_self_tgid = opts.self_tgid;
  p->skel_->rodata->rp_wakeup_bytes = opts.wakeup_bytes;
  if (int err = bpf_map__set_max_entries(p->skel_->maps.events_map, opts.ringbuf_bytes); err)
    return fail("sizing ring buffer events_map to " + std::to_string(opts.ringbuf_bytes) + " bytes", -err);

  // Autoload only what will be attached: excluded event types and syscalls
  // this architecture lacks stay out of the kernel.
  struct bpf_object* obj = p->skel_->obj;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    std::string name = bpf_program__name(prog);
    bool load = false;
    if (name == "sys_exit_dispatch") {
      load = true;
    } else if (name.rfind("sys_exit_", 0) == 0) {
      auto sc = name.substr(std::strlen("sys_exit_"));
      for (const auto& t : sources::traced_syscalls())
        if (t.name == sc && !excluded(opts, t.event_type)) load = true;
    } else {
      for (const auto& pp : kProcessProgs)
        if (name == pp.name && !excluded(opts, pp.type)) load = true;
    }
    bpf_program__set_autoload(prog, load);
    bpf_program__set_autoattach(prog, false);
  }

  if (int err = rampart_bpf__load(p->skel_); err) {
    if (err == -EPERM || err == -EACCES)
      return fail("loading BPF programs: permission denied (run as root, or with CAP_BPF, CAP_PERFMON and "
                  "CAP_SYS_ADMIN)",
                  -err);
    return fail("loading BPF programs (the verifier log above names the program)", -err);
  }
  if (auto r = p->attach(opts); !r) return tl::unexpected(r.error());
  return p;
}

Result<void> Programs::attach(const LoadOptions& opts) {
  // Tail-call targets first, so the dispatcher never runs against a half-filled table.
  int table_fd = bpf_map__fd(skel_->maps.sys_exit_progs_map);
  for (const auto& t : sources::traced_syscalls()) {
    if (excluded(opts, t.event_type)) continue;
    std::string name = "sys_exit_" + std::string(t.name);
    auto* prog = bpf_object__find_program_by_name(skel_->obj, name.c_str());
    if (!prog) return fail("BPF program " + name + " missing from the embedded object");
    int fd = bpf_program__fd(prog);
    uint32_t key = t.nr;
    if (bpf_map_update_elem(table_fd, &key, &fd, BPF_ANY) != 0)
      return fail_errno("sys_exit_progs_map: installing " + name + " for syscall " + std::to_string(t.nr));
    ++traced_syscalls_;
  }

  auto attach_one = [this](struct bpf_program* prog, const char* hook) -> Result<void> {
    struct bpf_link* link = bpf_program__attach(prog);
    if (!link) return fail_errno(std::string("attaching ") + bpf_program__name(prog) + " to " + hook);
    links_.push_back(link);
    attached_.push_back(std::string(bpf_program__name(prog)) + " on " + hook);
    return {};
  };
  if (traced_syscalls_ > 0)
    if (auto r = attach_one(skel_->progs.sys_exit_dispatch, "tp_btf/sys_exit"); !r) return r;
  struct {
    struct bpf_program* prog;
    const char* hook;
    uint32_t type;
  } process[] = {
      {skel_->progs.process_exec, "tp_btf/sched_process_exec", RP_EV_EXEC},
      {skel_->progs.process_fork, "tp_btf/sched_process_fork", RP_EV_FORK},
      {skel_->progs.process_exit, "tp_btf/sched_process_exit", RP_EV_EXIT},
  };
  for (const auto& pp : process) {
    if (excluded(opts, pp.type)) continue;
    if (auto r = attach_one(pp.prog, pp.hook); !r) return r;
  }
  return {};
}

Result<std::array<TypeStats, RP_EV_MAX>> Programs::read_stats() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail("counting possible CPUs", -ncpu);
  std::array<TypeStats, RP_EV_MAX> out{};
  std::vector<rp_stats> per_cpu(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(skel_->maps.stats_map);
  for (uint32_t type = 0; type < RP_EV_MAX; ++type) {
    if (bpf_map_lookup_elem(fd, &type, per_cpu.data()) != 0) return fail_errno("reading stats_map");
    auto& t = out[type];
    t.dropped_per_cpu.resize(per_cpu.size());
    for (size_t cpu = 0; cpu < per_cpu.size(); ++cpu) {
      t.total.emitted += per_cpu[cpu].emitted;
      t.total.filtered += per_cpu[cpu].filtered;
      t.total.dropped += per_cpu[cpu].dropped;
      t.total.errors += per_cpu[cpu].errors;
      t.dropped_per_cpu[cpu] = per_cpu[cpu].dropped;
    }
  }
  return out;
}

}  // namespace rampart::bpf
