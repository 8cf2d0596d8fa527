// Learned profiles: observation, recording, the file format and the export
// to policy YAML; see profile.h.
#include "learn/profile.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "enforce/file_rules.h"
#include "policy/patterns.h"
#include "util/number.h"

namespace rampart::learn {
namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr std::array<const char*, kKinds> kKindNames{"exec", "read", "write", "connect", "listen", "privilege"};
constexpr std::array<const char*, 4> kStageNames{"learning", "shadow", "enforce", "audit"};
// Privilege operations as policies spell them (allow.privilege.*).
constexpr std::array<const char*, 8> kPrivileges{"setuid", "capset", "ptrace",     "moduleLoad",
                                                 "bpf",    "mount",  "namespaces", "ioUring"};

const char* privilege_of(uint32_t type) {
  switch (type) {
    case RP_EV_SETUID:
    case RP_EV_SETGID:
      return "setuid";
    case RP_EV_CAPSET:
      return "capset";
    case RP_EV_PTRACE:
    case RP_EV_PROCESS_VM_WRITEV:
      return "ptrace";
    case RP_EV_MODULE_LOAD:
      return "moduleLoad";
    case RP_EV_BPF:
      return "bpf";
    case RP_EV_MOUNT:
    case RP_EV_UMOUNT:
      return "mount";
    case RP_EV_UNSHARE:
    case RP_EV_SETNS:
      return "namespaces";
    case RP_EV_IO_URING:
      return "ioUring";
    default:
      return nullptr;
  }
}

std::string format_addr(uint8_t family, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf));
  return buf;
}

