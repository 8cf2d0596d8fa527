// Bypass tier, another name for the same object: a policed copy of bash
// reaches a denied file or binary through a hard link, a bind mount, a
// rename, a symlink a rule names, a path longer than 256 bytes, a byte copy,
// or the dynamic loader right after an allowed exec that failed. Deny rules hold by identity and
// by contents (daemon/enforce/file_identity.h). Each case first runs its
// control, the plain operation by the denied name, refused with EPERM.
// Files are read with bash's own `read` (bash opens them, no child process);
// binaries are the exec payload, whose first instructions create its marker
// file: no marker, nothing ran.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/files.h"
#include "support/policed.h"

using nlohmann::json;
using rampart::testing::exec_config;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;
using rampart::testing::ScratchTmpfs;
namespace fs = std::filesystem;

namespace {

const std::string kPayload = RAMPART_EXEC_PAYLOAD;
const std::string kLauncher = RAMPART_EXEC_LAUNCHER;
const std::string kSecret = "the secret";
const std::string kFilesConfig = "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n";

bool has(const std::string& out, const std::string& what) { return out.find(what) != std::string::npos; }

std::string deny_read(const std::vector<std::string>& paths) {
  std::string list;
  for (const auto& p : paths) list += (list.empty() ? "\"" : ", \"") + p + "\"";
  return "  deny:\n    - id: no-secret\n      files: { read: [" + list + "] }\n";
}

std::string deny_exec(const std::string& entry) {
  return "  deny:\n    - id: no-tool\n      exec: [\"" + entry + "\"]\n";
}

// bash reads the first line of path itself: "got=..." or its error, then rc.
std::string read_as(const PolicedBash& s, const std::string& path) {
  return run_shell(s.bash(), "{ read -r l < '" + path + "' && echo \"got=$l\"; } 2>&1; echo rc=$?").second;
}

void refused(const std::string& out) {
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  CHECK_FALSE(has(out, "got="));
}

std::string secret_in(const std::string& dir, const std::string& name = "key") {
  fs::create_directories(dir);
  const std::string p = dir + "/" + name;
  std::ofstream(p) << kSecret << "\n";
  return p;
}

std::vector<json> enforce_on(PolicedBash& s, const std::string& op) {
  std::vector<json> out;
  for (auto& e : s.enforce_events())
    if (e["op"] == op && e["action"] == "denied") out.push_back(std::move(e));
  return out;
}

// The payload run by the policed bash: its output and whether it ran.
bool payload_ran(const PolicedBash& s, const std::string& path, const std::string& marker, std::string& out) {
  out = run_shell(s.bash(), "'" + path + "' '" + marker + "'; echo rc=$?").second;
  return fs::exists(marker);
}

}  // namespace

TEST_CASE("a read-denied file read through a hard link, a rename and a bind mount of its directory fails with EPERM",
          "[bypass]") {
  ScratchTmpfs t;
  // One file per attempt, none opened by its name before: no earlier decision on the same file answers.
  const std::string control = secret_in(t.path + "/secret", "control");
  const std::string linked = secret_in(t.path + "/secret", "linked");
  const std::string bound = secret_in(t.path + "/secret", "bound");
  const std::string moved = secret_in(t.path + "/secret", "moved");
  PolicedBash s("enforce", deny_read({control, linked, bound, moved}), kFilesConfig, t.dir);
  REQUIRE(s.ready());
  refused(read_as(s, control));

  // A hard link made after rampartd started, in a directory no rule names;
  // then the name: the link's decision must not answer for it.
  fs::create_directories(t.path + "/elsewhere");
  fs::create_hard_link(linked, t.path + "/elsewhere/link");
  refused(read_as(s, t.path + "/elsewhere/link"));
  refused(read_as(s, linked));

  // A bind mount of its directory.
  const std::string bind = t.path + "/bind";
  fs::create_directories(bind);
  REQUIRE(mount((t.path + "/secret").c_str(), bind.c_str(), nullptr, MS_BIND, nullptr) == 0);
  refused(read_as(s, bind + "/bound"));
  umount2(bind.c_str(), MNT_DETACH);

  // Renamed: the name is gone, the file is the same.
  fs::rename(moved, t.path + "/elsewhere/moved");
  refused(read_as(s, t.path + "/elsewhere/moved"));

  // The system's bash, outside the policy, reads it: the file is readable.
  CHECK(has(run_shell("/bin/bash", "read -r l < '" + t.path + "/elsewhere/moved' && echo \"got=$l\"").second,
            "got=" + kSecret));
  auto denials = enforce_on(s, "open");
  REQUIRE(denials.size() == 5);
  // Every name is reported as the file the rule names.
  const std::vector<std::string> named = {control, linked, linked, bound, moved};
  for (size_t i = 0; i < denials.size(); ++i) {
    CHECK(denials[i]["mechanism"] == s.file_mechanism());
    CHECK(denials[i]["path"] == named[i]);
  }
}

