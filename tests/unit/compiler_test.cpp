// Unit tests for the policy compiler, with a fake MapWriter that records
// what would be written to the kernel.
#include "enforce/compiler.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using rampart::Result;
using rampart::enforce::install;
using rampart::enforce::merge_ranges;
using rampart::policy::PolicySet;

static bool operator==(const rp_port_range& a, const rp_port_range& b);

namespace {

struct FakeMaps : rampart::enforce::MapWriter {
  std::map<uint32_t, rp_policy_rule> rules;
  struct Net {
    rampart::enforce::NetList list;
    uint32_t action;
    uint32_t policy;
    std::vector<uint8_t> addr;
    uint8_t prefix;
    std::vector<rp_port_range> ports;
  };
  std::vector<Net> nets;
  std::vector<std::pair<rp_exe_key, uint32_t>> exes;

  Result<void> set_policy_rule(uint32_t id, const rp_policy_rule& r) override {
    rules[id] = r;
    return {};
  }
  Result<void> add_net4(rampart::enforce::NetList l, uint32_t id, const uint8_t (&a)[4], uint8_t p,
                        const rp_port_set& s) override {
    nets.push_back({l, s.action, id, {a, a + 4}, p, {s.r, s.r + s.n}});
    return {};
  }
  Result<void> add_net6(rampart::enforce::NetList l, uint32_t id, const uint8_t (&a)[16], uint8_t p,
                        const rp_port_set& s) override {
    nets.push_back({l, s.action, id, {a, a + 16}, p, {s.r, s.r + s.n}});
    return {};
  }
  Result<void> assign_exe(const rp_exe_key& k, uint32_t id) override {
    exes.emplace_back(k, id);
    return {};
  }
  Result<void> assign_process(uint32_t, uint32_t) override { return {}; }
  Result<void> assign_cgroup(uint64_t, uint32_t) override { return {}; }
  Result<void> set_verdict(uint32_t, const rp_verdict&) override { return {}; }

  const Net* find(uint8_t prefix) const {
    for (const auto& n : nets)
      if (n.prefix == prefix) return &n;
    return nullptr;
  }
};

std::string policy_yaml(const std::string& name, const std::string& mode, const std::string& allow) {
  return "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: " + name +
         "\nspec:\n  selector:\n    executables: [\"/usr/bin/" + name + "\"]\n  mode: " + mode + "\n" + allow;
}

}  // namespace

// Global, where lookup for the ABI's (global) type finds it.
static bool operator==(const rp_port_range& a, const rp_port_range& b) { return a.lo == b.lo && a.hi == b.hi; }

TEST_CASE("merge_ranges sorts and joins overlapping and adjacent ranges", "[unit]") {
  auto r = merge_ranges({{80, 80}, {8000, 8100}, {81, 90}, {8050, 9000}, {443, 443}});
  REQUIRE(r.size() == 3);
  CHECK(r[0] == rp_port_range{80, 90});
  CHECK(r[1] == rp_port_range{443, 443});
  CHECK(r[2] == rp_port_range{8000, 9000});
  CHECK(merge_ranges({{0, 65535}, {22, 22}}).size() == 1);
  CHECK(merge_ranges({}).empty());
}

