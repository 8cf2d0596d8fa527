// Loading and attaching the BPF programs; see loader.h.
#include "bpf/loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "rampart_bpf.skel.h"
#include "sources/syscall_table.h"

namespace rampart::bpf {
namespace {

// The kernel side of events.exclude: these types' records are made only
// for processes a policy governs. Process lifecycle records are always
// made (the process table and policy selection need them); rampartd then
// leaves excluded ones out of its output (engine/emit.cpp).
uint32_t excluded_mask(const LoadOptions& o) {
  uint32_t mask = 0;
  for (uint32_t t : o.excluded_events)
    if (t != RP_EV_EXEC && t != RP_EV_FORK && t != RP_EV_EXIT && t != RP_EV_ENFORCE && t < 32) mask |= 1u << t;
  return mask;
}

// Whether the kernel has tp_btf/io_uring_submit_req in the shape the
// program reads (its request as the only argument, Linux 6.x), in its BTF.
bool io_uring_tracepoint() {
  static const bool ok = [] {
    struct btf* btf = btf__load_vmlinux_btf();
    if (!btf) return false;
    bool found = false;
    int id = btf__find_by_name_kind(btf, "btf_trace_io_uring_submit_req", BTF_KIND_TYPEDEF);
    const struct btf_type* t = id > 0 ? btf__type_by_id(btf, id) : nullptr;
    if (t) t = btf__type_by_id(btf, t->type);                   // pointer
    if (t && btf_is_ptr(t)) t = btf__type_by_id(btf, t->type);  // function prototype
    if (t && btf_is_func_proto(t) && btf_vlen(t) == 2) {        // (void *, the request)
      const struct btf_type* arg = btf__type_by_id(btf, btf_params(t)[1].type);
      if (arg && btf_is_ptr(arg)) arg = btf__type_by_id(btf, arg->type);
      found = arg && btf_is_struct(arg) && std::string_view(btf__name_by_offset(btf, arg->name_off)) == "io_kiocb";
    }
    btf__free(btf);
    return found;
  }();
  return ok;
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

// The maps whose contents are enforcement: pinned, so that they outlive us.
// sys_exit_progs_map among them: the kernel empties a program array when
// its last user reference goes, and the privilege kills are its programs.
const std::vector<std::string> kStateMaps = {
    "proc_policy_map", "cgroup_policy_map", "exe_policy_map", "policy_map",     "net_allow4_map",     "net_allow6_map",
    "net_deny4_map",   "net_deny6_map",     "verdict_map",    "sock_owner_map", "sys_exit_progs_map", "cut_exited_map"};

Programs::~Programs() {
  // An orderly exit: the pins go first, then our links, and everything detaches.
  // A start that failed leaves a previous rampartd's pins (and its enforcement) alone.
  if (pins_ && owns_pins_) pins_->remove("main_", kStateMaps);
  for (auto* l : links_) bpf_link__destroy(l);
  if (skel_) rampart_bpf__destroy(skel_);
}

int Programs::ringbuf_fd() const { return bpf_map__fd(skel_->maps.events_map); }
int Programs::proc_policy_map_fd() const { return bpf_map__fd(skel_->maps.proc_policy_map); }
int Programs::verdict_map_fd() const { return bpf_map__fd(skel_->maps.verdict_map); }
int Programs::open_flags_map_fd() const { return bpf_map__fd(skel_->maps.open_flags_map); }
int Programs::exec_marked_map_fd() const { return bpf_map__fd(skel_->maps.exec_marked_map); }
int Programs::exec_deny_size_map_fd() const { return bpf_map__fd(skel_->maps.exec_deny_size_map); }
std::optional<rp_sock_owner> Programs::socket_owner(int sock_fd) const {
  rp_sock_owner o{};
  if (!socket_cut_attached_ || bpf_map_lookup_elem(bpf_map__fd(skel_->maps.sock_owner_map), &sock_fd, &o) != 0)
    return std::nullopt;
  return o;
}

Result<void> Programs::set_socket_owner(int sock_fd, const rp_sock_owner& owner) {
  if (!socket_cut_attached_) return fail("the cgroup skb hooks are not attached");
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.sock_owner_map), &sock_fd, &owner, BPF_ANY) != 0)
    return fail_errno("updating sock_owner_map");
  return {};
}

