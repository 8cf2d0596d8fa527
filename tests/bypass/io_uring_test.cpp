// Bypass tier, io_uring: work done through an io_uring ring instead of
// syscalls (opens, reads, connects, sends). Every operation submitted must
// appear as an event, marked io_uring; and a policy can refuse io_uring to
// its workload outright (privilege.ioUring: false), which kills it at
// io_uring_setup, before the ring reaches its code. The probe
// (uring_probe.cpp) runs as a scratch copy, so no other process is governed.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "support/files.h"
#include "support/net.h"
#include "support/policed.h"
#include "support/rampartd.h"

using nlohmann::json;
using rampart::testing::Daemon;
using rampart::testing::Listener;
using rampart::testing::run_shell;

namespace {

// A copy of the probe in d's directory (its comm is "uring-probe").
std::string probe_copy(const Daemon& d) {
  const std::string path = d.path("uring-probe");
  std::filesystem::copy_file(URING_PROBE_PATH, path, std::filesystem::copy_options::overwrite_existing);
  chmod(path.c_str(), 0755);
  return path;
}

std::string run_probe(const std::string& probe, const std::string& file, uint16_t port) {
  return run_shell("/bin/sh", probe + " " + file + " " + std::to_string(port) + "; echo rc=$?").second;
}

}  // namespace

TEST_CASE("io_uring openat, read, connect and send each appear as an io_uring event", "[bypass]") {
  Listener target;
  Daemon d({.config = rampart::testing::kScopedConfig});
  REQUIRE(d.ready());
  const std::string file = d.path("secret.txt");
  rampart::testing::write_file(file, "payload\n");
  const std::string out = run_probe(probe_copy(d), file, target.port());
  INFO(out);
  REQUIRE(out.find("send=1") != std::string::npos);  // the probe did all four
  auto of_probe = [&](const std::string& op) {
    return d.wait_for_event(
        [&](const json& e) { return e["type"] == "io_uring" && e["proc"]["comm"] == "uring-probe" && e["op"] == op; });
  };
  auto open = of_probe("openat");
  REQUIRE(open);
  CHECK((*open)["path"] == file);
  auto connect = of_probe("connect");
  REQUIRE(connect);
  CHECK((*connect)["remote"]["addr"] == "127.0.0.1");
  CHECK((*connect)["remote"]["port"] == target.port());
  CHECK(of_probe("read"));
  CHECK(of_probe("send"));
  auto setup = of_probe("setup");
  REQUIRE(setup);
  CHECK((*setup)["result"].get<int64_t>() >= 0);
}

TEST_CASE("privilege.ioUring: false kills the workload at io_uring_setup, before any operation", "[bypass]") {
  Listener target;
  Daemon d({.config = rampart::testing::kScopedConfig, .start = false});
  const std::string probe = probe_copy(d);
  const std::string file = d.path("secret.txt");
  rampart::testing::write_file(file, "payload\n");
  // Control: the same enforce-mode policy without the switch; io_uring works.
  d.write_policy("p.yaml", rampart::testing::policy_for("uring", probe, "enforce", ""));
  REQUIRE(d.start());
  std::string out = run_probe(probe, file, target.port());
  INFO(out);
  REQUIRE(out.find("send=1") != std::string::npos);
  d.stop();
  // The attempt: io_uring refused to the workload.
  d.write_policy("p.yaml", rampart::testing::policy_for("uring", probe, "enforce",
                                                        "  allow:\n    privilege:\n      ioUring: false\n"));
  REQUIRE(d.start());
  out = run_probe(probe, file, target.port());
  INFO(out);
  CHECK(out.find("rc=137") != std::string::npos);  // SIGKILL
  CHECK(out.find("ring") == std::string::npos);    // its code never had the ring
  CHECK(out.find("openat=") == std::string::npos);
  auto killed = d.wait_for_event([](const json& e) {
    return e["type"] == "enforce" && e["op"] == "io_uring" && e["action"] == "killed" && e["mechanism"] == "sigkill";
  });
  CHECK(killed);
}
