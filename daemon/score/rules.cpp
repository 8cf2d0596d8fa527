// The built-in detection rules; see rules.h. Weights are the default points a
// hit costs; a policy can change them (scoring.weights).
#include "score/rules.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <algorithm>
#include <array>

#include "enforce/file_rules.h"

namespace rampart::score {
namespace {

using sources::fixed_str;

enum RuleIndex {
  kExecWritableDir,
  kExecFileless,
  kPtraceAttach,
  kProcessVmWritev,
  kSetuidBit,
  kModuleLoad,
  kBpfLoad,
  kCron,
  kSystemdUnit,
  kAuthorizedKeys,
  kLdPreload,
  kShadowRead,
  kNamespaceChange,
  kLogTamper,
  kHistoryTamper,
  kReverseShell,
  kShellFromService,
  kHiddenExec,
  kCapsetAdmin,
  kAccountFiles,
  kNetcat,
  kShellProfile,
  kInitScripts,
  kRampartTamper,
  kKernelHandlers,
  kSshPrivateKey,
  kFirstConnect,
  kRuleCount,
};

const std::vector<Rule> kRules = {
    {"rampart.exec.writable_dir", "T1204.002", 30, "exec of a file in /tmp, /var/tmp or /dev/shm"},
    {"rampart.exec.fileless", "T1620", 50, "exec of a memfd, a deleted file or an fd (fileless)"},
    {"rampart.ptrace.attach", "T1055.008", 40, "ptrace attach, seize or write to another process"},
    {"rampart.process_vm_writev", "T1055", 50, "process_vm_writev into another process"},
    {"rampart.chmod.setuid", "T1548.001", 40, "setuid or setgid bit set on a file"},
    {"rampart.module.load", "T1547.006", 60, "attempt to load a kernel module"},
    {"rampart.bpf.prog_load", "T1014", 30,
     "BPF program load by a process other than rampartd whose policy does not expect bpf()"},
    {"rampart.persistence.cron", "T1053.003", 40, "write to a cron table"},
    {"rampart.persistence.systemd", "T1543.002", 40, "write to a systemd unit directory"},
    {"rampart.persistence.authorized_keys", "T1098.004", 50, "write to an ssh authorized_keys file"},
    {"rampart.persistence.ld_preload", "T1574.006", 60, "write to /etc/ld.so.preload"},
    {"rampart.credentials.shadow_read", "T1003.008", 50, "/etc/shadow opened by a binary not expected to"},
    {"rampart.namespace.change", "T1611", 20, "unshare or setns into new namespaces"},
    {"rampart.defense_evasion.log_tamper", "T1070.002", 40, "log file under /var/log deleted, renamed or truncated"},
    {"rampart.defense_evasion.history_tamper", "T1070.003", 30, "shell history deleted or truncated"},
    {"rampart.exec.reverse_shell", "T1059.004", 70, "a shell whose stdin or stdout is a socket"},
    {"rampart.exec.shell_from_service", "T1059.004", 40, "a shell or interpreter started by a network service"},
    {"rampart.exec.hidden_file", "T1564.001", 30, "exec of a hidden file (name starting with '.')"},
    {"rampart.capset.admin", "T1548", 30, "capset raising CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE or CAP_BPF"},
    {"rampart.persistence.account_files", "T1136.001", 50, "write to /etc/passwd, /etc/shadow, /etc/group or sudoers"},
    {"rampart.exec.netcat", "T1095", 30, "exec of nc, ncat, netcat or socat"},
    {"rampart.persistence.shell_profile", "T1546.004", 30, "write to a shell profile or rc file"},
    {"rampart.persistence.init_scripts", "T1037.004", 40, "write to /etc/rc.local or /etc/init.d/"},
    {"rampart.defense_evasion.rampart_tamper", "T1562.001", 60, "write to or removal of Rampart's own configuration"},
    {"rampart.privilege.kernel_handlers", "T1611", 60, "write to /proc/sys/kernel/core_pattern or modprobe"},
    {"rampart.credentials.ssh_private_key", "T1552.004", 40,
     "an ssh private key read by a binary other than ssh tools"},
    {"rampart.network.first_connect", "T1071", 10,
     "first outbound (non-loopback) connect by an executable never seen connecting before"},
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_shell(std::string_view path) {
  static constexpr std::array<std::string_view, 12> kShells = {"sh",  "bash", "dash",    "zsh",    "ksh",  "fish",
                                                               "csh", "tcsh", "python3", "python", "perl", "ruby"};
  auto b = base_name(path);
  if (starts_with(b, "python3.")) return true;
  return std::find(kShells.begin(), kShells.end(), b) != kShells.end();
}

// Long-running network daemons whose children should not be shells.
bool is_network_service(std::string_view exe) {
  static constexpr std::array<std::string_view, 12> kServices = {"nginx",        "apache2",   "httpd",  "php-fpm",
                                                                 "node",         "java",      "mysqld", "postgres",
                                                                 "redis-server", "memcached", "tomcat", "lighttpd"};
  auto b = base_name(exe);
  return std::find(kServices.begin(), kServices.end(), b) != kServices.end();
}

bool is_write_open(const rp_file_event& e) { return enforce::access_from_flags(e.flags).write; }

void hit(std::vector<RuleHit>& out, RuleIndex r, std::string detail) { out.push_back({&kRules[r], std::move(detail)}); }

void on_exec(const rp_exec_event& e, const pipeline::ProcessTable& table, std::vector<RuleHit>& out) {
  std::string_view file = fixed_str(e.filename);
  if (starts_with(file, "/tmp/") || starts_with(file, "/var/tmp/") || starts_with(file, "/dev/shm/"))
    hit(out, kExecWritableDir, std::string(file));
  if (e.hdr.flags & RP_F_FILELESS)
    hit(out, kExecFileless, std::string(file) + " (" + std::string(fixed_str(e.exe_name)) + ")");
  if (auto b = base_name(file); b.size() > 1 && b.front() == '.') hit(out, kHiddenExec, std::string(file));
  {
    static constexpr std::array<std::string_view, 6> kNetcats = {"nc",         "ncat",           "netcat",
                                                                 "nc.openbsd", "nc.traditional", "socat"};
    if (std::find(kNetcats.begin(), kNetcats.end(), base_name(file)) != kNetcats.end())
      hit(out, kNetcat, std::string(file));
  }
  if (!is_shell(file)) return;
  // Checked in the kernel at exec: a read of /proc here would race with short-lived shells.
  if (e.hdr.flags & RP_F_STDIO_SOCKET) hit(out, kReverseShell, std::string(file) + " with stdin or stdout on a socket");
  if (const auto* parent = table.find(e.proc.ppid); parent && is_network_service(parent->exe))
    hit(out, kShellFromService, std::string(file) + " started by " + parent->exe);
}

void on_file(uint32_t type, const rp_file_event& e, const pipeline::ProcessTable& table, std::vector<RuleHit>& out) {
  std::string_view path = fixed_str(e.path);
  if (type == RP_EV_CHMOD) {
    if (e.result == 0 && (e.mode & (S_ISUID | S_ISGID))) hit(out, kSetuidBit, std::string(path));
    return;
  }
  bool history = ends_with(path, "/.bash_history") || ends_with(path, "/.zsh_history") || ends_with(path, "/.history");
  if (type == RP_EV_UNLINK) {
    if (e.result == 0 && starts_with(path, "/var/log/")) hit(out, kLogTamper, "unlink " + std::string(path));
    if (e.result == 0 && history) hit(out, kHistoryTamper, "unlink " + std::string(path));
    if (e.result == 0 && starts_with(path, "/etc/rampart/")) hit(out, kRampartTamper, "unlink " + std::string(path));
    return;
  }
  if (type != RP_EV_OPEN || e.result < 0) return;
  if (is_write_open(e)) {
    if (starts_with(path, "/etc/cron") || starts_with(path, "/var/spool/cron/")) hit(out, kCron, std::string(path));
    if (starts_with(path, "/etc/systemd/system/") || starts_with(path, "/lib/systemd/system/") ||
        starts_with(path, "/usr/lib/systemd/system/") || path.find("/.config/systemd/user/") != std::string_view::npos)
      hit(out, kSystemdUnit, std::string(path));
    if (ends_with(path, "/.ssh/authorized_keys") || ends_with(path, "/.ssh/authorized_keys2"))
      hit(out, kAuthorizedKeys, std::string(path));
    if (path == "/etc/ld.so.preload") hit(out, kLdPreload, std::string(path));
    if (path == "/etc/passwd" || path == "/etc/shadow" || path == "/etc/group" || path == "/etc/gshadow" ||
        path == "/etc/sudoers" || starts_with(path, "/etc/sudoers.d/"))
      hit(out, kAccountFiles, std::string(path));
    if (ends_with(path, "/.bashrc") || ends_with(path, "/.bash_profile") || ends_with(path, "/.profile") ||
        ends_with(path, "/.zshrc") || path == "/etc/profile" || starts_with(path, "/etc/profile.d/") ||
        path == "/etc/bash.bashrc")
      hit(out, kShellProfile, std::string(path));
    if (path == "/etc/rc.local" || starts_with(path, "/etc/init.d/")) hit(out, kInitScripts, std::string(path));
    if (starts_with(path, "/etc/rampart/")) hit(out, kRampartTamper, "write " + std::string(path));
    if (path == "/proc/sys/kernel/core_pattern" || path == "/proc/sys/kernel/modprobe")
      hit(out, kKernelHandlers, std::string(path));
    if ((e.flags & O_TRUNC) && starts_with(path, "/var/log/")) hit(out, kLogTamper, "truncate " + std::string(path));
    if ((e.flags & O_TRUNC) && history) hit(out, kHistoryTamper, "truncate " + std::string(path));
  }
  if (path == "/etc/shadow" || path == "/etc/gshadow") {
    static constexpr std::array<std::string_view, 16> kExpected = {
        "passwd",  "chpasswd", "login",    "sshd",  "su",   "sudo",  "unix_chkpwd",  "useradd",
        "usermod", "userdel",  "groupadd", "chage", "pwck", "grpck", "shadowconfig", "cron"};
    const auto* p = table.find(e.proc.tgid);
    std::string_view exe = p ? std::string_view(p->exe) : fixed_str(e.proc.comm);
    if (std::find(kExpected.begin(), kExpected.end(), base_name(exe)) == kExpected.end())
      hit(out, kShadowRead, std::string(path) + " by " + std::string(exe));
  }
  if (auto b = base_name(path); path.find("/.ssh/id_") != std::string_view::npos && !ends_with(b, ".pub")) {
    static constexpr std::array<std::string_view, 6> kSshTools = {"ssh",       "sshd",       "ssh-add",
                                                                  "ssh-agent", "ssh-keygen", "scp"};
    const auto* p = table.find(e.proc.tgid);
    std::string_view exe = p ? std::string_view(p->exe) : fixed_str(e.proc.comm);
    if (std::find(kSshTools.begin(), kSshTools.end(), base_name(exe)) == kSshTools.end())
      hit(out, kSshPrivateKey, std::string(path) + " by " + std::string(exe));
  }
}

void on_rename(const rp_rename_event& e, std::vector<RuleHit>& out) {
  std::string_view from = fixed_str(e.path);
  if (e.result == 0 && starts_with(from, "/var/log/")) hit(out, kLogTamper, "rename " + std::string(from));
}

bool is_local(const rp_net_event& e) {
  const uint8_t* a = e.remote_addr;
  if (e.family == RP_AF_INET) return a[0] == 127 || (a[0] | a[1] | a[2] | a[3]) == 0;
  if (e.family != RP_AF_INET6) return true;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(a, a + 12, kMapped)) return a[12] == 127 || (a[12] | a[13] | a[14] | a[15]) == 0;
  return std::all_of(a, a + 15, [](uint8_t b) { return b == 0; }) && (a[15] == 0 || a[15] == 1);  // :: and ::1
}

void on_connect(const rp_net_event& e, const RuleContext& ctx, std::vector<RuleHit>& out) {
  // Attempts count too: an unreachable peer is still an outbound try.
  if (!ctx.connects || is_local(e)) return;
  const auto* p = ctx.table.find(e.proc.tgid);
  std::string_view exe = p && !p->exe.empty() ? std::string_view(p->exe) : fixed_str(e.proc.comm);
  if (!ctx.connects->first(exe)) return;
  char addr[INET6_ADDRSTRLEN] = "?";
  inet_ntop(e.family == RP_AF_INET ? AF_INET : AF_INET6, e.remote_addr, addr, sizeof(addr));
  bool v6 = e.family == RP_AF_INET6;
  hit(out, kFirstConnect,
      std::string(exe) + " to " + (v6 ? "[" : "") + addr + (v6 ? "]:" : ":") + std::to_string(e.remote_port));
}

void on_syscall(uint32_t type, const rp_syscall_event& e, const RuleContext& ctx, std::vector<RuleHit>& out) {
  switch (type) {
    case RP_EV_PTRACE:
      if (e.args[0] != 0)  // PTRACE_TRACEME is the tracee asking; the rest act on another process
        hit(out, kPtraceAttach, "request " + std::to_string(e.args[0]) + " on pid " + std::to_string(e.args[1]));
      break;
    case RP_EV_PROCESS_VM_WRITEV:
      hit(out, kProcessVmWritev, "into pid " + std::to_string(e.args[0]));
      break;
    case RP_EV_MODULE_LOAD:
      hit(out, kModuleLoad, e.str[0] ? std::string(fixed_str(e.str)) : std::string("init_module"));
      break;
    case RP_EV_BPF:
      // rampartd's own calls never reach us.
      if (e.args[0] == 5 && !ctx.bpf_expected) hit(out, kBpfLoad, "BPF_PROG_LOAD");
      break;
    case RP_EV_UNSHARE:
    case RP_EV_SETNS:
      if (e.result == 0) hit(out, kNamespaceChange, type == RP_EV_UNSHARE ? "unshare" : "setns");
      break;
    case RP_EV_CAPSET: {
      // CAP_SYS_MODULE 16, CAP_SYS_PTRACE 19, CAP_SYS_ADMIN 21, CAP_BPF 39
      constexpr uint64_t kAdmin = (1ull << 16) | (1ull << 19) | (1ull << 21) | (1ull << 39);
      if (e.result == 0 && e.proc.euid != 0 && (e.args[1] & kAdmin)) hit(out, kCapsetAdmin, "effective caps");
      break;
    }
  }
}

}  // namespace

const std::vector<Rule>& builtin_rules() { return kRules; }

bool ConnectHistory::first(std::string_view exe) {
  if (seen_.find(std::string(exe)) != seen_.end()) return false;
  if (max_ == 0) return true;
  if (seen_.size() >= max_) {
    seen_.erase(order_.front());
    order_.pop_front();
    ++forgotten_;
  }
  seen_.emplace(exe);
  order_.emplace_back(exe);
  return true;
}

void evaluate(const sources::EventView& ev, const RuleContext& ctx, std::vector<RuleHit>& out) {
  static_assert(kRuleCount > 0);
  const pipeline::ProcessTable& table = ctx.table;
  switch (ev.type()) {
    case RP_EV_CONNECT:
      on_connect(ev.as<rp_net_event>(), ctx, out);
      break;
    case RP_EV_EXEC:
      on_exec(ev.as<rp_exec_event>(), table, out);
      break;
    case RP_EV_OPEN:
    case RP_EV_UNLINK:
    case RP_EV_CHMOD:
      on_file(ev.type(), ev.as<rp_file_event>(), table, out);
      break;
    case RP_EV_RENAME:
      on_rename(ev.as<rp_rename_event>(), out);
      break;
    case RP_EV_PTRACE:
    case RP_EV_CAPSET:
    case RP_EV_PROCESS_VM_WRITEV:
    case RP_EV_MODULE_LOAD:
    case RP_EV_BPF:
    case RP_EV_UNSHARE:
    case RP_EV_SETNS:
      on_syscall(ev.type(), ev.as<rp_syscall_event>(), ctx, out);
      break;
  }
}

}  // namespace rampart::score