std::string peer_key(uint8_t family, const uint8_t* addr, uint16_t port) {
  auto a = format_addr(family, addr);
  return (family == 6 ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

bool is_file_kind(Kind k) { return k == Kind::kRead || k == Kind::kWrite; }

std::string_view dir_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

const score::Rule& rule_by_id(std::string_view id) {
  for (const auto& r : anomaly_rules())
    if (r.id == id) return r;
  return anomaly_rules().front();
}

// Paths that name a process, a thread or a terminal by number differ from
// one run of the workload to the next: every all-digit component under /proc
// and /dev/pts becomes '*' ("/proc/4242/task/4243/stat" is learned as
// "/proc/*/task/*/stat", "/dev/pts/3" as "/dev/pts/*").
std::string stable_path(const std::string& path) {
  if (!path.starts_with("/proc/") && !path.starts_with("/dev/pts/")) return path;
  std::string out;
  for (size_t at = 1; at <= path.size();) {
    size_t end = std::min(path.find('/', at), path.size());
    std::string_view c(path.data() + at, end - at);
    const bool number = !c.empty() && c.find_first_not_of("0123456789") == std::string_view::npos;
    out += "/";
    out += number ? std::string_view("*") : c;
    at = end + 1;
  }
  return out;
}

}  // namespace

const char* kind_name(Kind k) { return kKindNames[static_cast<size_t>(k)]; }
const char* stage_name(Stage s) { return kStageNames[static_cast<size_t>(s)]; }
std::optional<Stage> stage_from_name(std::string_view s) {
  for (size_t i = 0; i < kStageNames.size(); ++i)
    if (s == kStageNames[i]) return static_cast<Stage>(i);
  return std::nullopt;
}

std::string dir_glob(std::string_view path) { return std::string(dir_of(path)) + "/*"; }

std::vector<Observation> observe(const sources::EventView& ev, const pipeline::ProcessTable& table) {
  std::vector<Observation> out;
  switch (ev.type()) {
    case RP_EV_EXEC: {
      const auto& e = ev.as<rp_exec_event>();
      Observation o{Kind::kExec, std::string(sources::fixed_str(e.filename)), {}};
      const auto* info = table.find(e.proc.tgid);
      if (info && !info->exe.empty()) o.key = info->exe;  // resolved, as the selector sees it
      if (const auto* parent = table.find(info ? info->ppid : e.proc.ppid)) o.parent = parent->exe;
      if (!o.key.empty() && o.key[0] == '/') out.push_back(std::move(o));
      break;
    }
    case RP_EV_OPEN: {
      const auto& e = ev.as<rp_file_event>();
      std::string path = stable_path(std::string(sources::fixed_str(e.path)));
      if (e.result < 0 || path.empty() || path[0] != '/' || (e.hdr.flags & RP_F_PATH_TRUNCATED)) break;
      auto access = enforce::access_from_flags(e.flags);
      if (access.read) out.push_back({Kind::kRead, path, {}});
      if (access.write) out.push_back({Kind::kWrite, path, {}});
      break;
    }
    case RP_EV_CONNECT: {
      const auto& e = ev.as<rp_net_event>();
      uint8_t family = e.family == RP_AF_INET6 ? 6 : 4;
      out.push_back({Kind::kConnect, peer_key(family, e.remote_addr, e.remote_port), {}});
      break;
    }
    case RP_EV_BIND: {
      const auto& e = ev.as<rp_net_event>();
      if (e.result == 0 && e.local_port != 0) out.push_back({Kind::kListen, std::to_string(e.local_port), {}});
      break;
    }
    default:
      if (const char* priv = privilege_of(ev.type())) {
        const auto& e = ev.as<rp_syscall_event>();
        if (e.result >= 0) out.push_back({Kind::kPrivilege, priv, {}});
      }
      break;
  }
  return out;
}

size_t Profile::size() const {
  size_t n = 0;
  for (const auto& m : items) n += m.size();
  return n;
}

bool Profile::covers(const Observation& o) const {
  const auto& m = of(o.kind);
  if (m.count(o.key)) return true;
  return is_file_kind(o.kind) && m.count(dir_glob(o.key));
}

bool Profile::record(const Observation& o, int64_t now, const Limits& limits) {
  auto& m = of(o.kind);
  auto touch = [&](Item& it) {
    ++it.count;
    it.last_seen = now;
    if (!o.parent.empty() && std::find(it.parents.begin(), it.parents.end(), o.parent) == it.parents.end() &&
        it.parents.size() < kMaxParents)
      it.parents.push_back(o.parent);
  };
  auto found = m.find(o.key);
  if (found == m.end() && is_file_kind(o.kind)) found = m.find(dir_glob(o.key));
  if (found != m.end()) {
    touch(found->second);
    return false;
  }
  if (size() >= limits.max_items) {
    ++dropped_items;
    return false;
  }
  Item& it = m[o.key];
  it.first_seen = now;
  touch(it);
  last_new = now;
  if (!is_file_kind(o.kind)) return true;
  // More than N distinct names in one directory: one "dir/*" item for them all.
  const std::string_view dir = dir_of(o.key);
  std::vector<std::map<std::string, Item>::iterator> siblings;
  for (auto i = m.lower_bound(std::string(dir) + "/"); i != m.end() && i->first.starts_with(std::string(dir) + "/");
       ++i)
    if (dir_of(i->first) == dir && !i->first.ends_with("/*")) siblings.push_back(i);
  if (siblings.size() <= limits.collapse_threshold) return true;
  Item merged;
  merged.first_seen = now;
  for (auto i : siblings) {
    merged.count += i->second.count;
    merged.first_seen = std::min(merged.first_seen, i->second.first_seen);
    merged.last_seen = std::max(merged.last_seen, i->second.last_seen);
    m.erase(i);
  }
  m[dir_glob(o.key)] = merged;
  return true;
}

// --- the file format ---

std::string to_json(const Profile& p) {
  json j;
  j["version"] = kFormatVersion;
  j["name"] = p.name;
  j["stage"] = stage_name(p.stage);
  j["created"] = p.created;
  j["last_new"] = p.last_new;
  j["stage_since"] = p.stage_since;
  j["shadow_until"] = p.shadow_until;
  j["dropped_items"] = p.dropped_items;
  j["would_deny"] = p.would_deny;
  json items = json::object();
  for (size_t k = 0; k < kKinds; ++k) {
    json list = json::array();
    for (const auto& [key, it] : p.items[k]) {
      json e{{"key", key}, {"count", it.count}, {"first_seen", it.first_seen}, {"last_seen", it.last_seen}};
      if (static_cast<Kind>(k) == Kind::kExec) e["parents"] = it.parents;
      list.push_back(std::move(e));
    }
    items[kKindNames[k]] = std::move(list);
  }
  j["items"] = std::move(items);
  // A path is bytes, JSON is UTF-8: invalid sequences are written as U+FFFD
  // (the item then reads back under that name) rather than failing the write.
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

// Strict reading: every key known, every type checked, the path in errors.
class Reader {
 public:
  Result<void> keys(const json& obj, const std::string& at, std::initializer_list<std::string_view> known) {
    if (!obj.is_object()) return fail(at + ": must be an object");
    for (const auto& [k, _] : obj.items())
      if (std::find(known.begin(), known.end(), k) == known.end()) return fail(at + ": unknown key '" + k + "'");
    for (auto k : known)
      if (!obj.contains(std::string(k))) return fail(at + ": missing key '" + std::string(k) + "'");
    return {};
  }
  template <typename T>
  Result<T> integer(const json& obj, const std::string& at, const char* key, T lo, T hi) {
    const json& v = obj.at(key);
    if (!v.is_number_integer()) return fail(at + "." + key + ": must be an integer");
    // Compared as what they are: a large unsigned is never a small signed.
    const bool in_range =
        v.is_number_unsigned()
            ? v.get<uint64_t>() >= static_cast<uint64_t>(lo) && v.get<uint64_t>() <= static_cast<uint64_t>(hi)
            : v.get<int64_t>() >= static_cast<int64_t>(lo) && v.get<int64_t>() <= static_cast<int64_t>(hi);
    if (!in_range) return fail(at + "." + key + ": out of range");
    return v.get<T>();
  }
  Result<std::string> string(const json& obj, const std::string& at, const char* key) {
    const json& v = obj.at(key);
    if (!v.is_string()) return fail(at + "." + key + ": must be a string");
    return v.get<std::string>();
  }
};

constexpr int64_t kMaxTime = int64_t{1} << 40;  // unix seconds, far past any real date

Result<void> check_key(Kind kind, const std::string& key, const std::string& at) {
  switch (kind) {
    case Kind::kExec:
    case Kind::kRead:
    case Kind::kWrite:
      if (key.empty() || key[0] != '/' || key.size() > 4096 || key.find('\0') != std::string::npos ||
          key.find('\n') != std::string::npos)
        return fail(at + ": '" + key + "' is not an absolute path");
      if (kind == Kind::kExec && key.ends_with("/*")) return fail(at + ": an executable cannot be a glob");
      return {};
    case Kind::kConnect: {
      // One host and one port, as recorded: no prefix, no range.
      auto rule = policy::parse_net_rule(key);
      if (!rule || key.find_first_of("/-") != std::string::npos || rule->port_lo != rule->port_hi ||
          (key.find("]:") == std::string::npos && key.find('[') != std::string::npos))
        return fail(at + ": '" + key + "' is not a peer ADDR:PORT");
      return {};
    }
    case Kind::kListen: {
      // As recorded: no leading zero, so one port has one key.
      if (key.starts_with('0') || !parse_number<uint16_t>(key, 1, 65535))
        return fail(at + ": '" + key + "' is not a port (1-65535)");
      return {};
    }
    case Kind::kPrivilege:
      if (std::find_if(kPrivileges.begin(), kPrivileges.end(), [&](const char* p) { return key == p; }) ==
          kPrivileges.end())
        return fail(at + ": unknown privilege operation '" + key + "'");
      return {};
  }
  return {};
}

}  // namespace

Result<Profile> parse_profile(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail("not valid JSON");
  Reader r;
  if (auto k = r.keys(j, "profile",
                      {"version", "name", "stage", "created", "last_new", "stage_since", "shadow_until",
                       "dropped_items", "would_deny", "items"});
      !k)
    return tl::unexpected(k.error());
  Profile p;
  auto version = r.integer<int>(j, "profile", "version", 0, 1000);
  if (!version) return tl::unexpected(version.error());
  if (*version != kFormatVersion)
    return fail("profile.version: " + std::to_string(*version) + " is not supported (expected " +
                std::to_string(kFormatVersion) + ")");
  auto name = r.string(j, "profile", "name");
  if (!name) return tl::unexpected(name.error());
  const bool name_ok = !name->empty() && name->size() <= 63 &&
                       name->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos &&
                       (*name)[0] != '.' && (*name)[0] != '-';
  if (!name_ok) return fail("profile.name: '" + *name + "' is not a policy name");
  p.name = *name;
  auto stage = r.string(j, "profile", "stage");
  if (!stage) return tl::unexpected(stage.error());
  auto st = stage_from_name(*stage);
  if (!st) return fail("profile.stage: unknown stage '" + *stage + "' (learning, shadow, enforce, audit)");
  p.stage = *st;
  for (auto [key, out] : {std::pair{"created", &p.created}, std::pair{"last_new", &p.last_new},
                          std::pair{"stage_since", &p.stage_since}, std::pair{"shadow_until", &p.shadow_until}}) {
    auto v = r.integer<int64_t>(j, "profile", key, 0, kMaxTime);
    if (!v) return tl::unexpected(v.error());
    *out = *v;
  }
  auto dropped = r.integer<uint64_t>(j, "profile", "dropped_items", 0, UINT64_MAX);
  if (!dropped) return tl::unexpected(dropped.error());
  p.dropped_items = *dropped;
  const json& counts = j.at("would_deny");
  if (!counts.is_object()) return fail("profile.would_deny: must be an object");
  for (const auto& [rule, n] : counts.items()) {
    const std::string at = "profile.would_deny." + rule;
    if (rule.empty() || rule.size() > 128 ||
        rule.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
      return fail(at + ": not a rule id");
    if (!n.is_number_unsigned()) return fail(at + ": must be a count");
    p.would_deny[rule] = n.get<uint64_t>();
  }

  const json& items = j.at("items");
  if (auto k = r.keys(items, "profile.items", {"exec", "read", "write", "connect", "listen", "privilege"}); !k)
    return tl::unexpected(k.error());
  for (size_t k = 0; k < kKinds; ++k) {
    const Kind kind = static_cast<Kind>(k);
    const json& list = items.at(kKindNames[k]);
    std::string at = std::string("profile.items.") + kKindNames[k];
    if (!list.is_array()) return fail(at + ": must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string iat = at + "[" + std::to_string(i) + "]";
      const json& e = list[i];
      auto keys = kind == Kind::kExec ? r.keys(e, iat, {"key", "count", "first_seen", "last_seen", "parents"})
                                      : r.keys(e, iat, {"key", "count", "first_seen", "last_seen"});
      if (!keys) return tl::unexpected(keys.error());
      auto key = r.string(e, iat, "key");
      if (!key) return tl::unexpected(key.error());
      if (auto c = check_key(kind, *key, iat + ".key"); !c) return tl::unexpected(c.error());
      Item it;
      auto count = r.integer<uint64_t>(e, iat, "count", 1, UINT64_MAX);
      auto first = r.integer<int64_t>(e, iat, "first_seen", 0, kMaxTime);
      auto last = r.integer<int64_t>(e, iat, "last_seen", 0, kMaxTime);
      for (const auto* v : {&first, &last})
        if (!*v) return tl::unexpected(v->error());
      if (!count) return tl::unexpected(count.error());
      if (*first > *last) return fail(iat + ": first_seen is after last_seen");
      it.count = *count;
      it.first_seen = *first;
      it.last_seen = *last;
      if (kind == Kind::kExec) {
        const json& parents = e.at("parents");
        if (!parents.is_array() || parents.size() > kMaxParents)
          return fail(iat + ".parents: must be an array of at most " + std::to_string(kMaxParents) + " paths");
        for (const auto& pa : parents) {
          if (!pa.is_string()) return fail(iat + ".parents: must hold strings");
          it.parents.push_back(pa.get<std::string>());
        }
      }
      if (!p.items[k].emplace(*key, std::move(it)).second) return fail(iat + ": duplicate key '" + *key + "'");
    }
  }
  return p;
}

// --- export to policy YAML ---

namespace {

std::string date(int64_t unix_s) {
  char buf[32];
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string counts(const Item& it, const char* what) {
  std::string s = std::to_string(it.count) + " " + what + ", " + date(it.first_seen) + " to " + date(it.last_seen);
  return s;
}

std::string net_text(const policy::NetRule& n) {
  std::string a = format_addr(n.family, n.addr.data()) + "/" + std::to_string(n.prefix_len);
  std::string out = n.family == 6 ? "[" + a + "]" : a;
  if (n.port_lo == 0 && n.port_hi == 65535) return out;
  out += ":" + std::to_string(n.port_lo);
  if (n.port_hi != n.port_lo) out += "-" + std::to_string(n.port_hi);
  return out;
}

// A flow sequence (["a", "b"]) of what text() makes of each element.
template <typename T, typename Fn>
void flow_list(YAML::Emitter& e, const std::vector<T>& v, Fn text) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto& x : v) e << YAML::DoubleQuoted << text(x);
  e << YAML::EndSeq;
}

void patterns(YAML::Emitter& e, const std::vector<policy::PathPattern>& v) {
  flow_list(e, v, [](const policy::PathPattern& p) { return p.text; });
}

// Whether s is well-formed UTF-8 with no control characters: what the
// emitter writes and the parser reads back unchanged.
bool printable_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : 0;
    if (n == 0 || i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

// A path the policy language can say: printable UTF-8, and a valid pattern
// (a name with '*' or '[' in it becomes a glob that still matches it).
bool expressible(std::string_view path) { return printable_utf8(path) && bool(policy::parse_path_pattern(path)); }

void block(YAML::Emitter& e, const char* key, const std::map<std::string, Item>& m, const char* what, bool paths) {
  size_t skipped = 0;
  for (const auto& [k, _] : m) skipped += paths && !expressible(k);
  e << YAML::Key << key << YAML::Value;
  if (skipped)
    e << YAML::Comment(std::to_string(skipped) + " learned paths left out: not printable, or not a valid pattern");
  if (m.size() == skipped) {
    e << YAML::Flow << YAML::BeginSeq << YAML::EndSeq << YAML::Comment("never seen: nothing allowed");
    return;
  }
  e << YAML::BeginSeq;
  for (const auto& [k, it] : m) {
    if (paths && !expressible(k)) continue;
    std::string note = counts(it, what);
    if (!it.parents.empty()) {
      note += "; parents:";
      for (const auto& pa : it.parents) note += " " + pa;
    }
    // Ports stay plain (listen: [8080]); paths and peers are always quoted.
    if (paths || key != std::string_view("listen")) e << YAML::DoubleQuoted;
    e << k << YAML::Comment(note);
  }
  e << YAML::EndSeq;
}

}  // namespace

std::string export_policy(const Profile& p, const policy::Policy& from, policy::Mode mode) {
  YAML::Emitter e;
  std::string header = "Generated by rampartd from the learned profile '" + p.name + "' (stage " + stage_name(p.stage) +
                       ").\nLearned since " + date(p.created) + "; last new behaviour " + date(p.last_new) + "; " +
                       std::to_string(p.size()) + " items";
  if (p.dropped_items) header += ", " + std::to_string(p.dropped_items) + " more dropped (profile full)";
  e << YAML::Comment(header) << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "rampart.dev/v1";
  e << YAML::Key << "kind" << YAML::Value << "Policy";
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << p.name;
  e << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << ("learned allow-list of " + p.name);
  e << YAML::EndMap;
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "selector" << YAML::Value << YAML::BeginMap;
  const auto& s = from.selector;
  auto strings = [&e](const char* key, const std::vector<std::string>& v) {
    if (v.empty()) return;
    e << YAML::Key << key << YAML::Value;
    flow_list(e, v, [](const std::string& x) { return x; });
  };
  if (!s.executables.empty()) {
    e << YAML::Key << "executables" << YAML::Value;
    patterns(e, s.executables);
  }
  strings("cgroupPrefixes", s.cgroup_prefixes);
  strings("containerIds", s.container_ids);
  strings("podUids", s.pod_uids);
  if (!s.uids.empty()) {
    e << YAML::Key << "uids" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (uint32_t u : s.uids) e << u;
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
  e << YAML::Key << "mode" << YAML::Value << policy::mode_name(mode);
  if (from.overload != policy::Overload::kFailOpen)
    e << YAML::Key << "overload" << YAML::Value << policy::overload_name(from.overload);
  e << YAML::Key << "allow" << YAML::Value << YAML::BeginMap;
  block(e, "exec", p.of(Kind::kExec), "runs", true);
  e << YAML::Key << "files" << YAML::Value << YAML::BeginMap;
  block(e, "read", p.of(Kind::kRead), "opens", true);
  block(e, "write", p.of(Kind::kWrite), "opens", true);
  e << YAML::EndMap;
  e << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
  block(e, "connect", p.of(Kind::kConnect), "connects", false);
  block(e, "listen", p.of(Kind::kListen), "binds", false);
  e << YAML::EndMap;
  e << YAML::Key << "privilege" << YAML::Value << YAML::BeginMap;
  for (const char* priv : kPrivileges) {
    auto it = p.of(Kind::kPrivilege).find(priv);
    const bool seen = it != p.of(Kind::kPrivilege).end();
    e << YAML::Key << priv << YAML::Value << seen
      << YAML::Comment(seen ? counts(it->second, "calls") : std::string("never seen"));
  }
  e << YAML::EndMap << YAML::EndMap;  // privilege, allow
  if (!from.deny.empty()) {
    e << YAML::Key << "deny" << YAML::Value << YAML::Comment("kept from the learn policy") << YAML::BeginSeq;
    for (const auto& d : from.deny) {
      e << YAML::BeginMap;
      e << YAML::Key << "id" << YAML::Value << d.id;
      e << YAML::Key << "action" << YAML::Value << policy::action_name(d.action);
      e << YAML::Key << "weight" << YAML::Value << d.weight;
      if (!d.exec.empty() || !d.exec_sha256.empty()) {
        std::vector<std::string> exec;
        for (const auto& p : d.exec) exec.push_back(p.text);
        for (const auto& h : d.exec_sha256) exec.push_back(h.text());
        e << YAML::Key << "exec" << YAML::Value;
        flow_list(e, exec, [](const std::string& t) { return t; });
      }
      if (!d.file_read.empty() || !d.file_write.empty()) {
        e << YAML::Key << "files" << YAML::Value << YAML::Flow << YAML::BeginMap;
        e << YAML::Key << "read" << YAML::Value;
        patterns(e, d.file_read);
        e << YAML::Key << "write" << YAML::Value;
        patterns(e, d.file_write);
        e << YAML::EndMap;
      }
      if (!d.connect.empty()) {
        e << YAML::Key << "network" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "connect"
          << YAML::Value;
        flow_list(e, d.connect, net_text);
        e << YAML::EndMap;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  const auto& sc = from.scoring;
  e << YAML::Key << "scoring" << YAML::Value << YAML::BeginMap;
  if (!sc.weights.empty()) {
    e << YAML::Key << "weights" << YAML::Value << YAML::BeginMap;
    for (const auto& [id, w] : sc.weights) e << YAML::Key << id << YAML::Value << w;
    e << YAML::EndMap;
  }
  const auto& t = sc.thresholds;
  e << YAML::Key << "thresholds" << YAML::Value << YAML::Flow << YAML::BeginMap;
  e << YAML::Key << "alert" << YAML::Value << t.alert << YAML::Key << "deny" << YAML::Value << t.deny;
  e << YAML::Key << "quarantine" << YAML::Value << t.quarantine << YAML::Key << "kill" << YAML::Value << t.kill;
  e << YAML::EndMap;
  e << YAML::Key << "decayPerMinute" << YAML::Value << sc.decay_per_minute;
  e << YAML::Key << "inheritPercent" << YAML::Value << sc.inherit_percent;
  e << YAML::EndMap << YAML::EndMap;  // scoring, spec
  return std::string(e.c_str()) + "\n";
}

policy::Policy learned_policy(const Profile& p, const policy::Policy& from, policy::Mode mode) {
  policy::Policy out = from;  // selector, deny rules, scoring, overload, where it came from
  out.mode = mode;
  out.description = "learned allow-list of " + p.name;
  policy::Allow& a = out.allow;
  a = policy::Allow{};
  auto paths = [&p](Kind kind, std::vector<policy::PathPattern>& into) {
    for (const auto& [k, _] : p.of(kind))
      if (!printable_utf8(k))
        continue;
      else if (auto pat = policy::parse_path_pattern(k))
        into.push_back(std::move(*pat));
  };
  paths(Kind::kExec, a.exec);
  paths(Kind::kRead, a.file_read);
  paths(Kind::kWrite, a.file_write);
  for (const auto& [k, _] : p.of(Kind::kConnect))
    if (auto rule = policy::parse_net_rule(k)) a.connect.push_back(*rule);
  for (const auto& [k, _] : p.of(Kind::kListen))
    if (auto range = policy::parse_port_range(k)) a.listen.push_back(*range);
  a.has_exec = a.has_file_read = a.has_file_write = a.has_connect = a.has_listen = true;
  const std::pair<const char*, bool policy::Allow::*> privileges[] = {{"setuid", &policy::Allow::setuid},
                                                                      {"capset", &policy::Allow::capset},
                                                                      {"ptrace", &policy::Allow::ptrace},
                                                                      {"moduleLoad", &policy::Allow::module_load},
                                                                      {"bpf", &policy::Allow::bpf},
                                                                      {"mount", &policy::Allow::mount},
                                                                      {"namespaces", &policy::Allow::namespaces},
                                                                      {"ioUring", &policy::Allow::io_uring}};
  for (const auto& [name, field] : privileges) a.*field = p.of(Kind::kPrivilege).count(name) != 0;
  a.bpf_expected = a.bpf;
  return out;
}

// --- anomalies ---

const std::vector<score::Rule>& anomaly_rules() {
  static const std::vector<score::Rule> kRules{
      {"rampart.profile.new_exec", "T1059", 50, "an executable the workload's profile never ran"},
      {"rampart.profile.new_privilege", "T1548", 40, "a privilege operation the profile never saw"},
      {"rampart.profile.new_peer", "T1071", 30, "a connect to a peer the profile never connected to"},
      {"rampart.profile.new_listen", "T1571", 30, "a bind to a port the profile never bound"},
      {"rampart.profile.new_write_dir", "T1565", 20, "a write in a directory the profile never wrote in"},
      {"rampart.profile.new_write", "T1565", 10, "a write to a file the profile never wrote"},
      {"rampart.profile.new_read", "T1005", 5, "a read of a file the profile never read"},
  };
  return kRules;
}

const score::Rule& anomaly_rule(const Profile& p, const Observation& o) {
  switch (o.kind) {
    case Kind::kExec:
      return rule_by_id("rampart.profile.new_exec");
    case Kind::kPrivilege:
      return rule_by_id("rampart.profile.new_privilege");
    case Kind::kConnect:
      return rule_by_id("rampart.profile.new_peer");
    case Kind::kListen:
      return rule_by_id("rampart.profile.new_listen");
    case Kind::kRead:
      return rule_by_id("rampart.profile.new_read");
    case Kind::kWrite: {
      const std::string prefix = std::string(dir_of(o.key)) + "/";
      const auto& m = p.of(Kind::kWrite);
      bool known_dir = false;
      for (auto it = m.lower_bound(prefix); !known_dir && it != m.end() && it->first.starts_with(prefix); ++it)
        known_dir = dir_of(it->first) == dir_of(o.key);
      return rule_by_id(known_dir ? "rampart.profile.new_write" : "rampart.profile.new_write_dir");
    }
  }
  return anomaly_rules().front();
}

}  // namespace rampart::learn
