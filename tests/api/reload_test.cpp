// api tier, hot reload on the real kernel: a policed copy of python3
// connects to a loopback port every millisecond while the policy flips from
// allowing that port to denying it; every result is the old policy's or the
// new one's, and after the reload returns only the new one's. 100 reloads
// under an exec loop and a denied-connect loop: no denied connect succeeds
// and no exec event is lost. An invalid policy (through the API, and through
// the watched directory) is rejected with line:column and the old policy
// keeps enforcing.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/api_client.h"
#include "support/ctl.h"
#include "support/files.h"
#include "support/net.h"
#include "support/rampartd.h"
#include "support/workload.h"

using nlohmann::json;
using namespace rampart::testing;
using namespace std::chrono_literals;

namespace {

int64_t realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Connects to 127.0.0.1:port `count` times, 1 ms apart, and writes one line
// per try: "start_ns end_ns result" (realtime; result "ok" or the errno name).
constexpr const char* kConnectLoop = R"(
import errno, socket, sys, time
port, count, out = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "w", buffering=1)
for _ in range(count):
    s = socket.socket()
    t0 = time.time_ns()
    try:
        s.connect(("127.0.0.1", port)); r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    t1 = time.time_ns()
    s.close()
    out.write(f"{t0} {t1} {r}\n")
    time.sleep(0.001)
)";

struct Try {
  int64_t start, end;
  std::string result;
};

std::vector<Try> read_tries(const std::string& path) {
  std::vector<Try> out;
  std::ifstream in(path);
  Try t;
  while (in >> t.start >> t.end >> t.result) out.push_back(t);
  return out;
}

// A copy of python3 in the daemon's scratch dir, selected by the policies.
std::string policed_python(const Daemon& d) {
  std::string py = d.dir() + "/policed-python";
  std::filesystem::copy_file("/usr/bin/python3", py);  // follows the symlink to the real binary
  chmod(py.c_str(), 0755);
  return py;
}

pid_t start_loop(const std::string& py, uint16_t port, int count, const std::string& out) {
  const std::string port_s = std::to_string(port), count_s = std::to_string(count);  // no malloc after fork
  return spawn_child([&] {
    execl(py.c_str(), py.c_str(), "-c", kConnectLoop, port_s.c_str(), count_s.c_str(), out.c_str(), nullptr);
    return 127;
  });
}

std::string port_list(uint16_t port) { return "\"127.0.0.1:" + std::to_string(port) + "\""; }

}  // namespace

TEST_CASE("reload during traffic: allow to deny, every connect is old or new policy, after the reload only new",
          "[api][reload]") {
  Listener target, other;
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string py = policed_python(d);
  // The watched directory stays empty here: only this test's reloads happen.
  std::string first_dir = d.dir() + "/first";
  std::filesystem::create_directory(first_dir);
  write_file(first_dir + "/p.yaml", policy_yaml("api-reload", py, "enforce", port_list(target.port())));
  REQUIRE(ctl(d.socket(), {"policy", "reload", first_dir}).code == 0);  // generation 2: allow

  std::string next_dir = d.dir() + "/next";
  std::filesystem::create_directory(next_dir);
  write_file(next_dir + "/p.yaml", policy_yaml("api-reload", py, "enforce", port_list(other.port())));

  std::string out = d.dir() + "/tries.txt";
  pid_t loop = start_loop(py, target.port(), 1500, out);
  for (int i = 0; i < 300 && read_tries(out).size() < 150; ++i) std::this_thread::sleep_for(10ms);
  const int64_t before = realtime_ns();
  auto r = ctl(d.socket(), {"policy", "reload", next_dir});
  const int64_t after = realtime_ns();
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("changed: api-reload") != std::string::npos);
  for (int i = 0; i < 300; ++i) {
    auto t = read_tries(out);
    if (!t.empty() && t.back().start > after + 500'000'000) break;
    std::this_thread::sleep_for(10ms);
  }
  kill(loop, SIGKILL);
  waitpid(loop, nullptr, 0);

  auto tries = read_tries(out);
  size_t ok_before = 0, eperm_after = 0, bad = 0;
  bool denied_seen = false;
  for (const auto& t : tries) {
    if (t.result != "ok" && t.result != "EPERM") ++bad;  // neither policy's answer
    if (t.end < before) ok_before += t.result == "ok";
    if (t.start > after) eperm_after += t.result == "EPERM";
    if (t.start > after && t.result == "ok") ++bad;  // the old policy after the reload returned
    if (denied_seen && t.result == "ok") ++bad;      // back to the old policy after the flip
    denied_seen = denied_seen || t.result == "EPERM";
  }
  INFO(tries.size() << " tries, " << ok_before << " ok before, " << eperm_after << " EPERM after");
  CHECK(bad == 0);
  CHECK(ok_before >= 100);
  CHECK(eperm_after >= 50);
  for (const auto& t : tries)
    if (t.end < before) CHECK(t.result == "ok");
}

