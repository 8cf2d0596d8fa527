// Kernel feature probing; see probe.h.
#include "bpf/probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bpf/mounts.h"

namespace rampart::bpf {
namespace {

// Loads "r0 = 0; exit" as a tracing/LSM program attached (not yet attached,
// only verified) to kernel function `func`. Returns 0 or -errno.
int try_load_btf_prog(bpf_prog_type type, bpf_attach_type attach, const char* func, int kind = BTF_KIND_FUNC) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return -errno;
  int id = btf__find_by_name_kind(vmlinux, func, kind);
  btf__free(vmlinux);
  if (id < 0) return id;
  const struct bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(type, "rp_probe", "GPL", insns, 2, &opts);
  if (fd < 0) return -errno;
  close(fd);
  return 0;
}

bool file_lists(const char* path, const std::string& word) {
  std::ifstream in(path);
  std::string content;
  std::getline(in, content);
  std::stringstream ss(content);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == word) return true;
  return false;
}

std::string errtext(int err) { return err ? std::strerror(-err) : ""; }

}  // namespace

Capabilities probe_kernel() {
  Capabilities c;
  c.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  c.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  c.user_ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_USER_RINGBUF, nullptr) == 1;
  c.raw_tracepoint = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr) == 1;
  c.cgroup_sock_addr = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, nullptr) == 1;
  c.socket_cut = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, nullptr) == 1 &&
                 libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_sk_storage_get, nullptr) == 1 &&
                 libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_sk_storage_get, nullptr) == 1 &&
                 libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_sk_storage_get, nullptr) == 1;
  c.send_take = c.socket_cut &&
                libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_current_pid_tgid, nullptr) == 1 &&
                libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_current_task_btf, nullptr) == 1 &&
                libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_skc_to_tcp_sock, nullptr) == 1;
  c.send_signal = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal, nullptr) == 1;
  c.override_return = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_override_return, nullptr) == 1;
  if (c.btf) {
    // tp_btf programs attach to a tracepoint's btf_trace_* typedef; sched_process_exec is ours.
    c.tp_btf = try_load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, "btf_trace_sched_process_exec",
                                 BTF_KIND_TYPEDEF) == 0;
    c.trampolines = try_load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "security_file_open") == 0;
    c.lsm_loadable = try_load_btf_prog(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open") == 0;
    c.fmod_ret = try_load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, "security_file_open") == 0;
  }
  c.lsm_listed = file_lists("/sys/kernel/security/lsm", "bpf");
  c.kprobes = access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 ||
              access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0;
  c.cgroup2_mount = find_mount("cgroup2");
  return c;
}

std::vector<Capability> Capabilities::matrix() const {
  int fentry_err = 0, lsm_err = 0, fmod_err = 0;
  if (btf && !trampolines)
    fentry_err = try_load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "security_file_open");
  if (btf && !fmod_ret) fmod_err = try_load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, "security_file_open");
  if (btf && !lsm_loadable) lsm_err = try_load_btf_prog(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open");
  std::string lsm_detail;
  if (lsm_active())
    lsm_detail = "active: listed in /sys/kernel/security/lsm and loadable";
  else if (!lsm_listed)
    lsm_detail =
        std::string("'bpf' not in /sys/kernel/security/lsm") + (lsm_loadable ? "" : "; load: " + errtext(lsm_err));
  else
    lsm_detail = "listed, but an lsm program does not load: " + errtext(lsm_err);
  return {
      {"kernel BTF", btf, btf ? "/sys/kernel/btf/vmlinux" : "missing: CONFIG_DEBUG_INFO_BTF=y needed"},
      {"ring buffer", ringbuf, ""},
      {"user ring buffer", user_ringbuf, ""},
      {"tp_btf tracepoints", tp_btf, ""},
      {"raw tracepoints", raw_tracepoint, ""},
      {"fentry/fexit (trampolines)", trampolines, trampolines ? "" : "load: " + errtext(fentry_err)},
      {"BPF LSM", lsm_active(), lsm_detail},
      {"fmod_ret on security_*()", fmod_ret,
       !fmod_ret      ? (btf ? "load: " + errtext(fmod_err) : "no kernel BTF")
       : lsm_active() ? "not needed: BPF LSM is active"
                      : "the LSM programs run here instead: refusals with EPERM without BPF LSM"},
      {"cgroup socket hooks", cgroup_sock_addr && !cgroup2_mount.empty(),
       cgroup2_mount.empty() ? "cgroup v2 not mounted" : ""},
      {"cgroup skb hooks", socket_cut && !cgroup2_mount.empty(),
       !socket_cut ? "no socket storage in cgroup programs"
       : send_take ? "quarantine cuts existing sockets, and takes a passed one at its first send"
                   : "quarantine cuts existing sockets; passed ones only through the fd scan (no current task in skb "
                     "programs)"},
      {"cgroup v2", !cgroup2_mount.empty(), cgroup2_mount},
      {"bpf_send_signal", send_signal, ""},
      {"kprobes", kprobes, kprobes ? "" : "no kprobe_events in tracefs (CONFIG_KPROBES off)"},
      {"bpf_override_return", override_return, ""},
  };
}

std::string format_matrix(const Capabilities& caps) {
  std::string out;
  for (const auto& c : caps.matrix()) {
    std::string line = "  " + c.name;
    line.resize(32, ' ');
    line += c.available ? "yes" : "no ";
    if (!c.detail.empty()) line += "  " + c.detail;
    out += line + "\n";
  }
  return out;
}

}  // namespace rampart::bpf
