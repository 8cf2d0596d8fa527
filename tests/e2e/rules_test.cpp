// e2e tier: the built-in rules fire on real actions. One bash script, run
// under rampartd, performs each action; every action is harmless: files are
// created in a scratch dir (or created and removed at once), system files are
// opened for appending and closed without a byte written, and the kernel
// refuses the module load. The assertion: each rule id appears on an event
// of the script's process tree.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/files.h"
#include "support/rampartd.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::slurp;

TEST_CASE("built-in rules fire on real actions", "[e2e]") {
  const bool had_rampart_dir = std::filesystem::exists("/etc/rampart");
  // rampartd with only --output (its built-in config and rules); the
  // script's files go in its scratch dir.
  rampart::testing::Daemon daemon({.policy_dir = false, .dir_template = "/var/tmp/rampart-rules-XXXXXX"});
  REQUIRE(daemon.ready());
  const std::string& d = daemon.dir();

  // Attaches to, and writes into, a child of its own: ptrace and process_vm_writev.
  std::ofstream(d + "/inject.py") << R"PY(
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    time.sleep(3)
    os._exit(0)
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 8)
remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), 8)
libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
os.waitpid(pid, 0)
libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
os.kill(pid, 9)
os.waitpid(pid, 0)
)PY";

  // A real BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter.
  std::ofstream(d + "/bpfload.py") << R"PY(
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
insns = (ctypes.c_uint64 * 2)(0x00000000000000b7, 0x0000000000000095)
lic = ctypes.create_string_buffer(b"GPL")
attr = (ctypes.c_uint8 * 128)()
ctypes.c_uint32.from_buffer(attr, 0).value = 1            # BPF_PROG_TYPE_SOCKET_FILTER
ctypes.c_uint32.from_buffer(attr, 4).value = 2            # insn_cnt
ctypes.c_uint64.from_buffer(attr, 8).value = ctypes.addressof(insns)
ctypes.c_uint64.from_buffer(attr, 16).value = ctypes.addressof(lic)
fd = libc.syscall(321, 5, attr, 128)                      # bpf(BPF_PROG_LOAD)
if fd >= 0:
    os.close(fd)
)PY";

  // Drops to nobody keeping its capabilities, then raises CAP_SYS_ADMIN again.
  std::ofstream(d + "/capset.py") << R"PY(
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(8, 1, 0, 0, 0)                       # PR_SET_KEEPCAPS
os.setresuid(65534, 65534, 65534)
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)      # _LINUX_CAPABILITY_VERSION_3, this process
data = (ctypes.c_uint32 * 6)(1 << 21, 1 << 21, 0, 0, 0, 0)  # effective, permitted, inheritable (x2)
libc.capset(hdr, data)
)PY";

  // rule id -> the action that triggers it
  const std::vector<std::pair<std::string, std::string>> actions = {
      {"rampart.exec.writable_dir",
       "cp /bin/true /tmp/rp-rules-true-$$ && /tmp/rp-rules-true-$$; rm -f /tmp/rp-rules-true-$$"},
      {"rampart.exec.hidden_file", "cp /bin/true " + d + "/.hidden && " + d + "/.hidden"},
      {"rampart.chmod.setuid", "touch " + d + "/suid && chmod u+s " + d + "/suid"},
      {"rampart.persistence.cron", ": >> /etc/cron.rampart-test-$$; rm -f /etc/cron.rampart-test-$$"},
      {"rampart.persistence.systemd",
       "mkdir -p " + d + "/home/.config/systemd/user && : >> " + d + "/home/.config/systemd/user/x.service"},
      {"rampart.persistence.authorized_keys",
       "mkdir -p " + d + "/home/.ssh && : >> " + d + "/home/.ssh/authorized_keys"},
      {"rampart.persistence.account_files", ": >> /etc/passwd"},
      {"rampart.persistence.shell_profile", ": >> /etc/profile"},
      {"rampart.privilege.kernel_handlers", ": >> /proc/sys/kernel/core_pattern"},
      {"rampart.defense_evasion.rampart_tamper",
       "mkdir -p /etc/rampart && : >> /etc/rampart/rp-test-$$ && rm -f /etc/rampart/rp-test-$$"},
      {"rampart.credentials.shadow_read", "cat /etc/shadow > /dev/null"},
      {"rampart.credentials.ssh_private_key", "mkdir -p " + d + "/home/.ssh && echo k > " + d +
                                                  "/home/.ssh/id_ed25519 && cat " + d +
                                                  "/home/.ssh/id_ed25519 > /dev/null"},
      {"rampart.defense_evasion.log_tamper", ": > /var/log/rampart-test-$$.log && rm /var/log/rampart-test-$$.log"},
      {"rampart.defense_evasion.history_tamper",
       "echo ls > " + d + "/home/.bash_history && rm " + d + "/home/.bash_history"},
      {"rampart.namespace.change", "unshare --mount true"},
      {"rampart.exec.reverse_shell",
       "/usr/bin/python3 -c 'import socket,os; a,b=socket.socketpair(); os.dup2(b.fileno(),0); "
       "os.execv(\"/bin/sh\",[\"sh\",\"-c\",\"true\"])'"},
      {"rampart.exec.shell_from_service", "cp /bin/bash " + d + "/nginx && " + d + "/nginx -c '/bin/sh -c true; true'"},
      {"rampart.exec.fileless",
       "/usr/bin/python3 -c 'import os; f=os.memfd_create(\"rp\"); os.write(f, open(\"/bin/true\",\"rb\").read()); "
       "os.execv(\"/proc/self/fd/%d\" % f, [\"x\"])'"},
      {"rampart.ptrace.attach", "/usr/bin/python3 " + d + "/inject.py"},
      {"rampart.process_vm_writev", "/usr/bin/python3 " + d + "/inject.py"},
      {"rampart.exec.netcat", "cp /bin/true " + d + "/nc && " + d + "/nc"},
      {"rampart.persistence.init_scripts",
       "mkdir -p /etc/init.d && : >> /etc/init.d/rampart-test-$$ && rm -f /etc/init.d/rampart-test-$$"},
      {"rampart.capset.admin", "/usr/bin/python3 " + d + "/capset.py"},
      {"rampart.persistence.ld_preload",
       "if [ -e /etc/ld.so.preload ]; then : >> /etc/ld.so.preload; else : >> /etc/ld.so.preload; rm -f "
       "/etc/ld.so.preload; fi"},
      {"rampart.bpf.prog_load", "/usr/bin/python3 " + d + "/bpfload.py"},
      // A UDP connect only sets the peer: no packet leaves (192.0.2.1 is TEST-NET-1).
      {"rampart.network.first_connect",
       "cp /bin/bash " + d + "/netprobe && " + d + "/netprobe -c 'exec 3<>/dev/udp/192.0.2.1/9'"},
      {"rampart.module.load",
       "/usr/bin/python3 -c 'import ctypes,os; fd=os.open(\"/etc/hostname\",os.O_RDONLY); "
       "ctypes.CDLL(None).syscall(313, fd, b\"\", 0)'"},
  };
  std::string script;
  for (const auto& [id, action] : actions) script += "(" + action + ") >/dev/null 2>&1; ";
  script += "echo rules-done";

  auto child = rampart::testing::run_child([&] {
    int fd = open((d + "/script.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("HOME", (d + "/home").c_str(), 1);
    execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
    return 126;
  });
  REQUIRE(slurp(d + "/script.txt").find("rules-done") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  daemon.stop();
  if (!had_rampart_dir) std::filesystem::remove("/etc/rampart");

  // Which rules fired on the script's process tree.
  std::map<uint64_t, uint64_t> parent;
  const std::vector<json> evs = daemon.events();
  for (const auto& e : evs)
    if (e["type"] == "fork") parent[e["child_pid"].get<uint64_t>()] = e["proc"]["tgid"].get<uint64_t>();
  auto in_script = [&](uint64_t pid) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
      if (pid == static_cast<uint64_t>(child.pid)) return true;
      auto it = parent.find(pid);
      if (it == parent.end()) return false;
      pid = it->second;
    }
    return false;
  };
  std::set<std::string> fired;
  for (const auto& e : evs)
    if (e.contains("rules") && in_script(e["proc"]["tgid"].get<uint64_t>()))
      for (const auto& r : e["rules"]) fired.insert(r["id"].get<std::string>());
  for (const auto& [id, action] : actions) {
    INFO(id << " on: " << action);
    CHECK(fired.count(id) == 1);
  }
}
