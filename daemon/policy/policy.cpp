// Policy files: YAML → validated Policy values, and the selection of the
// policy that governs a process.
//
// Precedence. A policy selects a process when ANY value of ANY of its
// selector criteria matches (criteria are OR'ed across kinds and values).
// Each matching value has a strength (rank, tiebreaker):
//   container id       6
//   pod uid            5
//   exact executable   4
//   cgroup prefix      3, tiebreaker: prefix length (longer wins)
//   executable prefix  2, tiebreaker: length of the literal text before the
//   or glob               first wildcard (the whole text for a prefix)
//   uid                1
// A policy's strength for a process is that of its strongest matching value;
// select() returns the strongest policy, else the built-in default. Two
// policies that list the same value of the same kind (the same container id,
// pod uid, executable pattern text, cgroup prefix or uid) would tie for every
// process that value matches, so that is rejected at load time. Different
// values can still tie at run time (two globs with equally long literal
// prefixes that both match); then the policy whose name sorts first wins.
//
// Error positions: a problem with a value points at the value (at its key
// when the value is empty), an unknown or duplicate key at the key, and a
// missing field at the key of the mapping that should hold it (at the start
// of the document for top-level fields).
#include "policy/policy.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "policy/patterns.h"
#include "shared/rp_abi.h"
#include "util/number.h"

namespace rampart::policy {
namespace {

std::optional<std::array<uint8_t, 32>> parse_sha256(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < 64; ++i) {
    const char c = hex[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return std::nullopt;
    out[i / 2] = static_cast<uint8_t>(out[i / 2] << 4 | v);
  }
  return out;
}

constexpr std::string_view kApiVersion = "rampart.dev/v1";
constexpr std::string_view kKind = "Policy";

// A value in a document: where its key and its value are, and its full key
// path ("spec.allow.files.read[2]") for messages.
struct Field {
  YAML::Node node;
  YAML::Mark key_mark;
  std::string path;
  YAML::Mark mark() const { return node.IsNull() ? key_mark : node.Mark(); }
};

// The selector values that take part in the load-time tie check.
enum class Criterion : uint8_t { kContainer, kPod, kExactExe, kCgroup, kExePattern, kUid };

const char* criterion_name(Criterion c) {
  switch (c) {
    case Criterion::kContainer:
      return "container id";
    case Criterion::kPod:
      return "pod uid";
    case Criterion::kExactExe:
      return "executable";
    case Criterion::kCgroup:
      return "cgroup prefix";
    case Criterion::kExePattern:
      return "executable pattern";
    case Criterion::kUid:
      return "uid";
  }
  return "?";
}

struct SelectorValue {
  Criterion kind;
  std::string value;
  SourcePos pos;
};

struct Parsed {
  Policy policy;
  SourcePos name_pos;
  std::vector<SelectorValue> values;
};

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    default:
      return "nothing";
  }
}

// Policy names; rule ids also take '_' (the built-in ones use it: rampart.exec.writable_dir).
bool valid_name(std::string_view s, bool underscore = false) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '.' || (underscore && c == '_'); });
}
bool valid_rule_id(std::string_view s) { return valid_name(s, true); }

constexpr const char* kNameRule = "use 1-63 lowercase letters, digits, '-' and '.', starting with a letter or digit";

constexpr const char* kRuleIdRule =
    "use 1-63 lowercase letters, digits, '-', '_' and '.', starting with a letter or digit";

// Parses the policy documents of one source, appending to the shared lists.
class DocParser {
 public:
  DocParser(std::string source, std::vector<Diagnostic>& errors) : source_(std::move(source)), errors_(errors) {}

  std::optional<Parsed> parse(const YAML::Node& doc) {
    size_t errors_before = errors_.size();
    Parsed out;
    Policy& p = out.policy;
    p.pos = pos(doc.Mark());
    p.fingerprint = YAML::Dump(doc);  // to tell what a reload changed, without parsing the text again
    Field root{doc, doc.Mark(), ""};
    if (!doc.IsMap()) {
      error(doc.Mark(), "a policy document must be a mapping, got " + type_name(doc));
      return std::nullopt;
    }
    auto top = fields(root, {"apiVersion", "kind", "metadata", "spec"});
    if (auto f = required(root, top, "apiVersion"); f) {
      if (auto s = text(*f); s) {
        if (*s != kApiVersion) error(*f, "'apiVersion' must be '" + std::string(kApiVersion) + "', got '" + *s + "'");
        p.api_version = *s;
      }
    }
    if (auto f = required(root, top, "kind"); f) {
      if (auto s = text(*f); s && *s != kKind)
        error(*f, "'kind' must be '" + std::string(kKind) + "', got '" + *s + "'");
    }
    if (auto f = required(root, top, "metadata"); f) parse_metadata(*f, out);
    if (auto f = required(root, top, "spec"); f) parse_spec(*f, out);
    if (errors_.size() != errors_before) return std::nullopt;
    return out;
  }