TEST_CASE("a narrower network carries the ports of the wider ones that contain it", "[unit]") {
  auto set = PolicySet::load_text(
      policy_yaml("app", "enforce",
                  "  allow:\n    network:\n      connect: [\"10.0.0.0/8:5432\", \"10.1.0.0/16:80\", "
                  "\"10.1.0.0/16:443\", \"192.168.0.0/16:22\"]\n      listen: [8080, \"9000-9001\"]\n"),
      "app.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  FakeMaps maps;
  auto c = install(*set, maps, [](const std::string&) { return std::optional<rp_exe_key>(rp_exe_key{42, 7, 0}); });
  REQUIRE(c.has_value());
  CHECK(c->id_of("app") == 1);
  CHECK(c->id_of("nope") == 0);

  REQUIRE(maps.rules.count(1) == 1);
  const auto& rule = maps.rules[1];
  CHECK(rule.mode == RP_MODE_ENFORCE);
  CHECK(rule.restrict_connect == 1);
  CHECK(rule.restrict_bind == 1);
  CHECK(rule.deny_priv == 0);  // no privilege section: nothing forbidden
  REQUIRE(rule.n_listen == 2);
  CHECK(rule.listen[0] == rp_port_range{8080, 8080});
  CHECK(rule.listen[1] == rp_port_range{9000, 9001});

  REQUIRE(maps.nets.size() == 3);  // the two /16 entries for 10.1 merged into one
  const auto* wide = maps.find(8);
  REQUIRE(wide != nullptr);
  CHECK(wide->ports == std::vector<rp_port_range>{{5432, 5432}});
  // 10.1.0.0/16 gets 80 and 443, and 5432 from 10.0.0.0/8 which contains it.
  const auto* narrow = [&]() -> const FakeMaps::Net* {
    for (const auto& n : maps.nets)
      if (n.prefix == 16 && n.addr[0] == 10) return &n;
    return nullptr;
  }();
  REQUIRE(narrow != nullptr);
  CHECK(narrow->ports == std::vector<rp_port_range>{{80, 80}, {443, 443}, {5432, 5432}});
  // 192.168.0.0/16 is not inside 10/8: only its own port.
  for (const auto& n : maps.nets)
    if (n.addr[0] == 192) CHECK(n.ports == std::vector<rp_port_range>{{22, 22}});

  REQUIRE(maps.exes.size() == 1);
  CHECK(maps.exes[0].first.ino == 42);
  CHECK(maps.exes[0].second == 1);
}

TEST_CASE("audit and learn modes compile to audit, and a policy without allow-lists restricts nothing", "[unit]") {
  auto set = PolicySet::load_text(policy_yaml("a", "audit", "") + "---\n" + policy_yaml("b", "learn", ""), "ab.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  FakeMaps maps;
  auto c = install(*set, maps, [](const std::string&) { return std::nullopt; });
  REQUIRE(c.has_value());
  REQUIRE(maps.rules.size() == 2);
  for (const auto& [id, rule] : maps.rules) {
    CHECK(rule.mode == RP_MODE_AUDIT);
    CHECK(rule.restrict_connect == 0);
    CHECK(rule.restrict_bind == 0);
  }
  // Executables that do not exist now cannot be keyed by inode: said in a note.
  CHECK(maps.exes.empty());
  REQUIRE(c->notes.size() == 2);
  CHECK(c->notes[0].find("does not exist now") != std::string::npos);
}

TEST_CASE("more port ranges than the kernel holds for one network is an error naming the rule", "[unit]") {
  std::string ports;
  for (int i = 0; i < RP_MAX_PORT_RANGES + 1; ++i)
    ports += std::string(i ? ", " : "") + "\"10.0.0.0/8:" + std::to_string(1000 + 10 * i) + "\"";
  auto set = PolicySet::load_text(
      policy_yaml("many", "enforce", "  allow:\n    network:\n      connect: [" + ports + "]\n"), "many.yaml");
  REQUIRE(set.has_value());
  FakeMaps maps;
  auto c = install(*set, maps, [](const std::string&) { return std::nullopt; });
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().what().find("many.yaml:11:") != std::string::npos);
  CHECK(c.error().what().find("port ranges") != std::string::npos);
}

TEST_CASE("privilege switches compile to the kernel's deny bits", "[unit]") {
  auto set = PolicySet::load_text(
      policy_yaml("p", "enforce", "  allow:\n    privilege: { setuid: false, capset: true, ptrace: false }\n"),
      "p.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  FakeMaps maps;
  REQUIRE(install(*set, maps, [](const std::string&) { return std::nullopt; }).has_value());
  CHECK(maps.rules[1].deny_priv == (RP_PRIV_SETUID | RP_PRIV_PTRACE));
}

TEST_CASE("module loading, bpf, mount and namespaces compile to their deny bits", "[unit]") {
  auto set = PolicySet::load_text(
      policy_yaml("p", "enforce",
                  "  allow:\n    privilege: { moduleLoad: false, bpf: false, mount: false, namespaces: false }\n"),
      "p.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  CHECK_FALSE(set->policies()[0].allow.bpf_expected);
  FakeMaps maps;
  REQUIRE(install(*set, maps, [](const std::string&) { return std::nullopt; }).has_value());
  CHECK(maps.rules[1].deny_priv == (RP_PRIV_MODULE | RP_PRIV_BPF | RP_PRIV_MOUNT | RP_PRIV_NS));
}

TEST_CASE("network deny rules go to the deny maps with their action, apart from the allow-list", "[unit]") {
  auto set = PolicySet::load_text(policy_yaml("p", "enforce",
                                              "  allow:\n    network: { connect: [\"10.0.0.0/8:443\"] }\n"
                                              "  deny:\n"
                                              "    - id: no-metadata\n"
                                              "      network: { connect: [\"169.254.169.254/32:80\"] }\n"
                                              "      action: kill\n"
                                              "    - id: watch-dns\n"
                                              "      network: { connect: [\"0.0.0.0/0:53\"] }\n"
                                              "      action: alert\n"),
                                  "p.yaml");
  INFO((set ? std::string() : set.error().what()));
  REQUIRE(set.has_value());
  FakeMaps maps;
  REQUIRE(install(*set, maps, [](const std::string&) { return std::nullopt; }).has_value());
  CHECK(maps.rules[1].has_net_deny == 1);
  CHECK(maps.rules[1].restrict_connect == 1);
  const auto* allow = maps.find(8);
  REQUIRE(allow != nullptr);
  CHECK(allow->list == rampart::enforce::NetList::kAllow);
  const auto* metadata = maps.find(32);
  REQUIRE(metadata != nullptr);
  CHECK(metadata->list == rampart::enforce::NetList::kDeny);
  // The /32 lies inside 0.0.0.0/0, so it carries port 53 too, under the stronger action.
  CHECK(metadata->action == RP_NET_KILL);
  REQUIRE(metadata->ports.size() == 2);
  CHECK(metadata->ports[0].lo == 53);
  CHECK(metadata->ports[1].lo == 80);
  const auto* dns = maps.find(0);
  REQUIRE(dns != nullptr);
  CHECK(dns->action == RP_NET_ALERT);
}

TEST_CASE("a policy without deny rules leaves the deny maps alone", "[unit]") {
  auto set = PolicySet::load_text(policy_yaml("p", "enforce", "  allow:\n    network: { connect: [\"10.0.0.0/8\"] }\n"),
                                  "p.yaml");
  REQUIRE(set.has_value());
  FakeMaps maps;
  REQUIRE(install(*set, maps, [](const std::string&) { return std::nullopt; }).has_value());
  CHECK(maps.rules[1].has_net_deny == 0);
  for (const auto& n : maps.nets) CHECK(n.list == rampart::enforce::NetList::kAllow);
}
