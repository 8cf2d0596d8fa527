// The policy compiler: turns a validated PolicySet into the kernel's
// enforcement state. Each policy gets an id (its index + 1); its mode,
// network allow-lists and listen ports become policy_map and LPM entries, and
// its exact executable selectors become (dev, inode) entries, so that exec
// assigns the policy in the kernel, before the new image runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "enforce/file_rules.h"
#include "enforce/map_writer.h"
#include "policy/policy.h"
#include "util/result.h"

namespace rampart::enforce {

// Resolves an executable path to the kernel's view of its inode; nullopt
// when the file does not exist (the selector then matches by path only, in
// userspace, when such a process appears).
using ExeResolver = std::function<std::optional<rp_exe_key>(const std::string& path)>;
std::optional<rp_exe_key> stat_exe(const std::string& path);

struct Compiled {
  std::vector<std::string> names;  // names[id - 1]
  std::vector<std::string> notes;  // what could not go into the kernel, and why
  // With path_rules: each policy's exec and file rules for the BPF LSM
  // programs' path_rules_map, by policy id.
  std::vector<std::pair<uint32_t, std::vector<PathEntry>>> paths;
  uint32_t id_of(const std::string& name) const;
};

// Port ranges merged: sorted, overlapping and adjacent ranges joined.
std::vector<rp_port_range> merge_ranges(std::vector<rp_port_range> ranges);

// path_rules: BPF LSM enforces exec and files; compile them for it (path_flags and Compiled::paths).
Result<Compiled> install(const policy::PolicySet& set, MapWriter& maps, const ExeResolver& resolve = stat_exe,
                         bool path_rules = false);

}  // namespace rampart::enforce
