// What the fanotify guard decides, as pure logic: per policy, which execs and
// which file opens are refused, and why; which paths to mark so that the
// kernel asks at all; and how to tell a read from a write, which fanotify
// does not say. perm_guard.cpp does the I/O around it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "shared/rp_abi.h"

namespace rampart::enforce {

// One policy's exec and file rules (index = policy id - 1).
struct GuardRule {
  bool enforce = false;  // false: audit (allow and report would-deny)
  bool restrict_exec = false;
  std::vector<policy::PathPattern> exec_allow, exec_deny;
  bool restrict_read = false, restrict_write = false;
  std::vector<policy::PathPattern> read_allow, write_allow;
  std::vector<policy::PathPattern> read_deny, write_deny;  // from deny rules (deny and kill)
  std::vector<policy::ContentHash> exec_deny_sha256;       // executables denied by contents

  bool has_exec_deny() const { return !exec_deny.empty() || !exec_deny_sha256.empty(); }
  bool has_exec_rules() const { return restrict_exec || has_exec_deny(); }
  bool has_file_rules() const { return restrict_read || restrict_write || !read_deny.empty() || !write_deny.empty(); }
};

// Exact names that are symlinks, or go through one, also name their targets
// (resolved now, when the policy is compiled).
GuardRule guard_rule(const policy::Policy& p);

// The directory a prefix or glob lives under: everything before the first
// component with a wildcard ("/var/log" for "/var/log/*.log").
std::string literal_dir(const policy::PathPattern& p);

// True if an exec deny rule names `path` (allow-lists aside).
bool exec_denied(const GuardRule& r, std::string_view path);
// RP_REASON_* for an exec of `path`, 0 when it is allowed.
uint8_t exec_reason(const GuardRule& r, std::string_view path);

// RP_REASON_* for reading and for writing `path`, 0 when allowed.
struct OpenReasons {
  uint8_t read = 0, write = 0;
  bool allowed() const { return read == 0 && write == 0; }
  // The decision no longer depends on the access mode.
  bool uniform() const { return read == write; }
};
OpenReasons open_reasons(const GuardRule& r, std::string_view path);

// What an open with these O_* flags may do to the file: O_PATH neither reads
// nor writes; O_TRUNC and O_CREAT write.
struct Access {
  bool read = false, write = false;
};
Access access_from_flags(uint64_t flags);

// The file an exec of `fd` makes the kernel open next, with FMODE_EXEC too
// (so fanotify asks about it as an exec): the ELF interpreter (PT_INTERP,
// e.g. /lib64/ld-linux-x86-64.so.2) or a script's "#!" interpreter. nullopt
// for a static binary or anything unreadable.
std::optional<std::string> interpreter_of(int fd);

// Where to put fanotify marks so that opens of paths matching `patterns`
// reach the guard: inode marks for existing files, and directory marks
// (FAN_EVENT_ON_CHILD) for prefixes and globs — the directory under the
// pattern's literal part and every directory below it, up to max_dirs — and
// for the parent of a file that does not exist yet. Directories created later
// are not marked: say so in the docs.
struct MarkPlan {
  std::vector<std::string> files;
  std::vector<std::string> dirs;
  std::vector<std::string> notes;  // what could not be marked, and why
  uint64_t dirs_truncated = 0;
};
// missing_parent: mark the directory of an exact path that does not exist
// yet (deny rules); without it such a path is skipped (the sensitive list,
// whose parents, like /etc, are too busy to mark).
MarkPlan plan_marks(const std::vector<policy::PathPattern>& patterns, bool missing_parent, size_t max_dirs = 4096);

// The BPF LSM path: path patterns compiled into the LPM trie that lsm.bpf.c
// reads (rp_path_key). An exact path is stored with its NUL, a "dir/"
// prefix without (plus the directory itself), a glob as the existing files
// it matches now (up to glob_limit; files created later are matched at the
// next reload). Each entry carries the flags of every prefix entry that
// contains it, since the kernel finds only the longest match.
struct PathRuleInput {
  policy::PathPattern pattern;
  uint32_t flags;  // RP_PR_*
};
struct PathEntry {
  std::string bytes;  // without the NUL
  bool exact = true;
  uint32_t flags = 0;
};
std::vector<PathEntry> compile_path_rules(const std::vector<PathRuleInput>& inputs, std::vector<std::string>& notes,
                                          size_t glob_limit = 4096);
rp_path_key path_key(uint32_t policy_id, const PathEntry& e);
// A policy's exec and file rules as path-rule inputs, and the
// rp_policy_rule.path_flags that go with them.
std::vector<PathRuleInput> path_inputs(const GuardRule& r);
uint8_t path_flags(const GuardRule& r);

}  // namespace rampart::enforce
