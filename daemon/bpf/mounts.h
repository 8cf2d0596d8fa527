// Mounts the pseudo-filesystems BPF work needs (bpffs, tracefs, securityfs)
// where they are missing. Idempotent: what is mounted is left alone.
#pragma once

#include <string>
#include <vector>

namespace rampart::bpf {

struct MountResult {
  std::string fstype;
  std::string target;
  enum class State { kPresent, kMounted, kFailed } state;
  std::string error;  // when kFailed
};

std::vector<MountResult> ensure_mounts();
// The mount point of a filesystem type in /proc/mounts, "" if none.
std::string find_mount(const std::string& fstype);

}  // namespace rampart::bpf
