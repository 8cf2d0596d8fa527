// Unit tests for the policy model (daemon/policy): a full policy loads with
// every field as written; every kind of bad input is rejected with the exact
// file:line:column and a message that says what is wrong; path globs, network
// rules and selector precedence behave as documented; the example policies in
// config/policies/ load.
#include "policy/policy.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "policy/patterns.h"

using namespace rampart::policy;
namespace fs = std::filesystem;

namespace {

const std::string kCid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kPod = "3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b";

// The error text for `text`, which must fail to load.
std::string error_for(const std::string& text) {
  auto r = PolicySet::load_text(text, "p.yaml");
  INFO("input:\n" << text);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == 0);
  return r.error().message;
}

// True when one line of `errors` is "<at>: ...<fragment>...".
bool has_error(const std::string& errors, const std::string& at, const std::string& fragment) {
  std::istringstream in(errors);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(at + ": ", 0) == 0 && line.find(fragment) != std::string::npos) return true;
  }
  return false;
}

#define CHECK_ERROR(text, at, fragment)      \
  do {                                       \
    std::string errors_ = error_for(text);   \
    INFO("errors:\n" << errors_);            \
    CHECK(has_error(errors_, at, fragment)); \
  } while (0)

// A valid policy document with `spec_tail` appended under spec (two-space
// indented lines). Its selector sits on line 7.
std::string doc(const std::string& name, const std::string& spec_tail = "",
                const std::string& selector = "executables: [/usr/bin/app]") {
  // clang-format off
  return "apiVersion: rampart.dev/v1\n"   // 1
         "kind: Policy\n"                 // 2
         "metadata:\n"                    // 3
         "  name: " + name + "\n"         // 4
         "spec:\n"                        // 5
         "  selector:\n"                  // 6
         "    " + selector + "\n" +       // 7
         spec_tail;
  // clang-format on
}

// Documents joined into one multi-document text.
std::string join(const std::vector<std::string>& docs) {
  std::string out;
  for (const std::string& d : docs) out += (out.empty() ? "" : "---\n") + d;
  return out;
}

PathPattern pat(const std::string& text) {
  auto p = parse_path_pattern(text);
  INFO(text << ": " << (p ? "" : p.error().message));
  REQUIRE(p.has_value());
  return *p;
}

// Writes files into a fresh temporary directory, removed on destruction.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/rampart-policy-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
};

}  // namespace

TEST_CASE("a full policy loads with every field as written", "[unit]") {
  std::string text = R"(# a comment
apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: web-frontend
  description: "the web tier"
spec:
  selector:
    executables: ["/usr/sbin/nginx", "/opt/app/bin/*", "/opt/tools/"]
    cgroupPrefixes: ["/system.slice/nginx.service/"]
    containerIds: ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
    podUids: ["3f9a1c2e-7b4d-4e8f-9a0b-1c2d3e4f5a6b"]
    uids: [33, 1000]
  mode: enforce
  allow:
    exec: ["/usr/sbin/nginx", "/usr/bin/*"]
    files:
      read: ["/etc/nginx/", "/var/www/**"]
      write: ["/var/log/nginx/"]
    network:
      connect: ["10.0.0.0/8:5432", "127.0.0.1:8000-8100", "[::1]:443", "0.0.0.0/0"]
      listen: [80, 443, "8000-8100"]
    privilege:
      setuid: false
      capset: false
  deny:
    - id: no-shadow
      description: "no credentials"
      files: { read: ["/etc/shadow"], write: ["/etc/passwd"] }
      exec: ["/tmp/**"]
      network: { connect: ["169.254.169.254/32:80"] }
      action: kill
      weight: 75
    - id: meta.data
      network: { connect: ["[2001:db8::/32]:80"] }
  scoring:
    weights: { rampart.exec.tmp: 40, no-shadow: 0 }
    thresholds: { alert: 90, deny: 70, quarantine: 30, kill: 0 }
    decayPerMinute: 7
    inheritPercent: 100
)";
  auto r = PolicySet::load_text(text, "full.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  REQUIRE(r->policies().size() == 1);
  const Policy& p = r->policies()[0];
  CHECK(p.api_version == "rampart.dev/v1");
  CHECK(p.name == "web-frontend");
  CHECK(p.description == "the web tier");
  CHECK_FALSE(p.builtin);
  CHECK(p.pos.str() == "full.yaml:2:1");
  CHECK(p.mode == Mode::kEnforce);

  const Selector& s = p.selector;
  CHECK(s.pos.str() == "full.yaml:9:5");
  REQUIRE(s.executables.size() == 3);
  CHECK(s.executables[0].text == "/usr/sbin/nginx");
  CHECK(s.executables[0].kind == PathPattern::Kind::kExact);
  CHECK(s.executables[0].pos.str() == "full.yaml:9:19");
  CHECK(s.executables[1].kind == PathPattern::Kind::kGlob);
  CHECK(s.executables[2].kind == PathPattern::Kind::kPrefix);
  CHECK(s.cgroup_prefixes == std::vector<std::string>{"/system.slice/nginx.service"});  // trailing '/' dropped
  CHECK(s.container_ids == std::vector<std::string>{kCid});
  CHECK(s.pod_uids == std::vector<std::string>{kPod});
  CHECK(s.uids == std::vector<uint32_t>{33, 1000});

  const Allow& a = p.allow;
  CHECK(a.has_exec);
  REQUIRE(a.exec.size() == 2);
  CHECK(a.exec[1].text == "/usr/bin/*");
  CHECK(a.has_file_read);
  REQUIRE(a.file_read.size() == 2);
  CHECK(a.file_read[0].kind == PathPattern::Kind::kPrefix);
  CHECK(a.file_read[1].kind == PathPattern::Kind::kGlob);
  CHECK(a.has_file_write);
  REQUIRE(a.file_write.size() == 1);
  CHECK(a.has_connect);
  REQUIRE(a.connect.size() == 4);
  CHECK(a.connect[0].family == 4);
  CHECK(a.connect[0].prefix_len == 8);
  CHECK(a.connect[0].addr[0] == 10);
  CHECK(a.connect[0].port_lo == 5432);
  CHECK(a.connect[0].port_hi == 5432);
  CHECK(a.connect[1].prefix_len == 32);
  CHECK(a.connect[1].port_lo == 8000);
  CHECK(a.connect[1].port_hi == 8100);
  CHECK(a.connect[2].family == 6);
  CHECK(a.connect[2].prefix_len == 128);
  CHECK(a.connect[2].addr[15] == 1);
  CHECK(a.connect[2].port_lo == 443);
  CHECK(a.connect[3].prefix_len == 0);
  CHECK(a.connect[3].port_lo == 0);
  CHECK(a.connect[3].port_hi == 65535);
  CHECK(a.has_listen);
  REQUIRE(a.listen.size() == 3);
  CHECK(a.listen[0].lo == 80);
  CHECK(a.listen[0].hi == 80);
  CHECK(a.listen[2].lo == 8000);
  CHECK(a.listen[2].hi == 8100);
  CHECK_FALSE(a.setuid);
  CHECK_FALSE(a.capset);

  REQUIRE(p.deny.size() == 2);
  const DenyRule& d = p.deny[0];
  CHECK(d.id == "no-shadow");
  CHECK(d.description == "no credentials");
  CHECK(d.pos.str() == "full.yaml:27:7");
  REQUIRE(d.file_read.size() == 1);
  CHECK(d.file_read[0].text == "/etc/shadow");
  REQUIRE(d.file_write.size() == 1);
  REQUIRE(d.exec.size() == 1);
  REQUIRE(d.connect.size() == 1);
  CHECK(d.connect[0].port_lo == 80);
  CHECK(d.action == Action::kKill);
  CHECK(d.weight == 75);
  CHECK(p.deny[1].id == "meta.data");
  CHECK(p.deny[1].action == Action::kDeny);  // defaults
  CHECK(p.deny[1].weight == 50);
  REQUIRE(p.deny[1].connect.size() == 1);
  CHECK(p.deny[1].connect[0].prefix_len == 32);

  const Scoring& sc = p.scoring;
  CHECK(sc.weights == std::map<std::string, uint32_t>{{"rampart.exec.tmp", 40}, {"no-shadow", 0}});
  CHECK(sc.thresholds.alert == 90);
  CHECK(sc.thresholds.deny == 70);
  CHECK(sc.thresholds.quarantine == 30);
  CHECK(sc.thresholds.kill == 0);
  CHECK(sc.decay_per_minute == 7);
  CHECK(sc.inherit_percent == 100);
}

