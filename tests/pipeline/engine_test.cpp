// Pipeline tier: recorded kernel records go down the engine's stages
// (enrich, evaluate, score, act, emit) with a fake kernel that records
// every map write and kill. No privileges, no BPF: what is asserted is what
// an operator sees in the JSON lines and what the kernel would hold.
#include "engine/engine.h"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "engine/mechanism.h"

using namespace rampart;
using nlohmann::json;

namespace {

// Processes that do not exist on this machine (above pid_max's default).
constexpr uint32_t kPid = 4190001, kParent = 4190000, kChild = 4190002;

class FakeKernel final : public engine::Kernel, public enforce::MapWriter {
 public:
  std::map<uint32_t, uint32_t> assigned;    // tgid → policy id
  std::map<uint32_t, rp_verdict> verdicts;  // tgid → verdict
  std::vector<uint32_t> killed;
  std::set<uint32_t> dead;
  std::map<uint32_t, rp_policy_rule> rules;  // kernel id → rule
  std::vector<std::pair<uint32_t, uint32_t>> cleared;
  int refuse_verdicts = 0;  // errno for set_verdict, 0: accept
  int refuse_rules = 0;     // errno for set_policy_rule, 0: accept

  uint32_t policy_of(uint32_t tgid) const override {
    auto it = assigned.find(tgid);
    return it == assigned.end() ? 0 : it->second;
  }
  std::optional<rp_verdict> verdict_of(uint32_t tgid) const override {
    auto it = verdicts.find(tgid);
    if (it == verdicts.end()) return std::nullopt;
    return it->second;
  }
  Result<void> set_verdict(uint32_t tgid, const rp_verdict& v) override {
    if (refuse_verdicts) return fail("verdict_map update", refuse_verdicts);
    verdicts[tgid] = v;
    return {};
  }
  Result<void> assign_process(uint32_t tgid, uint32_t id) override {
    if (id)
      assigned[tgid] = id;
    else
      assigned.erase(tgid);
    return {};
  }
  bool kill(uint32_t tgid, uint64_t) override {
    killed.push_back(tgid);
    return true;
  }
  bool alive(uint32_t tgid) const override { return !dead.count(tgid); }
  std::vector<uint32_t> net_denied() const override {
    std::vector<uint32_t> out;
    for (const auto& [tgid, v] : verdicts)
      if (v.flags & RP_V_DENY_NET) out.push_back(tgid);
    return out;
  }
  // The socket inodes each process holds; the passes over them, by pid.
  std::map<uint32_t, std::vector<uint64_t>> sockets;
  std::vector<uint32_t> socket_passes;
  uint32_t fail_sockets = 0;  // sockets each pass reports it could not take
  engine::SocketTake take_sockets(uint32_t tgid, const rp_proc& owner, std::unordered_set<uint64_t>& seen) override {
    socket_passes.push_back(tgid);
    engine::SocketTake r;
    if (owner.tgid != tgid) return r;
    for (uint64_t ino : sockets[tgid])
      if (seen.insert(ino).second) ++r.taken;
    r.failed = fail_sockets;
    if (r.failed) r.error = "pidfd_getfd: Operation not permitted";
    return r;
  }
  enforce::MapWriter& maps() override { return *this; }
  std::vector<std::pair<uint32_t, uint32_t>> process_policies() const override {
    return {assigned.begin(), assigned.end()};
  }
  Result<void> clear_policy_ids(uint32_t lo, uint32_t hi, bool exe_only) override {
    cleared.emplace_back(lo, hi);
    if (!exe_only)
      for (auto it = rules.begin(); it != rules.end();)
        it = it->first >= lo && it->first <= hi ? rules.erase(it) : ++it;
    return {};
  }
  // enforce::MapWriter
  Result<void> set_policy_rule(uint32_t id, const rp_policy_rule& rule) override {
    if (refuse_rules) return fail("policy_map update", refuse_rules);
    rules[id] = rule;
    return {};
  }
  Result<void> add_net4(enforce::NetList, uint32_t, const uint8_t (&)[4], uint8_t, const rp_port_set&) override {
    return {};
  }
  Result<void> add_net6(enforce::NetList, uint32_t, const uint8_t (&)[16], uint8_t, const rp_port_set&) override {
    return {};
  }
  Result<void> assign_exe(const rp_exe_key&, uint32_t) override { return {}; }
  Result<void> assign_cgroup(uint64_t, uint32_t) override { return {}; }
};

// A mechanism that can be told to refuse the next set, like fanotify
// refusing a mark.
class FakeMechanism final : public engine::Mechanism {
 public:
  bool refuse = false;
  int staged = 0, committed = 0, aborted = 0;
  const char* name() const override { return "fake"; }
  Result<void> stage(engine::Candidate&) override {
    ++staged;
    if (refuse) return fail("fake mechanism refused the set");
    return {};
  }
  void commit(bool) override { ++committed; }
  void abort() override { ++aborted; }
};

rp_proc proc(uint32_t tgid, uint32_t ppid, const char* comm) {
  rp_proc p{};
  p.pid = p.tgid = tgid;
  p.ppid = ppid;
  p.uid = p.euid = 1000;
  p.start_ns = 1000 + tgid;
  std::strncpy(p.comm, comm, sizeof(p.comm) - 1);
  return p;
}

template <typename T>
T record(uint32_t type, const rp_proc& p) {
  T e{};
  e.hdr.type = type;
  e.hdr.size = sizeof(T);
  e.hdr.ts_ns = 5'000'000'000;
  e.proc = p;
  return e;
}

rp_exec_event exec_event(uint32_t tgid, uint32_t ppid, const char* path) {
  auto e = record<rp_exec_event>(RP_EV_EXEC, proc(tgid, ppid, "probe"));
  std::strncpy(e.filename, path, sizeof(e.filename) - 1);
  const char args[] = "probe\0--flag";
  std::memcpy(e.args, args, sizeof(args));
  e.args_len = sizeof(args);
  e.argc = 2;
  return e;
}

rp_file_event chmod_setuid(uint32_t tgid) {
  auto e = record<rp_file_event>(RP_EV_CHMOD, proc(tgid, kParent, "probe"));
  e.mode = 04755;
  std::strcpy(e.path, "/tmp/payload");
  return e;
}

const std::string kPolicy =
    "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: probe\nspec:\n  selector:\n"
    "    executables: [\"/opt/probe/bin/probe\"]\n  mode: enforce\n"
    "  scoring:\n    thresholds: { alert: 95, deny: 90, quarantine: 60, kill: 25 }\n";

struct Harness {
  config::Config cfg = config::defaults();
  std::string out_path;
  boost::asio::io_context io;
  FakeKernel kernel;
  FakeMechanism mechanism;
  api::EventHub hub;
  std::unique_ptr<engine::Engine> engine;
  size_t read_lines = 0;

