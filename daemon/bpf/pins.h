// Pinning under bpffs, so that enforcement outlives a crashed rampartd: the
// enforcement maps (policies, assignments, allow- and deny-lists, verdicts,
// path rules) and the links of every attached program are pinned in one
// directory (default /sys/fs/bpf/rampart, mode 0700). A rampartd killed with
// SIGKILL leaves them: the programs stay attached and keep refusing. The next
// rampartd reuses the pinned maps, attaches its own programs, and only then
// drops the old links, so there is no moment with neither. An orderly exit
// removes the pins and everything detaches. One rampartd holds the directory
// (flock); a second one runs unpinned and says so.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

struct bpf_object;
struct bpf_link;

namespace rampart::bpf {

class PinDir {
 public:
  // "" disables pinning. Creates the directory and takes its lock; if
  // another live rampartd holds it, pinning is off (see error()).
  explicit PinDir(std::string dir);
  ~PinDir();
  PinDir(const PinDir&) = delete;
  PinDir& operator=(const PinDir&) = delete;

  bool enabled() const { return lock_fd_ >= 0; }
  const std::string& path() const { return dir_; }
  const std::string& error() const { return error_; }  // why pinning is off, if it was asked for

  // Sets pin paths on `names` of obj's maps before load: libbpf then reuses
  // a pinned map of the same shape, or creates and pins a new one. Returns
  // how many were already pinned (a previous rampartd's state).
  size_t pin_maps(::bpf_object* obj, const std::vector<std::string>& names);
  // After the new programs are attached: removes the previous daemon's link
  // pins with this prefix (their programs detach), then pins `links`.
  Result<void> replace_links(const std::string& prefix, const std::vector<::bpf_link*>& links);
  // Orderly shutdown: removes every pin with this prefix (maps stay alive
  // while rampartd holds them, and go when it closes them).
  void remove(const std::string& prefix, const std::vector<std::string>& map_names);

 private:
  std::string dir_, error_;
  int lock_fd_ = -1;
};

}  // namespace rampart::bpf