TEST_CASE("a minimal policy takes the documented defaults", "[unit]") {
  auto r = PolicySet::load_text(doc("minimal"), "m.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  const Policy& p = r->policies().at(0);
  CHECK(p.mode == Mode::kAudit);
  CHECK_FALSE(p.allow.has_exec);
  CHECK_FALSE(p.allow.has_file_read);
  CHECK_FALSE(p.allow.has_file_write);
  CHECK_FALSE(p.allow.has_connect);
  CHECK_FALSE(p.allow.has_listen);
  CHECK(p.allow.setuid);
  CHECK(p.allow.capset);
  CHECK(p.deny.empty());
  CHECK(p.scoring.weights.empty());
  CHECK(p.scoring.thresholds.alert == 80);
  CHECK(p.scoring.thresholds.deny == 60);
  CHECK(p.scoring.thresholds.quarantine == 40);
  CHECK(p.scoring.thresholds.kill == 10);
  CHECK(p.scoring.decay_per_minute == 5);
  CHECK(p.scoring.inherit_percent == 50);

  // An empty allow list is a restriction to nothing, not the absence of one.
  auto e = PolicySet::load_text(doc("nothing", "  allow:\n    exec: []\n"), "m.yaml");
  REQUIRE(e.has_value());
  CHECK(e->policies().at(0).allow.has_exec);
  CHECK(e->policies().at(0).allow.exec.empty());
}

TEST_CASE("the default policy audits and selects nothing", "[unit]") {
  Policy d = PolicySet::default_policy();
  CHECK(d.name == "default");
  CHECK(d.builtin);
  CHECK(d.mode == Mode::kAudit);
  CHECK(d.selector.empty());
  CHECK_FALSE(d.allow.has_exec);
  CHECK_FALSE(d.allow.has_connect);
  CHECK(d.deny.empty());
  CHECK(d.scoring.thresholds.alert == Thresholds{}.alert);
  PolicySet empty;
  CHECK(&empty.select(Subject{"/usr/bin/ls", "/user.slice", "", "", 1000}) == &empty.fallback());
  CHECK(std::string(mode_name(Mode::kEnforce)) == "enforce");
  CHECK(std::string(mode_name(Mode::kLearn)) == "learn");
  CHECK(std::string(action_name(Action::kAlert)) == "alert");
  CHECK(std::string(action_name(Action::kKill)) == "kill");
}

TEST_CASE("several documents in one file load in order", "[unit]") {
  std::string text = doc("one") + "---\n" + doc("two", "", "uids: [5]") + "---\n";  // trailing '---' is harmless
  auto r = PolicySet::load_text(text, "multi.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  REQUIRE(r->policies().size() == 2);
  CHECK(r->policies()[0].name == "one");
  CHECK(r->policies()[1].name == "two");
  CHECK(r->policies()[1].pos.str() == "multi.yaml:9:1");
  // Errors in the second document carry its own line numbers.
  CHECK_ERROR(doc("one") + "---\n" + doc("two", "  mode: strict\n", "uids: [5]"), "p.yaml:16:9",
              "'spec.mode' must be one of audit, enforce, learn, got 'strict'");
}

TEST_CASE("unknown fields are rejected at every level with their full path", "[unit]") {
  CHECK_ERROR(doc("x") + "  allow:\n    files:\n      exec: [/bin/sh]\n", "p.yaml:10:7",
              "unknown field 'spec.allow.files.exec' (expected one of: read, write)");
  CHECK_ERROR("labels: {}\n" + doc("x"), "p.yaml:1:1", "unknown field 'labels'");
  CHECK_ERROR(doc("x", "", "executables: [/a]\n    users: [1]"), "p.yaml:8:5", "unknown field 'spec.selector.users'");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: r\n      exec: [/a]\n      severity: high\n", "p.yaml:11:7",
              "unknown field 'spec.deny[0].severity'");
  CHECK_ERROR(doc("x") + "  scoring:\n    thresholds: { alert: 90, warn: 50 }\n", "p.yaml:9:30",
              "unknown field 'spec.scoring.thresholds.warn'");
  CHECK_ERROR(doc("x") + "  mode: audit\n  mode: enforce\n", "p.yaml:9:3",
              "duplicate field 'spec.mode' (first at p.yaml:8:3)");
}

TEST_CASE("values of the wrong type are rejected", "[unit]") {
  // A string where a list is expected.
  CHECK_ERROR(doc("x") + "  allow:\n    exec: /usr/bin/app\n", "p.yaml:9:11",
              "'spec.allow.exec' must be a list of path patterns, got '/usr/bin/app'");
  // A list where a mapping is expected.
  CHECK_ERROR(doc("x") + "  allow:\n    files: [/etc/]\n", "p.yaml:9:12",
              "'spec.allow.files' must be a mapping, got a list");
  // An empty value where a list is expected points at its key.
  CHECK_ERROR(doc("x") + "  allow:\n    exec:\n", "p.yaml:9:5", "(write [] for an empty list)");
  CHECK_ERROR(doc("x", "", "uids: [33, www-data]"), "p.yaml:7:16", "'spec.selector.uids[1]' must be an integer");
  CHECK_ERROR(doc("x", "", "uids: [\"33\"]"), "p.yaml:7:12", "got the quoted string \"33\"");
  CHECK_ERROR(doc("x", "", "uids: [-1]"), "p.yaml:7:12", "must be an integer (0-4294967294), got '-1'");
  CHECK_ERROR(doc("x") + "  allow:\n    privilege: { setuid: no }\n", "p.yaml:9:26",
              "'spec.allow.privilege.setuid' must be true or false, got 'no'");
  CHECK_ERROR(doc("x") + "  allow:\n    privilege: { capset: \"false\" }\n", "p.yaml:9:26",
              "got the quoted string \"false\"");
  CHECK_ERROR("- a\n- b\n", "p.yaml:1:1", "a policy document must be a mapping, got a list");
  CHECK_ERROR(doc("x") + "  deny:\n    id: r\n", "p.yaml:9:5",
              "'spec.deny' must be a list of deny rules, got a mapping");
}

TEST_CASE("missing required fields are named at the mapping that lacks them", "[unit]") {
  std::string no_api = "kind: Policy\nmetadata:\n  name: x\nspec:\n  selector:\n    uids: [1]\n";
  CHECK_ERROR(no_api, "p.yaml:1:1", "missing required field 'apiVersion'");
  std::string no_kind = "apiVersion: rampart.dev/v1\nmetadata:\n  name: x\nspec:\n  selector:\n    uids: [1]\n";
  CHECK_ERROR(no_kind, "p.yaml:1:1", "missing required field 'kind'");
  std::string no_name =
      "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  description: d\nspec:\n  selector:\n    uids: [1]\n";
  CHECK_ERROR(no_name, "p.yaml:3:1", "missing required field 'metadata.name'");
  std::string no_spec = "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: x\n";
  CHECK_ERROR(no_spec, "p.yaml:1:1", "missing required field 'spec'");
  CHECK_ERROR(no_spec + "spec:\n  mode: audit\n", "p.yaml:5:1", "missing required field 'spec.selector'");
  CHECK_ERROR(doc("x") + "  deny:\n    - exec: [/tmp/**]\n", "p.yaml:9:7", "missing required field 'spec.deny[0].id'");
}

TEST_CASE("wrong apiVersion, kind and policy names are rejected", "[unit]") {
  std::string text = doc("x");
  CHECK_ERROR("apiVersion: v1" + text.substr(text.find('\n')), "p.yaml:1:13",
              "'apiVersion' must be 'rampart.dev/v1', got 'v1'");
  CHECK_ERROR(text.substr(0, text.find("Policy")) + "NetworkPolicy" + text.substr(text.find("Policy") + 6),
              "p.yaml:2:7", "'kind' must be 'Policy', got 'NetworkPolicy'");
  CHECK_ERROR(doc("Web_Frontend"), "p.yaml:4:9", "'metadata.name' 'Web_Frontend' is not a valid name");
  CHECK_ERROR(doc("-web"), "p.yaml:4:9", "starting with a letter or digit");
  CHECK_ERROR(doc(std::string(64, 'a')), "p.yaml:4:9", "is not a valid name");
  CHECK_ERROR(doc("default"), "p.yaml:4:9", "reserved for the built-in default policy");
}

TEST_CASE("an empty selector and a bad mode are rejected", "[unit]") {
  std::string empty = "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: x\nspec:\n  selector: {}\n";
  CHECK_ERROR(empty, "p.yaml:6:13", "'spec.selector' selects nothing");
  CHECK_ERROR(doc("x", "", "executables: []"), "p.yaml:7:5", "'spec.selector' selects nothing");
  CHECK_ERROR(doc("x", "  mode: enforcing\n"), "p.yaml:8:9",
              "'spec.mode' must be one of audit, enforce, learn, got 'enforcing'");
}

TEST_CASE("bad path patterns are rejected", "[unit]") {
  auto exec = [](const std::string& pattern) { return doc("x") + "  allow:\n    exec: [\"" + pattern + "\"]\n"; };
  CHECK_ERROR(exec("/usr/bin/[a-z"), "p.yaml:9:12", "unbalanced '[' at offset 9 in '/usr/bin/[a-z'");
  CHECK_ERROR(exec(""), "p.yaml:9:12", "'spec.allow.exec[0]' must be a non-empty string");
  CHECK_ERROR(exec("bin/sh"), "p.yaml:9:12", "'bin/sh' is relative: it must start with '/'");
  CHECK_ERROR(exec("/usr/**bin"), "p.yaml:9:12", "must be a whole path component");
  CHECK_ERROR(exec("/usr/***/x"), "p.yaml:9:12", "must be a whole path component");
  CHECK_ERROR(exec("/usr/bin/*/"), "p.yaml:9:12", "use '/usr/bin/*/**' for everything below a directory");
  CHECK_ERROR(exec("/usr/../bin/sh"), "p.yaml:9:12", "has a '..' component");
  CHECK_ERROR(exec("/usr//bin/sh"), "p.yaml:9:12", "has an empty component");
  CHECK_ERROR(exec("/usr/[z-a]"), "p.yaml:9:12", "empty range z-a");
  CHECK_ERROR(exec("/usr/[a/b]"), "p.yaml:9:12", "contains '/'");
}

TEST_CASE("bad network rules and ports are rejected", "[unit]") {
  auto connect = [](const std::string& rule) {
    return doc("x") + "  allow:\n    network:\n      connect: [\"" + rule + "\"]\n";
  };
  CHECK_ERROR(connect("10.0.0.256/8"), "p.yaml:10:17", "bad IPv4 address '10.0.0.256'");
  CHECK_ERROR(connect("db.internal:5432"), "p.yaml:10:17", "host names are not resolved");
  CHECK_ERROR(connect("10.0.0.0/33"), "p.yaml:10:17", "prefix length /33 is too long for IPv4 (0-32)");
  CHECK_ERROR(connect("[::1/129]:80"), "p.yaml:10:17", "prefix length /129 is too long for IPv6 (0-128)");
  CHECK_ERROR(connect("10.0.0.1/8"), "p.yaml:10:17", "host bits set in 10.0.0.1/8: did you mean 10.0.0.0/8?");
  CHECK_ERROR(connect("[2001:db8::1/32]"), "p.yaml:10:17", "did you mean 2001:db8::/32?");
  CHECK_ERROR(connect("10.0.0.0/8:70000"), "p.yaml:10:17", "port 70000 is out of range (1-65535)");
  CHECK_ERROR(connect("10.0.0.0/8:http"), "p.yaml:10:17", "port 'http' is not a number");
  CHECK_ERROR(connect("10.0.0.0/8:9000-8000"), "p.yaml:10:17", "port range 9000-8000 is empty (low > high)");
  CHECK_ERROR(connect("[10.0.0.1]:80"), "p.yaml:10:17", "brackets are for IPv6 addresses");
  CHECK_ERROR(connect("[::1:80"), "p.yaml:10:17", "has '[' without ']'");

  auto listen = [](const std::string& ports) {
    return doc("x") + "  allow:\n    network:\n      listen: [" + ports + "]\n";
  };
  CHECK_ERROR(listen("80, 0"), "p.yaml:10:20", "'spec.allow.network.listen[1]': port 0 is out of range (1-65535)");
  CHECK_ERROR(listen("65536"), "p.yaml:10:16", "port 65536 is out of range");
  CHECK_ERROR(listen("\"443-80\""), "p.yaml:10:16", "port range 443-80 is empty");
  CHECK_ERROR(listen("https"), "p.yaml:10:16", "port 'https' is not a number");
  CHECK_ERROR(listen("[80]"), "p.yaml:10:16", "must be a port or a port range, got a list");
}

TEST_CASE("bad selector values are rejected", "[unit]") {
  CHECK_ERROR(doc("x", "", "containerIds: [abc123]"), "p.yaml:7:20", "container id 'abc123' must be 64 lowercase hex");
  std::string upper = kCid;
  upper[0] = 'A';
  CHECK_ERROR(doc("x", "", "containerIds: [" + upper + "]"), "p.yaml:7:20", "must be 64 lowercase hex");
  CHECK_ERROR(doc("x", "", "podUids: [3f9a1c2e7b4d-4e8f-9a0b-1c2d3e4f5a6b]"), "p.yaml:7:15",
              "pod uid '3f9a1c2e7b4d-4e8f-9a0b-1c2d3e4f5a6b' must be a lowercase UUID");
  CHECK_ERROR(doc("x", "", "cgroupPrefixes: [system.slice]"), "p.yaml:7:22", "must start with '/'");
  CHECK_ERROR(doc("x", "", "cgroupPrefixes: [\"/kubepods/*\"]"), "p.yaml:7:22", "cgroup prefixes are literal");
  CHECK_ERROR(doc("x", "", "executables: [nginx]"), "p.yaml:7:19", "'nginx' is relative");
}

TEST_CASE("bad deny rules are rejected", "[unit]") {
  std::string dup = doc("x") +
                    "  deny:\n"                // 8
                    "    - id: a\n"            // 9
                    "      exec: [/tmp/**]\n"  // 10
                    "    - id: a\n"            // 11
                    "      exec: [/dev/shm/**]\n";
  CHECK_ERROR(dup, "p.yaml:11:11", "duplicate deny rule id 'a' (first at p.yaml:9:11)");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: lonely\n      action: kill\n", "p.yaml:9:7",
              "deny rule 'lonely' has no matcher: give at least one of exec, files.read, files.write, network.connect");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: r\n      files: { read: [] }\n", "p.yaml:9:7", "has no matcher");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: r\n      exec: [/tmp/**]\n      action: block\n", "p.yaml:11:15",
              "'spec.deny[0].action' must be one of deny, kill, alert, got 'block'");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: r\n      exec: [/tmp/**]\n      weight: 101\n", "p.yaml:11:15",
              "'spec.deny[0].weight' must be between 0 and 100, got 101");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: Bad_Id\n      exec: [/tmp/**]\n", "p.yaml:9:11", "is not a valid rule id");
  CHECK_ERROR(doc("x") + "  deny:\n    - id: r\n      network: { listen: [80] }\n", "p.yaml:10:18",
              "unknown field 'spec.deny[0].network.listen' (expected one of: connect)");
}

TEST_CASE("bad scoring is rejected", "[unit]") {
  CHECK_ERROR(doc("x") + "  scoring:\n    thresholds: { alert: 60, deny: 60 }\n", "p.yaml:9:36",
              "'spec.scoring.thresholds.deny' (60) conflicts with alert (60): thresholds must be strictly decreasing, "
              "alert > deny > quarantine > kill");
  // Only alert is given, and it falls below the default deny (60).
  CHECK_ERROR(doc("x") + "  scoring:\n    thresholds:\n      alert: 50\n", "p.yaml:10:14",
              "'spec.scoring.thresholds.alert' (50) conflicts with deny (60)");
  CHECK_ERROR(doc("x") + "  scoring:\n    thresholds: { kill: 101 }\n", "p.yaml:9:25",
              "'spec.scoring.thresholds.kill' must be between 0 and 100, got 101");
  CHECK_ERROR(doc("x") + "  scoring:\n    weights: { rampart.exec.tmp: 200 }\n", "p.yaml:9:34",
              "'spec.scoring.weights.rampart.exec.tmp' must be between 0 and 100, got 200");
  CHECK_ERROR(doc("x") + "  scoring:\n    decayPerMinute: 1.5\n", "p.yaml:9:21",
              "'spec.scoring.decayPerMinute' must be an integer");
  CHECK_ERROR(doc("x") + "  scoring:\n    inheritPercent: 150\n", "p.yaml:9:21", "must be between 0 and 100, got 150");
  CHECK_ERROR(doc("x") + "  scoring:\n    weights: [a, b]\n", "p.yaml:9:14", "must be a mapping of rule id to weight");
}

TEST_CASE("YAML syntax errors, bad UTF-8 and empty files name the place", "[unit]") {
  CHECK_ERROR(doc("x") + "  mode: audit: x\n", "p.yaml:8:14", "invalid YAML: illegal map value");
  // An unclosed flow list is noticed where the input ends.
  CHECK_ERROR(doc("x") + "  mode: [audit\n", "p.yaml:9:1", "invalid YAML: end of sequence flow not found");
  CHECK_ERROR(std::string("apiVersion: rampart.dev/v1\nkind: Pol\xff") + "icy\n", "p.yaml:2:10",
              "not valid UTF-8 (byte 0xff)");
  CHECK_ERROR("a: \xc3\xa9\xc0\x80\n", "p.yaml:1:5", "not valid UTF-8 (byte 0xc0)");  // overlong after a good 'é'
  CHECK_ERROR("", "p.yaml:1:1", "no policy documents");
  CHECK_ERROR("# only a comment\n---\n", "p.yaml:1:1", "no policy documents");
}

TEST_CASE("all errors of a load are reported, in position order", "[unit]") {
  std::string errors = error_for(doc("Bad", "  mode: x\n", "uids: [a]"));
  std::istringstream in(errors);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("p.yaml:4:9: ", 0) == 0);
  CHECK(lines[1].rfind("p.yaml:7:12: ", 0) == 0);
  CHECK(lines[2].rfind("p.yaml:8:9: ", 0) == 0);
  CHECK(format_errors({"a:1:1: x", "a:2:1: y"}) == "a:1:1: x\na:2:1: y");
}

TEST_CASE("identical selector values in two policies are ambiguous", "[unit]") {
  std::string text = doc("first", "", "executables: [/usr/sbin/nginx, /opt/app/bin/*]") + "---\n" +
                     doc("second", "", "executables: [\"/opt/app/bin/*\"]");
  CHECK_ERROR(
      text, "p.yaml:15:19",
      "ambiguous selector: executable pattern '/opt/app/bin/*' is also selected by policy 'first' at p.yaml:7:36; "
      "most specific wins, and these are equally specific");
  CHECK_ERROR(doc("a", "", "uids: [0]") + "---\n" + doc("b", "", "uids: [1, 0]"), "p.yaml:15:15",
              "uid '0' is also selected by policy 'a' at p.yaml:7:12");
  // Prefixes are compared after dropping a trailing '/'.
  CHECK_ERROR(doc("a", "", "cgroupPrefixes: [/k8s]") + "---\n" + doc("b", "", "cgroupPrefixes: [/k8s/]"),
              "p.yaml:15:22", "cgroup prefix '/k8s' is also selected by policy 'a'");
  CHECK_ERROR(doc("a", "", "containerIds: [" + kCid + "]") + "---\n" + doc("b", "", "containerIds: [" + kCid + "]"),
              "p.yaml:15:20", "container id '" + kCid + "' is also selected");
  // The same value twice in one policy is harmless.
  CHECK(PolicySet::load_text(doc("a", "", "uids: [7, 7]"), "p.yaml").has_value());
}

TEST_CASE("load_dir reads the YAML files of a directory in name order", "[unit]") {
  TempDir dir;
  dir.write("10-web.yaml", doc("web", "  mode: enforce\n", "executables: [/usr/sbin/nginx]"));
  dir.write("20-ssh.yml",
            doc("ssh", "", "cgroupPrefixes: [/system.slice/ssh.service]") + "---\n" + doc("batch", "", "uids: [1001]"));
  dir.write("README.md", "not a policy: {");
  dir.write(".hidden.yaml", "not a policy: {");
  fs::create_directory(dir.path / "sub.yaml");
  auto r = PolicySet::load_dir(dir.path.string());
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  REQUIRE(r->policies().size() == 3);
  CHECK(r->policies()[0].name == "web");
  CHECK(r->policies()[1].name == "ssh");
  CHECK(r->policies()[2].name == "batch");
  CHECK(r->policies()[2].pos.str() == (dir.path / "20-ssh.yml").string() + ":9:1");
  CHECK(r->select(Subject{"/usr/sbin/nginx", "/", "", "", 33}).name == "web");
  CHECK(r->select(Subject{"/usr/bin/python3", "/", "", "", 1001}).name == "batch");

  SECTION("a directory without policies is valid") {
    TempDir empty;
    auto e = PolicySet::load_dir(empty.path.string());
    REQUIRE(e.has_value());
    CHECK(e->policies().empty());
    CHECK(e->select(Subject{"/bin/sh", "/", "", "", 0}).builtin);
  }
  SECTION("a missing directory names itself") {
    auto e = PolicySet::load_dir((dir.path / "nope").string());
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message == "cannot read policy directory " + (dir.path / "nope").string());
    CHECK(e.error().code == ENOENT);
  }
  SECTION("a duplicate name in a second file points at both") {
    std::string second = dir.write("30-dup.yaml", doc("web", "", "uids: [2]"));
    auto e = PolicySet::load_dir(dir.path.string());
    REQUIRE_FALSE(e.has_value());
    INFO(e.error().message);
    CHECK(has_error(e.error().message, second + ":4:9",
                    "duplicate policy name 'web' (first defined at " + (dir.path / "10-web.yaml").string() + ":4:9)"));
  }
  SECTION("errors from several files are all reported") {
    std::string a = dir.write("40-a.yaml", doc("a", "  mode: x\n", "uids: [3]"));
    std::string b = dir.write("50-b.yaml", "");
    auto e = PolicySet::load_dir(dir.path.string());
    REQUIRE_FALSE(e.has_value());
    INFO(e.error().message);
    CHECK(has_error(e.error().message, a + ":8:9", "'spec.mode'"));
    CHECK(has_error(e.error().message, b + ":1:1", "no policy documents"));
  }
  SECTION("an ambiguous selector across files names the other file") {
    std::string c = dir.write("60-c.yaml", doc("c", "", "cgroupPrefixes: [/system.slice/ssh.service]"));
    auto e = PolicySet::load_dir(dir.path.string());
    REQUIRE_FALSE(e.has_value());
    INFO(e.error().message);
    CHECK(has_error(e.error().message, c + ":7:22",
                    "also selected by policy 'ssh' at " + (dir.path / "20-ssh.yml").string() + ":7:22"));
  }
  SECTION("a file that cannot be read is an error naming it, not a deleted file") {
    std::string dangling = (dir.path / "70-gone.yaml").string();
    fs::create_symlink(dir.path / "nowhere", dangling);
    auto e = PolicySet::load_dir(dir.path.string());
    REQUIRE_FALSE(e.has_value());
    INFO(e.error().message);
    CHECK(has_error(e.error().message, dangling + ":1:1", "cannot read: No such file or directory"));
  }
  SECTION("texts and kept files: a deleted file's text is loaded and checked with the rest") {
    std::map<std::string, std::string> texts;
    REQUIRE(PolicySet::load_dir(dir.path.string(), &texts).has_value());
    CHECK(texts.size() == 2);
    CHECK(texts.count((dir.path / "10-web.yaml").string()) == 1);
    const std::string gone = (dir.path / "05-db.yaml").string();
    std::map<std::string, std::string> kept{{gone, doc("db", "", "uids: [5432]")}};
    auto with = PolicySet::load_dir(dir.path.string(), &texts, kept);
    REQUIRE(with.has_value());
    REQUIRE(with->policies().size() == 4);
    CHECK(with->policies()[0].name == "db");  // in name order with the files
    CHECK(with->policies()[0].pos.file == gone);
    CHECK(texts.size() == 3);
    // Defined again in the directory (moved): the kept text conflicts.
    kept[gone] = doc("web", "", "uids: [5432]");
    CHECK_FALSE(PolicySet::load_dir(dir.path.string(), nullptr, kept).has_value());
  }
}

TEST_CASE("the most specific selector wins", "[unit]") {
  std::string text = join({
      doc("by-container", "", "containerIds: [" + kCid + "]"),
      doc("by-pod", "", "podUids: [" + kPod + "]"),
      doc("nginx-exact", "", "executables: [/usr/sbin/nginx]"),
      doc("sbin-glob", "", "executables: [\"/usr/sbin/*\"]"),
      doc("usr-glob", "", "executables: [\"/usr/**\"]"),
      doc("kube", "", "cgroupPrefixes: [/kubepods]"),
      doc("kube-burstable", "", "cgroupPrefixes: [/kubepods/burstable]"),
      doc("root-user", "", "uids: [0]"),
  });
  auto r = PolicySet::load_text(text, "prec.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  const PolicySet& set = *r;
  auto pick = [&](std::string_view exe, std::string_view cg, std::string_view cid, std::string_view pod, uint32_t uid) {
    return set.select(Subject{exe, cg, cid, pod, uid}).name;
  };
  const std::string burst = "/kubepods/burstable/pod" + kPod + "/" + kCid;
  // Container beats everything, then pod.
  CHECK(pick("/usr/sbin/nginx", burst, kCid, kPod, 0) == "by-container");
  CHECK(pick("/usr/sbin/nginx", burst, "", kPod, 0) == "by-pod");
  // An exact executable beats a cgroup prefix, a glob and a uid.
  CHECK(pick("/usr/sbin/nginx", burst, "", "", 0) == "nginx-exact");
  // A cgroup prefix beats an executable glob; the longer prefix wins.
  CHECK(pick("/usr/sbin/sshd", burst, "", "", 0) == "kube-burstable");
  CHECK(pick("/usr/sbin/sshd", "/kubepods/besteffort/x", "", "", 0) == "kube");
  CHECK(pick("/usr/sbin/sshd", "/kubepodsX/y", "", "", 0) == "sbin-glob");  // prefixes match whole components
  // The glob with the longer literal prefix wins.
  CHECK(pick("/usr/sbin/sshd", "/user.slice", "", "", 0) == "sbin-glob");
  CHECK(pick("/usr/lib/x/y", "/user.slice", "", "", 0) == "usr-glob");
  // uid is the weakest criterion.
  CHECK(pick("/opt/tool", "/user.slice", "", "", 0) == "root-user");
  // Nothing matches: the default.
  const Policy& d = set.select(Subject{"/opt/tool", "/user.slice", "", "", 1000});
  CHECK(d.builtin);
  CHECK(d.name == "default");
  CHECK(&d == &set.fallback());
}

TEST_CASE("equally strong different values tie-break by policy name", "[unit]") {
  // Same rank and literal prefix length ("/opt/app/"): not identical, so
  // loadable; select() picks the name that sorts first, whatever the order.
  std::string z = doc("zeta", "", "executables: [\"/opt/app/*\"]");
  std::string a = doc("alpha", "", "executables: [\"/opt/app/**\"]");
  for (const std::string& text : {z + "---\n" + a, a + "---\n" + z}) {
    auto r = PolicySet::load_text(text, "tie.yaml");
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    CHECK(r->select(Subject{"/opt/app/run", "/", "", "", 0}).name == "alpha");
    CHECK(r->select(Subject{"/opt/app/sub/run", "/", "", "", 0}).name == "alpha");
  }
  // A policy selects through ANY of its criteria: both of these match by uid.
  auto r = PolicySet::load_text(
      doc("p1", "", "uids: [5]\n    executables: [/bin/true]") + "---\n" + doc("p2", "", "uids: [6]"), "or.yaml");
  REQUIRE(r.has_value());
  CHECK(r->select(Subject{"/bin/false", "/", "", "", 5}).name == "p1");
  CHECK(r->select(Subject{"/bin/true", "/", "", "", 6}).name == "p1");  // exact exe (4) beats uid (1)
}

TEST_CASE("path patterns match as documented", "[unit]") {
  struct Case {
    const char* pattern;
    const char* path;
    bool match;
  };
  const Case cases[] = {
      {"/etc/shadow", "/etc/shadow", true},
      {"/etc/shadow", "/etc/shadow2", false},
      {"/etc/shadow", "/etc", false},
      {"/etc/nginx/", "/etc/nginx", true},  // prefix: the directory itself
      {"/etc/nginx/", "/etc/nginx/nginx.conf", true},
      {"/etc/nginx/", "/etc/nginx/conf.d/a.conf", true},
      {"/etc/nginx/", "/etc/nginx2/x", false},
      {"/etc/nginx/", "/etc/ngin", false},
      {"/", "/anything/at/all", true},
      {"/usr/bin/*", "/usr/bin/ls", true},
      {"/usr/bin/*", "/usr/bin/", true},       // '*' may be empty
      {"/usr/bin/*", "/usr/bin/x/ls", false},  // '*' does not cross '/'
      {"/usr/bin/*", "/usr/bin", false},
      {"/usr/*/ls", "/usr/bin/ls", true},
      {"/usr/*/ls", "/usr/local/bin/ls", false},
      {"/usr/*.so", "/usr/libc.so", true},
      {"/usr/lib*.so*", "/usr/libssl.so.3", true},
      {"/usr/lib*.so*", "/usr/libssl.a", false},
      {"/var/www/**", "/var/www/index.html", true},
      {"/var/www/**", "/var/www/a/b/c.css", true},
      {"/var/www/**", "/var/www", true},  // '**' is zero or more components
      {"/var/www/**", "/var/wwwx/a", false},
      {"/a/**/b", "/a/b", true},
      {"/a/**/b", "/a/x/b", true},
      {"/a/**/b", "/a/x/y/z/b", true},
      {"/a/**/b", "/a/x/y/z/c", false},
      {"/a/**/b", "/a/x/b/c", false},
      {"/a/**/b/**/c", "/a/1/b/2/b/3/c", true},
      {"/a/**/*.log", "/a/x/y/app.log", true},
      {"/a/**/*.log", "/a/app.log", true},
      {"/a/**/*.log", "/a/x/app.txt", false},
      {"/**", "/", true},
      {"/**", "/x/y", true},
      {"/tmp/?", "/tmp/a", true},
      {"/tmp/?", "/tmp/ab", false},
      {"/tmp/?", "/tmp/", false},
      {"/tmp/?/x", "/tmp///x", false},  // '?' is never '/'
      {"/dev/tty[0-9]", "/dev/tty7", true},
      {"/dev/tty[0-9]", "/dev/ttyS", false},
      {"/dev/tty[!0-9]", "/dev/ttyS", true},
      {"/dev/tty[!0-9]", "/dev/tty1", false},
      {"/x/[abc]*", "/x/beta", true},
      {"/x/[abc]*", "/x/delta", false},
      {"/x/[]a]", "/x/]", true},  // ']' first in a class is literal
      {"/x/[[]", "/x/[", true},
      {"/x/*a*b*c", "/x/aXbYbZc", true},
      {"/x/*a*b*c", "/x/aXcYb", false},
  };
  for (const Case& c : cases) {
    INFO(c.pattern << " vs " << c.path);
    CHECK(pat(c.pattern).matches(c.path) == c.match);
  }
  CHECK_FALSE(pat("/**").matches(""));
  CHECK_FALSE(pat("/**").matches("relative/path"));
  CHECK(literal_prefix_len(pat("/opt/app/bin/*")) == 13);
  CHECK(literal_prefix_len(pat("/opt/")) == 5);
  CHECK(literal_prefix_len(pat("/usr/sbin/nginx")) == 15);
}