  explicit Harness(const std::string& policy_text) {
    char tmpl[] = "/tmp/rampart-pipeline-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    out_path = tmpl;
    auto sink = outputs::JsonlSink::open(out_path);
    REQUIRE(sink);
    engine =
        std::make_unique<engine::Engine>(io, cfg, kernel, std::make_unique<engine::Output>(std::move(*sink)), hub, "");
    auto& rt = engine->policies();
    rt.add_mechanism(mechanism);
    auto set = policy::PolicySet::load_text(policy_text, "test.yaml");
    REQUIRE(set);
    rt.set_initial(std::move(*set), {}, "test.yaml");
    REQUIRE(rt.install_initial());
  }
  ~Harness() { unlink(out_path.c_str()); }

  template <typename T>
  void feed(const T& e) {
    engine->on_record(&e, sizeof(e));
    engine->output().sink().flush();
  }
  // The JSON lines written since the last call.
  std::vector<json> lines() {
    std::ifstream in(out_path);
    std::vector<json> out;
    std::string line;
    size_t n = 0;
    while (std::getline(in, line))
      if (n++ >= read_lines) out.push_back(json::parse(line));
    read_lines = n;
    return out;
  }
};

}  // namespace

TEST_CASE("an exec is written with its file, argv and parent, and put under the policy that selects it", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kParent, 1, "/usr/bin/bash"));
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  auto out = h.lines();
  REQUIRE(out.size() == 2);
  const json& e = out[1];
  CHECK(e["type"] == "exec");
  CHECK(e["proc"]["pid"] == kPid);
  CHECK(e["proc"]["exe"] == "/opt/probe/bin/probe");
  CHECK(e["proc"]["ppid"] == kParent);
  CHECK(e.dump().find("--flag") != std::string::npos);
  // The kernel holds the policy's id for the process (bank 0: id 1).
  CHECK(h.kernel.assigned.at(kPid) == h.engine->policies().kernel_id("probe"));
  CHECK(h.kernel.assigned.at(kPid) == 1);
  CHECK_FALSE(h.kernel.assigned.count(kParent));  // bash: no policy selects it
}

