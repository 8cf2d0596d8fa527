// Unit tests for the built-in rules: each rule fires on its trigger, built
// as the kernel would emit it, and stays quiet on benign look-alikes.
#include "score/rules.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "score/violations.h"

using rampart::pipeline::ProcessTable;
using rampart::pipeline::ProcSnapshot;
using rampart::score::evaluate;
using rampart::score::RuleHit;

namespace {

// A record of type T, zeroed, header and identity filled.
template <typename T>
struct Rec {
  alignas(8) T r{};
  Rec(uint32_t type, uint32_t tgid = 100, uint32_t ppid = 1) {
    r.hdr.type = type;
    r.hdr.size = sizeof(T);
    r.hdr.ts_ns = 1'000'000'000;
    r.proc.pid = r.proc.tgid = tgid;
    r.proc.ppid = ppid;
    std::strcpy(r.proc.comm, "test");
  }
  rampart::sources::EventView view() const { return rampart::sources::EventView{&r.hdr}; }
};

std::set<std::string> ids(const rampart::sources::EventView& v, const ProcessTable& t,
                          rampart::score::ConnectHistory* connects = nullptr, bool bpf_expected = false) {
  std::vector<RuleHit> hits;
  evaluate(v, rampart::score::RuleContext{t, bpf_expected, connects}, hits);
  std::set<std::string> out;
  for (const auto& h : hits) out.insert(std::string(h.rule->id));
  return out;
}

Rec<rp_exec_event> exec_of(const char* file, uint32_t tgid = 100, uint32_t ppid = 1) {
  Rec<rp_exec_event> e(RP_EV_EXEC, tgid, ppid);
  std::strcpy(e.r.filename, file);
  return e;
}

Rec<rp_file_event> file_op(uint32_t type, const char* path, uint32_t flags = 0, uint32_t mode = 0, int64_t result = 3) {
  Rec<rp_file_event> e(type);
  std::strcpy(e.r.path, path);
  e.r.flags = flags;
  e.r.mode = mode;
  e.r.result = result;
  return e;
}

Rec<rp_syscall_event> sys(uint32_t type, uint64_t a0, int64_t result = 0) {
  Rec<rp_syscall_event> e(type);
  e.r.args[0] = a0;
  e.r.result = result;
  return e;
}

}  // namespace

TEST_CASE("every built-in rule has an id a MITRE technique a weight and a description", "[unit]") {
  const auto& rules = rampart::score::builtin_rules();
  CHECK(rules.size() >= 25);
  std::set<std::string_view> seen;
  for (const auto& r : rules) {
    CHECK(r.id.substr(0, 8) == "rampart.");
    CHECK(r.mitre.substr(0, 1) == "T");
    CHECK(r.weight > 0);
    CHECK(r.weight <= 100);
    CHECK_FALSE(r.description.empty());
    CHECK(seen.insert(r.id).second);
  }
}

TEST_CASE("exec rules: writable dirs and fileless and reverse shell and shell from a service", "[unit]") {
  ProcessTable t;
  CHECK(ids(exec_of("/tmp/x").view(), t) == std::set<std::string>{"rampart.exec.writable_dir"});
  CHECK(ids(exec_of("/dev/shm/x").view(), t).count("rampart.exec.writable_dir"));
  auto memfd = exec_of("/dev/fd/3");
  memfd.r.hdr.flags = RP_F_FILELESS | RP_F_MEMFD;
  CHECK(ids(memfd.view(), t) == std::set<std::string>{"rampart.exec.fileless"});
  auto flagged = exec_of("/bin/sh");
  flagged.r.hdr.flags = RP_F_STDIO_SOCKET;
  CHECK(ids(flagged.view(), t) == std::set<std::string>{"rampart.exec.reverse_shell"});
  CHECK(ids(exec_of("/bin/bash").view(), t).empty());

  ProcSnapshot nginx;
  nginx.tgid = 50;
  nginx.exe = "/usr/sbin/nginx";
  t.seed({nginx});
  CHECK(ids(exec_of("/bin/sh", 100, 50).view(), t).count("rampart.exec.shell_from_service"));
  CHECK(ids(exec_of("/usr/bin/python3.11", 100, 50).view(), t).count("rampart.exec.shell_from_service"));
  CHECK(ids(exec_of("/usr/bin/gzip", 100, 50).view(), t).empty());
}

