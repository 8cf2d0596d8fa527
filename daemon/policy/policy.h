// The zero-trust policy model: what a policy file says, after validation.
// A Policy selects workloads (by executable, cgroup, container, pod, uid) and
// gives them a mode, allow-lists, deny rules, scoring weights and response
// thresholds. PolicySet holds every loaded policy plus the built-in default
// and answers "which policy governs this process" by the documented
// precedence: most specific selector wins, and ties are rejected at load.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace rampart::policy {

enum class Mode : uint8_t { kAudit, kEnforce, kLearn };
const char* mode_name(Mode m);

// Where something was written: for error messages and for explaining verdicts.
struct SourcePos {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }
};

// One thing wrong with a policy text, where it is: the structured form of
// the "file:line:column: message" lines. field is the key path
// ("spec.allow.files.read[2]") when the error is about one field.
struct Diagnostic {
  SourcePos pos;
  std::string message;
  std::string field;
  std::string str() const { return pos.file.empty() ? message : pos.str() + ": " + message; }
};

// A path pattern. "/etc/shadow" is exact, "/var/log/nginx/" (trailing slash)
// is a prefix (the directory and everything below it), and a pattern with
// '*', '?' or '[...]' is a glob where '*' does not cross '/' and '**' does.
struct PathPattern {
  enum class Kind : uint8_t { kExact, kPrefix, kGlob } kind = Kind::kExact;
  std::string text;
  SourcePos pos;
  bool matches(std::string_view path) const;
};

// An IPv4 or IPv6 network with a port range: "10.0.0.0/8:5432",
// "127.0.0.1:8000-8100", "[::1]:443", "0.0.0.0/0" (all ports), "[2001:db8::/32]:80".
struct NetRule {
  uint8_t family = 0;              // 4 or 6
  std::array<uint8_t, 16> addr{};  // network byte order; IPv4 in the first 4
  uint8_t prefix_len = 0;          // 0-32 or 0-128
  uint16_t port_lo = 0;            // 0-65535; all ports is 0-65535
  uint16_t port_hi = 65535;
  SourcePos pos;
  bool matches(uint8_t family, const uint8_t* addr, uint16_t port) const;
};

struct PortRange {
  uint16_t lo = 0, hi = 0;
  SourcePos pos;
};

struct Selector {
  std::vector<PathPattern> executables;
  std::vector<std::string> cgroup_prefixes;  // "/system.slice/nginx.service"
  std::vector<std::string> container_ids;    // 64 hex
  std::vector<std::string> pod_uids;         // Kubernetes pod UID
  std::vector<uint32_t> uids;
  SourcePos pos;
  bool empty() const {
    return executables.empty() && cgroup_prefixes.empty() && container_ids.empty() && pod_uids.empty() && uids.empty();
  }
};

struct Allow {
  std::vector<PathPattern> exec;
  std::vector<PathPattern> file_read;
  std::vector<PathPattern> file_write;
  std::vector<NetRule> connect;
  std::vector<PortRange> listen;
  // Unset: the list does not restrict that operation (anything goes). Set,
  // even to an empty list: only what is listed is allowed.
  bool has_exec = false, has_file_read = false, has_file_write = false, has_connect = false, has_listen = false;
  bool setuid = true;         // privilege: may the workload change uid/gid
  bool capset = true;         // may it change its capabilities
  bool ptrace = true;         // may it attach to, or write into, other processes (ptrace, process_vm_writev)
  bool module_load = true;    // init_module, finit_module
  bool bpf = true;            // bpf()
  bool mount = true;          // mount, umount2
  bool namespaces = true;     // unshare, setns
  bool io_uring = true;       // io_uring_setup: io_uring does file and network work outside the syscalls
  bool bpf_expected = false;  // privilege.bpf: true was written: bpf() is part of this workload's job
};

// What happens to a process whose events the kernel could not deliver (ring
// buffer full, or over its rate): fail-open alerts; fail-closed also
// quarantines it, when the policy is in enforce mode.
enum class Overload : uint8_t { kFailOpen, kFailClosed };
const char* overload_name(Overload o);