 private:
  SourcePos pos(const YAML::Mark& m) const {
    // yaml-cpp marks are 0-based; a node built without one has -1.
    return SourcePos{source_, std::max(m.line, 0) + 1, std::max(m.column, 0) + 1};
  }
  void error(const YAML::Mark& m, std::string message, std::string field = {}) {
    errors_.push_back({pos(m), std::move(message), std::move(field)});
  }
  // An error about a field's value, named by its key path.
  void error(const Field& f, std::string message) { errors_.push_back({pos(f.mark()), std::move(message), f.path}); }

  // The known keys of mapping f that are present; reports unknown and
  // duplicate keys and a value that is not a mapping.
  std::map<std::string, Field> fields(const Field& f, std::initializer_list<std::string_view> known) {
    std::map<std::string, Field> out;
    if (!f.node.IsMap()) {
      error(f, "'" + f.path + "' must be a mapping, got " + type_name(f.node));
      return out;
    }
    std::map<std::string, YAML::Mark> seen;
    for (const auto& kv : f.node) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      std::string full = f.path.empty() ? key : f.path + "." + key;
      if (!kv.first.IsScalar()) {
        error(kv.first.Mark(), "keys in '" + f.path + "' must be strings");
        continue;
      }
      if (auto [it, fresh] = seen.emplace(key, kv.first.Mark()); !fresh) {
        error(kv.first.Mark(), "duplicate field '" + full + "' (first at " + pos(it->second).str() + ")", full);
        continue;
      }
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (auto k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
        error(kv.first.Mark(), "unknown field '" + full + "' (expected one of: " + expected + ")", full);
        continue;
      }
      out.emplace(key, Field{kv.second, kv.first.Mark(), full});
    }
    return out;
  }

  std::optional<Field> get(const std::map<std::string, Field>& m, const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }

  // A field that must be there: missing ones are reported at the key of the
  // mapping that should hold them (the document start at the top level).
  std::optional<Field> required(const Field& parent, const std::map<std::string, Field>& m, const std::string& key) {
    if (!parent.node.IsMap()) return std::nullopt;  // already reported
    auto f = get(m, key);
    if (!f) {
      bool has_key = false;  // a duplicate or unknown spelling is reported already
      for (const auto& kv : parent.node) has_key |= kv.first.IsScalar() && kv.first.Scalar() == key;
      if (!has_key)
        error(parent.key_mark,
              "missing required field '" + (parent.path.empty() ? key : parent.path + "." + key) + "'");
    }
    return f;
  }

  std::optional<std::string> text(const Field& f) {
    if (!f.node.IsScalar() || f.node.Scalar().empty()) {
      error(f, "'" + f.path + "' must be a non-empty string, got " + type_name(f.node));
      return std::nullopt;
    }
    return f.node.Scalar();
  }

  // One of a fixed set of words, each standing for a value of E.
  template <typename E>
  void word(const Field& f, std::initializer_list<std::pair<std::string_view, E>> words, E& out) {
    auto s = text(f);
    if (!s) return;
    std::string list;
    for (const auto& [w, value] : words) {
      if (*s == w) {
        out = value;
        return;
      }
      list += (list.empty() ? "" : ", ") + std::string(w);
    }
    error(f, "'" + f.path + "' must be one of " + list + ", got '" + *s + "'");
  }

  // An unquoted integer in [lo, hi].
  std::optional<uint32_t> integer(const Field& f, uint32_t lo, uint32_t hi) {
    std::string range = " (" + std::to_string(lo) + "-" + std::to_string(hi) + ")";
    if (!f.node.IsScalar()) {
      error(f, "'" + f.path + "' must be an integer" + range + ", got " + type_name(f.node));
      return std::nullopt;
    }
    const std::string& s = f.node.Scalar();
    if (f.node.Tag() == "!") {
      error(f, "'" + f.path + "' must be an integer" + range + ", got the quoted string \"" + s + "\"");
      return std::nullopt;
    }
    auto v = parse_number<uint32_t>(s, lo, hi);
    if (!v) {
      error(f, "'" + f.path + "' " + v.error().message);
      return std::nullopt;
    }
    return *v;
  }

  std::optional<bool> boolean(const Field& f) {
    if (f.node.IsScalar() && f.node.Tag() != "!") {
      const std::string& s = f.node.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    error(f, "'" + f.path + "' must be true or false, got " +
                 (f.node.IsScalar() && f.node.Tag() == "!" ? "the quoted string \"" + f.node.Scalar() + "\""
                                                           : type_name(f.node)));
    return std::nullopt;
  }

  // The items of a list, each with its own path ("x[2]"). An empty value is
  // an error: "[]" says "nothing", an empty value may be a slip.
  std::optional<std::vector<Field>> list(const Field& f, std::string_view of) {
    if (!f.node.IsSequence()) {
      error(f, "'" + f.path + "' must be a list of " + std::string(of) + ", got " + type_name(f.node) +
                   (f.node.IsNull() ? " (write [] for an empty list)" : ""));
      return std::nullopt;
    }
    std::vector<Field> out;
    size_t i = 0;
    for (const auto& item : f.node) {
      YAML::Mark m = item.IsNull() ? f.node.Mark() : item.Mark();
      out.push_back(Field{item, m, f.path + "[" + std::to_string(i++) + "]"});
    }
    return out;
  }

  // hashes: where a deny rule's exec list takes "sha256:HEX" entries too.
  std::vector<PathPattern> path_patterns(const Field& f, std::vector<ContentHash>* hashes = nullptr) {
    std::vector<PathPattern> out;
    auto items = list(f, "path patterns");
    if (!items) return out;
    for (const Field& item : *items) {
      auto s = text(item);
      if (!s) continue;
      if (hashes && s->starts_with("sha256:")) {
        auto h = parse_sha256(std::string_view(*s).substr(7));
        if (!h)
          error(item, "'" + item.path + "': '" + *s + "' is not sha256: followed by 64 hexadecimal digits");
        else
          hashes->push_back({*h, pos(item.mark())});
        continue;
      }
      auto pat = parse_path_pattern(*s);
      if (!pat) {
        error(item, "'" + item.path + "': " + pat.error().message);
        continue;
      }
      pat->pos = pos(item.mark());
      out.push_back(std::move(*pat));
    }
    return out;
  }

  std::vector<NetRule> net_rules(const Field& f) {
    std::vector<NetRule> out;
    auto items = list(f, "network rules (ADDR[/LEN][:PORTS])");
    if (!items) return out;
    for (const Field& item : *items) {
      auto s = text(item);
      if (!s) continue;
      auto rule = parse_net_rule(*s);
      if (!rule) {
        error(item, "'" + item.path + "': " + rule.error().message);
        continue;
      }
      rule->pos = pos(item.mark());
      out.push_back(*rule);
    }
    return out;
  }

  void parse_metadata(const Field& f, Parsed& out) {
    auto m = fields(f, {"name", "description"});
    if (auto name = required(f, m, "name"); name) {
      if (auto s = text(*name); s) {
        if (!valid_name(*s))
          error(*name, "'metadata.name' '" + *s + "' is not a valid name: " + kNameRule);
        else if (*s == "default")
          error(*name, "'metadata.name' 'default' is reserved for the built-in default policy");
        out.policy.name = *s;
        out.name_pos = pos(name->mark());
      }
    }
    if (auto d = get(m, "description"); d) {
      if (auto s = text(*d); s) out.policy.description = *s;
    }
  }

  void parse_spec(const Field& f, Parsed& out) {
    Policy& p = out.policy;
    auto m = fields(f, {"selector", "mode", "overload", "allow", "deny", "scoring"});
    if (auto sel = required(f, m, "selector"); sel) parse_selector(*sel, out);
    if (auto mode = get(m, "mode"); mode)
      word(*mode, {{"audit", Mode::kAudit}, {"enforce", Mode::kEnforce}, {"learn", Mode::kLearn}}, p.mode);
    if (auto o = get(m, "overload"); o)
      word(*o, {{"fail-open", Overload::kFailOpen}, {"fail-closed", Overload::kFailClosed}}, p.overload);
    if (auto a = get(m, "allow"); a) parse_allow(*a, p.allow);
    if (auto d = get(m, "deny"); d) parse_deny(*d, p.deny);
    if (auto s = get(m, "scoring"); s) parse_scoring(*s, p.scoring);
  }

  void parse_selector(const Field& f, Parsed& out) {
    Selector& sel = out.policy.selector;
    sel.pos = pos(f.mark());
    size_t errors_before = errors_.size();
    auto m = fields(f, {"executables", "cgroupPrefixes", "containerIds", "podUids", "uids"});
    auto add = [&](Criterion kind, std::string value, const Field& item) {
      out.values.push_back({kind, std::move(value), pos(item.mark())});
    };
    if (auto e = get(m, "executables"); e) {
      sel.executables = path_patterns(*e);
      for (const auto& pat : sel.executables) {
        Criterion kind = pat.kind == PathPattern::Kind::kExact ? Criterion::kExactExe : Criterion::kExePattern;
        out.values.push_back({kind, pat.text, pat.pos});
      }
    }
    auto strings = [&](const char* key, std::string_view of, auto check) {
      if (auto lf = get(m, key); lf) {
        if (auto items = list(*lf, of); items) {
          for (const Field& item : *items) {
            if (auto s = text(item); s) check(item, *s);
          }
        }
      }
    };
    strings("cgroupPrefixes", "cgroup paths", [&](const Field& item, const std::string& s) {
      if (s.front() != '/')
        error(item, "'" + item.path + "': cgroup prefix '" + s +
                        "' must start with '/' (a cgroup v2 path "
                        "such as /system.slice/nginx.service)");
      else if (s.find_first_of("*?[") != std::string::npos)
        error(item, "'" + item.path + "': cgroup prefix '" + s +
                        "' has a wildcard: cgroup prefixes are literal paths, matched component-wise");
      else {
        sel.cgroup_prefixes.push_back(normalize_cgroup_prefix(s));
        add(Criterion::kCgroup, sel.cgroup_prefixes.back(), item);
      }
    });
    strings("containerIds", "container ids", [&](const Field& item, const std::string& s) {
      if (!is_container_id(s))
        error(item, "'" + item.path + "': container id '" + s + "' must be 64 lowercase hex characters");
      else {
        sel.container_ids.push_back(s);
        add(Criterion::kContainer, s, item);
      }
    });
    strings("podUids", "pod UIDs", [&](const Field& item, const std::string& s) {
      if (!is_pod_uid(s))
        error(item, "'" + item.path + "': pod uid '" + s +
                        "' must be a lowercase UUID (8-4-4-4-12 hex digits) or 32 hex digits for a static pod");
      else {
        sel.pod_uids.push_back(s);
        add(Criterion::kPod, s, item);
      }
    });
    if (auto u = get(m, "uids"); u) {
      if (auto items = list(*u, "uids"); items) {
        for (const Field& item : *items) {
          if (auto v = integer(item, 0, 4294967294u); v) {  // (uid_t)-1 means "no uid"
            sel.uids.push_back(*v);
            add(Criterion::kUid, std::to_string(*v), item);
          }
        }
      }
    }
    // Bad values already said why the selector came out empty.
    if (f.node.IsMap() && sel.empty() && errors_.size() == errors_before)
      error(f,
            "'spec.selector' selects nothing: give at least one of executables, cgroupPrefixes, containerIds, "
            "podUids, uids");
  }

  void parse_allow(const Field& f, Allow& a) {
    auto m = fields(f, {"exec", "files", "network", "privilege"});
    if (auto e = get(m, "exec"); e) {
      a.exec = path_patterns(*e);
      a.has_exec = true;
    }
    if (auto files = get(m, "files"); files) {
      auto fm = fields(*files, {"read", "write"});
      if (auto r = get(fm, "read"); r) {
        a.file_read = path_patterns(*r);
        a.has_file_read = true;
      }
      if (auto w = get(fm, "write"); w) {
        a.file_write = path_patterns(*w);
        a.has_file_write = true;
      }
    }
    if (auto net = get(m, "network"); net) {
      auto nm = fields(*net, {"connect", "listen"});
      if (auto c = get(nm, "connect"); c) {
        a.connect = net_rules(*c);
        a.has_connect = true;
      }
      if (auto l = get(nm, "listen"); l) {
        a.has_listen = true;
        if (auto items = list(*l, "ports (443 or \"8000-8100\")"); items) {
          for (const Field& item : *items) {
            if (!item.node.IsScalar() || item.node.Scalar().empty()) {
              error(item, "'" + item.path + "' must be a port or a port range, got " + type_name(item.node));
              continue;
            }
            auto r = parse_port_range(item.node.Scalar());
            if (!r) {
              error(item, "'" + item.path + "': " + r.error().message);
              continue;
            }
            r->pos = pos(item.mark());
            a.listen.push_back(*r);
          }
        }
      }
    }
    if (auto priv = get(m, "privilege"); priv) {
      auto pm = fields(*priv, {"setuid", "capset", "ptrace", "moduleLoad", "bpf", "mount", "namespaces", "ioUring"});
      const std::pair<const char*, bool*> switches[] = {
          {"setuid", &a.setuid}, {"capset", &a.capset}, {"ptrace", &a.ptrace},         {"moduleLoad", &a.module_load},
          {"bpf", &a.bpf},       {"mount", &a.mount},   {"namespaces", &a.namespaces}, {"ioUring", &a.io_uring}};
      for (const auto& [name, flag] : switches)
        if (auto v = get(pm, name); v) *flag = boolean(*v).value_or(true);
      a.bpf_expected = a.bpf && get(pm, "bpf");
    }
  }

  void parse_deny(const Field& f, std::vector<DenyRule>& rules) {
    auto items = list(f, "deny rules");
    if (!items) return;
    std::map<std::string, SourcePos> ids;
    for (const Field& item : *items) {
      DenyRule r;
      r.pos = pos(item.mark());
      size_t errors_before = errors_.size();
      auto m = fields(item, {"id", "description", "files", "exec", "network", "action", "weight"});
      if (!item.node.IsMap()) continue;
      if (auto id = required(item, m, "id"); id) {
        if (auto s = text(*id); s) {
          if (!valid_rule_id(*s)) {
            error(*id, "'" + id->path + "' '" + *s + "' is not a valid rule id: " + kRuleIdRule);
          } else if (auto [it, fresh] = ids.emplace(*s, pos(id->mark())); !fresh) {
            error(*id, "duplicate deny rule id '" + *s + "' (first at " + it->second.str() + ")");
          }
          r.id = *s;
        }
      }
      if (auto d = get(m, "description"); d) {
        if (auto s = text(*d); s) r.description = *s;
      }
      if (auto files = get(m, "files"); files) {
        auto fm = fields(*files, {"read", "write"});
        if (auto rd = get(fm, "read"); rd) r.file_read = path_patterns(*rd);
        if (auto w = get(fm, "write"); w) r.file_write = path_patterns(*w);
      }
      if (auto e = get(m, "exec"); e) r.exec = path_patterns(*e, &r.exec_sha256);
      if (auto net = get(m, "network"); net) {
        auto nm = fields(*net, {"connect"});
        if (auto c = get(nm, "connect"); c) r.connect = net_rules(*c);
      }
      if (auto act = get(m, "action"); act) {
        if (auto s = text(*act); s) {
          if (*s == "deny")
            r.action = Action::kDeny;
          else if (*s == "kill")
            r.action = Action::kKill;
          else if (*s == "alert")
            r.action = Action::kAlert;
          else
            error(*act, "'" + act->path + "' must be one of deny, kill, alert, got '" + *s + "'");
        }
      }
      if (auto w = get(m, "weight"); w) r.weight = integer(*w, 0, 100).value_or(r.weight);
      if (r.exec.empty() && r.exec_sha256.empty() && r.file_read.empty() && r.file_write.empty() && r.connect.empty() &&
          errors_.size() == errors_before)
        error(item, "deny rule " + (r.id.empty() ? item.path : "'" + r.id + "'") +
                        " has no matcher: give at least one of exec, files.read, files.write, "
                        "network.connect");
      rules.push_back(std::move(r));
    }
  }

  void parse_scoring(const Field& f, Scoring& s) {
    auto m = fields(f, {"weights", "thresholds", "decayPerMinute", "inheritPercent"});
    if (auto w = get(m, "weights"); w) {
      if (!w->node.IsMap()) {
        error(*w, "'" + w->path + "' must be a mapping of rule id to weight, got " + type_name(w->node));
      } else {
        for (const auto& kv : w->node) {
          std::string id = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
          if (!valid_rule_id(id)) {
            error(kv.first.Mark(), "'" + w->path + "': '" + id + "' is not a valid rule id: " + kRuleIdRule);
            continue;
          }
          if (s.weights.count(id)) {
            error(kv.first.Mark(), "duplicate field '" + w->path + "." + id + "'");
            continue;
          }
          if (auto v = integer(Field{kv.second, kv.first.Mark(), w->path + "." + id}, 0, 100); v) s.weights[id] = *v;
        }
      }
    }
    if (auto t = get(m, "thresholds"); t) parse_thresholds(*t, s.thresholds);
    if (auto d = get(m, "decayPerMinute"); d) s.decay_per_minute = integer(*d, 0, 100).value_or(s.decay_per_minute);
    if (auto i = get(m, "inheritPercent"); i) s.inherit_percent = integer(*i, 0, 100).value_or(s.inherit_percent);
  }

  void parse_thresholds(const Field& f, Thresholds& t) {
    auto m = fields(f, {"alert", "deny", "quarantine", "kill"});
    struct Level {
      const char* name;
      int* value;
      std::optional<YAML::Mark> mark;  // set when the file gives it
    };
    std::array<Level, 4> levels{
        {{"alert", &t.alert, {}}, {"deny", &t.deny, {}}, {"quarantine", &t.quarantine, {}}, {"kill", &t.kill, {}}}};
    bool ok = true;
    for (Level& l : levels) {
      auto lf = get(m, l.name);
      if (!lf) continue;
      auto v = integer(*lf, 0, 100);
      ok &= v.has_value();
      if (v) {
        *l.value = static_cast<int>(*v);
        l.mark = lf->mark();
      }
    }
    if (!ok) return;
    for (size_t i = 0; i + 1 < levels.size(); ++i) {
      const Level& hi = levels[i];
      const Level& lo = levels[i + 1];
      if (*hi.value > *lo.value) continue;
      // Point at whichever of the two the file set, the lower level first.
      const Level& at = lo.mark ? lo : hi;
      error(*at.mark, "'spec.scoring.thresholds." + std::string(at.name) + "' (" + std::to_string(*at.value) +
                          ") conflicts with " + (&at == &lo ? hi.name : lo.name) + " (" +
                          std::to_string(*(&at == &lo ? hi.value : lo.value)) +
                          "): thresholds must be strictly decreasing, alert > deny > quarantine > kill");
      return;
    }
  }

  std::string source_;
  std::vector<Diagnostic>& errors_;
};

