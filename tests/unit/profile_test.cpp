// Unit tests for learned profiles: recording with collapse into directory
// globs and the size bound, coverage and anomaly weights, the observation
// of synthetic events, the strict profile loader, crash-safe storage with
// corrupt files set aside, and the export, which must round-trip through
// the policy loader.
#include "learn/profile.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "learn/store.h"
#include "policy/patterns.h"
#include "policy/policy.h"

using namespace rampart;
using learn::Kind;
using learn::Observation;
using learn::Profile;

namespace {

constexpr int64_t kT0 = 1'764'230'000;

Profile sample() {
  Profile p;
  p.name = "web";
  p.created = p.stage_since = kT0;
  learn::Limits lim;
  p.record({Kind::kExec, "/opt/web/bin/server", "/usr/bin/bash"}, kT0, lim);
  p.record({Kind::kRead, "/opt/web/conf/app.conf", ""}, kT0 + 1, lim);
  p.record({Kind::kWrite, "/opt/web/log/app.log", ""}, kT0 + 2, lim);
  p.record({Kind::kConnect, "127.0.0.1:5432", ""}, kT0 + 3, lim);
  p.record({Kind::kConnect, "[::1]:6379", ""}, kT0 + 3, lim);
  p.record({Kind::kListen, "8080", ""}, kT0 + 4, lim);
  p.record({Kind::kPrivilege, "setuid", ""}, kT0 + 5, lim);
  return p;
}

policy::Policy learn_policy() {
  auto set = policy::PolicySet::load_text(R"(apiVersion: rampart.dev/v1
kind: Policy
metadata:
  name: web
spec:
  selector:
    executables: ["/opt/web/bin/server"]
    uids: [33]
  mode: learn
  deny:
    - id: no-shadow
      files: { read: ["/etc/shadow"] }
      network: { connect: ["169.254.169.254/32:80", "[fe80::/10]"] }
  scoring:
    weights: { rampart.profile.new_exec: 60 }
    thresholds: { alert: 90, deny: 70, quarantine: 50, kill: 5 }
)",
                                          "learn.yaml");
  REQUIRE(set);
  return set->policies().front();
}

}  // namespace

TEST_CASE("profile: recording counts and first/last seen", "[unit]") {
  Profile p = sample();
  CHECK(p.size() == 7);
  CHECK(p.last_new == kT0 + 5);
  CHECK_FALSE(p.record({Kind::kExec, "/opt/web/bin/server", "/usr/sbin/init"}, kT0 + 9, {}));
  const auto& it = p.of(Kind::kExec).at("/opt/web/bin/server");
  CHECK(it.count == 2);
  CHECK(it.first_seen == kT0);
  CHECK(it.last_seen == kT0 + 9);
  CHECK(it.parents == std::vector<std::string>{"/usr/bin/bash", "/usr/sbin/init"});
  CHECK(p.last_new == kT0 + 5);  // a known item is not new behaviour
  CHECK(p.stable(kT0 + 65, 60));
  CHECK_FALSE(p.stable(kT0 + 64, 60));
}

TEST_CASE("profile: a directory past the threshold collapses into a glob", "[unit]") {
  Profile p;
  learn::Limits lim{3, 4096};
  for (int i = 0; i < 3; ++i) CHECK(p.record({Kind::kRead, "/srv/html/page" + std::to_string(i), ""}, kT0 + i, lim));
  p.record({Kind::kRead, "/srv/html/sub/deep", ""}, kT0, lim);  // another directory: not a sibling
  CHECK(p.of(Kind::kRead).size() == 4);
  CHECK(p.record({Kind::kRead, "/srv/html/page3", ""}, kT0 + 10, lim));
  const auto& m = p.of(Kind::kRead);
  REQUIRE(m.count("/srv/html/*"));
  CHECK(m.size() == 2);  // the glob and /srv/html/sub/deep
  CHECK(m.at("/srv/html/*").count == 4);
  CHECK(m.at("/srv/html/*").first_seen == kT0);
  CHECK(m.at("/srv/html/*").last_seen == kT0 + 10);
  // Later files of that directory are covered and counted on the glob.
  CHECK(p.covers({Kind::kRead, "/srv/html/page99", ""}));
  CHECK_FALSE(p.covers({Kind::kRead, "/srv/html/sub/other", ""}));
  CHECK_FALSE(p.record({Kind::kRead, "/srv/html/page99", ""}, kT0 + 11, lim));
  CHECK(m.at("/srv/html/*").count == 5);
  // Reads and writes are apart.
  CHECK_FALSE(p.covers({Kind::kWrite, "/srv/html/page1", ""}));
}