TEST_CASE("100 reloads under an exec loop and a denied-connect loop: no denied connect succeeds, no exec lost",
          "[api][reload]") {
  Listener allowed, denied;
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string py = policed_python(d);
  // Two variants that both deny `denied` and differ in what else they allow.
  std::string a = d.dir() + "/a", b = d.dir() + "/b";
  std::filesystem::create_directory(a);
  std::filesystem::create_directory(b);
  write_file(a + "/p.yaml", policy_yaml("api-load", py, "enforce", port_list(allowed.port())));
  write_file(b + "/p.yaml", policy_yaml("api-load", py, "enforce", port_list(allowed.port()) + ", \"127.0.0.1:1\""));
  auto stub = api_stub(d);
  auto reload = [&](const std::string& dir) {
    grpc::ClientContext ctx;
    rampart::v1::ReloadPoliciesRequest req;
    req.set_dir(dir);
    rampart::v1::ReloadPoliciesResponse resp;
    auto s = stub->ReloadPolicies(&ctx, req, &resp);
    return s.ok() && resp.applied();
  };
  REQUIRE(reload(a));

  std::string out = d.dir() + "/tries.txt";
  pid_t loop = start_loop(py, denied.port(), 100000, out);
  std::string marker = d.dir() + "/rampart-exec-marker";
  std::filesystem::copy_file("/bin/true", marker);
  chmod(marker.c_str(), 0755);
  const int kExecs = 300;
  pid_t execs = spawn_child([&] {
    for (int i = 0; i < kExecs; ++i) {
      pid_t c = fork();
      if (c == 0) {
        execl(marker.c_str(), marker.c_str(), nullptr);
        _exit(126);
      }
      waitpid(c, nullptr, 0);
    }
    return 0;
  });
  for (int i = 0; i < 300 && read_tries(out).size() < 20; ++i) std::this_thread::sleep_for(10ms);
  int applied = 0;
  for (int i = 0; i < 100; ++i) applied += reload(i % 2 ? a : b);
  waitpid(execs, nullptr, 0);
  kill(loop, SIGKILL);
  waitpid(loop, nullptr, 0);
  CHECK(applied == 100);
  INFO(d.stderr_text().substr(d.stderr_text().size() > 3000 ? d.stderr_text().size() - 3000 : 0));

  auto tries = read_tries(out);
  size_t ok = 0;
  for (const auto& t : tries) ok += t.result == "ok";
  INFO(tries.size() << " connects to the denied port");
  CHECK(tries.size() > 50);
  CHECK(ok == 0);

  grpc::ClientContext ctx;
  rampart::v1::GetStatusResponse st;
  REQUIRE(stub->GetStatus(&ctx, {}, &st).ok());
  CHECK(st.policy_generation() == 102);
  uint64_t exec_dropped = 0;
  for (const auto& e : st.events())
    if (e.type() == "exec") exec_dropped = e.dropped();
  std::this_thread::sleep_for(100ms);
  d.stop();  // flushes every event
  size_t seen = 0;
  for (const auto& e : d.events())
    if (e["type"] == "exec" && e.value("filename", "") == marker) ++seen;
  INFO("exec events " << seen << " of " << kExecs << ", kernel drops " << exec_dropped);
  CHECK(seen + exec_dropped >= kExecs);
  CHECK(seen <= kExecs);
}

TEST_CASE("an invalid reload is rejected with line:column and the previous policy still enforces", "[api][reload]") {
  Listener target;
  Daemon d({.api = true});
  REQUIRE(d.ready());
  std::string py = policed_python(d);
  write_file(d.policy_dir() + "/p.yaml", policy_yaml("api-invalid", py, "enforce", "\"127.0.0.1:1\""));
  REQUIRE(ctl(d.socket(), {"policy", "reload"}).code == 0);
  auto probe = [&] {
    std::string out = d.dir() + "/probe.txt";
    pid_t p = start_loop(py, target.port(), 1, out);
    waitpid(p, nullptr, 0);
    auto t = read_tries(out);
    return t.empty() ? std::string("none") : t[0].result;
  };
  REQUIRE(probe() == "EPERM");

  // Through the API: a host-bits error at a known place.
  std::string broken = d.dir() + "/broken";
  std::filesystem::create_directory(broken);
  write_file(broken + "/p.yaml", policy_yaml("api-invalid", py, "enforce", "\"10.0.0.1/8:53\""));
  auto r = ctl(d.socket(), {"policy", "reload", broken});
  INFO(r.out << r.err);
  CHECK(r.code == 5);
  CHECK(r.err.find(broken + "/p.yaml:11:17:") != std::string::npos);
  CHECK(r.err.find("host bits set") != std::string::npos);
  auto j = json::parse(ctl(d.socket(), {"--json", "policy", "reload", broken}).out);
  CHECK(j["applied"] == false);
  CHECK(j["errors"][0]["line"] == 11);
  CHECK(j["errors"][0]["column"] == 17);
  CHECK(probe() == "EPERM");

  // Through the watched directory (inotify): rejected, logged, old policy kept.
  // First the inotify reload of the first write, so that it cannot land in between.
  for (int i = 0; i < 300 && d.stderr_text().find("policy_reload by inotify: applied") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  const auto generation = json::parse(ctl(d.socket(), {"--json", "status"}).out)["policy_generation"];
  write_file(d.policy_dir() + "/p.yaml", policy_yaml("api-invalid", py, "sometimes", "\"127.0.0.1:1\""));
  for (int i = 0; i < 200 && d.stderr_text().find("inotify: rejected") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(d.stderr_text().find("policy_reload by inotify: rejected") != std::string::npos);
  CHECK(d.stderr_text().find(d.policy_dir() + "/p.yaml:8:9: 'spec.mode'") != std::string::npos);
  CHECK(probe() == "EPERM");
  auto st = json::parse(ctl(d.socket(), {"--json", "status"}).out);
  CHECK(st["policy_generation"] == generation);

  // SIGHUP reloads the directory too, once it is valid again.
  write_file(d.policy_dir() + "/p.yaml", policy_yaml("api-invalid", py, "enforce", port_list(target.port())));
  std::this_thread::sleep_for(500ms);  // the inotify reload of the fixed file
  kill(d.pid(), SIGHUP);
  for (int i = 0; i < 100 && d.stderr_text().find("policy_reload by SIGHUP: applied") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(d.stderr_text().find("policy_reload by SIGHUP: applied") != std::string::npos);
  CHECK(probe() == "ok");
}
