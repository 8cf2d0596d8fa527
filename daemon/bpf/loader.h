// The Rampart BPF programs as one unit: opens the embedded skeleton, sets the
// load-time knobs, switches off what the kernel or the config leaves out,
// loads, wires the sys_exit tail calls and attaches. Destroying it detaches
// everything and closes every fd.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/pins.h"
#include "bpf/probe.h"
#include "enforce/map_writer.h"
#include "shared/rp_abi.h"
#include "util/result.h"

struct rampart_bpf;
struct bpf_link;
struct bpf_object;

namespace rampart::bpf {

struct LoadOptions {
  uint32_t self_tgid = 0;              // filtered in the kernel
  uint32_t ringbuf_bytes = 16u << 20;  // power of two
  uint64_t wakeup_bytes = 256u << 10;
  // Kernel rate limits, events per second and burst (events), per process
  // and per cgroup; a rate of 0 turns that limit off.
  uint32_t process_rate = 0, process_burst = 0;
  uint32_t cgroup_rate = 0, cgroup_burst = 0;
  std::vector<uint32_t> excluded_events;  // RP_EV_* made only for governed processes, and not written out
  // cgroup v2 directory the network enforcement hooks attach to (the root
  // in production, a scratch cgroup in tests); "" leaves them out.
  std::string enforce_cgroup;
  // bpffs directory for the pins that let enforcement outlive rampartd; "" for none.
  std::string pin_dir;
};

struct TypeStats {
  rp_stats total{};
  std::vector<uint64_t> dropped_per_cpu;
};

class Programs : public enforce::MapWriter {
 public:
  static Result<std::unique_ptr<Programs>> load(const LoadOptions& opts, const Capabilities& caps);
  ~Programs();
  Programs(const Programs&) = delete;
  Programs& operator=(const Programs&) = delete;

  int ringbuf_fd() const;
  // Summed over CPUs, indexed by RP_EV_*.
  Result<std::array<TypeStats, RP_EV_MAX>> read_stats() const;
  // Reads and deletes every loss_map entry: the processes that lost events
  // since the previous call. Entries are taken one by one (lookup-and-delete),
  // so a loss the kernel records meanwhile lands in a new entry and is named
  // at the next call (before 5.14: lookup, then delete).
  std::vector<rp_loss> drain_losses() const;
  // "process_exec on tp_btf/sched_process_exec", ...
  const std::vector<std::string>& attached() const { return attached_; }
  size_t traced_syscall_count() const { return traced_syscalls_; }
  bool network_enforcement() const { return netguard_attached_; }
  // Whether quarantine also cuts existing sockets (the cgroup skb hooks are attached).
  bool socket_cut() const { return socket_cut_attached_; }
  // Packets dropped because their socket's owner is quarantined: {sent, received}.
  std::array<uint64_t, 2> quarantine_drops() const;
  // A socket's owner in the socket storage (netguard.bpf.c), keyed by a
  // socket fd of rampartd's own: read, and written. Only with socket_cut().
  std::optional<rp_sock_owner> socket_owner(int sock_fd) const;
  Result<void> set_socket_owner(int sock_fd, const rp_sock_owner& owner);
  // The processes whose verdict denies the network, fork inheritance included.
  std::vector<uint32_t> net_denied() const;
  int proc_policy_map_fd() const;
  int verdict_map_fd() const;
  int open_flags_map_fd() const;  // tid -> rp_open_flags of the open in flight
  // s_dev of the filesystems the fanotify guard marked for execs (process.bpf.c).
  int exec_marked_map_fd() const;
  int exec_deny_size_map_fd() const;
  // The policy id the kernel has for a process, 0 if none.
  uint32_t policy_of(uint32_t tgid) const;
  // The process's entry in verdict_map, if it has one.
  std::optional<rp_verdict> verdict_of(uint32_t tgid) const;
  // The loaded object, whose maps the BPF LSM object shares.
  ::bpf_object* object() const;
  // RP_PRIV_* that BPF LSM refuses: priv.bpf.c stops killing for them.
  void set_lsm_privileges(uint32_t mask);
  // The pins (always present; enabled() says whether pinning is on).
  PinDir& pins() const { return *pins_; }
  const std::vector<::bpf_link*>& links() const { return links_; }
  // How many enforcement maps were already pinned at load: a previous
  // rampartd's state, reused (0 on a fresh start).
  size_t reused_maps() const { return reused_maps_; }

  // enforce::MapWriter, on the real maps.
  Result<void> set_policy_rule(uint32_t policy_id, const rp_policy_rule& rule) override;
  Result<void> add_net4(enforce::NetList list, uint32_t policy_id, const uint8_t (&addr)[4], uint8_t prefix_len,
                        const rp_port_set& ports) override;
  Result<void> add_net6(enforce::NetList list, uint32_t policy_id, const uint8_t (&addr)[16], uint8_t prefix_len,
                        const rp_port_set& ports) override;
  Result<void> assign_exe(const rp_exe_key& exe, uint32_t policy_id) override;
  Result<void> assign_process(uint32_t tgid, uint32_t policy_id) override;
  Result<void> assign_cgroup(uint64_t cgroup_id, uint32_t policy_id) override;
  Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) override;

  // Policy reload (policy_maps.cpp). Ids in [lo, hi]: rules zeroed and
  // network entries deleted (unless exe_only), exe assignments deleted.
  Result<void> clear_policy_ids(uint32_t lo, uint32_t hi, bool exe_only = false);
  // Every (tgid, policy id) pair in proc_policy_map.
  std::vector<std::pair<uint32_t, uint32_t>> process_policies() const;

 private:
  Programs() = default;
  Result<void> attach(const LoadOptions& opts);

  rampart_bpf* skel_ = nullptr;
  std::unique_ptr<PinDir> pins_;
  size_t reused_maps_ = 0;
  bool owns_pins_ = false;  // started: an orderly exit removes the pins
  std::vector<::bpf_link*> links_;
  std::vector<std::string> attached_;
  size_t traced_syscalls_ = 0;
  bool netguard_attached_ = false;
  bool socket_cut_attached_ = false;
};

}  // namespace rampart::bpf
