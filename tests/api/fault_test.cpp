// api tier, kernel faults: the kernel refuses rampartd's map
// writes because the test filled the maps to max_entries through their pins
// (entries for pids and policy ids that cannot exist), a real E2BIG/ENOSPC
// from the real kernel. A refused quarantine, and a verdict the kernel could
// not copy to a child at fork, are reported (rampartctl, status, a
// "kernel_write" record) and retried until they land once there is room; a
// reload the kernel refuses leaves the set in force enforcing exactly as
// before, and the reload of the policy directory is retried until it applies.
#include <bpf/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "api/prober.h"
#include "shared/rp_abi.h"
#include "support/ctl.h"
#include "support/files.h"
#include "support/net.h"
#include "support/rampartd.h"

using nlohmann::json;
using namespace rampart::testing;
using namespace std::chrono_literals;

namespace {

// A pin directory of its own on bpffs, so the test can reach the maps.
struct PinDir {
  std::string path = "/sys/fs/bpf/rampart-fault-" + std::to_string(getpid());
  std::string config() const { return "enforcement:\n  pin_dir: " + path + "\n"; }
  ~PinDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Fills a pinned map with keys made by key_of(i) until the kernel refuses
// one; removes them again on drop().
template <typename Key, typename Value>
class Filler {
 public:
  template <typename KeyOf>
  Filler(const std::string& pin, KeyOf key_of) {
    fd_ = bpf_obj_get(pin.c_str());
    REQUIRE(fd_ >= 0);
    Value v{};
    for (uint32_t i = 0; i < (1u << 20); ++i) {
      Key k = key_of(i);
      if (bpf_map_update_elem(fd_, &k, &v, BPF_NOEXIST) != 0) {
        refused_errno = errno;
        break;
      }
      keys_.push_back(k);
    }
  }
  ~Filler() {
    drop();
    if (fd_ >= 0) close(fd_);
  }
  void drop() {
    for (const auto& k : keys_) bpf_map_delete_elem(fd_, &k);
    keys_.clear();
  }
  size_t size() const { return keys_.size(); }
  int refused_errno = 0;

