// Mounting bpffs, tracefs and securityfs; see mounts.h.
#include "bpf/mounts.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rampart::bpf {
namespace {

bool mounted_at(const std::string& fstype, const std::string& target) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, dir, type;
    ls >> dev >> dir >> type;
    if (dir == target && type == fstype) return true;
  }
  return false;
}

}  // namespace

std::string find_mount(const std::string& fstype) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, dir, type;
    ls >> dev >> dir >> type;
    if (type == fstype) return dir;
  }
  return {};
}

std::vector<MountResult> ensure_mounts() {
  static const struct {
    const char* fstype;
    const char* target;
  } kMounts[] = {
      {"bpf", "/sys/fs/bpf"},
      {"tracefs", "/sys/kernel/tracing"},
      {"securityfs", "/sys/kernel/security"},
  };
  std::vector<MountResult> out;
  for (const auto& m : kMounts) {
    MountResult r{m.fstype, m.target, MountResult::State::kPresent, {}};
    if (!mounted_at(m.fstype, m.target)) {
      mkdir(m.target, 0700);  // usually exists already; mount reports the real error
      if (mount(m.fstype, m.target, m.fstype, 0, nullptr) == 0) {
        r.state = MountResult::State::kMounted;
      } else {
        r.state = MountResult::State::kFailed;
        r.error = std::strerror(errno);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace rampart::bpf
