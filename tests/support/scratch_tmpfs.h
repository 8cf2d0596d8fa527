// A tmpfs the test mounts and unmounts: the only filesystem whose execs (and
// opens) rampartd is told to check in the daemon tiers, so the machine's own
// files are never held by a fanotify mark.
#pragma once

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace rampart::testing {

struct ScratchTmpfs {
  std::string dir, path;
  // Under /tmp by default; a workload that must not look like an exec from
  // a writable directory (rampart.exec.writable_dir) is put elsewhere.
  explicit ScratchTmpfs(std::string tmpl = "/tmp/rampart-exec-XXXXXX") {
    dir = mkdtemp(tmpl.data());
    chmod(dir.c_str(), 0755);
    path = dir + "/fs";
    std::filesystem::create_directory(path);
    if (mount("rampart-test", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755") != 0)
      throw std::runtime_error("mount tmpfs on " + path + ": " + std::strerror(errno));
  }
  ~ScratchTmpfs() {
    umount2(path.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string install(const std::string& from, const std::string& name) const {
    std::string to = path + "/" + name;
    std::filesystem::copy_file(from, to);
    chmod(to.c_str(), 0755);
    return to;
  }
};

}  // namespace rampart::testing