 private:
  int fd_ = -1;
  std::vector<Key> keys_;
};

json status(const Daemon& d) { return json::parse(ctl(d.socket(), {"--json", "status"}).out); }

uint64_t kw(const json& st, const char* field) {
  return st.contains("kernel_writes") && st["kernel_writes"].contains(field) ? json_u64(st["kernel_writes"][field]) : 0;
}

uint64_t generation(const Daemon& d) { return json_u64(status(d)["policy_generation"]); }

std::vector<json> kernel_writes_of(const Daemon& d, pid_t pid, const std::string& action) {
  std::vector<json> out;
  for (const auto& e : d.events())
    if (e["type"] == "kernel_write" && e["proc"]["pid"] == pid && e["action"] == action) out.push_back(e);
  return out;
}

template <typename Pred>
bool eventually(Pred pred, int ms = 5000) {
  for (int i = 0; i < ms / 20; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// Connects to 127.0.0.1:port once and prints "ok" or the errno name.
constexpr const char* kConnectOnce = R"(
import errno, socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
)";

std::string connect_from(const std::string& exe, uint16_t port, const std::string& dir) {
  const std::string out = dir + "/probe.txt", port_s = std::to_string(port);
  (void)run_child([&] {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    execl(exe.c_str(), exe.c_str(), "-c", kConnectOnce, port_s.c_str(), nullptr);
    return 127;
  });
  std::string r = slurp(out);
  while (!r.empty() && r.back() == '\n') r.pop_back();
  return r;
}

}  // namespace

TEST_CASE("a verdict the kernel refuses (verdict_map full) is reported, and retried until it lands", "[api][fault]") {
  PinDir pins;
  Daemon d({.config = pins.config(), .api = true});
  REQUIRE(d.ready());
  Listener l;
  Prober parent(l.port()), other(l.port());
  REQUIRE(ctl(d.socket(), {"quarantine", std::to_string(parent.pid)}).code == 0);
  REQUIRE(parent.connect_errno() == EPERM);

  // Full: no pid can be added (keys above the kernel's pid limit).
  Filler<uint32_t, rp_verdict> full(pins.path + "/verdict_map", [](uint32_t i) { return 0x7f000000u + i; });
  INFO("filled with " << full.size() << " entries, then errno " << full.refused_errno);
  REQUIRE(full.refused_errno == E2BIG);

  // The quarantined parent forks: the kernel cannot copy its verdict to the
  // child, flags the fork, and rampartd's own write is refused too.
  const pid_t child = parent.fork_server();
  REQUIRE(child > 0);
  // A quarantine by hand of another process: not in force yet, and said so.
  auto q = ctl(d.socket(), {"quarantine", std::to_string(other.pid)});
  INFO(q.out << q.err);
  CHECK(q.code == 6);
  CHECK(q.out.find("NOT yet in force") != std::string::npos);
  CHECK(q.out.find("verdict_map") != std::string::npos);
  CHECK(other.connect_errno() == 0);  // honest: not refused before the write lands

  REQUIRE(eventually([&] { return kw(status(d), "pending") == 2; }));
  auto st = status(d);
  CHECK(kw(st, "failed") >= 2);
  CHECK(st["kernel_writes"]["last_error"].get<std::string>().find("verdict_map") != std::string::npos);
  CHECK(ctl(d.socket(), {"status"}).out.find("kernel writes refused:") != std::string::npos);
  bool flagged = false;
  for (const auto& e : d.events())
    if (e["type"] == "fork" && e.value("child_pid", 0) == child && e.contains("flags"))
      for (const auto& f : e["flags"]) flagged = flagged || f == "inherit_failed";
  CHECK(flagged);
  auto retrying = kernel_writes_of(d, child, "retrying");
  REQUIRE(retrying.size() == 1);
  CHECK(retrying[0]["map"] == "verdict_map");
  CHECK(retrying[0]["why"] == "fork inheritance");
  CHECK(retrying[0]["want"] == "verdict quarantine");
  CHECK(retrying[0]["error"].get<std::string>().find("Argument list too long") != std::string::npos);
  REQUIRE(kernel_writes_of(d, other.pid, "retrying").size() == 1);
  CHECK(d.stderr_text().find("kernel write failed: verdict quarantine for pid") != std::string::npos);

  // Room again: both writes land within the backoff (at most 2 s apart).
  full.drop();
  CHECK(eventually([&] { return kw(status(d), "pending") == 0; }));
  CHECK(other.connect_errno() == EPERM);
  CHECK(parent.connect_errno() == EPERM);  // the prober's pipes now reach the forked child
  st = status(d);
  CHECK(kw(st, "recovered") == 2);
  CHECK(kw(st, "abandoned") == 0);
  CHECK(kernel_writes_of(d, child, "applied").size() == 1);
  CHECK(kernel_writes_of(d, other.pid, "applied").size() == 1);
  CHECK(d.stderr_text().find("kernel write landed: verdict quarantine for pid " + std::to_string(other.pid) +
                             " (api quarantine)") != std::string::npos);
  // Release clears it as usual.
  CHECK(ctl(d.socket(), {"release", std::to_string(other.pid)}).code == 0);
  CHECK(other.connect_errno() == 0);
}

TEST_CASE("a reload the kernel refuses (net_allow4_map full) changes nothing, and the directory reload is retried",
          "[api][fault][reload]") {
  PinDir pins;
  Daemon d({.config = pins.config(), .api = true});
  REQUIRE(d.ready());
  Listener allowed, later;
  const std::string py = d.dir() + "/policed-python";
  std::filesystem::copy_file("/usr/bin/python3", py);
  chmod(py.c_str(), 0755);
  auto port = [](const Listener& l) { return "\"127.0.0.1:" + std::to_string(l.port()) + "\""; };
  write_file(d.policy_dir() + "/p.yaml", policy_yaml("fault-reload", py, "enforce", port(allowed)));
  REQUIRE(ctl(d.socket(), {"policy", "reload"}).code == 0);
  // The write above also reloads through inotify (debounced): let it land
  // first, or it would change the generation in the middle of the test.
  REQUIRE(eventually([&] { return d.stderr_text().find("policy_reload by inotify: applied") != std::string::npos; }));
  REQUIRE(connect_from(py, allowed.port(), d.dir()) == "ok");
  REQUIRE(connect_from(py, later.port(), d.dir()) == "EPERM");
  const auto gen = generation(d);

  // Full: entries of a policy id no bank uses.
  Filler<rp_net4_key, rp_port_set> full(pins.path + "/net_allow4_map", [](uint32_t i) {
    rp_net4_key k{};
    k.prefixlen = 64;
    k.policy_id = 0xfffffff0u;
    std::memcpy(k.addr, &i, 4);
    return k;
  });
  INFO("filled with " << full.size() << " entries, then errno " << full.refused_errno);
  REQUIRE(full.refused_errno == ENOSPC);

  // Through the watched directory: refused, and the old policy enforces as
  // before. The new set needs two entries (a second address), more than
  // emptying the idle bank can free (at most the one of an older copy).
  write_file(d.policy_dir() + "/p.yaml",
             policy_yaml("fault-reload", py, "enforce", port(allowed) + ", " + port(later) + ", \"127.0.0.3:9\""));
  REQUIRE(eventually([&] { return d.stderr_text().find("is retried in") != std::string::npos; }));
  CHECK(d.stderr_text().find("policy_reload by inotify: rejected") != std::string::npos);
  CHECK(d.stderr_text().find("net_allow4_map") != std::string::npos);
  CHECK(generation(d) == gen);
  CHECK(connect_from(py, allowed.port(), d.dir()) == "ok");
  CHECK(connect_from(py, later.port(), d.dir()) == "EPERM");

  // Through the API: the same, with its own exit code.
  auto r = ctl(d.socket(), {"policy", "reload"});
  INFO(r.out << r.err);
  CHECK(r.code == 6);
  CHECK(r.err.find("refused by the kernel") != std::string::npos);
  CHECK(r.err.find("net_allow4_map") != std::string::npos);
  CHECK(r.err.find("rampartd retries the reload") != std::string::npos);
  CHECK(connect_from(py, allowed.port(), d.dir()) == "ok");
  CHECK(connect_from(py, later.port(), d.dir()) == "EPERM");

  // Room again: a retry applies the directory, no one asks again.
  full.drop();
  REQUIRE(eventually([&] { return generation(d) == gen + 1; }, 8000));
  CHECK(d.stderr_text().find("policy_reload by retry: applied") != std::string::npos);
  CHECK(kw(status(d), "reload_retries") >= 1);
  CHECK(connect_from(py, later.port(), d.dir()) == "ok");
  CHECK(connect_from(py, allowed.port(), d.dir()) == "ok");
}

TEST_CASE(
    "a deleted policy file keeps its policy in force with an alert until an explicit reload, and an unreadable "
    "one is refused",
    "[api][fault][reload]") {
  Daemon d({.api = true});
  REQUIRE(d.ready());
  Listener allowed, other;
  const std::string py = d.dir() + "/policed-python";
  std::filesystem::copy_file("/usr/bin/python3", py);
  chmod(py.c_str(), 0755);
  const std::string file = d.policy_dir() + "/p.yaml";
  write_file(file, policy_yaml("fault-deleted", py, "enforce", "\"127.0.0.1:" + std::to_string(allowed.port()) + "\""));
  REQUIRE(ctl(d.socket(), {"policy", "reload"}).code == 0);
  REQUIRE(connect_from(py, other.port(), d.dir()) == "EPERM");
  auto alerts = [&] {
    std::vector<json> out;
    for (const auto& e : d.events())
      if (e["type"] == "policy_alert") out.push_back(e);
    return out;
  };

  // Deleted (rm, a config-management slip, an attacker): the watched
  // directory reloads, and the policy stays, said loudly.
  std::filesystem::remove(file);
  REQUIRE(eventually([&] { return d.stderr_text().find("ALERT: policy file " + file) != std::string::npos; }));
  CHECK(d.stderr_text().find("its policies (fault-deleted) stay in force") != std::string::npos);
  CHECK(connect_from(py, other.port(), d.dir()) == "EPERM");
  CHECK(connect_from(py, allowed.port(), d.dir()) == "ok");
  auto a = alerts();
  REQUIRE(a.size() == 1);
  CHECK(a[0]["file"] == file);
  CHECK(a[0]["reason"] == "file_deleted");
  CHECK(a[0]["policies"] == json::array({"fault-deleted"}));
  CHECK(a[0]["action"] == "kept");
  auto list = json::parse(ctl(d.socket(), {"--json", "policy", "list"}).out);
  REQUIRE(list["policies"].size() == 1);
  CHECK(list["policies"][0]["kept"].get<std::string>().find("deleted") != std::string::npos);
  CHECK(ctl(d.socket(), {"policy", "list"}).out.find("(DELETED, kept)") != std::string::npos);

  // Unreadable (a dangling symlink): the reload is refused, naming it; nothing changes.
  const auto gen = generation(d);
  const std::string dangling = d.policy_dir() + "/q.yaml";
  std::filesystem::create_symlink(d.dir() + "/nowhere.yaml", dangling);
  REQUIRE(eventually([&] { return d.stderr_text().find(dangling + ":1:1: cannot read") != std::string::npos; }));
  CHECK(generation(d) == gen);
  CHECK(connect_from(py, other.port(), d.dir()) == "EPERM");
  std::filesystem::remove(dangling);
  REQUIRE(eventually([&] { return generation(d) == gen + 1; }));
  CHECK(alerts().size() == 1);  // still kept, not alerted again
  CHECK(connect_from(py, other.port(), d.dir()) == "EPERM");

  // The operator confirms: the removal applies.
  auto r = json::parse(ctl(d.socket(), {"--json", "policy", "reload"}).out);
  CHECK(r["applied"] == true);
  CHECK(r["removed"] == json::array({"fault-deleted"}));
  CHECK(connect_from(py, other.port(), d.dir()) == "ok");
  CHECK(json::parse(ctl(d.socket(), {"--json", "policy", "list"}).out).value("policies", json::array()).empty());
}