TEST_CASE("persistence rules fire on writes and not on reads", "[unit]") {
  ProcessTable t;
  const int w = O_WRONLY | O_CREAT | O_APPEND;
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/crontab", w).view(), t).count("rampart.persistence.cron"));
  CHECK(ids(file_op(RP_EV_OPEN, "/var/spool/cron/crontabs/root", w).view(), t).count("rampart.persistence.cron"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/systemd/system/evil.service", w).view(), t).count("rampart.persistence.systemd"));
  CHECK(
      ids(file_op(RP_EV_OPEN, "/root/.ssh/authorized_keys", w).view(), t).count("rampart.persistence.authorized_keys"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/ld.so.preload", O_RDWR).view(), t).count("rampart.persistence.ld_preload"));
  // reading them is normal
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/crontab", O_RDONLY).view(), t).empty());
  CHECK(ids(file_op(RP_EV_OPEN, "/root/.ssh/authorized_keys", O_RDONLY).view(), t).empty());
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/ld.so.preload", O_RDONLY).view(), t).empty());
  // and a failed open did nothing
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/crontab", w, 0, -13).view(), t).empty());
}

TEST_CASE("shadow reads by unexpected binaries only", "[unit]") {
  ProcessTable t;
  ProcSnapshot cat, passwd;
  cat.tgid = 100;
  cat.exe = "/usr/bin/cat";
  passwd.tgid = 101;
  passwd.exe = "/usr/bin/passwd";
  t.seed({cat, passwd});
  auto by_cat = file_op(RP_EV_OPEN, "/etc/shadow");
  CHECK(ids(by_cat.view(), t).count("rampart.credentials.shadow_read"));
  auto by_passwd = file_op(RP_EV_OPEN, "/etc/shadow");
  by_passwd.r.proc.tgid = by_passwd.r.proc.pid = 101;
  CHECK(ids(by_passwd.view(), t).empty());
}

TEST_CASE("setuid bit and log and history tampering", "[unit]") {
  ProcessTable t;
  CHECK(ids(file_op(RP_EV_CHMOD, "/tmp/sh", 0, 04755, 0).view(), t) == std::set<std::string>{"rampart.chmod.setuid"});
  CHECK(ids(file_op(RP_EV_CHMOD, "/tmp/sh", 0, 0755, 0).view(), t).empty());
  CHECK(ids(file_op(RP_EV_UNLINK, "/var/log/auth.log", 0, 0, 0).view(), t).count("rampart.defense_evasion.log_tamper"));
  CHECK(ids(file_op(RP_EV_OPEN, "/var/log/wtmp", O_WRONLY | O_TRUNC).view(), t)
            .count("rampart.defense_evasion.log_tamper"));
  CHECK(ids(file_op(RP_EV_OPEN, "/var/log/syslog", O_WRONLY | O_APPEND).view(), t).empty());  // logging, not tampering
  CHECK(ids(file_op(RP_EV_UNLINK, "/root/.bash_history", 0, 0, 0).view(), t)
            .count("rampart.defense_evasion.history_tamper"));
  Rec<rp_rename_event> mv(RP_EV_RENAME);
  std::strcpy(mv.r.path, "/var/log/auth.log");
  std::strcpy(mv.r.path2, "/tmp/x");
  CHECK(ids(mv.view(), t).count("rampart.defense_evasion.log_tamper"));
}

TEST_CASE("process injection and kernel tampering and namespace rules", "[unit]") {
  ProcessTable t;
  CHECK(ids(sys(RP_EV_PTRACE, 16).view(), t) == std::set<std::string>{"rampart.ptrace.attach"});
  CHECK(ids(sys(RP_EV_PTRACE, 0).view(), t).empty());  // PTRACE_TRACEME
  CHECK(ids(sys(RP_EV_PROCESS_VM_WRITEV, 1234).view(), t).count("rampart.process_vm_writev"));
  CHECK(ids(sys(RP_EV_MODULE_LOAD, 3, -38).view(), t).count("rampart.module.load"));
  CHECK(ids(sys(RP_EV_BPF, 5).view(), t).count("rampart.bpf.prog_load"));
  CHECK(ids(sys(RP_EV_BPF, 1).view(), t).empty());  // a map lookup
  CHECK(ids(sys(RP_EV_UNSHARE, 0x20000).view(), t).count("rampart.namespace.change"));
  CHECK(ids(sys(RP_EV_SETNS, 3, -1).view(), t).empty());  // failed
}

TEST_CASE("benign look-alikes fire nothing", "[unit]") {
  ProcessTable t;
  CHECK(ids(exec_of("/usr/bin/ls").view(), t).empty());
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/hostname").view(), t).empty());
  CHECK(ids(file_op(RP_EV_OPEN, "/tmp/build/out.o", O_WRONLY | O_CREAT | O_TRUNC).view(), t).empty());
  CHECK(ids(file_op(RP_EV_UNLINK, "/tmp/ccXYZ.s", 0, 0, 0).view(), t).empty());
  CHECK(ids(file_op(RP_EV_CHMOD, "/usr/local/bin/tool", 0, 0755, 0).view(), t).empty());
}

TEST_CASE("hidden and netcat execs", "[unit]") {
  ProcessTable t;
  CHECK(ids(exec_of("/var/lib/x/.cache-helper").view(), t).count("rampart.exec.hidden_file"));
  CHECK(ids(exec_of("/usr/bin/ncat").view(), t).count("rampart.exec.netcat"));
  CHECK(ids(exec_of("/usr/bin/socat").view(), t).count("rampart.exec.netcat"));
  CHECK(ids(exec_of("/usr/bin/ncdu").view(), t).empty());
}

TEST_CASE("capset raising admin capabilities by a non-root process", "[unit]") {
  ProcessTable t;
  auto raise = sys(RP_EV_CAPSET, 0);
  raise.r.args[1] = 1ull << 21;  // CAP_SYS_ADMIN effective
  raise.r.proc.euid = 1000;
  CHECK(ids(raise.view(), t) == std::set<std::string>{"rampart.capset.admin"});
  auto drop = sys(RP_EV_CAPSET, 0);
  drop.r.args[1] = 1ull << 10;  // CAP_NET_BIND_SERVICE only
  drop.r.proc.euid = 1000;
  CHECK(ids(drop.view(), t).empty());
  auto as_root = sys(RP_EV_CAPSET, 0);
  as_root.r.args[1] = 1ull << 21;
  CHECK(ids(as_root.view(), t).empty());  // root already has it
}

TEST_CASE("writes to account files and profiles and init scripts and kernel handlers", "[unit]") {
  ProcessTable t;
  const int w = O_WRONLY | O_APPEND;
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/passwd", w).view(), t).count("rampart.persistence.account_files"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/sudoers.d/90-x", O_WRONLY | O_CREAT).view(), t)
            .count("rampart.persistence.account_files"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/passwd", O_RDONLY).view(), t).empty());
  CHECK(ids(file_op(RP_EV_OPEN, "/home/u/.bashrc", w).view(), t).count("rampart.persistence.shell_profile"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/profile.d/x.sh", O_WRONLY | O_CREAT).view(), t)
            .count("rampart.persistence.shell_profile"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/rc.local", w).view(), t).count("rampart.persistence.init_scripts"));
  CHECK(ids(file_op(RP_EV_OPEN, "/proc/sys/kernel/core_pattern", O_WRONLY).view(), t)
            .count("rampart.privilege.kernel_handlers"));
  CHECK(ids(file_op(RP_EV_OPEN, "/proc/sys/kernel/core_pattern", O_RDONLY).view(), t).empty());
}

TEST_CASE("tampering with rampart's own configuration", "[unit]") {
  ProcessTable t;
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/rampart/policies/web.yaml", O_WRONLY | O_TRUNC).view(), t)
            .count("rampart.defense_evasion.rampart_tamper"));
  CHECK(ids(file_op(RP_EV_UNLINK, "/etc/rampart/rampart.yaml", 0, 0, 0).view(), t)
            .count("rampart.defense_evasion.rampart_tamper"));
  CHECK(ids(file_op(RP_EV_OPEN, "/etc/rampart/rampart.yaml", O_RDONLY).view(), t).empty());
}

TEST_CASE("ssh private keys read by anything but the ssh tools", "[unit]") {
  ProcessTable t;
  ProcSnapshot cat, ssh;
  cat.tgid = 100;
  cat.exe = "/usr/bin/cat";
  ssh.tgid = 101;
  ssh.exe = "/usr/bin/ssh";
  t.seed({cat, ssh});
  CHECK(ids(file_op(RP_EV_OPEN, "/root/.ssh/id_ed25519").view(), t).count("rampart.credentials.ssh_private_key"));
  CHECK(ids(file_op(RP_EV_OPEN, "/root/.ssh/id_ed25519.pub").view(), t).empty());
  auto by_ssh = file_op(RP_EV_OPEN, "/root/.ssh/id_ed25519");
  by_ssh.r.proc.tgid = by_ssh.r.proc.pid = 101;
  CHECK(ids(by_ssh.view(), t).empty());
}

namespace {

Rec<rp_net_event> connect_to(std::initializer_list<uint8_t> addr, uint32_t tgid = 100, uint16_t family = RP_AF_INET) {
  Rec<rp_net_event> e(RP_EV_CONNECT, tgid);
  e.r.family = family;
  e.r.remote_port = 443;
  std::copy(addr.begin(), addr.end(), e.r.remote_addr);
  return e;
}

}  // namespace

TEST_CASE("the first outbound connect of an executable fires once, loopback never", "[unit]") {
  ProcessTable t;
  rampart::score::ConnectHistory seen;
  for (uint32_t pid : {100u, 200u}) {
    rampart::pipeline::ProcSnapshot s;
    s.tgid = pid;
    s.ppid = 1;
    s.comm = "curl";
    s.exe = "/usr/bin/curl";
    t.seed({s});
  }
  CHECK(ids(connect_to({127, 0, 0, 1}).view(), t, &seen).empty());
  CHECK(ids(connect_to({0, 0, 0, 0}).view(), t, &seen).empty());
  const std::string first = "rampart.network.first_connect";
  CHECK(ids(connect_to({192, 0, 2, 1}).view(), t, &seen) == std::set<std::string>{first});
  // Another process of the same executable, another peer: seen before.
  CHECK(ids(connect_to({198, 51, 100, 7}, 200).view(), t, &seen).empty());
  // IPv6 loopback and v4-mapped loopback are local; a global IPv6 peer is not.
  rampart::score::ConnectHistory seen6;
  std::initializer_list<uint8_t> v6_loop = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::initializer_list<uint8_t> v6_mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  std::initializer_list<uint8_t> v6_global = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(ids(connect_to(v6_loop, 100, RP_AF_INET6).view(), t, &seen6).empty());
  CHECK(ids(connect_to(v6_mapped, 100, RP_AF_INET6).view(), t, &seen6).empty());
  CHECK(ids(connect_to(v6_global, 100, RP_AF_INET6).view(), t, &seen6) == std::set<std::string>{first});
  // Without a history the rule is off.
  CHECK(ids(connect_to({192, 0, 2, 1}).view(), t).empty());
}

TEST_CASE("the connect history is bounded and forgets its oldest executable", "[unit]") {
  rampart::score::ConnectHistory h(2);
  CHECK(h.first("/a"));
  CHECK(h.first("/b"));
  CHECK_FALSE(h.first("/a"));
  CHECK(h.first("/c"));  // forgets /a
  CHECK(h.size() == 2);
  CHECK(h.forgotten() == 1);
  CHECK(h.first("/a"));
}

TEST_CASE("a BPF program load is expected only where the policy says bpf: true", "[unit]") {
  ProcessTable t;
  CHECK(ids(sys(RP_EV_BPF, 5).view(), t, nullptr, false).count("rampart.bpf.prog_load"));
  CHECK(ids(sys(RP_EV_BPF, 5).view(), t, nullptr, true).empty());
}

TEST_CASE("enforce events cost the deny rule's weight or the allow-list violation's", "[unit]") {
  auto set = rampart::policy::PolicySet::load_text(
      "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: web\nspec:\n  selector:\n"
      "    executables: [\"/usr/bin/web\"]\n  mode: enforce\n"
      "  deny:\n"
      "    - id: no-metadata\n      network: { connect: [\"169.254.169.254:80\"] }\n      action: kill\n      weight: "
      "70\n"
      "    - id: no-keys\n      files: { read: [\"/etc/keys/\"] }\n",
      "p.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  rampart::score::Violations v(*set);
  rp_enforce_event e{};
  e.policy_id = 1;
  e.op = RP_EV_CONNECT;
  e.reason = RP_REASON_DENY_RULE;
  e.family = 4;
  const uint8_t md[4] = {169, 254, 169, 254};
  std::memcpy(e.addr, md, 4);
  e.port = 80;
  auto m = v.match(e);
  REQUIRE(m.has_value());
  CHECK(m->rule->id == "no-metadata");
  CHECK(m->rule->weight == 70);
  REQUIRE(m->deny != nullptr);
  CHECK(m->deny->action == rampart::policy::Action::kKill);
  CHECK(m->detail.find("169.254.169.254:80") != std::string::npos);

  rp_enforce_event f{};
  f.policy_id = 1;
  f.op = RP_EV_OPEN;
  f.reason = RP_REASON_DENY_RULE;
  std::strcpy(f.path, "/etc/keys/a.pem");
  m = v.match(f);
  REQUIRE(m.has_value());
  CHECK(m->rule->id == "no-keys");
  CHECK(m->rule->weight == 50);  // the default

  f.reason = RP_REASON_NOT_ALLOWED;
  m = v.match(f);
  REQUIRE(m.has_value());
  CHECK(m->rule == &rampart::score::not_allowed_rule());
  CHECK(m->deny == nullptr);

  f.reason = RP_REASON_VERDICT;  // a quarantine's refusal costs nothing more
  CHECK_FALSE(v.match(f).has_value());
  f.reason = RP_REASON_DENY_RULE;
  f.policy_id = 9;  // not a policy of this set
  CHECK_FALSE(v.match(f).has_value());
}