// The first invalid UTF-8 sequence, as a position, if any.
std::optional<std::pair<SourcePos, int>> bad_utf8(std::string_view text, const std::string& source) {
  int line = 1, column = 1;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n != 0 && i + n <= text.size();
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; ok && k < n; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
               (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff))
      ok = false;
    if (!ok) return std::make_pair(SourcePos{source, line, column}, static_cast<int>(c));
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += n;
  }
  return std::nullopt;
}

// yaml-cpp 0.7's LoadAll never returns on some inputs (",#" is one, found by
// the policy fuzzer): its parser keeps reporting a new empty document
// without consuming input. So the documents are counted first, with a
// bound, by a parse that builds nothing.
constexpr size_t kMaxDocuments = RP_MAX_POLICIES;

class CountingHandler : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// True when the text holds at most `limit` documents (exceptions propagate).
bool within_document_limit(const std::string& text, size_t limit) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  CountingHandler handler;
  for (size_t n = 0; n <= limit; ++n)
    if (!parser.HandleNextDocument(handler)) return true;
  return false;
}

// Collects documents from any number of sources, then checks what spans
// them: unique names and unambiguous selectors.
class Loader {
 public:
  void add_text(std::string_view text, const std::string& source) {
    if (auto bad = bad_utf8(text, source); bad) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", bad->second);
      errors_.push_back({bad->first, std::string("not valid UTF-8 (byte ") + hex + ")"});
      return;
    }
    std::vector<YAML::Node> docs;
    try {
      const std::string copy(text);
      if (!within_document_limit(copy, kMaxDocuments)) {
        errors_.push_back({SourcePos{source, 1, 1}, "more than " + std::to_string(kMaxDocuments) +
                                                        " YAML documents in one file (or a document the YAML "
                                                        "parser cannot get past)"});
        return;
      }
      docs = YAML::LoadAll(copy);
    } catch (const YAML::Exception& e) {
      errors_.push_back(
          {SourcePos{source, std::max(e.mark.line, 0) + 1, std::max(e.mark.column, 0) + 1}, "invalid YAML: " + e.msg});
      return;
    }
    DocParser parser(source, errors_);
    size_t count = 0;
    for (const YAML::Node& doc : docs) {
      if (doc.IsNull()) continue;  // "---" with nothing after it
      ++count;
      try {
        if (auto p = parser.parse(doc); p) parsed_.push_back(std::move(*p));
      } catch (const YAML::Exception& e) {
        errors_.push_back({SourcePos{source, std::max(e.mark.line, 0) + 1, std::max(e.mark.column, 0) + 1}, e.msg});
      }
    }
    if (count == 0) errors_.push_back({SourcePos{source, 1, 1}, "no policy documents"});
  }

  void add_error(SourcePos p, std::string message) { errors_.push_back({std::move(p), std::move(message)}); }

  // The policies, or every error as "file:line:col: message" lines in
  // file and position order.
  Result<std::vector<Policy>> finish() {
    std::map<std::string, SourcePos> names;
    std::map<std::pair<Criterion, std::string>, std::pair<std::string, SourcePos>> owners;
    for (const Parsed& p : parsed_) {
      if (auto [it, fresh] = names.emplace(p.policy.name, p.name_pos); !fresh) {
        errors_.push_back(
            {p.name_pos, "duplicate policy name '" + p.policy.name + "' (first defined at " + it->second.str() + ")"});
        continue;
      }
      std::set<std::pair<Criterion, std::string>> own;  // a value listed twice in one policy is harmless
      for (const SelectorValue& v : p.values) {
        auto key = std::make_pair(v.kind, v.value);
        if (!own.insert(key).second) continue;
        auto [it, fresh] = owners.emplace(key, std::make_pair(p.policy.name, v.pos));
        if (!fresh)
          errors_.push_back({v.pos, "ambiguous selector: " + std::string(criterion_name(v.kind)) + " '" + v.value +
                                        "' is also selected by policy '" + it->second.first + "' at " +
                                        it->second.second.str() +
                                        "; most specific wins, and these are equally specific"});
      }
    }
    if (!errors_.empty()) {
      std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.pos.file, a.pos.line, a.pos.column) < std::tie(b.pos.file, b.pos.line, b.pos.column);
      });
      std::vector<std::string> lines;
      for (const Diagnostic& d : errors_) lines.push_back(d.str());
      return fail(format_errors(lines));
    }
    std::vector<Policy> out;
    for (Parsed& p : parsed_) out.push_back(std::move(p.policy));
    return out;
  }

 private:
  std::vector<Parsed> parsed_;
  std::vector<Diagnostic> errors_;

 public:
  // After finish(): the errors, sorted by place.
  std::vector<Diagnostic>& diagnostics() { return errors_; }
};

