// bpffs pins for enforcement that outlives rampartd; see pins.h.
#include "bpf/pins.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rampart::bpf {

PinDir::PinDir(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    error_ = "cannot create " + dir_ + ": " + std::strerror(errno);
    return;
  }
  chmod(dir_.c_str(), 0700);
  mkdir((dir_ + "/links").c_str(), 0700);
  int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error_ = "cannot open " + dir_ + ": " + std::strerror(errno);
    return;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    error_ = dir_ + " is held by another running rampartd";
    close(fd);
    return;
  }
  lock_fd_ = fd;
}

PinDir::~PinDir() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

size_t PinDir::pin_maps(::bpf_object* obj, const std::vector<std::string>& names) {
  if (!enabled()) return 0;
  size_t existing = 0;
  for (const auto& name : names) {
    struct bpf_map* map = bpf_object__find_map_by_name(obj, name.c_str());
    if (!map) continue;
    std::string path = dir_ + "/" + name;
    if (access(path.c_str(), F_OK) == 0) ++existing;
    bpf_map__set_pin_path(map, path.c_str());
  }
  return existing;
}

Result<void> PinDir::replace_links(const std::string& prefix, const std::vector<::bpf_link*>& links) {
  if (!enabled()) return {};
  const std::string ldir = dir_ + "/links";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(ldir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
  for (size_t i = 0; i < links.size(); ++i) {
    std::string path = ldir + "/" + prefix + std::to_string(i);
    if (int err = bpf_link__pin(links[i], path.c_str()); err) return fail("pinning a link at " + path, -err);
  }
  return {};
}

void PinDir::remove(const std::string& prefix, const std::vector<std::string>& map_names) {
  if (!enabled()) return;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/links", ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
  for (const auto& name : map_names) std::filesystem::remove(dir_ + "/" + name, ec);
}

}  // namespace rampart::bpf