TEST_CASE("a rule hit lowers the score, and an enforce-mode quarantine reaches the verdict map", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.feed(chmod_setuid(kPid));  // rampart.chmod.setuid, 40 points: 100 → 60, quarantine
  auto out = h.lines();
  REQUIRE(out.size() == 2);
  const json& e = out[1];
  CHECK(e["type"] == "chmod");
  CHECK(e.dump().find("rampart.chmod.setuid") != std::string::npos);
  REQUIRE(h.kernel.verdicts.count(kPid));
  const rp_verdict v = h.kernel.verdicts.at(kPid);
  CHECK(v.level == static_cast<uint32_t>(score::Level::kQuarantine));
  CHECK((v.flags & RP_V_DENY_NET));
  CHECK((v.flags & RP_V_DENY_EXEC));
  CHECK(h.engine->act().verdicts_applied() == 1);
  CHECK(h.kernel.killed.empty());
  // A second hit takes it to kill: the process is killed.
  auto ptrace = record<rp_file_event>(RP_EV_CHMOD, proc(kPid, kParent, "probe"));
  ptrace.mode = 02755;
  std::strcpy(ptrace.path, "/tmp/other");
  h.feed(ptrace);
  CHECK(h.kernel.killed == std::vector<uint32_t>{kPid});
}

