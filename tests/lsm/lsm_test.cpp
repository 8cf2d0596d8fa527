// lsm tier: the kernel's security hooks, on kernels that have them (run by
// tests/vm in QEMU on Debian's kernels): BPF LSM programs, or where BPF LSM is
// not active (lsm= without bpf) the same programs as fmod_ret programs on
// security_*(). rampartd must choose them after its self-test;
// refusals are EPERM from the hook, the caller survives, nobody is killed;
// and rampartd protects itself from other root processes.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "bpf/mounts.h"
#include "pipeline/process_table.h"
#include "support/files.h"
#include "support/net.h"
#include "support/policed.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::Listener;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;
using rampart::testing::ScratchCgroup;
using rampart::testing::ScratchTmpfs;
using rampart::testing::slurp;

namespace {

// This process's cgroup v2 directory.
std::string own_cgroup() {
  const std::string rel = rampart::pipeline::ProcReader().cgroup_path(static_cast<uint32_t>(getpid()));
  return rampart::bpf::find_mount("cgroup2") + (rel == "/" ? "" : rel);
}

// Moves this process into the cgroup v2 directory `dir`.
bool move_self(const std::string& dir) {
  std::ofstream procs(dir + "/cgroup.procs");
  procs << "0\n";
  procs.flush();
  return procs.good();
}

// No exec marks, no sensitive paths: under LSM the config's fanotify keys do nothing anyway.
const std::string& kConfig = rampart::testing::kScopedConfig;

}  // namespace