enum class Action : uint8_t { kDeny, kKill, kAlert };
const char* action_name(Action a);

// An explicit deny rule: matches an operation regardless of the allow-lists.
// An executable named by its contents: "sha256:<64 hex digits>" in a deny
// rule's exec list. A copy, a hard link or a rename of the file matches.
struct ContentHash {
  std::array<uint8_t, 32> sha256{};
  SourcePos pos;
  std::string text() const;  // "sha256:..." as written (lower case)
};

struct DenyRule {
  std::string id;
  std::string description;
  std::vector<PathPattern> exec;
  std::vector<ContentHash> exec_sha256;
  std::vector<PathPattern> file_read;
  std::vector<PathPattern> file_write;
  std::vector<NetRule> connect;
  Action action = Action::kDeny;
  uint32_t weight = 50;  // subtracted from the trust score on a hit
  SourcePos pos;
};

// Response ladder: a process whose trust score is at or below a threshold
// gets that response. observe > alert > deny > quarantine > kill, so the
// thresholds must be strictly decreasing: alert > deny > quarantine > kill.
struct Thresholds {
  int alert = 80;
  int deny = 60;
  int quarantine = 40;
  int kill = 10;
};

struct Scoring {
  std::map<std::string, uint32_t> weights;  // rule id → weight override
  Thresholds thresholds;
  uint32_t decay_per_minute = 5;  // points a score regains per minute, up to its baseline
  uint32_t inherit_percent = 50;  // share of a parent's distrust a child starts with
};

struct Policy {
  std::string api_version;  // "rampart.dev/v1"
  std::string name;         // metadata.name, unique across the set
  std::string description;  // metadata.description
  Selector selector;
  Mode mode = Mode::kAudit;
  Overload overload = Overload::kFailOpen;
  Allow allow;
  std::vector<DenyRule> deny;
  Scoring scoring;
  SourcePos pos;            // the document
  std::string fingerprint;  // the document as parsed, re-emitted: equal texts mean an unchanged policy
  bool builtin = false;
};

// What a process looks like to the selector.
struct Subject {
  std::string_view exe;
  std::string_view cgroup_path;
  std::string_view container_id;
  std::string_view pod_uid;
  uint32_t uid = 0;
};

class PolicySet {
 public:
  // The built-in default: audit, built-in rules, selects nothing explicitly.
  static Policy default_policy();

  // Parses every *.yaml / *.yml file in dir (sorted by name; a file may hold
  // several YAML documents separated by ---). All errors are collected, each
  // naming file:line:column; any error fails the whole load.
  // texts: filled with each file's text, by path. kept: (path, text) of
  // files no longer in dir whose policies stay (engine/policy_runtime.cpp), loaded
  // with the files and checked with them (duplicate names, selectors). A
  // *.yaml entry that cannot be read (a dangling symlink, a directory, no
  // permission) is an error naming it.
  // diagnostics: filled with the errors, structured (the error's message
  // holds the same as "file:line:column: message" lines).
  static Result<PolicySet> load_dir(const std::string& dir, std::map<std::string, std::string>* texts = nullptr,
                                    const std::map<std::string, std::string>& kept = {},
                                    std::vector<Diagnostic>* diagnostics = nullptr);
  // Parses one text (for ValidatePolicy and tests); `source` names it in errors.
  static Result<PolicySet> load_text(std::string_view text, std::string_view source,
                                     std::vector<Diagnostic>* diagnostics = nullptr);

  // The governing policy: the most specific matching one, else the default.
  const Policy& select(const Subject& s) const;
  const std::vector<Policy>& policies() const { return policies_; }
  const Policy& fallback() const { return default_; }
  // Replaces the policy of the same name (a learned profile's generated
  // policy in its learn policy's place). False when there is none.
  bool replace(Policy p);

 private:
  std::vector<Policy> policies_;
  Policy default_ = default_policy();
};

// Errors from a load: one line each, "file:line:col: message".
std::string format_errors(const std::vector<std::string>& errors);

}  // namespace rampart::policy