// How strongly p selects s: (rank, tiebreaker), rank 0 for not at all.
std::pair<int, size_t> strength(const Policy& p, const Subject& s) {
  std::pair<int, size_t> best{0, 0};
  auto offer = [&best](int rank, size_t tie) { best = std::max(best, std::make_pair(rank, tie)); };
  const Selector& sel = p.selector;
  if (!s.container_id.empty() &&
      std::find(sel.container_ids.begin(), sel.container_ids.end(), s.container_id) != sel.container_ids.end())
    offer(6, 0);
  if (!s.pod_uid.empty() && std::find(sel.pod_uids.begin(), sel.pod_uids.end(), s.pod_uid) != sel.pod_uids.end())
    offer(5, 0);
  for (const PathPattern& e : sel.executables) {
    if (!e.matches(s.exe)) continue;
    if (e.kind == PathPattern::Kind::kExact)
      offer(4, 0);
    else
      offer(2, literal_prefix_len(e));
  }
  for (const std::string& c : sel.cgroup_prefixes) {
    if (cgroup_prefix_matches(c, s.cgroup_path)) offer(3, c.size());
  }
  if (std::find(sel.uids.begin(), sel.uids.end(), s.uid) != sel.uids.end()) offer(1, 0);
  return best;
}

}  // namespace

