// Event → JSON line; the schema is in README.md.
#include "outputs/event_json.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <iterator>

#include "outputs/json_writer.h"
#include "sources/syscall_table.h"

namespace rampart::outputs {
namespace {

using sources::EventView;
using sources::fixed_str;

constexpr uint64_t kNone = ~0ull;
constexpr uint32_t kNoId = ~0u;

void flags_json(JsonWriter& w, uint32_t flags) {
  static constexpr struct {
    uint32_t bit;
    const char* name;
  } kFlags[] = {
      {RP_F_PATH_TRUNCATED, "path_truncated"},   {RP_F_PATH_RESOLVED, "path_resolved"},
      {RP_F_ARGS_TRUNCATED, "args_truncated"},   {RP_F_FILELESS, "fileless"},
      {RP_F_EXECVEAT_EMPTY, "execveat_fd"},      {RP_F_MEMFD, "memfd"},
      {RP_F_PATH2_TRUNCATED, "path2_truncated"}, {RP_F_PATH2_RESOLVED, "path2_resolved"},
      {RP_F_STDIO_SOCKET, "stdio_socket"},       {RP_F_INHERIT_FAILED, "inherit_failed"},
      {RP_F_NET_MAPPED, "ipv4_mapped"},          {RP_F_NET_UNSPECIFIED, "unspecified_address"},
      {RP_F_NET_TAKEN, "socket_taken"},          {RP_F_NET_LOOPBACK, "other_loopback"},
  };
  if (flags == 0) return;
  w.key("flags").begin_array();
  for (const auto& f : kFlags)
    if (flags & f.bit) w.value(f.name);
  w.end_array();
}

void result_json(JsonWriter& w, int64_t result) {
  w.field("result", result);
  if (result < 0 && result > -4096) {
    const char* name = strerrorname_np(static_cast<int>(-result));
    w.field("error", name ? name : "unknown");
  }
}

void syscall_json(JsonWriter& w, uint32_t nr) {
  auto name = sources::syscall_name(nr);
  if (!name.empty()) w.field("syscall", name);
}

void proc_json(JsonWriter& w, const rp_proc& p, const pipeline::ProcessInfo* info, const k8s::PodMap* pods) {
  w.key("proc").begin_object();
  w.field("pid", p.pid).field("tgid", p.tgid).field("ppid", p.ppid);
  w.field("uid", p.uid).field("gid", p.gid).field("euid", p.euid).field("egid", p.egid);
  w.field("comm", fixed_str(p.comm));
  if (info && !info->exe.empty()) w.field("exe", std::string_view(info->exe));
  w.field("start_ns", p.start_ns).field("cgroup_id", p.cgroup_id).field("mntns", p.mntns);
  if (info) {
    if (!info->cgroup_path.empty()) w.field("cgroup", std::string_view(info->cgroup_path));
    if (!info->container.id.empty()) w.field("container_id", std::string_view(info->container.id));
    if (!info->container.pod_uid.empty()) {
      w.field("pod_uid", std::string_view(info->container.pod_uid));
      if (pods)
        if (auto it = pods->find(info->container.pod_uid); it != pods->end()) {
          w.key("pod").begin_object();
          w.field("name", std::string_view(it->second.name)).field("namespace", std::string_view(it->second.ns));
          w.key("labels").begin_object();
          for (const auto& [k, v] : it->second.labels) w.field(k, std::string_view(v));
          w.end_object();
          w.end_object();
        }
    }
  }
  w.end_object();
}

void exec_json(JsonWriter& w, const rp_exec_event& e, const EventContext& ctx) {
  w.field("filename", fixed_str(e.filename));
  w.field("exe_name", fixed_str(e.exe_name));
  w.key("argv").begin_array();
  sources::for_each_arg(e, [&w](std::string_view arg) { w.value(arg); });
  w.end_array();
  w.field("argc", e.argc).field("old_pid", e.old_pid);
  w.field("exe_ino", e.exe_ino).field("exe_dev", e.exe_dev).field("exe_nlink", e.exe_nlink);
  w.field("fileless", (e.hdr.flags & RP_F_FILELESS) != 0);
  if (!ctx.replaced_exe.empty()) w.field("replaced_exe", ctx.replaced_exe);
}

void parent_json(JsonWriter& w, const rp_proc& p, const pipeline::ProcessTable* table, bool with_ancestry) {
  if (!table) return;
  const auto* parent = table->find(p.ppid);
  w.key("parent").begin_object();
  w.field("pid", p.ppid);
  if (parent) {
    w.field("comm", std::string_view(parent->comm));
    if (!parent->exe.empty()) w.field("exe", std::string_view(parent->exe));
  }
  w.end_object();
  if (!with_ancestry) return;
  w.key("ancestry").begin_array();
  for (const auto* a : table->ancestors(p.tgid, 8)) {
    w.begin_object().field("pid", a->tgid);
    if (!a->exe.empty()) w.field("exe", std::string_view(a->exe));
    w.end_object();
  }
  w.end_array();
}

void file_json(JsonWriter& w, uint32_t type, const rp_file_event& e) {
  syscall_json(w, e.syscall_nr);
  w.field("path", fixed_str(e.path));
  result_json(w, e.result);
  switch (type) {
    case RP_EV_OPEN: {
      w.field("open_flags", e.flags).field("mode", e.mode);
      uint32_t acc = e.flags & 3;
      w.field("access", acc == 0 ? "read" : acc == 1 ? "write" : "read_write");
      w.field("create", (e.flags & 0100) != 0).field("truncate", (e.flags & 01000) != 0);
      if (e.policy_id) w.field("policy_id", e.policy_id);
      break;
    }
    case RP_EV_UNLINK:
      w.field("rmdir", (e.flags & 0x200) != 0);
      break;
    case RP_EV_CHMOD:
      w.field("mode", e.mode).field("setuid", (e.mode & 04000) != 0).field("setgid", (e.mode & 02000) != 0);
      break;
    case RP_EV_CHOWN:
      w.key("owner_uid");
      e.uid == kNoId ? w.null() : w.value(e.uid);
      w.key("owner_gid");
      e.gid == kNoId ? w.null() : w.value(e.gid);
      break;
  }
}

void addr_json(JsonWriter& w, std::string_view name, uint16_t family, const uint8_t* addr, uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = "";
  inet_ntop(family == RP_AF_INET ? AF_INET : AF_INET6, addr, buf, sizeof(buf));
  w.key(name).begin_object().field("addr", std::string_view(buf)).field("port", static_cast<uint32_t>(port));
  w.end_object();
}

const char* sock_type_name(uint16_t t) {
  switch (t) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_DGRAM:
      return "dgram";
    case SOCK_RAW:
      return "raw";
    case SOCK_SEQPACKET:
      return "seqpacket";
    default:
      return "other";
  }
}

void net_json(JsonWriter& w, uint32_t type, const rp_net_event& e) {
  syscall_json(w, e.syscall_nr);
  w.field("family", e.family == RP_AF_INET ? "ipv4" : "ipv6");
  w.field("sock_type", sock_type_name(e.sock_type));
  w.field("fd", e.fd);
  addr_json(w, "local", e.family, e.local_addr, e.local_port);
  addr_json(w, "remote", e.family, e.remote_addr, e.remote_port);
  if (type == RP_EV_LISTEN) w.field("backlog", e.backlog);
  result_json(w, e.result);
}

void opt_id(JsonWriter& w, std::string_view k, uint64_t v) {
  if (v != kNone) w.field(k, v);
}

void hex_field(JsonWriter& w, std::string_view k, uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  w.field(k, std::string_view(buf));
}

const char* ptrace_request_name(uint64_t r) {
  switch (r) {
    case 0:
      return "traceme";
    case 4:
      return "poketext";
    case 5:
      return "pokedata";
    case 6:
      return "pokeuser";
    case 13:
      return "setregs";
    case 15:
      return "setfpregs";
    case 16:
      return "attach";
    case 0x4205:
      return "setregset";
    case 0x4206:
      return "seize";
    default:
      return "other";
  }
}

// IORING_OP_* names (include/uapi/linux/io_uring.h), in opcode order.
const char* io_uring_op_name(uint64_t op) {
  static constexpr const char* kOps[] = {"nop",
                                         "readv",
                                         "writev",
                                         "fsync",
                                         "read_fixed",
                                         "write_fixed",
                                         "poll_add",
                                         "poll_remove",
                                         "sync_file_range",
                                         "sendmsg",
                                         "recvmsg",
                                         "timeout",
                                         "timeout_remove",
                                         "accept",
                                         "async_cancel",
                                         "link_timeout",
                                         "connect",
                                         "fallocate",
                                         "openat",
                                         "close",
                                         "files_update",
                                         "statx",
                                         "read",
                                         "write",
                                         "fadvise",
                                         "madvise",
                                         "send",
                                         "recv",
                                         "openat2",
                                         "epoll_ctl",
                                         "splice",
                                         "provide_buffers",
                                         "remove_buffers",
                                         "tee",
                                         "shutdown",
                                         "renameat",
                                         "unlinkat",
                                         "mkdirat",
                                         "symlinkat",
                                         "linkat",
                                         "msg_ring",
                                         "fsetxattr",
                                         "setxattr",
                                         "fgetxattr",
                                         "getxattr",
                                         "socket",
                                         "uring_cmd",
                                         "send_zc",
                                         "sendmsg_zc",
                                         "read_multishot",
                                         "waitid",
                                         "futex_wait",
                                         "futex_wake",
                                         "futex_waitv",
                                         "fixed_fd_install",
                                         "ftruncate",
                                         "bind",
                                         "listen",
                                         "recv_zc",
                                         "epoll_wait",
                                         "readv_fixed",
                                         "writev_fixed",
                                         "pipe"};
  return op < std::size(kOps) ? kOps[op] : "other";
}

// A sockaddr as the process passed it to an io_uring connect (family first).
void io_uring_peer_json(JsonWriter& w, const char* raw) {
  uint16_t family = 0;
  std::memcpy(&family, raw, sizeof(family));
  uint16_t port_be = 0;
  std::memcpy(&port_be, raw + 2, sizeof(port_be));
  const uint16_t port = ntohs(port_be);
  if (family == AF_INET) addr_json(w, "remote", RP_AF_INET, reinterpret_cast<const uint8_t*>(raw + 4), port);
  // sockaddr_in6: port, flowinfo, then the address at offset 8 (24 bytes in all, within aux).
  if (family == AF_INET6) addr_json(w, "remote", RP_AF_INET6, reinterpret_cast<const uint8_t*>(raw + 8), port);
}

void namespaces_json(JsonWriter& w, uint64_t flags) {
  static constexpr struct {
    uint64_t bit;
    const char* name;
  } kNs[] = {{0x00020000, "mnt"},  {0x02000000, "cgroup"}, {0x04000000, "uts"}, {0x08000000, "ipc"},
             {0x10000000, "user"}, {0x20000000, "pid"},    {0x40000000, "net"}, {0x00000080, "time"}};
  w.key("namespaces").begin_array();
  for (const auto& n : kNs)
    if (flags & n.bit) w.value(n.name);
  w.end_array();
}

void syscall_event_json(JsonWriter& w, uint32_t type, const rp_syscall_event& e) {
  syscall_json(w, e.syscall_nr);
  result_json(w, e.result);
  const __u64* a = e.args;
  switch (type) {
    case RP_EV_SETUID:
    case RP_EV_SETGID: {
      bool uid = type == RP_EV_SETUID;
      opt_id(w, uid ? "ruid" : "rgid", a[0]);
      opt_id(w, uid ? "euid" : "egid", a[1]);
      opt_id(w, uid ? "suid" : "sgid", a[2]);
      opt_id(w, uid ? "fsuid" : "fsgid", a[3]);
      break;
    }
    case RP_EV_CAPSET:
      w.field("target_pid", a[0]);
      hex_field(w, "effective", a[1]);
      hex_field(w, "permitted", a[2]);
      hex_field(w, "inheritable", a[3]);
      break;
    case RP_EV_PTRACE:
      w.field("request", ptrace_request_name(a[0])).field("request_nr", a[0]).field("target_pid", a[1]);
      hex_field(w, "addr", a[2]);
      break;
    case RP_EV_PROCESS_VM_WRITEV:
      w.field("target_pid", a[0]).field("remote_iovcnt", a[1]);
      break;
    case RP_EV_MODULE_LOAD:
      if (a[0] != kNone) w.field("fd", static_cast<int64_t>(a[0]));
      if (a[1] != kNone) w.field("len", a[1]);
      w.field("path", fixed_str(e.str));
      break;
    case RP_EV_BPF:
      w.field("cmd", a[0]);
      if (a[1] != kNone) w.field(a[0] == 0 ? "map_type" : "prog_type", a[1]);
      break;
    case RP_EV_MOUNT:
      w.field("target", fixed_str(e.str)).field("fstype", fixed_str(e.aux));
      hex_field(w, "mount_flags", a[0]);
      break;
    case RP_EV_UMOUNT:
      w.field("target", fixed_str(e.str));
      hex_field(w, "umount_flags", a[0]);
      break;
    case RP_EV_UNSHARE:
      hex_field(w, "ns_flags", a[0]);
      namespaces_json(w, a[0]);
      break;
    case RP_EV_SETNS:
      w.field("fd", a[0]);
      hex_field(w, "nstype", a[1]);
      namespaces_json(w, a[1]);
      break;
    case RP_EV_MEMFD_CREATE:
      w.field("name", fixed_str(e.aux));
      hex_field(w, "memfd_flags", a[0]);
      break;
    case RP_EV_IO_URING:
      if (e.syscall_nr != RP_IO_URING_SUBMIT) {
        w.field("op", "setup").field("entries", a[0]);
        hex_field(w, "setup_flags", a[1]);
        break;
      }
      w.field("op", io_uring_op_name(a[0])).field("opcode", a[0]);
      w.field("fd", static_cast<int64_t>(static_cast<int32_t>(a[1])));
      w.field("user_data", a[2]).field("sq_thread", a[3] != 0);
      if (e.str[0]) w.field("path", fixed_str(e.str));
      if (a[0] == 16) io_uring_peer_json(w, e.aux);  // IORING_OP_CONNECT
      break;
  }
}

}  // namespace