TEST_CASE("a read-denied file with a path longer than 256 bytes fails with EPERM, by its name and through a link",
          "[bypass]") {
  ScratchTmpfs t;
  std::string dir = t.path;
  while (dir.size() < 600) dir += "/" + std::string(60, 'd');
  const std::string key = secret_in(dir);
  const std::string short_key = secret_in(t.path + "/short");
  REQUIRE(key.size() > 600);
  PolicedBash s("enforce", deny_read({short_key, key}), kFilesConfig, t.dir);
  REQUIRE(s.ready());
  refused(read_as(s, short_key));  // control
  refused(read_as(s, key));
  fs::create_hard_link(key, t.path + "/link");
  refused(read_as(s, t.path + "/link"));
  auto denials = enforce_on(s, "open");
  REQUIRE(denials.size() == 3);
  // The event's path field holds 255 bytes of the name.
  CHECK(key.starts_with(denials[1]["path"].get<std::string>()));
}

TEST_CASE("a deny rule that names a symlink refuses the file it points to, through the link and by its own name",
          "[bypass]") {
  ScratchTmpfs t;
  const std::string key = secret_in(t.path + "/real");
  const std::string other = secret_in(t.path + "/real", "other");
  const std::string tool = t.install(kPayload, "denied-tool");
  fs::create_symlink(key, t.path + "/key-link");
  fs::create_symlink(tool, t.path + "/tool-link");
  PolicedBash s("enforce",
                "  deny:\n    - id: links\n      files: { read: [\"" + t.path + "/key-link\"] }\n      exec: [\"" +
                    t.path + "/tool-link\"]\n",
                exec_config(t), t.dir);
  REQUIRE(s.ready());
  // Control: a file next to it that no rule names is read.
  CHECK(has(read_as(s, other), "got=" + kSecret));
  refused(read_as(s, t.path + "/key-link"));
  refused(read_as(s, key));
  std::string out;
  CHECK_FALSE(payload_ran(s, t.path + "/tool-link", t.dir + "/m-link", out));
  CHECK_FALSE(payload_ran(s, tool, t.dir + "/m-tool", out));
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  CHECK(enforce_on(s, "open").size() == 2);
  CHECK(enforce_on(s, "exec").size() == 2);
}

TEST_CASE(
    "a file renamed over a read-denied one (a new inode, as a package upgrade or passwd makes) is refused by the "
    "name, and by a hard link once refused",
    "[bypass]") {
  ScratchTmpfs t;
  const std::string key = secret_in(t.path + "/etc");
  const std::string other = secret_in(t.path + "/etc", "other");
  PolicedBash s("enforce", deny_read({key}), kFilesConfig, t.dir);
  REQUIRE(s.ready());
  refused(read_as(s, key));                         // control
  CHECK(has(read_as(s, other), "got=" + kSecret));  // control: a file beside it is read
  for (int round = 0; round < 2; ++round) {         // twice: the new file's name is watched as well
    std::ofstream(key + ".new") << kSecret << "\n";
    fs::rename(key + ".new", key);
    refused(read_as(s, key));
  }
  fs::create_hard_link(key, t.path + "/link");
  refused(read_as(s, t.path + "/link"));
  // Created afresh under the name after an unlink.
  fs::remove(key);
  secret_in(t.path + "/etc", "key");
  refused(read_as(s, key));
  CHECK(enforce_on(s, "open").size() == 5);
  uint64_t remarked = 0;
  for (const auto& e : s.events())
    if (e["type"] == "stats" && e.contains("perm_guard")) {
      remarked = e["perm_guard"].value("remarked", uint64_t{0});
      INFO(e.dump());
      CHECK(e["perm_guard"].value("watch_failures", uint64_t{1}) == 0);
    }
  if (!s.lsm()) CHECK(remarked >= 3);
}