TEST_CASE("an audit-mode policy scores but writes nothing into the kernel", "[pipeline]") {
  std::string audit = kPolicy;
  audit.replace(audit.find("mode: enforce"), 13, "mode: audit");
  Harness h(audit);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.feed(chmod_setuid(kPid));
  CHECK(h.kernel.verdicts.empty());
  auto v = h.engine->score().trust().verdict(kPid, 6'000'000'000);
  REQUIRE(v);
  CHECK(v->score == 60);
}

TEST_CASE("a verdict the kernel refuses is reported, kept pending and retried until it lands", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.kernel.refuse_verdicts = E2BIG;
  h.feed(chmod_setuid(kPid));
  CHECK(h.kernel.verdicts.empty());
  CHECK(h.engine->act().pending().size() == 1);
  auto out = h.lines();
  bool retrying = false;
  for (const auto& l : out)
    if (l["type"] == "kernel_write") {
      CHECK(l["map"] == "verdict_map");
      CHECK(l["action"] == "retrying");
      CHECK(l["why"] == "score");
      CHECK(l["proc"]["pid"] == kPid);
      retrying = true;
    }
  CHECK(retrying);
  // The map frees up: the retry (after 100 ms) lands.
  h.kernel.refuse_verdicts = 0;
  h.io.run_for(std::chrono::milliseconds(400));
  REQUIRE(h.kernel.verdicts.count(kPid));
  CHECK(h.kernel.verdicts.at(kPid).level == static_cast<uint32_t>(score::Level::kQuarantine));
  CHECK(h.engine->act().pending().size() == 0);
  bool applied = false;
  for (const auto& l : h.lines())
    if (l["type"] == "kernel_write" && l["action"] == "applied") applied = true;
  CHECK(applied);
}

TEST_CASE("a pending write of a process that exits is abandoned", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.kernel.refuse_verdicts = ENOSPC;
  h.feed(chmod_setuid(kPid));
  REQUIRE(h.engine->act().pending().size() == 1);
  h.feed(record<rp_exit_event>(RP_EV_EXIT, proc(kPid, kParent, "probe")));
  CHECK(h.engine->act().pending().size() == 0);
  bool abandoned = false;
  for (const auto& l : h.lines())
    if (l["type"] == "kernel_write" && l["action"] == "abandoned") abandoned = true;
  CHECK(abandoned);
}

TEST_CASE("an enforce event under a kill rule kills the process and names the rule", "[pipeline]") {
  const std::string policy =
      kPolicy +
      "  deny:\n    - id: no-metadata\n      network:\n        connect: [\"169.254.169.254/32:80\"]\n"
      "      action: kill\n";
  Harness h(policy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  auto e = record<rp_enforce_event>(RP_EV_ENFORCE, proc(kPid, kParent, "probe"));
  e.op = RP_EV_CONNECT;
  e.policy_id = h.kernel.assigned.at(kPid);
  e.mechanism = RP_MECH_CGROUP_SOCK;
  e.action = RP_ACT_DENIED;
  e.reason = RP_REASON_DENY_RULE;
  e.family = 4;
  e.port = 80;
  const uint8_t addr[4] = {169, 254, 169, 254};
  std::memcpy(e.addr, addr, 4);
  h.feed(e);
  CHECK(h.kernel.killed == std::vector<uint32_t>{kPid});
  auto out = h.lines();
  REQUIRE(out.size() == 2);
  CHECK(out[1]["type"] == "enforce");
  CHECK(out[1].dump().find("no-metadata") != std::string::npos);
  CHECK(h.engine->emit().denies() == 1);
}

TEST_CASE("a reload moves every process to the new bank, and a mechanism that refuses rolls it all back",
          "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  auto& rt = h.engine->policies();
  REQUIRE(h.kernel.assigned.at(kPid) == 1);
  const uint64_t gen = rt.generation();

  // Applied: the new set goes into the other bank, and the process follows.
  std::string changed = kPolicy;
  changed.replace(changed.find("quarantine: 60"), 14, "quarantine: 55");
  auto r = rt.reload("", changed, "edit.yaml", false);
  CHECK(r.applied);
  CHECK(r.errors.empty());
  CHECK(r.changed == std::vector<std::string>{"probe"});
  CHECK(rt.generation() == gen + 1);
  CHECK(rt.base() == engine::kBank);
  CHECK(h.kernel.assigned.at(kPid) == engine::kBank + 1);
  CHECK(h.mechanism.committed == 2);  // the initial install and this one

  // Refused by a mechanism: nothing changes, the process stays where it was.
  h.mechanism.refuse = true;
  auto refused = rt.reload("", kPolicy, "again.yaml", false);
  CHECK_FALSE(refused.applied);
  CHECK(refused.kernel_refused);
  CHECK(refused.errors_text().find("fake mechanism refused") != std::string::npos);
  CHECK(rt.generation() == gen + 1);
  CHECK(rt.base() == engine::kBank);
  CHECK(h.kernel.assigned.at(kPid) == engine::kBank + 1);
  CHECK(h.mechanism.aborted == 1);
  CHECK(rt.by_id(engine::kBank + 1).name == "probe");

  // An invalid set is rejected with its place, before any mechanism is asked.
  h.mechanism.refuse = false;
  const int staged = h.mechanism.staged;
  auto bad = rt.reload("", "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: x\nspec:\n  mode: bogus\n",
                       "bad.yaml", false);
  CHECK_FALSE(bad.applied);
  CHECK_FALSE(bad.kernel_refused);
  // Two errors, each with its place: the missing selector, and the mode.
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[1].pos.file == "bad.yaml");
  CHECK(bad.errors[1].pos.line == 6);
  CHECK(bad.errors[1].field == "spec.mode");
  CHECK(h.mechanism.staged == staged);
}

TEST_CASE("the kernel refusing a rule write during a reload leaves the set in force", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  auto& rt = h.engine->policies();
  h.kernel.refuse_rules = ENOSPC;
  auto r = rt.reload("", kPolicy, "again.yaml", false);
  CHECK_FALSE(r.applied);
  CHECK(r.kernel_refused);
  CHECK(rt.base() == 0);
  CHECK(h.kernel.assigned.at(kPid) == 1);
  CHECK(h.mechanism.staged == 1);  // the map bank refused before the fake was asked
}

TEST_CASE("a record that does not decode is counted, not handled", "[pipeline]") {
  Harness h(kPolicy);
  auto e = exec_event(kPid, kParent, "/opt/probe/bin/probe");
  e.hdr.size = 12;  // shorter than the record
  h.feed(e);
  CHECK(h.engine->received() == 1);
  uint64_t errors = 0;
  for (auto n : h.engine->decode_errors()) errors += n;
  CHECK(errors == 1);
  CHECK(h.lines().empty());
}

TEST_CASE("a fork passes the parent's distrust on to the child", "[pipeline]") {
  Harness h(kPolicy);
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.feed(chmod_setuid(kPid));
  auto f = record<rp_fork_event>(RP_EV_FORK, proc(kPid, kParent, "probe"));
  f.child_pid = f.child_tgid = kChild;
  f.child_start_ns = 7;
  h.feed(f);
  auto v = h.engine->score().trust().verdict(kChild, 6'000'000'000);
  REQUIRE(v);
  CHECK(v->score < 100);
  CHECK(h.engine->table().find(kChild) != nullptr);
}

TEST_CASE(
    "a quarantine takes the sockets its process holds when the verdict lands, looks again while it holds, and stops "
    "when it is released",
    "[pipeline]") {
  Harness h(kPolicy);
  h.kernel.sockets[kPid] = {11, 12};
  h.feed(exec_event(kPid, kParent, "/opt/probe/bin/probe"));
  h.feed(chmod_setuid(kPid));  // quarantine
  REQUIRE((h.kernel.verdicts.at(kPid).flags & RP_V_DENY_NET));
  auto& act = h.engine->act();
  CHECK(h.kernel.socket_passes == std::vector<uint32_t>{kPid});
  CHECK(act.sockets_taken() == 2);
  // Runs the loop until `done`, for 3 s at most.
  auto run_until = [&](auto done) {
    h.io.restart();
    for (int i = 0; i < 60 && !done(); ++i) h.io.run_for(std::chrono::milliseconds(50));
    return done();
  };
  // A socket passed to it later is taken on the next scan, once.
  h.kernel.sockets[kPid].push_back(13);
  CHECK(run_until([&] { return h.kernel.socket_passes.size() >= 2; }));
  CHECK(act.sockets_taken() == 3);
  // A child forked under the verdict has its sockets taken too.
  h.kernel.sockets[kChild] = {21};
  auto f = record<rp_fork_event>(RP_EV_FORK, proc(kPid, kParent, "probe"));
  f.child_pid = f.child_tgid = kChild;
  f.child_start_ns = 7;
  h.feed(f);
  h.kernel.verdicts[kChild] = h.kernel.verdicts.at(kPid);  // as the kernel copies it at fork
  CHECK(run_until([&] { return act.sockets_taken() == 4; }));
  // What could not be taken is counted.
  h.kernel.fail_sockets = 1;
  CHECK(run_until([&] { return act.sockets_take_failed() >= 1; }));
  // Released: no more passes.
  h.kernel.verdicts.erase(kPid);
  h.kernel.verdicts.erase(kChild);
  h.io.restart();
  const size_t passes = h.kernel.socket_passes.size();
  h.io.run_for(std::chrono::milliseconds(2 * engine::kSocketScanMs + 200));
  CHECK(h.kernel.socket_passes.size() == passes);
}