std::vector<uint32_t> Programs::net_denied() const {
  std::vector<uint32_t> out;
  int fd = bpf_map__fd(skel_->maps.verdict_map);
  uint32_t key = 0, next = 0;
  rp_verdict v{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    if (bpf_map_lookup_elem(fd, &key, &v) == 0 && (v.flags & RP_V_DENY_NET)) out.push_back(key);
  }
  return out;
}

::bpf_object* Programs::object() const { return skel_->obj; }
void Programs::set_lsm_privileges(uint32_t mask) { skel_->bss->rp_lsm_priv = mask; }

uint32_t Programs::policy_of(uint32_t tgid) const {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(proc_policy_map_fd(), &tgid, &id) != 0) return 0;
  return id;
}

std::optional<rp_verdict> Programs::verdict_of(uint32_t tgid) const {
  rp_verdict v{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.verdict_map), &tgid, &v) != 0) return std::nullopt;
  return v;
}

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
  p->pins_ = std::make_unique<PinDir>(opts.pin_dir);
  p->skel_ = rampart_bpf__open();
  if (!p->skel_) return fail_errno("opening the embedded BPF object");
  p->reused_maps_ = p->pins_->pin_maps(p->skel_->obj, kStateMaps);

  p->skel_->rodata->rp_self_tgid = opts.self_tgid;
  p->skel_->rodata->rp_wakeup_bytes = opts.wakeup_bytes;
  p->skel_->rodata->rp_excluded_types = excluded_mask(opts);
  // GCRA cells: the interval between events at the rate, and the burst as time.
  auto cell = [](uint32_t rate, uint32_t burst, volatile __u64& interval, volatile __u64& burst_ns) {
    interval = rate ? 1'000'000'000ull / rate : 0;
    burst_ns = rate ? interval * burst : 0;
  };
  cell(opts.process_rate, opts.process_burst, p->skel_->rodata->rp_rl_proc_interval_ns,
       p->skel_->rodata->rp_rl_proc_burst_ns);
  cell(opts.cgroup_rate, opts.cgroup_burst, p->skel_->rodata->rp_rl_cgroup_interval_ns,
       p->skel_->rodata->rp_rl_cgroup_burst_ns);
  if (int err = bpf_map__set_max_entries(p->skel_->maps.events_map, opts.ringbuf_bytes); err)
    return fail("sizing ring buffer events_map to " + std::to_string(opts.ringbuf_bytes) + " bytes", -err);

  // Autoload only what will be attached: syscalls this architecture lacks
  // stay out of the kernel. Excluded event types stay in: their programs
  // also enforce.
  struct bpf_object* obj = p->skel_->obj;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    std::string name = bpf_program__name(prog);
    bool load = false;
    if (name == "sys_exit_dispatch" || name == "open_flags_enter") {
      load = true;
    } else if (name == "io_uring_submit") {
      load = io_uring_tracepoint();
    } else if (name == "netguard_sock_create" || name == "netguard_egress" || name == "netguard_ingress") {
      load = !opts.enforce_cgroup.empty() && caps.cgroup_sock_addr && caps.socket_cut;
    } else if (name.rfind("netguard_", 0) == 0) {
      load = !opts.enforce_cgroup.empty() && caps.cgroup_sock_addr;
    } else if (name.rfind("sys_exit_", 0) == 0) {
      auto sc = name.substr(std::strlen("sys_exit_"));
      for (const auto& t : sources::traced_syscalls())
        if (t.name == sc) load = true;
    } else {
      for (const auto& pp : kProcessProgs)
        if (name == pp.name) load = true;
    }
    bpf_program__set_autoload(prog, load);
    bpf_program__set_autoattach(prog, false);
  }

  // Without socket storage in the cgroup programs, the code that records
  // socket owners is dead (rp_netcut 0) and its map is never created.
  p->skel_->rodata->rp_netcut = caps.socket_cut ? 1 : 0;
  p->skel_->rodata->rp_send_take = caps.send_take ? 1 : 0;
  if (!caps.socket_cut) bpf_map__set_autocreate(p->skel_->maps.sock_owner_map, false);

  if (int err = rampart_bpf__load(p->skel_); err) {
    if (err == -EPERM || err == -EACCES)
      return fail(
          "loading BPF programs: permission denied (run as root, or with CAP_BPF, CAP_PERFMON and "
          "CAP_SYS_ADMIN)",
          -err);
    if (p->reused_maps_)
      return fail("loading BPF programs on the maps a previous rampartd pinned in " + opts.pin_dir +
                      " (if this build's maps differ, the old ones cannot be reused: stop enforcement by removing "
                      "the directory, rm -r " +
                      opts.pin_dir + ", and start again)",
                  -err);
    return fail("loading BPF programs (the verifier log above names the program)", -err);
  }
  if (auto r = p->attach(opts); !r) return tl::unexpected(r.error());
  // Ours are attached: a previous rampartd's links can go now, without a gap.
  if (auto r = p->pins_->replace_links("main_", p->links_); !r) return tl::unexpected(r.error());
  p->owns_pins_ = true;
  return p;
}

