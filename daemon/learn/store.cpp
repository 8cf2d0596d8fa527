// Profile files: crash-safe writes, strict loading, corrupt files set aside; see store.h.
#include "learn/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rampart::learn {
namespace {

Result<void> write_all(int fd, const std::string& text, const std::string& path) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("writing " + path);
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

std::string profile_path(const std::string& dir, const std::string& name) { return dir + "/" + name + ".json"; }

Loaded load_profiles(const std::string& dir, int64_t now) {
  namespace fs = std::filesystem;
  Loaded out;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".json" && !it->path().filename().string().starts_with("."))
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    Result<Profile> p = in ? parse_profile(ss.str()) : fail("cannot read: " + std::string(std::strerror(errno)));
    if (p && p->name != path.stem().string()) p = fail("profile.name: '" + p->name + "' does not match the file name");
    if (p) {
      out.profiles.push_back(std::move(*p));
      continue;
    }
    Rejected r{path.string(), p.error().what(), path.string() + ".corrupt-" + std::to_string(now)};
    if (::rename(r.path.c_str(), r.moved_to.c_str()) != 0) r.moved_to.clear();
    out.rejected.push_back(std::move(r));
  }
  return out;
}

Result<void> save_profile(const std::string& dir, const Profile& p) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("creating the state directory " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  const std::string path = profile_path(dir, p.name);
  const std::string tmp = dir + "/." + p.name + ".json.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("creating " + tmp);
  auto written = write_all(fd, to_json(p), tmp);
  if (written && ::fsync(fd) != 0) written = fail_errno("fsync " + tmp);
  ::close(fd);
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0) written = fail_errno("renaming " + tmp + " to " + path);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  // The rename itself is durable once the directory is synced.
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace rampart::learn
