// Bypass tier, the daemon's own settings and lifetime: what an attacker
// gains by waiting for rampartd to die, or from an operator's config that
// trims the event stream. Each case runs its control first (the operation
// refused while rampartd runs on the plain config), then the attempt.
// The policed process is a copy of bash, so nothing else on the host is
// governed; the privilege used is unshare (namespaces: false), which
// priv.bpf.c answers with SIGKILL at the syscall on this kernel.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <thread>

#include "support/files.h"
#include "support/policed.h"

using rampart::testing::PolicedBash;
using rampart::testing::run_shell;

namespace {

const std::string kNoNamespaces = "  allow:\n    privilege:\n      namespaces: false\n";

// The policed bash runs unshare; the shell reports how its child ended.
std::pair<int, std::string> try_unshare(const PolicedBash& s) {
  return run_shell(s.bash(), "/usr/bin/unshare -U /bin/true; echo unshare-rc=$?");
}

}  // namespace

TEST_CASE("an unshare the policy forbids is still killed after rampartd is SIGKILLed", "[bypass]") {
  const std::string pins = "/sys/fs/bpf/rampart-bypass-" + std::to_string(getpid());
  PolicedBash s("enforce", kNoNamespaces, rampart::testing::kScopedConfig + "  pin_dir: " + pins + "\n");
  REQUIRE(s.ready());
  // Control: refused (killed at the syscall) while rampartd runs.
  auto [rc, out] = try_unshare(s);
  INFO(out);
  REQUIRE(out.find("unshare-rc=137") != std::string::npos);
  s.kill_hard();
  // The attempt: rampartd is gone; its pinned programs and maps are not.
  auto [rc2, out2] = try_unshare(s);
  INFO(out2);
  CHECK(out2.find("unshare-rc=137") != std::string::npos);
  // A restart takes over, and an orderly stop ends it all.
  REQUIRE(s.start());
  s.stop();
  auto [rc3, out3] = try_unshare(s);
  INFO(out3);
  CHECK(out3.find("unshare-rc=0") != std::string::npos);
  std::error_code ec;
  std::filesystem::remove_all(pins, ec);
}

TEST_CASE("events.exclude of the privilege types leaves their enforcement in force", "[bypass]") {
  {
    // Control: the plain config refuses.
    PolicedBash s("enforce", kNoNamespaces, "");
    REQUIRE(s.ready());
    auto [rc, out] = try_unshare(s);
    INFO(out);
    REQUIRE(out.find("unshare-rc=137") != std::string::npos);
  }
  // The attempt: an operator trims the event stream of exactly these types.
  PolicedBash s("enforce", kNoNamespaces,
                rampart::testing::kScopedConfig + "events:\n  exclude: [unshare, setns, open, connect]\n");
  REQUIRE(s.ready());
  auto [rc, out] = try_unshare(s);
  INFO(out);
  CHECK(out.find("unshare-rc=137") != std::string::npos);
  // The refusal is still on record; ungoverned processes' excluded events are not.
  const auto enforce = s.enforce_events();
  bool killed = false;
  for (const auto& e : enforce) killed = killed || (e["op"] == "unshare" && e["action"] == "killed");
  CHECK(killed);
  size_t opens = 0;
  for (const auto& e : s.events()) opens += e["type"] == "open";
  CHECK(opens == 0);
}

TEST_CASE("events.exclude cannot switch off the record of refusals", "[bypass]") {
  rampart::testing::Daemon d({.config = "events:\n  exclude: [enforce]\n"});
  CHECK_FALSE(d.ready());
  CHECK(d.stderr_text().find("'enforce' cannot be excluded") != std::string::npos);
}