TEST_CASE(
    "a file created after start under a denied name and linked elsewhere after its first refused open stays "
    "refused",
    "[bypass]") {
  ScratchTmpfs t;
  fs::create_directories(t.path + "/secret");
  const std::string later = t.path + "/secret/later";
  PolicedBash s("enforce", deny_read({later}), kFilesConfig, t.dir);
  REQUIRE(s.ready());
  secret_in(t.path + "/secret", "later");  // by the test, outside the policy
  refused(read_as(s, later));              // control: refused by name, and now known by identity
  fs::create_hard_link(later, t.path + "/link");
  refused(read_as(s, t.path + "/link"));
  CHECK(enforce_on(s, "open").size() == 2);
}

TEST_CASE("a denied binary run through a hard link, after mv, and as a byte copy fails with EPERM and runs nothing",
          "[bypass]") {
  ScratchTmpfs t;
  const std::string tool = t.install(kPayload, "denied-tool");
  PolicedBash s("enforce", deny_exec(tool), exec_config(t), t.dir);
  REQUIRE(s.ready());
  std::string out;
  CHECK_FALSE(payload_ran(s, tool, t.dir + "/m-control", out));  // control
  CHECK(has(out, "rc=126"));

  fs::create_hard_link(tool, t.path + "/link");
  CHECK_FALSE(payload_ran(s, t.path + "/link", t.dir + "/m-link", out));
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  fs::copy_file(tool, t.path + "/copy");
  chmod((t.path + "/copy").c_str(), 0755);
  CHECK_FALSE(payload_ran(s, t.path + "/copy", t.dir + "/m-copy", out));
  fs::remove(t.path + "/link");
  fs::rename(tool, t.path + "/moved");
  CHECK_FALSE(payload_ran(s, t.path + "/moved", t.dir + "/m-moved", out));
  // A binary with other bytes runs: the rule is not a blanket refusal.
  const std::string other = t.install(kLauncher, "other");
  CHECK(has(run_shell(s.bash(), other + "; echo rc=$?").second, "rc=2"));  // its usage message

  auto denials = enforce_on(s, "exec");
  REQUIRE(denials.size() == 4);
  for (const auto& e : denials) CHECK(e["path"] == tool);
}

TEST_CASE("an exec deny rule on contents (sha256:) refuses every copy of the binary, under any name", "[bypass]") {
  ScratchTmpfs t;
  const std::string a = t.install(kPayload, "a");
  auto [code, sum] = run_shell("/bin/bash", "sha256sum '" + kPayload + "' | cut -d' ' -f1 | tr -d '\\n'");
  REQUIRE(sum.size() == 64);
  PolicedBash s("enforce", deny_exec("sha256:" + sum), exec_config(t), t.dir);
  REQUIRE(s.ready());
  std::string out;
  CHECK_FALSE(payload_ran(s, a, t.dir + "/m-a", out));
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  const std::string b = t.install(kPayload, "b-installed-after-start");
  CHECK_FALSE(payload_ran(s, b, t.dir + "/m-b", out));
  // Outside the policy it runs.
  CHECK(has(run_shell("/bin/bash", b + " " + t.dir + "/m-free; echo rc=$?").second, "rc=0"));
  CHECK(fs::exists(t.dir + "/m-free"));
  auto denials = enforce_on(s, "exec");
  REQUIRE(denials.size() == 2);
  CHECK(denials[0]["path"] == "sha256:" + sum);
}