TEST_CASE(
    "LSM: rampartd chooses the kernel's security hooks (BPF LSM, or fmod_ret without it), and a non-allowed exec fails "
    "with EPERM",
    "[lsm]") {
  ScratchTmpfs fs;
  std::string allowed = fs.install("/bin/true", "allowed-true");
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string marker = fs.dir + "/marker";
  PolicedBash s("enforce", "  allow:\n    exec: [\"" + fs.path + "/allowed-*\", \"/usr/bin/*\"]\n", kConfig, fs.dir);
  REQUIRE(s.ready());
  INFO(s.stderr_text());
  REQUIRE(s.lsm());
  // The VM tier says which of the two it booted the kernel for.
  if (const char* want = std::getenv("RAMPART_VM_HOOKS")) CHECK(s.hooks_mechanism() == want);
  auto [code, out] = run_shell(s.bash(), allowed + " && echo ran-allowed; " + denied + " " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(out.find("ran-allowed") != std::string::npos);
  CHECK(out.find("rc=126") != std::string::npos);
  CHECK(out.find("Operation not permitted") != std::string::npos);
  CHECK(code == 0);
  CHECK_FALSE(std::filesystem::exists(marker));
  auto enforce = s.enforce_events();
  REQUIRE_FALSE(enforce.empty());
  CHECK(enforce[0]["op"] == "exec");
  CHECK(enforce[0]["mechanism"] == s.hooks_mechanism());
  CHECK(enforce[0]["action"] == "denied");
  CHECK(enforce[0]["path"] == denied);
}

TEST_CASE("LSM: an open for writing or a truncate(2) of a denied path fails with EPERM and the file is unchanged",
          "[lsm]") {
  ScratchTmpfs fs;
  std::string target = fs.path + "/protected.txt";
  std::ofstream(target) << "original\n";
  std::string spec = "  deny:\n    - id: protect\n      files: { write: [\"" + target + "\"] }\n      weight: 1\n";
  PolicedBash s("enforce", spec, kConfig, fs.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  auto [code, out] = run_shell(
      s.bash(), "echo overwritten > " + target + "; echo rc=$?; read -r l < " + target +
                    " && echo read=$l; perl -e 'truncate($ARGV[0], 0) or print \"truncate: $!\\n\"' " + target);
  INFO(out);
  CHECK(out.find("rc=1") != std::string::npos);
  CHECK(out.find("read=original") != std::string::npos);  // reading stays allowed: the hook knows the mode
  // truncate(2) opens nothing: path_truncate refuses it.
  CHECK(out.find("truncate: Operation not permitted") != std::string::npos);
  CHECK(slurp(target) == "original\n");
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() == 2);
  CHECK(enforce[0]["mechanism"] == s.hooks_mechanism());
  CHECK(enforce[0]["deny_rule"] == "protect");
}

TEST_CASE("LSM: a forbidden ptrace fails with EPERM instead of killing the tracer", "[lsm]") {
  ScratchTmpfs fs;
  PolicedBash s("enforce", "  allow:\n    privilege: { ptrace: false }\n", kConfig, fs.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  // The policed bash starts a sleeper and tries to attach to it through python's ctypes-free path: strace-less, so
  // use /proc: bash cannot ptrace by itself; gdb is not installed. A tiny C-free way: python3 with ctypes.
  std::string script =
      "sleep 5 & T=$!; /usr/bin/python3 -c 'import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); "
      "r=l.ptrace(16, int(sys.argv[1]), 0, 0); print(\"ptrace\", r, ctypes.get_errno())' $T; "
      "echo tracer-rc=$?; kill $T";
  auto [code, out] = run_shell(s.bash(), script);
  INFO(out);
  CHECK(out.find("ptrace -1 1") != std::string::npos);  // EPERM
  CHECK(out.find("tracer-rc=0") != std::string::npos);  // not killed
  bool seen = false;
  for (const auto& e : s.enforce_events())
    if (e["op"] == "ptrace") {
      seen = true;
      CHECK(e["mechanism"] == s.hooks_mechanism());
      CHECK(e["action"] == "denied");
    }
  CHECK(seen);
}

TEST_CASE(
    "LSM: another root process can neither kill rampartd (a signal, its cgroup's cgroup.kill) nor freeze it nor open "
    "its maps, and the attempt is reported",
    "[lsm]") {
  ScratchTmpfs fs;
  // rampartd starts in a cgroup of its own (outer/rampartd); this test, its
  // supervisor, goes back where it was, so the attacker below is nobody special.
  ScratchCgroup outer("selfprot"), other("selfprot-other");
  const std::string inner = outer.path() + "/rampartd";
  REQUIRE(mkdir(inner.c_str(), 0755) == 0);
  struct RemoveAfter {
    std::string dir;
    ~RemoveAfter() { rmdir(dir.c_str()); }
  } remove_inner{inner};
  const std::string home = own_cgroup();
  REQUIRE(move_self(inner));
  PolicedBash s("audit", "  allow:\n    exec: [\"/usr/bin/*\"]\n", kConfig, fs.dir);
  REQUIRE(move_self(home));
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  const pid_t daemon = s.pid();
  REQUIRE(daemon > 0);
  // run_shell forks a child that execs bash: a root process that is not rampartd's supervisor (this test).
  auto [code, out] =
      run_shell("/bin/bash", "kill -9 " + std::to_string(daemon) + "; echo kill-rc=$?; " +
                                 "/usr/sbin/bpftool map dump name verdict_map; echo dump-rc=$?; " + "echo 1 > " +
                                 inner + "/cgroup.kill; echo cgkill-rc=$?; " + "echo 1 > " + inner +
                                 "/cgroup.freeze; echo inner-freeze-rc=$?; " + "echo 1 > " + outer.path() +
                                 "/cgroup.freeze; echo outer-freeze-rc=$?; " +
                                 // Control: the same write to a cgroup rampartd is not in.
                                 "echo 1 > " + other.path() + "/cgroup.freeze; echo other-freeze-rc=$?; " +
                                 "echo 0 > " + other.path() + "/cgroup.freeze");
  INFO(out);
  // Whatever got through, thaw it before anything waits on rampartd.
  std::ofstream(inner + "/cgroup.freeze") << "0\n";
  std::ofstream(outer.path() + "/cgroup.freeze") << "0\n";
  CHECK(out.find("kill-rc=1") != std::string::npos);
  CHECK(out.find("dump-rc=0") == std::string::npos);
  CHECK(out.find("cgkill-rc=1") != std::string::npos);
  CHECK(out.find("inner-freeze-rc=1") != std::string::npos);
  CHECK(out.find("outer-freeze-rc=1") != std::string::npos);
  CHECK(out.find("other-freeze-rc=0") != std::string::npos);
  CHECK(kill(daemon, 0) == 0);  // still running
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(kill(daemon, 0) == 0);
  int signal_alerts = 0, map_alerts = 0, cgroup_alerts = 0;
  for (const auto& e : s.enforce_events()) {
    if (e["reason"] != "self_protection") continue;
    CHECK(e["mechanism"] == s.hooks_mechanism());
    if (e["op"] == "signal") ++signal_alerts;
    if (e["op"] == "bpf") ++map_alerts;
    if (e["op"] == "open") ++cgroup_alerts;
  }
  CHECK(signal_alerts >= 1);
  CHECK(map_alerts >= 1);
  CHECK(cgroup_alerts == 3);
}

TEST_CASE("LSM: a read-denied file read through a hard link, a bind mount and after a rename fails with EPERM",
          "[lsm]") {
  namespace fs = std::filesystem;
  ScratchTmpfs t;
  fs::create_directories(t.path + "/secret");
  fs::create_directories(t.path + "/elsewhere");
  std::vector<std::string> files;
  for (const char* name : {"control", "linked", "bound", "moved"}) {
    files.push_back(t.path + "/secret/" + name);
    std::ofstream(files.back()) << "secret\n";
  }
  std::string list;
  for (const auto& f : files) list += (list.empty() ? "\"" : ", \"") + f + "\"";
  PolicedBash s("enforce", "  deny:\n    - id: no-secret\n      files: { read: [" + list + "] }\n      weight: 1\n",
                kConfig, t.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  auto read_as = [&](const std::string& path) {
    return run_shell(s.bash(), "{ read -r l < '" + path + "' && echo \"got=$l\"; } 2>&1; echo rc=$?").second;
  };
  auto refused = [](const std::string& out) {
    INFO(out);
    CHECK(out.find("Operation not permitted") != std::string::npos);
    CHECK(out.find("got=") == std::string::npos);
  };
  refused(read_as(files[0]));  // control
  fs::create_hard_link(files[1], t.path + "/elsewhere/link");
  refused(read_as(t.path + "/elsewhere/link"));
  const std::string bind = t.path + "/bind";
  fs::create_directories(bind);
  REQUIRE(mount((t.path + "/secret").c_str(), bind.c_str(), nullptr, MS_BIND, nullptr) == 0);
  refused(read_as(bind + "/bound"));
  umount2(bind.c_str(), MNT_DETACH);
  fs::rename(files[3], t.path + "/elsewhere/moved");
  refused(read_as(t.path + "/elsewhere/moved"));
  auto enforce = s.enforce_events();
  CHECK(enforce.size() == 4);
  for (const auto& e : enforce) CHECK(e["mechanism"] == s.hooks_mechanism());
}

TEST_CASE("LSM: a denied binary run through a hard link or after mv fails with EPERM and runs nothing", "[lsm]") {
  namespace fs = std::filesystem;
  ScratchTmpfs t;
  const std::string tool = t.install("/usr/bin/touch", "denied-touch");
  PolicedBash s("enforce", "  deny:\n    - id: no-tool\n      exec: [\"" + tool + "\"]\n      weight: 1\n", kConfig,
                t.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  auto run = [&](const std::string& path, const std::string& marker) {
    auto out = run_shell(s.bash(), "'" + path + "' '" + marker + "'; echo rc=$?").second;
    INFO(out);
    CHECK(out.find("rc=126") != std::string::npos);
    CHECK_FALSE(fs::exists(marker));
  };
  run(tool, t.dir + "/m-control");
  fs::create_hard_link(tool, t.path + "/link");
  run(t.path + "/link", t.dir + "/m-link");
  fs::remove(t.path + "/link");
  fs::rename(tool, t.path + "/moved");
  run(t.path + "/moved", t.dir + "/m-moved");
  CHECK(s.enforce_events().size() == 3);
}

TEST_CASE(
    "LSM: the dynamic loader run as a program on a denied binary fails with EPERM: its executable mapping is refused",
    "[lsm]") {
  namespace fs = std::filesystem;
  ScratchTmpfs t;
  const std::string tool = t.install("/usr/bin/touch", "denied-touch");
  const std::string loader = fs::canonical("/lib64/ld-linux-x86-64.so.2");
  PolicedBash s("enforce", "  deny:\n    - id: no-tool\n      exec: [\"" + tool + "\"]\n      weight: 1\n", kConfig,
                t.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  // Control: the loader runs another program.
  run_shell(s.bash(), loader + " /usr/bin/mkdir " + t.dir + "/made");
  CHECK(fs::exists(t.dir + "/made"));
  fs::create_hard_link(tool, t.path + "/link");
  for (const std::string& path : {tool, t.path + "/link"}) {
    const std::string marker = t.dir + "/m-" + fs::path(path).filename().string();
    auto out = run_shell(s.bash(), loader + " " + path + " " + marker + " 2>&1; echo rc=$?").second;
    INFO(out);
    CHECK(out.find("rc=0") == std::string::npos);
    CHECK_FALSE(fs::exists(marker));
  }
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() >= 2);
  for (const auto& e : enforce) {
    CHECK(e["op"] == "exec");
    CHECK(e["mechanism"] == s.hooks_mechanism());
  }
}

namespace {

// The pins under `pins`/links, each with its link's info (read as rampartd's supervisor, this test, may).
std::vector<std::pair<std::string, bpf_link_info>> pinned_links(const std::string& pins) {
  std::vector<std::pair<std::string, bpf_link_info>> out;
  for (const auto& e : std::filesystem::directory_iterator(pins + "/links")) {
    int fd = bpf_obj_get(e.path().c_str());
    if (fd < 0) continue;
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) out.emplace_back(e.path().string(), info);
    close(fd);
  }
  return out;
}

// Runs `script` in a root shell that is neither rampartd nor its supervisor; "NAME-rc=N" per attempt.
std::string as_other_root(const std::string& script) { return run_shell("/bin/bash", script).second; }

}  // namespace

TEST_CASE(
    "LSM: another root process can neither detach rampartd's links (by id, by fd, through their pins or the cgroup) "
    "nor unlink or rename its pins, and a denied connect stays refused",
    "[lsm]") {
  namespace fs = std::filesystem;
  ScratchTmpfs t;
  Listener denied;
  const std::string pins = "/sys/fs/bpf/rampart-lsm-" + std::to_string(getpid());
  const std::string port = std::to_string(denied.port());
  PolicedBash s(
      "enforce",
      "  deny:\n    - id: no-port\n      network: { connect: [\"127.0.0.1:" + port + "\"] }\n      weight: 1\n",
      kConfig + "  pin_dir: " + pins + "\n", t.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  INFO(s.stderr_text());
  const std::string connect = "(exec 3<>/dev/tcp/127.0.0.1/" + port + ") 2>&1; echo connect-rc=$?";
  // The cgroup connect4 link: the one a detach would take the network deny rules away with.
  std::string cgroup_pin, lsm_pin;
  uint32_t cgroup_link = 0, cgroup_prog = 0;
  for (const auto& [path, info] : pinned_links(pins)) {
    if (info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.attach_type == BPF_CGROUP_INET4_CONNECT) {
      cgroup_pin = path;
      cgroup_link = info.id;
      cgroup_prog = info.prog_id;
    }
    if (path.find("/lsm_") != std::string::npos) lsm_pin = path;
  }
  REQUIRE(cgroup_link != 0);
  REQUIRE_FALSE(lsm_pin.empty());

  // Controls: the deny rule holds, and another root process may not signal rampartd.
  std::string out = run_shell(s.bash(), connect).second;
  INFO(out);
  REQUIRE(out.find("connect-rc=1") != std::string::npos);
  out = as_other_root("kill -TERM " + std::to_string(s.pid()) + "; echo kill-rc=$?");
  REQUIRE(out.find("kill-rc=1") != std::string::npos);

  // The attempts, each a way to take a program out without an fd to it.
  const std::string id = std::to_string(cgroup_link);
  const std::string moved = "/sys/fs/bpf/rampart-lsm-moved-" + std::to_string(getpid());
  // An fd to the link that another process already holds (taken before the protection began, or handed
  // over): ours, inherited by the shell, which tries BPF_LINK_DETACH on it.
  const int held = bpf_obj_get(cgroup_pin.c_str());
  REQUIRE(held >= 0);
  REQUIRE(fcntl(held, F_SETFD, 0) == 0);
  const std::string detach_fd =
      "/usr/bin/python3 -c 'import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); a=(ctypes.c_uint*8)(" +
      std::to_string(held) + "); r=l.syscall(" + std::to_string(SYS_bpf) + ", " + std::to_string(BPF_LINK_DETACH) +
      ", a, 32); print(\"link_detach\", r, ctypes.get_errno()); sys.exit(r != 0)'";
  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"detach-fd", detach_fd},
      {"detach-id", "bpftool link detach id " + id},               // BPF_LINK_GET_FD_BY_ID, then BPF_LINK_DETACH
      {"show-id", "bpftool link show id " + id},                   // the same fd, only held
      {"detach-pin", "bpftool link detach pinned " + cgroup_pin},  // BPF_OBJ_GET of the pin
      {"rm", "rm " + cgroup_pin},                                  // unlink the pin
      {"mv", "mv " + lsm_pin + " " + pins + "/moved"},             // rename the pin
      {"mv-dir", "mv " + pins + " " + moved},                      // rename the pin dir
      {"cgroup-detach", "bpftool cgroup detach /sys/fs/cgroup connect4 id " + std::to_string(cgroup_prog)},
  };
  std::string script;
  for (const auto& [name, cmd] : attempts) script += cmd + "; echo " + name + "-rc=$?; ";
  out = as_other_root(script);
  close(held);
  INFO(out);
  for (const auto& [name, cmd] : attempts) {
    INFO(cmd);
    CHECK(out.find(name + "-rc=0") == std::string::npos);
  }
  CHECK(out.find("Operation not permitted") != std::string::npos);
  std::error_code ec;
  const bool dir_moved = fs::exists(moved, ec);
  if (dir_moved) fs::rename(moved, pins, ec);  // put it back, for the checks below and rampartd's exit
  CHECK_FALSE(dir_moved);
  CHECK(fs::exists(cgroup_pin));
  CHECK(fs::exists(lsm_pin));

  // The deny rule still holds: the link is attached and still on its cgroup.
  out = run_shell(s.bash(), connect).second;
  INFO(out);
  CHECK(out.find("connect-rc=1") != std::string::npos);
  bool attached = false;
  for (const auto& [path, info] : pinned_links(pins))
    attached = attached || (info.id == cgroup_link && info.cgroup.cgroup_id != 0);
  CHECK(attached);
  int refusals = 0;
  for (const auto& e : s.enforce_events())
    if (e["reason"] == "self_protection") {
      CHECK(e["mechanism"] == s.hooks_mechanism());
      refusals += e["op"] == "bpf";
    }
  CHECK(refusals >= 7);  // one per attempt; the cgroup detach is refused at the program's fd
  fs::remove_all(pins, ec);
}

TEST_CASE("LSM: after rampartd's supervisor exits, a process on the supervisor's pid can neither ptrace nor kill it",
          "[lsm]") {
  namespace fs = std::filesystem;
  ScratchTmpfs t;
  // The supervisor: a shell that starts rampartd in a scratch cgroup and exits on SIGUSR1.
  const std::string cg = "/sys/fs/cgroup/rampart-lsm-reuse-" + std::to_string(getpid());
  REQUIRE(fs::create_directory(cg));
  const std::string supervisor = t.dir + "/supervisor.sh", pidfile = t.dir + "/rampartd.pid";
  std::ofstream(supervisor) << "#!/bin/bash\necho $$ > " << cg << "/cgroup.procs || exit 125\n"
                            << RAMPARTD_PATH << " \"$@\" &\necho $! > " << pidfile << "\ntrap 'exit 0' USR1\nwait\n";
  chmod(supervisor.c_str(), 0755);
  // We adopt rampartd when the supervisor goes: the adoption must not make us its supervisor either.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t daemon = -1;
  // Without its supervisor nobody but pid 1 may stop rampartd, nor write
  // its cgroup's cgroup.kill. What is left open ends it: moved into another
  // cgroup (a write of its pid to that cgroup's cgroup.procs, which no hook
  // can tell from any other), it dies with that cgroup's cgroup.kill.
  struct Cleanup {
    std::string cg;
    pid_t& daemon;
    ~Cleanup() {
      const std::string end = cg + "-end";
      mkdir(end.c_str(), 0755);
      if (daemon > 0) std::ofstream(end + "/cgroup.procs") << daemon << "\n";
      std::ofstream(end + "/cgroup.kill") << "1\n";
      if (daemon > 0) waitpid(daemon, nullptr, 0);
      for (const auto& dir : {cg, end})
        for (int i = 0; i < 100 && rmdir(dir.c_str()) != 0; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
  } cleanup{cg, daemon};
  PolicedBash s("audit", "  allow:\n    exec: [\"/usr/bin/*\"]\n", kConfig + "  pin_dir: \"\"\n", t.dir, supervisor);
  REQUIRE(s.ready());
  INFO(s.stderr_text());
  REQUIRE(s.lsm());
  const pid_t admin = s.pid();
  daemon = std::stoi(slurp(pidfile));
  REQUIRE(daemon > 0);

  // Control: an ordinary root process may not signal rampartd.
  std::string out = as_other_root("kill -KILL " + std::to_string(daemon) + "; echo kill-rc=$?");
  INFO(out);
  REQUIRE(out.find("kill-rc=1") != std::string::npos);

  // The supervisor exits; we reap it, so its pid is free.
  REQUIRE(kill(admin, SIGUSR1) == 0);
  s.wait_exit();
  REQUIRE(kill(daemon, 0) == 0);
  // Adopted, we are its parent now, and still refused.
  errno = 0;
  CHECK(kill(daemon, SIGKILL) == -1);
  CHECK(errno == EPERM);

  // The attempt: a process created on the supervisor's pid (clone3 with set_tid).
  int status = -1;
  for (int i = 0; i < 50 && status < 0; ++i) {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    pid_t want = admin;
    args.set_tid = reinterpret_cast<uintptr_t>(&want);
    args.set_tid_size = 1;
    long child = syscall(SYS_clone3, &args, sizeof(args));
    if (child == 0) {
      // Only raw system calls here: the test is multithreaded.
      int r = syscall(SYS_getpid) == admin ? 0 : 4;
      if (ptrace(PTRACE_SEIZE, daemon, nullptr, nullptr) == 0) r |= 1;
      if (kill(daemon, SIGKILL) == 0) r |= 2;
      _exit(r);
    }
    if (child < 0) {
      REQUIRE(errno == EEXIST);  // not yet free
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    REQUIRE(child == admin);
    waitpid(static_cast<pid_t>(child), &status, 0);
  }
  REQUIRE(status >= 0);
  REQUIRE(WIFEXITED(status));
  CHECK((WEXITSTATUS(status) & 4) == 0);  // it had the pid
  CHECK((WEXITSTATUS(status) & 1) == 0);  // ptrace refused
  CHECK((WEXITSTATUS(status) & 2) == 0);  // kill refused
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(kill(daemon, 0) == 0);
  // Reported: the control, the adoptive parent, then ptrace and kill from the reused pid.
  int refusals = 0;
  for (int i = 0; i < 100 && refusals < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    refusals = 0;
    for (const auto& e : s.events())
      refusals +=
          e["type"] == "enforce" && e["reason"] == "self_protection" && (e["op"] == "signal" || e["op"] == "ptrace");
  }
  CHECK(refusals >= 4);
}