const char* mechanism_name(uint8_t m) {
  switch (m) {
    case RP_MECH_CGROUP_SOCK:
      return "cgroup_sock_addr";
    case RP_MECH_LSM:
      return "bpf_lsm";
    case RP_MECH_FANOTIFY:
      return "fanotify";
    case RP_MECH_SIGKILL:
      return "sigkill";
    case RP_MECH_AFTER:
      return "rampartd_kill";
    case RP_MECH_CGROUP_SKB:
      return "cgroup_skb";
    case RP_MECH_FMOD_RET:
      return "bpf_fmod_ret";
    default:
      return "unknown";
  }
}

namespace {

void enforce_json(JsonWriter& w, const rp_enforce_event& e, const EventContext& ctx) {
  w.field("op", e.op == RP_OP_SIGNAL    ? "signal"
                : e.op == RP_OP_SEND    ? "send"
                : e.op == RP_OP_RECEIVE ? "receive"
                                        : sources::event_type_name(e.op));
  w.field("mechanism", mechanism_name(e.mechanism));
  w.field("action", e.action == RP_ACT_DENIED       ? "denied"
                    : e.action == RP_ACT_WOULD_DENY ? "would_deny"
                    : e.action == RP_ACT_KILLED     ? "killed"
                                                    : "unknown");
  w.field("reason", e.reason == RP_REASON_NOT_ALLOWED    ? "not_allowed"
                    : e.reason == RP_REASON_DENY_RULE    ? "deny_rule"
                    : e.reason == RP_REASON_VERDICT      ? "verdict"
                    : e.reason == RP_REASON_SELF_PROTECT ? "self_protection"
                                                         : "unknown");
  w.field("policy_id", e.policy_id);
  if (ctx.policy_names && e.policy_id >= 1 && e.policy_id <= ctx.policy_names->size())
    w.field("policy", std::string_view((*ctx.policy_names)[e.policy_id - 1]));
  // A refusal by a hook stops the operation before it happens; a kill at
  // syscall entry stops the process, but the syscall itself may complete.
  w.field("operation_completed", e.mechanism == RP_MECH_SIGKILL                                  ? "possibly"
                                 : e.mechanism == RP_MECH_AFTER || e.action == RP_ACT_WOULD_DENY ? "yes"
                                                                                                 : "no");
  if (!ctx.deny_rule.empty()) w.field("deny_rule", ctx.deny_rule);
  if (ctx.killed_by_rule) w.field("killed", true);
  if (e.path[0]) w.field("path", fixed_str(e.path));
  if (e.family == 4 || e.family == 6) {
    uint16_t fam = e.family == 4 ? RP_AF_INET : RP_AF_INET6;
    w.field("family", e.family == 4 ? "ipv4" : "ipv6");
    addr_json(w, e.op == RP_EV_BIND ? "local" : "remote", fam, e.addr, e.port);
    // The destination as the caller wrote it, when the decision was made on another form.
    const uint32_t given = e.hdr.flags & (RP_F_NET_MAPPED | RP_F_NET_UNSPECIFIED);
    if (e.hdr.flags & RP_F_NET_LOOPBACK) {  // decided on the other family's loopback
      if (given & RP_F_NET_UNSPECIFIED)
        w.field("given_addr", (given & RP_F_NET_MAPPED) ? "::ffff:0.0.0.0" : e.family == 4 ? "::" : "0.0.0.0");
      else
        w.field("given_addr", (given & RP_F_NET_MAPPED) ? "::ffff:127.0.0.1" : e.family == 4 ? "::1" : "127.0.0.1");
    } else if (given == RP_F_NET_MAPPED) {
      char buf[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, e.addr, buf, sizeof(buf));
      w.field("given_addr", "::ffff:" + std::string(buf));
    } else if (given) {
      w.field("given_addr", (given & RP_F_NET_MAPPED) ? "::ffff:0.0.0.0" : e.family == 4 ? "0.0.0.0" : "::");
    }
  }
}

void verdict_json(JsonWriter& w, const EventContext& ctx) {
  if (!ctx.hits || ctx.hits->empty()) return;
  w.key("rules").begin_array();
  for (const auto& h : *ctx.hits) {
    w.begin_object().field("id", h.rule->id);
    if (!h.rule->mitre.empty()) w.field("mitre", h.rule->mitre);
    w.field("weight", h.rule->weight);
    w.field("detail", std::string_view(h.detail)).end_object();
  }
  w.end_array();
  if (!ctx.verdict) return;
  const auto& v = *ctx.verdict;
  w.key("verdict").begin_object();
  w.field("score", v.score).field("level", score::level_name(v.level));
  w.field("previous_level", score::level_name(v.previous_level)).field("level_changed", v.level_changed);
  if (!v.policy.empty()) w.field("policy", std::string_view(v.policy));
  w.field("enforced", ctx.verdict_enforced);
  if (ctx.verdict_applied_ns) w.field("applied_ns", ctx.verdict_applied_ns);
  w.key("evidence").begin_array();
  for (const auto& e : v.evidence)
    w.begin_object().field("rule", std::string_view(e.rule_id)).field("weight", e.weight).end_object();
  w.end_array();
  if (v.evidence_dropped) w.field("evidence_dropped", v.evidence_dropped);
  w.end_object();
}

}  // namespace

