// Bypass tier, exec: a policed copy of bash tries to run what its policy
// refuses by ways the fanotify guard is not asked about (a memfd, an
// unlinked file, a filesystem rampartd did not mark) or by a script whose
// "#!" program is refused. Each case first runs its control, the plain exec,
// refused with EPERM. The payload (exec_payload.cpp) creates its marker file
// with its very first instructions, so a missing marker means the image ran
// nothing at all.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/policed.h"

using nlohmann::json;
using rampart::testing::exec_config;
using rampart::testing::exec_policy;
using rampart::testing::PolicedBash;
using rampart::testing::run_shell;
using rampart::testing::ScratchTmpfs;

namespace {

const std::string kPayload = RAMPART_EXEC_PAYLOAD;
const std::string kLauncher = RAMPART_EXEC_LAUNCHER;

bool has(const std::string& out, const std::string& what) { return out.find(what) != std::string::npos; }

// The enforce events for exec, by mechanism.
std::vector<json> exec_events(PolicedBash& s, const std::string& mechanism) {
  std::vector<json> out;
  for (auto& e : s.enforce_events())
    if (e["op"] == "exec" && e["mechanism"] == mechanism) out.push_back(std::move(e));
  return out;
}

// The control: the payload itself, on the marked scratch fs but not on the
// allow-list, fails with EPERM and never runs.
void control(const PolicedBash& s, const ScratchTmpfs& fs) {
  const std::string denied = fs.path + "/denied-payload";
  if (!std::filesystem::exists(denied)) fs.install(kPayload, "denied-payload");
  const std::string marker = fs.dir + "/control-marker";
  auto [code, out] = run_shell(s.bash(), denied + " " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "rc=126"));
  CHECK(has(out, "Operation not permitted"));
  CHECK_FALSE(std::filesystem::exists(marker));
}

}  // namespace

TEST_CASE("a payload run from a memfd under allow.exec is killed before its first instruction", "[bypass]") {
  ScratchTmpfs fs;
  const std::string launcher = fs.install(kLauncher, "allowed-launcher");
  const std::string marker = fs.dir + "/memfd-marker";
  // Outside the policy the same launch runs the payload: the marker proves it would.
  auto [code0, out0] = run_shell("/bin/bash", launcher + " memfd " + kPayload + " " + marker + "; echo rc=$?");
  INFO(out0);
  REQUIRE(has(out0, "rc=0"));
  REQUIRE(std::filesystem::exists(marker));
  std::filesystem::remove(marker);

  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;  // the LSM hook refuses it with EPERM; tested in the lsm tier
  control(s, fs);
  auto [code, out] = run_shell(s.bash(), launcher + " memfd " + kPayload + " " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "rc=137"));                     // SIGKILL
  CHECK_FALSE(std::filesystem::exists(marker));  // not a single instruction of the payload ran
  auto kills = exec_events(s, "sigkill");
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]["action"] == "killed");
  CHECK(kills[0]["reason"] == "not_allowed");
  CHECK(kills[0]["policy"] == "e2e-policed");
  INFO(kills[0].dump());
  // The new image's name (the event's path of an anonymous file is not yet resolved: "/").
  CHECK(kills[0]["proc"]["comm"].get<std::string>().find("payload") != std::string::npos);
}

TEST_CASE("a payload run from a filesystem rampartd did not mark is killed before its first instruction", "[bypass]") {
  ScratchTmpfs fs;
  ScratchTmpfs other;  // stands in for /dev/shm: a tmpfs no exec mark covers
  const std::string payload = other.install(kPayload, "allowed-payload");
  const std::string marker = fs.dir + "/unmarked-marker";
  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;
  control(s, fs);
  auto [code, out] = run_shell(s.bash(), payload + " " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "rc=137"));
  CHECK_FALSE(std::filesystem::exists(marker));
  // The system's bash, outside the policy, runs it.
  auto [code2, out2] = run_shell("/bin/bash", payload + " " + marker + "; echo rc=$?");
  CHECK(has(out2, "rc=0"));
  CHECK(std::filesystem::exists(marker));
  auto kills = exec_events(s, "sigkill");
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]["action"] == "killed");
  CHECK(kills[0]["reason"] == "not_allowed");
  CHECK(kills[0]["path"] == payload);
}