TEST_CASE("network rules match family, prefix and ports", "[unit]") {
  auto rule = [](const std::string& text) {
    auto r = parse_net_rule(text);
    INFO(text << ": " << (r ? "" : r.error().message));
    REQUIRE(r.has_value());
    return *r;
  };
  auto v4 = [](const char* s) {
    std::array<uint8_t, 16> a{};
    REQUIRE(inet_pton(AF_INET, s, a.data()) == 1);
    return a;
  };
  auto v6 = [](const char* s) {
    std::array<uint8_t, 16> a{};
    REQUIRE(inet_pton(AF_INET6, s, a.data()) == 1);
    return a;
  };

  NetRule ten = rule("10.0.0.0/8:5432");
  CHECK(ten.matches(4, v4("10.1.2.3").data(), 5432));
  CHECK(ten.matches(4, v4("10.255.255.255").data(), 5432));
  CHECK_FALSE(ten.matches(4, v4("11.0.0.1").data(), 5432));
  CHECK_FALSE(ten.matches(4, v4("10.1.2.3").data(), 5433));
  CHECK_FALSE(ten.matches(6, v6("a00::1").data(), 5432));  // family must agree

  NetRule odd = rule("192.168.4.0/22:8000-8100");  // a prefix that is not a whole byte
  CHECK(odd.matches(4, v4("192.168.7.255").data(), 8000));
  CHECK(odd.matches(4, v4("192.168.4.0").data(), 8100));
  CHECK_FALSE(odd.matches(4, v4("192.168.8.0").data(), 8050));
  CHECK_FALSE(odd.matches(4, v4("192.168.5.1").data(), 7999));
  CHECK_FALSE(odd.matches(4, v4("192.168.5.1").data(), 8101));

  NetRule host = rule("127.0.0.1:8000-8100");
  CHECK(host.prefix_len == 32);
  CHECK(host.matches(4, v4("127.0.0.1").data(), 8080));
  CHECK_FALSE(host.matches(4, v4("127.0.0.2").data(), 8080));

  NetRule any4 = rule("0.0.0.0/0");
  CHECK(any4.port_lo == 0);
  CHECK(any4.port_hi == 65535);
  CHECK(any4.matches(4, v4("8.8.8.8").data(), 53));
  CHECK(any4.matches(4, v4("255.255.255.255").data(), 0));
  CHECK_FALSE(any4.matches(6, v6("::1").data(), 53));

  NetRule lo6 = rule("[::1]:443");
  CHECK(lo6.matches(6, v6("::1").data(), 443));
  CHECK_FALSE(lo6.matches(6, v6("::2").data(), 443));
  CHECK_FALSE(lo6.matches(6, v6("::1").data(), 444));

  NetRule doc6 = rule("[2001:db8::/32]:80");
  CHECK(doc6.matches(6, v6("2001:db8:ffff::1").data(), 80));
  CHECK_FALSE(doc6.matches(6, v6("2001:db9::1").data(), 80));

  NetRule bare6 = rule("fd00::/8");  // bare IPv6: all ports
  CHECK(bare6.matches(6, v6("fdff::1").data(), 12345));
  CHECK_FALSE(bare6.matches(6, v6("fe80::1").data(), 12345));

  NetRule any6 = rule("[::/0]");
  CHECK(any6.matches(6, v6("2606:4700::1111").data(), 1));

  // IPv4-mapped networks are IPv4 rules: the kernel decides mapped destinations by those.
  NetRule mapped = rule("[::ffff:127.0.0.1]:80");
  CHECK(mapped.family == 4);
  CHECK(mapped.prefix_len == 32);
  CHECK(mapped.matches(4, v4("127.0.0.1").data(), 80));
  NetRule mapped_net = rule("[::ffff:10.0.0.0/104]:53");
  CHECK(mapped_net.family == 4);
  CHECK(mapped_net.prefix_len == 8);
  CHECK(mapped_net.matches(4, v4("10.9.8.7").data(), 53));
  CHECK(rule("[::/0]").family == 6);  // wider than the mapped range: stays IPv6

  auto listen = parse_port_range("8000-8100");
  REQUIRE(listen.has_value());
  CHECK(listen->lo == 8000);
  CHECK(listen->hi == 8100);
}

