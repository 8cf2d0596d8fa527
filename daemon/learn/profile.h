// Learned workload profiles (maturity stage 4, "adapt"). A policy in
// `mode: learn` records what the processes it governs do: executables run
// (with their parents), files read and written (collapsed into a directory
// glob once a directory holds more than N names), peers connected to, ports
// bound, privilege operations. Each item has a count and first/last-seen
// times; the profile is bounded and counts what it could not keep.
//
// A profile then moves through stages: learning → shadow (the exported
// allow-list runs in audit mode and its would-deny verdicts are counted) →
// enforce (the exported allow-list replaces the learn policy), or back to
// audit (rollback). The stage is part of the profile file, so it survives
// restarts.
//
// Pure logic: the observation of an event, recording, coverage, the JSON
// file format with its strict loader, and the export to policy YAML. No I/O
// here (see store.h), so all of it is unit-tested and fuzzed.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/process_table.h"
#include "policy/policy.h"
#include "score/rules.h"
#include "sources/decoder.h"
#include "util/result.h"

namespace rampart::learn {

// What a profile records, one map per kind.
enum class Kind : uint8_t { kExec, kRead, kWrite, kConnect, kListen, kPrivilege };
inline constexpr size_t kKinds = 6;
const char* kind_name(Kind k);  // "exec", "read", "write", "connect", "listen", "privilege"

enum class Stage : uint8_t { kLearning, kShadow, kEnforce, kAudit };
const char* stage_name(Stage s);  // "learning", "shadow", "enforce", "audit"
std::optional<Stage> stage_from_name(std::string_view s);

// One behaviour seen in an event. key: the path (exec, read, write), the
// peer "ADDR:PORT" / "[ADDR6]:PORT" (connect), the port (listen), or the
// privilege name as policies spell it ("setuid", "moduleLoad", ...).
struct Observation {
  Kind kind;
  std::string key;
  std::string parent;  // exec: the parent's executable, when known
};

// The behaviours in one event (none for most types). Failed opens, binds and
// privilege calls are not behaviour the workload needs; connects count even
// when refused by the peer. Numbered /proc/PID and /dev/pts/N components
// become '*', so that the next run of the workload matches them.
std::vector<Observation> observe(const sources::EventView& ev, const pipeline::ProcessTable& table);

struct Item {
  uint64_t count = 0;
  int64_t first_seen = 0, last_seen = 0;  // unix seconds
  std::vector<std::string> parents;       // exec only; at most kMaxParents
};
inline constexpr size_t kMaxParents = 8;

struct Limits {
  uint32_t collapse_threshold = 8;  // more distinct names than this in one directory: "dir/*"
  uint32_t max_items = 4096;        // across all kinds; past it, new items are dropped and counted
};

struct Profile {
  std::string name;  // the policy's name; also the file name
  Stage stage = Stage::kLearning;
  int64_t created = 0;       // unix seconds
  int64_t last_new = 0;      // when an item was last added (the stability window starts here)
  int64_t stage_since = 0;   // when the stage was entered
  int64_t shadow_until = 0;  // shadow: when enforcement starts
  uint64_t dropped_items = 0;
  std::array<std::map<std::string, Item>, kKinds> items;
  // Shadow: would-deny verdicts per rule ("allow.connect", a deny rule's id)
  // since the shadow period began; kept in the file, so a restart goes on counting.
  std::map<std::string, uint64_t> would_deny;

  std::map<std::string, Item>& of(Kind k) { return items[static_cast<size_t>(k)]; }
  const std::map<std::string, Item>& of(Kind k) const { return items[static_cast<size_t>(k)]; }
  size_t size() const;
  // Whether the profile already allows this behaviour (an exact item, or a
  // file in a collapsed directory).
  bool covers(const Observation& o) const;
  // Records o at `now`. Returns true when it added an item (new behaviour).
  bool record(const Observation& o, int64_t now, const Limits& limits);
  // No new item for `window` seconds.
  bool stable(int64_t now, int64_t window) const { return size() > 0 && now - last_new >= window; }
};

// "dir/*" for a file path, the key a collapsed directory is recorded under.
std::string dir_glob(std::string_view path);

// The profile as JSON (one document; format version 1).
std::string to_json(const Profile& p);
// The strict loader: valid JSON, version 1, every key known and of the right
// type, a valid policy name, counts and times consistent, keys valid for
// their kind. The error says what is wrong and where (the JSON path).
Result<Profile> parse_profile(std::string_view text);

// A policy document (YAML) for the learned allow-list: the learn policy's
// selector, deny rules and scoring, `mode`, and an allow-list of everything
// in the profile, each entry commented with its counts. Privileges never
// seen are set to false. The text passes PolicySet::load_text unchanged.
std::string export_policy(const Profile& p, const policy::Policy& learned_from, policy::Mode mode);
// The same policy as a value, for installing without a text round trip:
// `learned_from` with `mode` and its allow-lists replaced by the profile's
// items (every list set, privileges never seen false). What export_policy
// writes, parsed, has the same lists (tests/unit/profile_test.cpp checks).
policy::Policy learned_policy(const Profile& p, const policy::Policy& learned_from, policy::Mode mode);

// How unusual a behaviour outside the profile is, as a rule hit: a new
// executable weighs most, then a new peer, a write to a directory never
// written, a read. The ids are rampart.profile.new_exec, new_peer,
// new_listen, new_privilege, new_write_dir, new_write, new_read.
const score::Rule& anomaly_rule(const Profile& p, const Observation& o);
const std::vector<score::Rule>& anomaly_rules();

}  // namespace rampart::learn
