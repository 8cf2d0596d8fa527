// e2e tier: rampartd as users run it. Starts the real binary, runs a real
// child workload, and asserts on the JSON lines it printed; also its start-up
// errors and its clean shutdown.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/files.h"
#include "support/rampartd.h"
#include "support/workload.h"

using nlohmann::json;
using rampart::testing::Daemon;
using rampart::testing::slurp;
using rampart::testing::TempDir;

namespace {

// rampartd with only --output (no config, no policies), as the README runs it.
Daemon rampartd_with_output() { return Daemon({.policy_dir = false, .dir_template = "/tmp/rampart-e2e-XXXXXX"}); }

const json* find_event(const std::vector<json>& evs, const std::function<bool(const json&)>& pred) {
  for (const auto& e : evs)
    if (pred(e)) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("bash -c with cat /etc/hostname then /bin/true gives exec events with parents and the open within 1 s",
          "[e2e]") {
  // The workload is exactly bash -c 'cat /etc/hostname; /bin/true' (no ';' in a test name: ctest splits on it).
  Daemon d = rampartd_with_output();
  REQUIRE(d.ready());
  CHECK(d.stderr_text().find("capability matrix") != std::string::npos);

  auto start = std::chrono::steady_clock::now();
  auto child = rampart::testing::run_child([] {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    char* const argv[] = {const_cast<char*>("bash"), const_cast<char*>("-c"),
                          const_cast<char*>("cat /etc/hostname; /bin/true"), nullptr};
    execv("/bin/bash", argv);
    return 126;
  });
  REQUIRE(WEXITSTATUS(child.status) == 0);
  const uint32_t bash = static_cast<uint32_t>(child.pid);
  const uint32_t me = static_cast<uint32_t>(getpid());

  // Poll the output for up to 1 s after the workload ended.
  std::vector<json> evs;
  const json *exec_bash = nullptr, *exec_cat = nullptr, *exec_true = nullptr, *open_host = nullptr;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000) + std::chrono::milliseconds(200)) {
    evs = d.events();
    auto exec_of = [&](const std::string& file) {
      return find_event(evs, [&](const json& e) { return e["type"] == "exec" && e["filename"] == file; });
    };
    exec_bash = find_event(evs, [&](const json& e) {
      return e["type"] == "exec" && e["proc"]["tgid"] == bash && e["filename"] == "/bin/bash";
    });
    exec_cat = exec_of("/usr/bin/cat");
    exec_true = find_event(evs, [&](const json& e) {
      return e["type"] == "exec" && e["filename"] == "/bin/true" && e["proc"]["tgid"] == bash;
    });
    open_host = find_event(evs, [&](const json& e) {
      return e["type"] == "open" && e["path"] == "/etc/hostname" && e["proc"]["comm"] == "cat";
    });
    if (exec_bash && exec_cat && exec_true && open_host) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(exec_bash != nullptr);
  REQUIRE(exec_cat != nullptr);
  REQUIRE(exec_true != nullptr);
  REQUIRE(open_host != nullptr);
  // The workload itself takes a few ms; the events must be out within 1 s of it.
  CHECK(elapsed < std::chrono::milliseconds(1200));

  // bash: started by this test process.
  CHECK((*exec_bash)["proc"]["ppid"] == me);
  CHECK((*exec_bash)["parent"]["pid"] == me);
  CHECK((*exec_bash)["argv"] == json::array({"bash", "-c", "cat /etc/hostname; /bin/true"}));
  // cat: a child of bash.
  CHECK((*exec_cat)["proc"]["ppid"] == bash);
  CHECK((*exec_cat)["parent"]["pid"] == bash);
  CHECK((*exec_cat)["parent"]["exe"] == "/bin/bash");
  CHECK((*exec_cat)["ancestry"][0]["pid"] == bash);
  CHECK((*exec_cat)["ancestry"][1]["pid"] == me);
  // true: bash runs the last command of -c in place (exec without fork), so it
  // keeps bash's pid and parent, and the event says which image it replaced.
  CHECK((*exec_true)["proc"]["ppid"] == me);
  CHECK((*exec_true)["replaced_exe"] == "/bin/bash");
  // The open: by cat, a success (an fd), read-only.
  CHECK((*open_host)["proc"]["tgid"] == (*exec_cat)["proc"]["tgid"]);
  CHECK((*open_host)["result"].get<int64_t>() >= 0);
  CHECK((*open_host)["access"] == "read");
  CHECK((*open_host)["proc"]["exe"] == "/usr/bin/cat");

  int status = d.stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(d.stderr_text().find("detached") != std::string::npos);
}

TEST_CASE("every line is JSON with the common schema, and the exit stats account for every event", "[e2e]") {
  Daemon d = rampartd_with_output();
  REQUIRE(d.ready());
  for (int i = 0; i < 20; ++i) {
    rampart::testing::run_child([] {
      close(open("/etc/hostname", O_RDONLY));
      return 0;
    });
  }
  REQUIRE(WEXITSTATUS(d.stop()) == 0);
  auto evs = d.events();  // json::parse throws on any line that is not JSON
  REQUIRE(evs.size() > 40);
  const json& stats = evs.back();
  REQUIRE(stats["type"] == "stats");
  CHECK(stats["reason"] == "exit");
  std::map<std::string, uint64_t> per_type;
  for (size_t i = 0; i + 1 < evs.size(); ++i) {
    const json& e = evs[i];
    CHECK(e["v"] == 1);
    CHECK(e["time"].get<std::string>().back() == 'Z');
    CHECK(e.contains("boot_ns"));
    CHECK(e["proc"].contains("pid"));
    CHECK(e["proc"].contains("tgid"));
    CHECK(e["proc"].contains("ppid"));
    CHECK(e["proc"].contains("comm"));
    CHECK(e["proc"].contains("cgroup_id"));
    CHECK(e["proc"].contains("mntns"));
    per_type[e["type"].get<std::string>()]++;
  }
  CHECK(per_type["fork"] >= 20);
  CHECK(per_type["exit"] >= 20);
  CHECK(per_type["open"] >= 20);
  for (auto& [type, count] : per_type) {
    const json& s = stats["events"][type];
    INFO(type);
    CHECK(s["delivered"].get<uint64_t>() == count);
    // nothing lost: what the kernel emitted is what was written
    CHECK(s["emitted"].get<uint64_t>() == count);
    CHECK(s["dropped"].get<uint64_t>() == 0);
  }
  CHECK(stats["decode_errors"]["size_mismatch"] == 0);
  CHECK(stats["decode_errors"]["unknown_type"] == 0);
}

TEST_CASE("an invalid config is refused with file:line:column and nothing is loaded", "[e2e]") {
  Daemon d({.config = "output:\n  path: \"-\"\nringbuf:\n  size_mb: 4\n  colour: blue\n",
            .policy_dir = false,
            .output = "",
            .dir_template = "/tmp/rampart-cfg-XXXXXX",
            .start = false});
  const std::string cfg = d.config_path();
  d.spawn();
  int status = d.wait_exit();
  CHECK(WEXITSTATUS(status) == 2);
  auto err = d.stderr_text();
  CHECK(err.find(cfg + ":5:3") != std::string::npos);
  CHECK(err.find("ringbuf.colour") != std::string::npos);
  CHECK(err.find("attached") == std::string::npos);
}

TEST_CASE("rampartd refuses to start when not root, and says why", "[e2e]") {
  // A copy nobody can execute: the build tree may sit under /root (mode 0700).
  TempDir dir("/tmp/rampart-nonroot-XXXXXX");
  const std::string bin = dir / "rampartd";
  std::filesystem::copy_file(RAMPARTD_PATH, bin);
  chmod(bin.c_str(), 0755);
  Daemon d({.policy_dir = false,
            .output = "/dev/null",
            .dir = dir.path(),
            .binary = bin,
            .uid = 65534,
            .gid = 65534,
            .start = false});
  d.spawn();
  const int status = d.wait_exit();
  auto err = d.stderr_text();
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(err.find("must run as root") != std::string::npos);
}

TEST_CASE("SIGINT shuts down cleanly and unloads every program it attached", "[e2e]") {
  Daemon d = rampartd_with_output();
  REQUIRE(d.ready());
  // The programs this daemon holds: prog_id lines in its fds' fdinfo.
  std::set<uint32_t> ids;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(d.pid()) + "/fdinfo")) {
    std::ifstream in(fd.path());
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("prog_id:", 0) == 0) ids.insert(static_cast<uint32_t>(std::stoul(line.substr(8))));
  }
  CHECK(ids.size() >= 4);  // sys_exit dispatcher and the three process programs
  auto loaded = [](uint32_t id) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd >= 0) close(fd);
    return fd >= 0;
  };
  for (auto id : ids) CHECK(loaded(id));

  int status = d.stop(SIGINT);  // as Ctrl-C sends it to the README's foreground run
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(d.stderr_text().find("received SIGINT") != std::string::npos);
  CHECK(d.stderr_text().find("detached") != std::string::npos);
  // The kernel frees a program once nothing holds it; give it a moment.
  for (int i = 0; i < 100; ++i) {
    bool any = false;
    for (auto id : ids) any = any || loaded(id);
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto id : ids) CHECK_FALSE(loaded(id));
}