TEST_CASE(
    "a copy of a denied binary run from a filesystem rampartd did not mark, or from a memfd, is killed before its "
    "first instruction",
    "[bypass]") {
  ScratchTmpfs t;
  ScratchTmpfs shm;  // stands in for /dev/shm: a tmpfs no exec mark covers
  const std::string tool = t.install(kPayload, "denied-tool");
  const std::string launcher = t.install(kLauncher, "launcher");
  PolicedBash s("enforce", deny_exec(tool), exec_config(t), t.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;  // with BPF LSM, copies are not refused yet (README)
  std::string out;
  CHECK_FALSE(payload_ran(s, tool, t.dir + "/m-control", out));  // control: by name, on a marked filesystem
  CHECK(has(out, "rc=126"));
  // An unrelated binary on the unmarked filesystem runs: deny rules are no allow-list.
  const std::string other = shm.install(kLauncher, "other");
  CHECK(has(run_shell(s.bash(), other + "; echo rc=$?").second, "rc=2"));  // its usage message
  const std::string copy = shm.install(kPayload, "copy");
  CHECK_FALSE(payload_ran(s, copy, t.dir + "/m-shm", out));
  INFO(out);
  CHECK(has(out, "rc=137"));  // SIGKILL before the payload's first instruction made its marker
  out = run_shell(s.bash(), launcher + " memfd " + kPayload + " " + t.dir + "/m-memfd; echo rc=$?").second;
  INFO(out);
  CHECK(has(out, "rc=137"));
  CHECK_FALSE(fs::exists(t.dir + "/m-memfd"));
  // Outside the policy the copy runs.
  CHECK(has(run_shell("/bin/bash", copy + " " + t.dir + "/m-free; echo rc=$?").second, "rc=0"));
  CHECK(fs::exists(t.dir + "/m-free"));
  std::vector<json> kills;
  for (auto& e : s.enforce_events())
    if (e["op"] == "exec" && e["mechanism"] == "sigkill") kills.push_back(std::move(e));
  INFO(json(kills).dump());
  REQUIRE(kills.size() == 2);
  for (const auto& e : kills) {
    CHECK(e["action"] == "killed");
    CHECK(e["reason"] == "deny_rule");
  }
  CHECK(kills[0]["path"] == copy);
}

TEST_CASE("under an exec deny rule on contents, an exec rampartd cannot hash (a memfd) is killed before it runs",
          "[bypass]") {
  ScratchTmpfs t;
  const std::string launcher = t.install(kLauncher, "launcher");
  auto [code, sum] = run_shell("/bin/bash", "sha256sum '" + kPayload + "' | cut -d' ' -f1 | tr -d '\\n'");
  REQUIRE(sum.size() == 64);
  PolicedBash s("enforce", deny_exec("sha256:" + sum), exec_config(t), t.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;
  std::string out;
  const std::string a = t.install(kPayload, "a");
  CHECK_FALSE(payload_ran(s, a, t.dir + "/m-a", out));  // control: hashed on a marked filesystem
  CHECK(has(out, "rc=126"));
  out = run_shell(s.bash(), launcher + " memfd " + kPayload + " " + t.dir + "/m-memfd; echo rc=$?").second;
  INFO(out);
  CHECK(has(out, "rc=137"));
  CHECK_FALSE(fs::exists(t.dir + "/m-memfd"));
  CHECK(has(run_shell(s.bash(), launcher + "; echo rc=$?").second, "rc=2"));  // a marked, hashed exec still runs
}

TEST_CASE("the dynamic loader run directly right after an allowed exec failed with E2BIG fails with EPERM",
          "[bypass]") {
  // Not under /tmp: three execs from a writable directory would cost the launcher its trust (a verdict refuses too).
  ScratchTmpfs t("/run/rampart-exec-XXXXXX");
  const std::string launcher = t.install(kLauncher, "allowed-launcher");
  const std::string allowed = t.install("/usr/bin/true", "allowed-true");
  const std::string loader = fs::canonical("/lib64/ld-linux-x86-64.so.2");
  const std::string marker = t.dir + "/loader-marker";
  // The loader lives on the root filesystem: this case marks it for exec
  // (the default config does too); processes outside the policy are let through.
  PolicedBash s("enforce", "  allow:\n    exec: [\"" + t.path + "/allowed-*\"]\n",
                "enforcement:\n  exec_mounts: [\"/\", \"" + t.path + "\"]\n  sensitive_paths: []\n", t.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;
  // Allowed dynamic binaries run: their loader goes with their exec.
  CHECK(has(run_shell(s.bash(), allowed + "; echo rc=$?").second, "rc=0"));
  // Control: the loader run directly on a program.
  auto [c1, out] = run_shell(s.bash(), loader + " /usr/bin/touch " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  CHECK_FALSE(fs::exists(marker));
  // The attempt: the allowed exec opens its binary, then fails; the loader follows from the same thread.
  auto [c2, out2] =
      run_shell(s.bash(), launcher + " e2big " + allowed + " " + loader + " /usr/bin/touch " + marker + "; echo rc=$?");
  INFO(out2);
  CHECK(has(out2, "first execve: Argument list too long"));
  CHECK(has(out2, "loader execve: Operation not permitted"));
  CHECK_FALSE(fs::exists(marker));
  auto denials = enforce_on(s, "exec");
  INFO(json(denials).dump());
  REQUIRE(denials.size() == 2);
  for (const auto& e : denials) CHECK(e["path"] == loader);
}

TEST_CASE("the dynamic loader run as a program on a denied binary fails with EPERM, by its name and a hard link",
          "[bypass]") {
  ScratchTmpfs t;
  const std::string tool = t.install("/usr/bin/touch", "denied-touch");
  const std::string loader = fs::canonical("/lib64/ld-linux-x86-64.so.2");
  PolicedBash s("enforce", deny_exec(tool), exec_config(t), t.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;  // with the hooks this route is open yet (README)
  // Controls: the loader runs another program; the binary run as itself is refused.
  run_shell(s.bash(), loader + " /usr/bin/mkdir " + t.dir + "/made");
  CHECK(fs::exists(t.dir + "/made"));
  auto direct = run_shell(s.bash(), tool + " " + t.dir + "/m-direct 2>&1; echo rc=$?").second;
  INFO(direct);
  CHECK(has(direct, "Operation not permitted"));
  CHECK_FALSE(fs::exists(t.dir + "/m-direct"));
  // The attempts: ld.so maps the binary after a plain read open.
  fs::create_hard_link(tool, t.path + "/link");
  for (const std::string& path : {tool, t.path + "/link"}) {
    const std::string marker = t.dir + "/m-loader-" + fs::path(path).filename().string();
    auto out = run_shell(s.bash(), loader + " " + path + " " + marker + " 2>&1; echo rc=$?").second;
    INFO(out);
    CHECK_FALSE(has(out, "rc=0"));
    CHECK_FALSE(fs::exists(marker));
  }
  auto denials = enforce_on(s, "exec");
  REQUIRE(denials.size() == 3);
  for (const auto& e : denials) {
    CHECK(e["path"] == tool);
    CHECK(e["mechanism"] == "fanotify");
  }
}

TEST_CASE("a sensitive file hard-linked into a directory allow.files allows is still refused through the link",
          "[bypass]") {
  ScratchTmpfs t;
  fs::create_directories(t.path + "/allowed");
  const std::string shadow = secret_in(t.path, "shadow");
  PolicedBash s(
      "enforce", "  allow:\n    files:\n      write: [\"" + t.path + "/allowed/\"]\n",
      "enforcement:\n  exec_mounts: []\n  file_mounts: [\"" + t.path + "\"]\n  sensitive_paths: [\"" + shadow + "\"]\n",
      t.dir);
  REQUIRE(s.ready());
  auto write_to = [&](const std::string& path) {
    return run_shell(s.bash(), "{ echo overwritten > '" + path + "' && echo wrote; } 2>&1; echo rc=$?").second;
  };
  std::string out = write_to(t.path + "/allowed/ok");  // the allow-list works
  CHECK(has(out, "wrote"));
  out = write_to(t.path + "/outside");  // control: outside it
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  fs::create_hard_link(shadow, t.path + "/allowed/innocent");
  out = write_to(t.path + "/allowed/innocent");
  INFO(out);
  CHECK(has(out, "Operation not permitted"));
  CHECK_FALSE(has(out, "wrote"));
  CHECK(rampart::testing::slurp(shadow) == kSecret + "\n");
  if (!s.lsm()) CHECK(enforce_on(s, "open").size() == 2);
}