std::string ContentHash::text() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (uint8_t b : sha256) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kAudit:
      return "audit";
    case Mode::kEnforce:
      return "enforce";
    case Mode::kLearn:
      return "learn";
  }
  return "?";
}

const char* overload_name(Overload o) { return o == Overload::kFailClosed ? "fail-closed" : "fail-open"; }

const char* action_name(Action a) {
  switch (a) {
    case Action::kDeny:
      return "deny";
    case Action::kKill:
      return "kill";
    case Action::kAlert:
      return "alert";
  }
  return "?";
}

Policy PolicySet::default_policy() {
  Policy p;
  p.api_version = std::string(kApiVersion);
  p.name = "default";
  p.description = "built-in default: audit with the built-in detection rules";
  p.mode = Mode::kAudit;
  p.pos = SourcePos{"<builtin>", 0, 0};
  p.builtin = true;
  return p;
}

Result<PolicySet> PolicySet::load_text(std::string_view text, std::string_view source,
                                       std::vector<Diagnostic>* diagnostics) {
  Loader loader;
  loader.add_text(text, std::string(source));
  auto policies = loader.finish();
  if (diagnostics) *diagnostics = std::move(loader.diagnostics());
  if (!policies) return tl::unexpected(policies.error());
  PolicySet set;
  set.policies_ = std::move(*policies);
  return set;
}

