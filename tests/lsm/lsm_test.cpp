// lsm tier: the BPF LSM path, on kernels that have it (run by tests/vm in
// QEMU on Debian's kernels). rampartd must choose LSM after its self-test;
// refusals are EPERM from the hook, the caller survives, nobody is killed;
// and rampartd protects itself from other root processes.
#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "support/files.h"
#include "support/policed.h"

using nlohmann::json;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;
using rampart::testing::ScratchTmpfs;
using rampart::testing::slurp;

namespace {

// No exec marks, no sensitive paths: under LSM the config's fanotify keys do nothing anyway.
const std::string& kConfig = rampart::testing::kScopedConfig;

}  // namespace

TEST_CASE("LSM: rampartd chooses BPF LSM, and a non-allowed exec fails with EPERM while the caller survives", "[lsm]") {
  ScratchTmpfs fs;
  std::string allowed = fs.install("/bin/true", "allowed-true");
  std::string denied = fs.install("/usr/bin/touch", "denied-touch");
  std::string marker = fs.dir + "/marker";
  PolicedBash s("enforce", "  allow:\n    exec: [\"" + fs.path + "/allowed-*\", \"/usr/bin/*\"]\n", kConfig, fs.dir);
  REQUIRE(s.ready());
  INFO(s.stderr_text());
  REQUIRE(s.lsm());
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
  CHECK(enforce[0]["mechanism"] == "bpf_lsm");
  CHECK(enforce[0]["action"] == "denied");
  CHECK(enforce[0]["path"] == denied);
}

TEST_CASE("LSM: an open for writing of a denied path fails with EPERM and the file is unchanged", "[lsm]") {
  ScratchTmpfs fs;
  std::string target = fs.path + "/protected.txt";
  std::ofstream(target) << "original\n";
  std::string spec = "  deny:\n    - id: protect\n      files: { write: [\"" + target + "\"] }\n      weight: 1\n";
  PolicedBash s("enforce", spec, kConfig, fs.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  auto [code, out] =
      run_shell(s.bash(), "echo overwritten > " + target + "; echo rc=$?; read -r l < " + target + " && echo read=$l");
  INFO(out);
  CHECK(out.find("rc=1") != std::string::npos);
  CHECK(out.find("read=original") != std::string::npos);  // reading stays allowed: the hook knows the mode
  CHECK(slurp(target) == "original\n");
  auto enforce = s.enforce_events();
  REQUIRE(enforce.size() == 1);
  CHECK(enforce[0]["mechanism"] == "bpf_lsm");
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
      CHECK(e["mechanism"] == "bpf_lsm");
      CHECK(e["action"] == "denied");
    }
  CHECK(seen);
}

TEST_CASE("LSM: another root process can neither kill rampartd nor open its maps, and the attempt is reported",
          "[lsm]") {
  ScratchTmpfs fs;
  PolicedBash s("audit", "  allow:\n    exec: [\"/usr/bin/*\"]\n", kConfig, fs.dir);
  REQUIRE(s.ready());
  REQUIRE(s.lsm());
  const pid_t daemon = s.pid();
  REQUIRE(daemon > 0);
  // run_shell forks a child that execs bash: a root process that is not rampartd's supervisor (this test).
  auto [code, out] = run_shell("/bin/bash", "kill -9 " + std::to_string(daemon) + "; echo kill-rc=$?; " +
                                                "/usr/sbin/bpftool map dump name verdict_map; echo dump-rc=$?");
  INFO(out);
  CHECK(out.find("kill-rc=1") != std::string::npos);
  CHECK(out.find("dump-rc=0") == std::string::npos);
  CHECK(kill(daemon, 0) == 0);  // still running
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(kill(daemon, 0) == 0);
  int signal_alerts = 0, map_alerts = 0;
  for (const auto& e : s.enforce_events()) {
    if (e["reason"] != "self_protection") continue;
    CHECK(e["mechanism"] == "bpf_lsm");
    if (e["op"] == "signal") ++signal_alerts;
    if (e["op"] == "bpf") ++map_alerts;
  }
  CHECK(signal_alerts >= 1);
  CHECK(map_alerts >= 1);
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
  for (const auto& e : enforce) CHECK(e["mechanism"] == "bpf_lsm");
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