TEST_CASE("no built-in rule fires on a benign workload", "[e2e]") {
  // cc, git init and commit, tar and gzip, python3 -c, an HTTP GET to a
  // loopback server, ps and ls -R: all in a scratch dir, under one bash.
  TempDir scratch("/var/tmp/rampart-benign-XXXXXX");
  const std::string& dir = scratch.path();
  Daemon d = rampartd_with_output();
  REQUIRE(d.ready());
  const std::string script =
      "set -e; cd " + dir +
      "; printf 'int main(void){return 0;}\\n' > hello.c; cc -O2 -o hello.bin hello.c"
      "; git init -q repo; cd repo; echo hi > f; git add f"
      "; git -c user.name=t -c user.email=t@t commit -qm init; cd .."
      "; tar czf repo.tgz repo; gzip -t repo.tgz; tar xzf repo.tgz -C /dev/null 2>/dev/null || true"
      "; /usr/bin/python3 -c 'import json,sys; print(json.dumps({\"ok\": sum(range(10))}))'"
      "; /usr/bin/python3 -u -m http.server 0 --bind 127.0.0.1 --directory . > srv.log 2>&1 & SRV=$!"
      "; for i in $(seq 50); do PORT=$(grep -o 'port [0-9]*' srv.log | grep -o '[0-9]*' || true)"
      "; [ -n \"$PORT\" ] && break; sleep 0.1; done"
      "; /usr/bin/python3 -c \"import urllib.request; "
      "print(len(urllib.request.urlopen('http://127.0.0.1:$PORT/hello.c').read()))\""
      "; kill $SRV; ps aux > /dev/null; ls -R " +
      dir + " > /dev/null; echo benign-done";
  auto child = rampart::testing::run_child([&] {
    int fd = open((dir + "/out.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
    return 126;
  });
  std::string out = slurp(dir + "/out.txt");
  INFO(out);
  REQUIRE(WEXITSTATUS(child.status) == 0);
  REQUIRE(out.find("benign-done") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(WEXITSTATUS(d.stop()) == 0);

  // The workload's process tree, from the fork events.
  auto evs = d.events();
  std::map<uint64_t, uint64_t> parent;
  for (const auto& e : evs)
    if (e["type"] == "fork") parent[e["child_pid"].get<uint64_t>()] = e["proc"]["tgid"].get<uint64_t>();
  const uint64_t root = static_cast<uint64_t>(child.pid);
  auto in_workload = [&](uint64_t pid) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
      if (pid == root) return true;
      auto it = parent.find(pid);
      if (it == parent.end()) return false;
      pid = it->second;
    }
    return false;
  };
  size_t workload_events = 0;
  for (const auto& e : evs) {
    if (!e.contains("proc") || !in_workload(e["proc"]["tgid"].get<uint64_t>())) continue;
    ++workload_events;
    if (e.contains("rules")) FAIL_CHECK("rule fired on a benign workload: " << e.dump());
  }
  CHECK(workload_events > 100);  // the workload really ran under observation
}