TEST_CASE("profile: bounded, and what does not fit is counted", "[unit]") {
  Profile p;
  learn::Limits lim{8, 16};
  for (int i = 0; i < 20; ++i) p.record({Kind::kConnect, "10.0.0." + std::to_string(i) + ":443", ""}, kT0, lim);
  CHECK(p.size() == 16);
  CHECK(p.dropped_items == 4);
  // Known items still count when the profile is full.
  CHECK_FALSE(p.record({Kind::kConnect, "10.0.0.0:443", ""}, kT0 + 1, lim));
  CHECK(p.of(Kind::kConnect).at("10.0.0.0:443").count == 2);
}

TEST_CASE("profile: anomalies weigh by how unusual they are", "[unit]") {
  Profile p = sample();
  auto w = [&](Observation o) {
    CHECK_FALSE(p.covers(o));
    return learn::anomaly_rule(p, o).weight;
  };
  auto exec = w({Kind::kExec, "/bin/sh", ""});
  auto peer = w({Kind::kConnect, "127.0.0.1:9999", ""});
  auto write_dir = w({Kind::kWrite, "/tmp/x", ""});
  auto write_known_dir = w({Kind::kWrite, "/opt/web/log/other.log", ""});
  auto read = w({Kind::kRead, "/etc/passwd", ""});
  CHECK(exec > peer);
  CHECK(peer > write_dir);
  CHECK(write_dir > write_known_dir);
  CHECK(write_known_dir > read);
  CHECK(learn::anomaly_rule(p, {Kind::kExec, "/bin/sh", ""}).id == "rampart.profile.new_exec");
  CHECK(learn::anomaly_rule(p, {Kind::kWrite, "/tmp/x", ""}).id == "rampart.profile.new_write_dir");
  CHECK(p.covers({Kind::kConnect, "127.0.0.1:5432", ""}));
}

TEST_CASE("profile: events become observations", "[unit]") {
  pipeline::ProcessTable table;
  rp_file_event open{};
  open.hdr.type = RP_EV_OPEN;
  open.hdr.size = sizeof(open);
  open.proc.tgid = 42;
  open.flags = O_RDWR;
  open.result = 3;
  std::strcpy(open.path, "/opt/web/log/app.log");
  auto obs = learn::observe(sources::EventView{&open.hdr}, table);
  REQUIRE(obs.size() == 2);
  CHECK(obs[0].kind == Kind::kRead);
  CHECK(obs[1].kind == Kind::kWrite);
  std::strcpy(open.path, "/proc/4242/task/4243/stat");
  open.flags = O_RDONLY;
  obs = learn::observe(sources::EventView{&open.hdr}, table);
  REQUIRE(obs.size() == 1);
  CHECK(obs[0].key == "/proc/*/task/*/stat");
  std::strcpy(open.path, "/dev/pts/7");
  CHECK(learn::observe(sources::EventView{&open.hdr}, table)[0].key == "/dev/pts/*");
  std::strcpy(open.path, "/proc/sys/kernel/pid_max");
  CHECK(learn::observe(sources::EventView{&open.hdr}, table)[0].key == "/proc/sys/kernel/pid_max");
  open.result = -2;  // ENOENT: nothing was opened
  CHECK(learn::observe(sources::EventView{&open.hdr}, table).empty());

  rp_net_event conn{};
  conn.hdr.type = RP_EV_CONNECT;
  conn.hdr.size = sizeof(conn);
  conn.family = RP_AF_INET;
  conn.remote_port = 5432;
  const uint8_t lo[4] = {127, 0, 0, 1};
  std::memcpy(conn.remote_addr, lo, 4);
  obs = learn::observe(sources::EventView{&conn.hdr}, table);
  REQUIRE(obs.size() == 1);
  CHECK(obs[0].key == "127.0.0.1:5432");
}

TEST_CASE("profile: the file format round-trips", "[unit]") {
  Profile p = sample();
  p.stage = learn::Stage::kShadow;
  p.shadow_until = kT0 + 3600;
  p.dropped_items = 3;
  p.would_deny = {{"allow.connect", 3}, {"no-shadow", 1}};
  auto back = learn::parse_profile(learn::to_json(p));
  REQUIRE(back);
  CHECK(learn::to_json(*back) == learn::to_json(p));
  CHECK(back->stage == learn::Stage::kShadow);
  CHECK(back->would_deny.at("allow.connect") == 3);
  CHECK(back->of(Kind::kExec).at("/opt/web/bin/server").parents.size() == 1);
  // A path that is not UTF-8 is still written (as U+FFFD), never an exception.
  p.record({Kind::kRead, "/data/caf\xe9", ""}, kT0, {});
  auto odd = learn::parse_profile(learn::to_json(p));
  REQUIRE(odd);
  CHECK(odd->of(Kind::kRead).count("/data/caf\xef\xbf\xbd"));
}