std::string_view format_rfc3339(char (&buf)[40], int64_t realtime_ns) {
  // Events arrive in bursts within one second: format the date once per second.
  static thread_local int64_t cached_sec = -1;
  static thread_local char cached[32];
  int64_t sec = realtime_ns / 1'000'000'000;
  int64_t nsec = realtime_ns % 1'000'000'000;
  if (sec != cached_sec) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = sec;
  }
  int n = std::snprintf(buf, sizeof(buf), "%s.%09lldZ", cached, static_cast<long long>(nsec));
  return std::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

void append_event_json(std::string& out, const EventView& ev, const EventContext& ctx) {
  JsonWriter w(out);
  const rp_event_hdr& h = *ev.hdr;
  const rp_proc& p = ev.proc();
  const pipeline::ProcessInfo* info = ctx.table ? ctx.table->find(p.tgid) : nullptr;

  w.begin_object();
  w.field("v", kSchemaVersion);
  char time_buf[40];
  w.field("time", format_rfc3339(time_buf, static_cast<int64_t>(h.ts_ns) + ctx.boot_to_realtime_ns));
  w.field("boot_ns", h.ts_ns);
  w.field("type", sources::event_type_name(h.type));
  w.field("cpu", h.cpu);
  proc_json(w, p, info, ctx.pods);
  flags_json(w, h.flags);

  switch (h.type) {
    case RP_EV_EXEC:
      exec_json(w, ev.as<rp_exec_event>(), ctx);
      parent_json(w, p, ctx.table, true);
      break;
    case RP_EV_FORK: {
      const auto& e = ev.as<rp_fork_event>();
      w.field("child_pid", e.child_tgid).field("child_start_ns", e.child_start_ns);
      break;
    }
    case RP_EV_EXIT: {
      const auto& e = ev.as<rp_exit_event>();
      w.field("status", e.exit_code);
      w.field("exit_code", (e.exit_code >> 8) & 0xff).field("signal", e.exit_code & 0x7f);
      break;
    }
    case RP_EV_OPEN:
    case RP_EV_UNLINK:
    case RP_EV_CHMOD:
    case RP_EV_CHOWN:
      file_json(w, h.type, ev.as<rp_file_event>());
      break;
    case RP_EV_RENAME: {
      const auto& e = ev.as<rp_rename_event>();
      syscall_json(w, e.syscall_nr);
      w.field("old_path", fixed_str(e.path)).field("new_path", fixed_str(e.path2));
      hex_field(w, "rename_flags", e.flags);
      result_json(w, e.result);
      break;
    }
    case RP_EV_CONNECT:
    case RP_EV_ACCEPT:
    case RP_EV_BIND:
    case RP_EV_LISTEN:
      net_json(w, h.type, ev.as<rp_net_event>());
      break;
    case RP_EV_ENFORCE:
      enforce_json(w, ev.as<rp_enforce_event>(), ctx);
      break;
    default:
      syscall_event_json(w, h.type, ev.as<rp_syscall_event>());
      break;
  }
  verdict_json(w, ctx);
  w.end_object();
  out.push_back('\n');
}

}  // namespace rampart::outputs