TEST_CASE("the example policies in config/policies load", "[unit]") {
  const std::string dir = std::string(RAMPART_SOURCE_DIR) + "/config/policies";
  auto r = PolicySet::load_dir(dir);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->policies().size() >= 3);
  for (const Policy& p : r->policies()) {
    INFO(p.name);
    CHECK_FALSE(p.selector.empty());
    CHECK(p.pos.file.rfind(dir, 0) == 0);
  }
}

TEST_CASE("a text that yaml-cpp's LoadAll never gets past is rejected, not hung on (fuzzer finding)", "[unit]") {
  // ",#" made YAML::LoadAll loop forever; found by tests/fuzz/policy_fuzz.cpp.
  auto set = PolicySet::load_text(",#", "p.yaml");
  REQUIRE_FALSE(set.has_value());
  CHECK(set.error().what().find("p.yaml:1:1:") != std::string::npos);
}

TEST_CASE("spec.overload: fail-open by default, fail-closed when written, anything else named at its place", "[unit]") {
  auto open = PolicySet::load_text(doc("x", "  mode: enforce\n"), "p.yaml");
  REQUIRE(open.has_value());
  CHECK(open->policies()[0].overload == Overload::kFailOpen);
  CHECK(PolicySet::default_policy().overload == Overload::kFailOpen);
  auto closed = PolicySet::load_text(doc("x", "  mode: enforce\n  overload: fail-closed\n"), "p.yaml");
  REQUIRE(closed.has_value());
  CHECK(closed->policies()[0].overload == Overload::kFailClosed);
  CHECK(std::string(overload_name(Overload::kFailClosed)) == "fail-closed");
  auto explicit_open = PolicySet::load_text(doc("x", "  overload: fail-open\n"), "p.yaml");
  REQUIRE(explicit_open.has_value());
  CHECK(explicit_open->policies()[0].overload == Overload::kFailOpen);
  CHECK_ERROR(doc("x", "  overload: closed\n"), "p.yaml:8:13",
              "'spec.overload' must be one of fail-open, fail-closed, got 'closed'");
  CHECK_ERROR(doc("x", "  overload: [fail-open]\n"), "p.yaml:8:13", "overload");
}
