// The feature probe: what this kernel offers Rampart, found by trying it
// (loading minimal programs and maps), not by reading version numbers. The
// result is the capability matrix rampartd prints at start and later picks
// its enforcement mechanisms from.
#pragma once

#include <string>
#include <vector>

namespace rampart::bpf {

struct Capability {
  std::string name;
  bool available = false;
  std::string detail;  // why not, or where
};

struct Capabilities {
  bool btf = false;
  bool ringbuf = false;
  bool user_ringbuf = false;
  bool tp_btf = false;
  bool raw_tracepoint = false;
  bool trampolines = false;   // fentry/fexit load
  bool lsm_listed = false;    // "bpf" in /sys/kernel/security/lsm
  bool lsm_loadable = false;  // an lsm/ program loads
  // An fmod_ret program on security_file_open loads: the LSM programs can
  // run on the security_*() functions where BPF LSM is not active.
  bool fmod_ret = false;
  bool cgroup_sock_addr = false;
  // cgroup skb programs and socket storage in the cgroup sock, sock_addr and
  // skb programs: quarantine cuts sockets that already exist.
  bool socket_cut = false;
  // cgroup skb programs may read the current task: a quarantined process's
  // first send on a socket it did not create takes the socket in the kernel.
  bool send_take = false;
  bool send_signal = false;
  bool kprobes = false;
  bool override_return = false;
  std::string cgroup2_mount;  // "" when cgroup v2 is not mounted

  bool lsm_active() const { return lsm_listed && lsm_loadable; }
  std::vector<Capability> matrix() const;
};

Capabilities probe_kernel();

// The matrix as aligned text lines, for the start-up banner.
std::string format_matrix(const Capabilities& caps);

}  // namespace rampart::bpf