TEST_CASE("an unlinked copy of a payload, run through its fd under allow.exec, fails with EPERM", "[bypass]") {
  ScratchTmpfs fs;
  const std::string launcher = fs.install(kLauncher, "allowed-launcher");
  const std::string marker = fs.dir + "/deleted-marker";
  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;
  control(s, fs);
  // The copy's name matches the allow-list until it is unlinked ("allowed-copy (deleted)").
  auto [code, out] = run_shell(
      s.bash(), launcher + " deleted " + kPayload + " " + fs.path + "/allowed-copy " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "execveat: Operation not permitted"));
  CHECK(has(out, "rc=126"));  // the launcher survived its refused exec
  CHECK_FALSE(std::filesystem::exists(marker));
  auto denials = exec_events(s, "fanotify");
  REQUIRE(denials.size() == 2);  // the control, then the unlinked copy
  CHECK(denials[1]["action"] == "denied");
  // The control's violation already put a deny verdict on bash: either reason refuses it.
  CHECK((denials[1]["reason"] == "not_allowed" || denials[1]["reason"] == "verdict"));
  CHECK(denials[1]["path"].get<std::string>().find(fs.path + "/allowed-copy") == 0);
}

TEST_CASE("a memfd payload under allow.exec in audit mode runs and is reported as would_deny", "[bypass]") {
  ScratchTmpfs fs;
  const std::string launcher = fs.install(kLauncher, "allowed-launcher");
  const std::string marker = fs.dir + "/audit-marker";
  PolicedBash s("audit", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  if (s.lsm()) return;
  auto [code, out] = run_shell(s.bash(), launcher + " memfd " + kPayload + " " + marker + "; echo rc=$?");
  INFO(out);
  CHECK(has(out, "rc=0"));
  CHECK(std::filesystem::exists(marker));
  auto reports = exec_events(s, "sigkill");
  REQUIRE(reports.size() == 1);
  CHECK(reports[0]["action"] == "would_deny");
}

TEST_CASE("a script whose #! interpreter matches an exec deny rule fails with EPERM", "[bypass]") {
  ScratchTmpfs fs;
  const std::string interp = fs.install("/bin/bash", "interp-bash");
  const std::string script = fs.path + "/tool-script.sh";
  const std::string marker = fs.dir + "/script-marker";
  std::ofstream(script) << "#!" << interp << "\n: > " << marker << "\n";
  chmod(script.c_str(), 0755);
  const std::string spec =
      "  deny:\n    - id: no-interp\n      exec: [\"" + interp + "\"]\n      action: deny\n      weight: 1\n";
  PolicedBash s("enforce", spec, exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  // Control: the interpreter run by name.
  auto [code, out] = run_shell(s.bash(), interp + " -c ': > " + marker + "'; echo direct-rc=$?");
  INFO(out);
  CHECK(has(out, "direct-rc=126"));
  CHECK_FALSE(std::filesystem::exists(marker));
  // Bypass: a script that names it in its "#!" line.
  auto [code2, out2] = run_shell(s.bash(), script + "; echo script-rc=$?");
  INFO(out2);
  CHECK(has(out2, "script-rc=126"));
  CHECK_FALSE(std::filesystem::exists(marker));
  auto denials = exec_events(s, s.file_mechanism());
  REQUIRE(denials.size() == 2);
  for (const auto& e : denials) {
    CHECK(e["path"] == interp);
    CHECK(e["deny_rule"] == "no-interp");
  }
}

TEST_CASE("an allowed script whose #! interpreter is not on allow.exec fails with EPERM", "[bypass]") {
  ScratchTmpfs fs;
  const std::string interp = fs.install("/bin/bash", "interp-bash");
  const std::string script = fs.path + "/allowed-script.sh";
  const std::string marker = fs.dir + "/script-marker";
  std::ofstream(script) << "#!" << interp << "\n: > " << marker << "\n";
  chmod(script.c_str(), 0755);
  PolicedBash s("enforce", exec_policy(fs), exec_config(fs), fs.dir);
  REQUIRE(s.ready());
  control(s, fs);
  auto [code, out] = run_shell(s.bash(), script + "; echo script-rc=$?");
  INFO(out);
  CHECK(has(out, "script-rc=126"));
  CHECK_FALSE(std::filesystem::exists(marker));
  auto denials = exec_events(s, s.file_mechanism());
  REQUIRE(denials.size() == 2);  // the control, then the interpreter
  CHECK(denials[1]["path"] == interp);
  CHECK(denials[1]["reason"] == "not_allowed");
}