Result<PolicySet> PolicySet::load_dir(const std::string& dir, std::map<std::string, std::string>* texts,
                                      const std::map<std::string, std::string>& kept,
                                      std::vector<Diagnostic>* diagnostics) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  if (ec) return fail("cannot read policy directory " + dir, ec.value());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    std::string ext = path.extension().string();
    // Hidden files are editor droppings or Kubernetes' ConfigMap internals
    // ("..data"); the visible names link into those.
    if (name.starts_with(".") || (ext != ".yaml" && ext != ".yml")) continue;
    files.push_back(path);
  }
  if (ec) return fail("cannot read policy directory " + dir, ec.value());
  std::sort(files.begin(), files.end());

  Loader loader;
  std::map<std::string, std::string> read;
  for (const fs::path& path : files) {
    std::error_code type_ec;
    const auto st = fs::status(path, type_ec);  // follows symlinks
    if (st.type() == fs::file_type::directory) continue;
    if (st.type() != fs::file_type::regular) {
      // A dangling symlink, a FIFO: refused rather than taken for a deleted file.
      loader.add_error(SourcePos{path.string(), 1, 1},
                       "cannot read: " + (type_ec ? type_ec.message() : std::string("not a regular file")));
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) {
      loader.add_error(SourcePos{path.string(), 1, 1}, std::string("cannot read: ") + std::strerror(errno));
      continue;
    }
    read[path.string()] = text.str();
  }
  for (const auto& [path, text] : kept) read.emplace(path, text);
  for (const auto& [path, text] : read) loader.add_text(text, path);
  if (texts) *texts = std::move(read);
  auto policies = loader.finish();
  if (diagnostics) *diagnostics = std::move(loader.diagnostics());
  if (!policies) return tl::unexpected(policies.error());
  PolicySet set;
  set.policies_ = std::move(*policies);
  return set;
}

const Policy& PolicySet::select(const Subject& s) const {
  const Policy* best = nullptr;
  std::pair<int, size_t> best_strength{0, 0};
  for (const Policy& p : policies_) {
    auto st = strength(p, s);
    if (st.first == 0) continue;
    // Equal strength: the name that sorts first, so the answer never depends on file order.
    if (!best || st > best_strength || (st == best_strength && p.name < best->name)) {
      best = &p;
      best_strength = st;
    }
  }
  return best ? *best : default_;
}

bool PolicySet::replace(Policy p) {
  for (Policy& q : policies_) {
    if (q.name != p.name) continue;
    q = std::move(p);
    return true;
  }
  return false;
}

std::string format_errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) {
    if (!out.empty()) out += '\n';
    out += e;
  }
  return out;
}

}  // namespace rampart::policy