Result<void> Programs::attach(const LoadOptions& opts) {
  // Tail-call targets first, so the dispatcher never runs against a half-filled table.
  int table_fd = bpf_map__fd(skel_->maps.sys_exit_progs_map);
  for (const auto& t : sources::traced_syscalls()) {
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
  // The flags of each open in flight, for the fanotify guard; the dispatcher clears them at exit.
  if (auto r = attach_one(skel_->progs.open_flags_enter, "tp_btf/sys_enter"); !r) return r;
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
    if (auto r = attach_one(pp.prog, pp.hook); !r) return r;
  }
  if (bpf_program__autoload(skel_->progs.io_uring_submit))
    if (auto r = attach_one(skel_->progs.io_uring_submit, "tp_btf/io_uring_submit_req"); !r) return r;
  if (!opts.enforce_cgroup.empty() && bpf_program__autoload(skel_->progs.netguard_connect4)) {
    int cg = open(opts.enforce_cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return fail_errno("opening cgroup " + opts.enforce_cgroup + " for network enforcement");
    // The owner of every new socket first, then the packet cuts, then the
    // address checks (which also record owners).
    struct bpf_program* guards[] = {
        skel_->progs.netguard_sock_create, skel_->progs.netguard_egress,   skel_->progs.netguard_ingress,
        skel_->progs.netguard_connect4,    skel_->progs.netguard_connect6, skel_->progs.netguard_sendmsg4,
        skel_->progs.netguard_sendmsg6,    skel_->progs.netguard_bind4,    skel_->progs.netguard_bind6};
    for (auto* prog : guards) {
      if (!bpf_program__autoload(prog)) continue;
      // A link: it coexists with other programs on the cgroup and goes away with us.
      struct bpf_link* link = bpf_program__attach_cgroup(prog, cg);
      if (!link) {
        int err = errno;
        close(cg);
        return fail(std::string("attaching ") + bpf_program__name(prog) + " to cgroup " + opts.enforce_cgroup, err);
      }
      links_.push_back(link);
      attached_.push_back(std::string(bpf_program__name(prog)) + " on " + bpf_program__section_name(prog) + " at " +
                          opts.enforce_cgroup);
    }
    close(cg);
    netguard_attached_ = true;
    socket_cut_attached_ = bpf_program__autoload(skel_->progs.netguard_egress);
  }
  return {};
}

std::array<uint64_t, 2> Programs::quarantine_drops() const {
  std::array<uint64_t, 2> out{};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(skel_->maps.netcut_drops_map);
  for (uint32_t dir = 0; dir < 2; ++dir)
    if (bpf_map_lookup_elem(fd, &dir, per_cpu.data()) == 0)
      for (uint64_t n : per_cpu) out[dir] += n;
  return out;
}

namespace {

Result<void> update(struct bpf_map* map, const void* key, const void* value) {
  if (bpf_map_update_elem(bpf_map__fd(map), key, value, BPF_ANY) != 0)
    return fail_errno(std::string("updating ") + bpf_map__name(map));
  return {};
}

Result<void> remove(struct bpf_map* map, const void* key) {
  if (bpf_map_delete_elem(bpf_map__fd(map), key) != 0 && errno != ENOENT)
    return fail_errno(std::string("deleting from ") + bpf_map__name(map));
  return {};
}

}  // namespace

Result<void> Programs::set_policy_rule(uint32_t policy_id, const rp_policy_rule& rule) {
  if (policy_id == 0 || policy_id >= RP_MAX_POLICIES)
    return fail("policy id " + std::to_string(policy_id) + " out of range 1-" + std::to_string(RP_MAX_POLICIES - 1));
  return update(skel_->maps.policy_map, &policy_id, &rule);
}

namespace {

// An LPM key is {prefixlen, policy id, address}; prefixlen covers the id's 32 bits too.
template <typename Key, size_t N>
Result<void> add_net(struct bpf_map* map, uint32_t policy_id, const uint8_t (&addr)[N], uint8_t prefix_len,
                     const rp_port_set& ports) {
  static_assert(sizeof(Key::addr) == N);
  Key k{};
  k.prefixlen = 32 + prefix_len;
  k.policy_id = policy_id;
  std::memcpy(k.addr, addr, N);
  return update(map, &k, &ports);
}

}  // namespace

Result<void> Programs::add_net4(enforce::NetList list, uint32_t policy_id, const uint8_t (&addr)[4], uint8_t prefix_len,
                                const rp_port_set& ports) {
  auto* map = list == enforce::NetList::kDeny ? skel_->maps.net_deny4_map : skel_->maps.net_allow4_map;
  return add_net<rp_net4_key>(map, policy_id, addr, prefix_len, ports);
}

Result<void> Programs::add_net6(enforce::NetList list, uint32_t policy_id, const uint8_t (&addr)[16],
                                uint8_t prefix_len, const rp_port_set& ports) {
  auto* map = list == enforce::NetList::kDeny ? skel_->maps.net_deny6_map : skel_->maps.net_allow6_map;
  return add_net<rp_net6_key>(map, policy_id, addr, prefix_len, ports);
}

Result<void> Programs::assign_exe(const rp_exe_key& exe, uint32_t policy_id) {
  return update(skel_->maps.exe_policy_map, &exe, &policy_id);
}

Result<void> Programs::assign_process(uint32_t tgid, uint32_t policy_id) {
  if (policy_id == 0) return remove(skel_->maps.proc_policy_map, &tgid);
  return update(skel_->maps.proc_policy_map, &tgid, &policy_id);
}

Result<void> Programs::assign_cgroup(uint64_t cgroup_id, uint32_t policy_id) {
  if (policy_id == 0) return remove(skel_->maps.cgroup_policy_map, &cgroup_id);
  return update(skel_->maps.cgroup_policy_map, &cgroup_id, &policy_id);
}

Result<void> Programs::set_verdict(uint32_t tgid, const rp_verdict& v) {
  if (v.flags == 0) return remove(skel_->maps.verdict_map, &tgid);
  return update(skel_->maps.verdict_map, &tgid, &v);
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
      t.total.rate_limited += per_cpu[cpu].rate_limited;
      t.dropped_per_cpu[cpu] = per_cpu[cpu].dropped;
    }
  }
  return out;
}

std::vector<rp_loss> Programs::drain_losses() const {
  std::vector<rp_loss> out;
  int fd = bpf_map__fd(skel_->maps.loss_map);
  uint32_t key = 0, next = 0;
  // Keys are collected first: deleting while walking restarts get_next_key.
  std::vector<uint32_t> keys;
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0 && keys.size() < 65536) {
    keys.push_back(next);
    key = next;
    first = false;
  }
  for (uint32_t k : keys) {
    rp_loss l{};
    if (bpf_map_lookup_and_delete_elem(fd, &k, &l) == 0) {
      out.push_back(l);
    } else if (errno != ENOENT && bpf_map_lookup_elem(fd, &k, &l) == 0) {
      // Kernels before 5.14 cannot lookup-and-delete a hash entry: a loss
      // recorded between these two calls is not named (still counted).
      bpf_map_delete_elem(fd, &k);
      out.push_back(l);
    }
  }
  return out;
}

}  // namespace rampart::bpf