TEST_CASE("profile: the loader rejects what is not a valid profile, saying why", "[unit]") {
  const std::string good = learn::to_json(sample());
  auto rejects = [](const std::string& text, const std::string& why) {
    auto r = learn::parse_profile(text);
    REQUIRE_FALSE(r);
    INFO(r.error().what());
    CHECK(r.error().what().find(why) != std::string::npos);
  };
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  rejects("", "not valid JSON");
  rejects(good.substr(0, good.size() / 2), "not valid JSON");
  rejects("[]", "profile: must be an object");
  rejects(with("\"version\": 1", "\"version\": 2"), "not supported");
  rejects(with("\"version\": 1", "\"version\": \"1\""), "profile.version: must be an integer");
  rejects(with("\"stage\": \"learning\"", "\"stage\": \"sleeping\""), "unknown stage");
  rejects(with("\"name\": \"web\"", "\"name\": \"Web/../x\""), "is not a policy name");
  rejects(with("\"dropped_items\": 0", "\"dropped_items\": 0, \"extra\": 1"), "unknown key 'extra'");
  rejects(with("\"dropped_items\": 0,", ""), "missing key 'dropped_items'");
  rejects(with("\"/opt/web/conf/app.conf\"", "\"opt/web/conf/app.conf\""), "is not an absolute path");
  rejects(with("\"127.0.0.1:5432\"", "\"127.0.0.1:99999\""), "is not a peer");
  rejects(with("\"8080\"", "\"0\""), "is not a port");
  rejects(with("\"would_deny\": {}", "\"would_deny\": {\"allow.connect\": -3}"), "must be a count");
  rejects(with("\"8080\"", "\"08080\""), "is not a port");
  rejects(with("\"setuid\"", "\"fly\""), "unknown privilege operation");
  rejects(with("\"count\": 1", "\"count\": -1"), "count: out of range");
  rejects(with("\"count\": 1", "\"count\": 0"), "count: out of range");
  rejects(with("\"last_seen\": 1764230005", "\"last_seen\": 1"), "first_seen is after last_seen");
}

TEST_CASE("profile: stored crash-safely, and a corrupt file is set aside", "[unit]") {
  char tmpl[] = "/tmp/rampart-profile-test-XXXXXX";
  std::string dir = std::string(mkdtemp(tmpl)) + "/profiles";
  REQUIRE(learn::save_profile(dir, sample()));
  CHECK(std::filesystem::exists(dir + "/web.json"));
  for (const auto& e : std::filesystem::directory_iterator(dir)) CHECK(e.path().filename() == "web.json");
  std::ofstream(dir + "/broken.json") << "{\"version\": 1, \"name\": \"broken\"";
  std::ofstream(dir + "/other.json") << learn::to_json(sample());  // its name says web
  auto loaded = learn::load_profiles(dir, kT0);
  REQUIRE(loaded.profiles.size() == 1);
  CHECK(loaded.profiles[0].name == "web");
  REQUIRE(loaded.rejected.size() == 2);
  CHECK(loaded.rejected[0].path == dir + "/broken.json");
  CHECK(loaded.rejected[0].reason == "not valid JSON");
  CHECK(loaded.rejected[0].moved_to == dir + "/broken.json.corrupt-" + std::to_string(kT0));
  CHECK(std::filesystem::exists(loaded.rejected[0].moved_to));
  CHECK_FALSE(std::filesystem::exists(dir + "/broken.json"));
  CHECK(loaded.rejected[1].reason.find("does not match the file name") != std::string::npos);
  // Set aside, they are not read again.
  CHECK(learn::load_profiles(dir, kT0 + 1).rejected.empty());
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST_CASE("profile: the export is a valid policy of what was learned", "[unit]") {
  Profile p = sample();
  learn::Limits lim{2, 4096};
  for (int i = 0; i < 3; ++i)
    p.record({Kind::kRead, "/usr/lib/x86_64-linux-gnu/lib" + std::to_string(i), ""}, kT0, lim);
  p.record({Kind::kRead, "/tmp/not\x01printable", ""}, kT0, lim);
  const auto from = learn_policy();
  const std::string yaml = learn::export_policy(p, from, policy::Mode::kEnforce);
  INFO(yaml);
  CHECK(yaml.find("# 1 runs") != std::string::npos);
  CHECK(yaml.find("1 learned paths left out") != std::string::npos);
  auto set = policy::PolicySet::load_text(yaml, "export.yaml");
  REQUIRE(set);
  REQUIRE(set->policies().size() == 1);
  const auto& q = set->policies().front();
  CHECK(q.name == "web");
  CHECK(q.mode == policy::Mode::kEnforce);
  CHECK(q.selector.executables.size() == 1);
  CHECK(q.selector.uids == std::vector<uint32_t>{33});
  CHECK(q.allow.has_exec);
  REQUIRE(q.allow.exec.size() == 1);
  CHECK(q.allow.exec[0].matches("/opt/web/bin/server"));
  CHECK(q.allow.has_file_read);
  bool glob = false;
  for (const auto& r : q.allow.file_read) glob = glob || r.matches("/usr/lib/x86_64-linux-gnu/libfoo.so");
  CHECK(glob);
  CHECK(q.allow.file_write.size() == 1);
  REQUIRE(q.allow.connect.size() == 2);
  const uint8_t lo[16] = {127, 0, 0, 1};
  CHECK(q.allow.connect[0].matches(4, lo, 5432));
  CHECK_FALSE(q.allow.connect[0].matches(4, lo, 5433));
  REQUIRE(q.allow.listen.size() == 1);
  CHECK(q.allow.listen[0].lo == 8080);
  CHECK(q.allow.setuid);
  CHECK_FALSE(q.allow.ptrace);
  CHECK_FALSE(q.allow.capset);
  REQUIRE(q.deny.size() == 1);
  CHECK(q.deny[0].id == "no-shadow");
  CHECK(q.deny[0].connect.size() == 2);
  CHECK(q.scoring.thresholds.quarantine == 50);
  CHECK(q.scoring.weights.at("rampart.profile.new_exec") == 60);
  // Exported again from what it parsed to: the same text (nothing lost).
  CHECK(learn::export_policy(p, q, policy::Mode::kEnforce) == yaml);
  // An empty profile allows nothing at all.
  Profile empty;
  empty.name = "web";
  auto none = policy::PolicySet::load_text(learn::export_policy(empty, from, policy::Mode::kAudit), "empty.yaml");
  REQUIRE(none);
  CHECK(none->policies()[0].allow.has_exec);
  CHECK(none->policies()[0].allow.exec.empty());
  CHECK(none->policies()[0].mode == policy::Mode::kAudit);
}

TEST_CASE("profile: the export keeps awkward paths and names exactly", "[unit]") {
  const std::vector<std::string> paths{"/srv/say \"hi\"/it's.txt",
                                       "/srv/key: value",
                                       "/srv/#not-a-comment",
                                       "/srv/two  spaces ",
                                       "/srv/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.log",
                                       "/srv/back\\slash",
                                       "/srv/- dash",
                                       "/srv/{brace},comma"};
  Profile p;
  p.name = "web";
  p.created = p.stage_since = kT0;
  learn::Limits lim;
  for (const auto& path : paths) {
    p.record({Kind::kRead, path, "/usr/bin/we\"ird # parent: x"}, kT0, lim);
    p.record({Kind::kWrite, path, ""}, kT0, lim);
  }
  p.record({Kind::kExec, "/opt/my app/run: #1", "/bin/s\xc3\xa9 h"}, kT0, lim);
  p.record({Kind::kRead, "/srv/bad\xff", ""}, kT0, lim);  // not UTF-8: left out
  auto from = learn_policy();
  from.selector.executables = {*policy::parse_path_pattern("/opt/my app/run: #1")};
  from.selector.cgroup_prefixes = {"/sys/fs/cgroup/a \"b\": #c"};
  const std::string yaml = learn::export_policy(p, from, policy::Mode::kEnforce);
  INFO(yaml);
  CHECK(yaml.find("1 learned paths left out") != std::string::npos);
  auto set = policy::PolicySet::load_text(yaml, "awkward.yaml");
  REQUIRE(set);
  const auto& q = set->policies().front();
  CHECK(q.name == "web");
  auto texts = [](const std::vector<policy::PathPattern>& v) {
    std::set<std::string> out;
    for (const auto& x : v) out.insert(x.text);
    return out;
  };
  const std::set<std::string> want(paths.begin(), paths.end());
  CHECK(texts(q.allow.file_read) == want);
  CHECK(texts(q.allow.file_write) == want);
  CHECK(texts(q.allow.exec) == std::set<std::string>{"/opt/my app/run: #1"});
  CHECK(texts(q.selector.executables) == std::set<std::string>{"/opt/my app/run: #1"});
  CHECK(q.selector.cgroup_prefixes == std::vector<std::string>{"/sys/fs/cgroup/a \"b\": #c"});
  for (const auto& path : paths) {
    bool matched = false;
    for (const auto& r : q.allow.file_read) matched = matched || r.matches(path);
    CHECK(matched);
  }
  // Exported again from what it parsed to: the same text.
  CHECK(learn::export_policy(p, q, policy::Mode::kEnforce) == yaml);
}

TEST_CASE("profile: the installed policy has exactly the lists the export writes", "[unit]") {
  Profile p = sample();
  learn::Limits lim{2, 4096};
  for (int i = 0; i < 3; ++i)
    p.record({Kind::kRead, "/usr/lib/x86_64-linux-gnu/lib" + std::to_string(i), ""}, kT0, lim);
  p.record({Kind::kRead, "/tmp/not\x01printable", ""}, kT0, lim);  // left out of both
  p.record({Kind::kWrite, "/srv/say \"hi\"/it's [x].txt", ""}, kT0, lim);
  p.record({Kind::kPrivilege, "bpf", ""}, kT0, lim);
  auto from = learn_policy();
  from.overload = policy::Overload::kFailClosed;
  for (auto mode : {policy::Mode::kEnforce, policy::Mode::kAudit}) {
    const policy::Policy direct = learn::learned_policy(p, from, mode);
    auto set = policy::PolicySet::load_text(learn::export_policy(p, from, mode), "export.yaml");
    REQUIRE(set);
    const policy::Policy& parsed = set->policies().front();
    auto texts = [](const std::vector<policy::PathPattern>& v) {
      std::vector<std::string> out;
      for (const auto& x : v) out.push_back(x.text);
      return out;
    };
    auto nets = [](const std::vector<policy::NetRule>& v) {
      std::vector<std::string> out;
      for (const auto& n : v)
        out.push_back(std::to_string(n.family) + std::string(reinterpret_cast<const char*>(n.addr.data()), 16) + "/" +
                      std::to_string(n.prefix_len) + ":" + std::to_string(n.port_lo) + "-" + std::to_string(n.port_hi));
      return out;
    };
    CHECK(direct.name == parsed.name);
    CHECK(direct.mode == mode);
    CHECK(parsed.overload == policy::Overload::kFailClosed);
    CHECK(texts(direct.allow.exec) == texts(parsed.allow.exec));
    CHECK(texts(direct.allow.file_read) == texts(parsed.allow.file_read));
    CHECK(texts(direct.allow.file_write) == texts(parsed.allow.file_write));
    CHECK(nets(direct.allow.connect) == nets(parsed.allow.connect));
    REQUIRE(direct.allow.listen.size() == parsed.allow.listen.size());
    CHECK(direct.allow.listen[0].lo == parsed.allow.listen[0].lo);
    CHECK(direct.allow.has_exec == parsed.allow.has_exec);
    CHECK(direct.allow.has_file_read == parsed.allow.has_file_read);
    CHECK(direct.allow.has_file_write == parsed.allow.has_file_write);
    CHECK(direct.allow.has_connect == parsed.allow.has_connect);
    CHECK(direct.allow.has_listen == parsed.allow.has_listen);
    for (auto field :
         {&policy::Allow::setuid, &policy::Allow::capset, &policy::Allow::ptrace, &policy::Allow::module_load,
          &policy::Allow::bpf, &policy::Allow::mount, &policy::Allow::namespaces, &policy::Allow::bpf_expected})
      CHECK(direct.allow.*field == parsed.allow.*field);
    CHECK(texts(direct.selector.executables) == texts(parsed.selector.executables));
    CHECK(direct.selector.uids == parsed.selector.uids);
    REQUIRE(direct.deny.size() == parsed.deny.size());
    CHECK(texts(direct.deny[0].file_read) == texts(parsed.deny[0].file_read));
    CHECK(direct.scoring.thresholds.quarantine == parsed.scoring.thresholds.quarantine);
  }
  CHECK(learn::learned_policy(p, from, policy::Mode::kEnforce).overload == policy::Overload::kFailClosed);
  CHECK(learn::learned_policy(p, from, policy::Mode::kEnforce).allow.setuid);
  CHECK_FALSE(learn::learned_policy(p, from, policy::Mode::kEnforce).allow.ptrace);
}
