// Reads process snapshots from /proc (or a tree laid out like it) to seed the
// process table at start-up. Processes come and go while we read, so every
// failure to read one means "skip it", never an error or an exception; only
// stat and status are required, the rest is best effort (kernel threads have
// no exe and an empty cmdline).
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>

#include "pipeline/process_table.h"
#include "util/number.h"

namespace rampart::pipeline {
namespace {

// Far above any real /proc file (cmdline is bounded by ARG_MAX); a cap so a
// test tree or odd file cannot make us read without end.
constexpr size_t kMaxFileSize = 16u << 20;

// Whole file into `out`; false if it cannot be opened or read. /proc files
// report size 0, so read until EOF.
bool read_file(const std::string& path, std::string& out) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileSize) {
      ok = false;
      break;
    }
  }
  ::close(fd);
  return ok;
}

// A decimal /proc field: any value of T, or false.
template <typename T>
bool parse_uint(std::string_view s, T& value) {
  auto v = parse_number<T>(s, std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
  if (v) value = *v;
  return v.has_value();
}

// Next space-separated token of `s` from `pos`, advancing `pos`.
std::string_view next_token(std::string_view s, size_t& pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n')) ++pos;
  size_t start = pos;
  while (pos < s.size() && s[pos] != ' ' && s[pos] != '\t' && s[pos] != '\n') ++pos;
  return s.substr(start, pos - start);
}

uint64_t ticks_to_ns(uint64_t ticks) {
  static const uint64_t hz = [] {
    long v = ::sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<uint64_t>(v) : uint64_t{100};
  }();
  constexpr uint64_t kNsPerSec = 1'000'000'000;
  // Split so ticks * 1e9 cannot overflow.
  return ticks / hz * kNsPerSec + ticks % hz * kNsPerSec / hz;
}

// /proc/PID/stat: "pid (comm) state ppid ... starttime ...". comm may hold
// spaces and ')', so the fields start after the LAST ')'.
bool parse_stat(std::string_view stat, ProcSnapshot& snap) {
  size_t open = stat.find('(');
  size_t close = stat.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return false;
  }
  snap.comm.assign(stat.substr(open + 1, close - open - 1));

  // Fields after comm are numbered from 3 (state); ppid is 4, starttime 22.
  size_t pos = close + 1;
  std::string_view field;
  for (int n = 3; n <= 22; ++n) {
    field = next_token(stat, pos);
    if (field.empty()) return false;
    if (n == 3) snap.state = field[0];
    if (n == 4 && !parse_uint(field, snap.ppid)) return false;
  }
  uint64_t start_ticks = 0;
  if (!parse_uint(field, start_ticks)) return false;
  snap.start_ns = ticks_to_ns(start_ticks);
  return true;
}

// "Uid:\t<real>\t<effective>\t<saved>\t<fs>" in /proc/PID/status.
bool parse_status_uids(std::string_view status, ProcSnapshot& snap) {
  size_t at = status.starts_with("Uid:") ? 0 : status.find("\nUid:");
  if (at == std::string_view::npos) return false;
  size_t pos = status.find(':', at) + 1;
  return parse_uint(next_token(status, pos), snap.uid) && parse_uint(next_token(status, pos), snap.euid);
}

// NUL-separated argv; the last argument ends with a NUL too. Empty arguments
// in the middle are kept.
std::vector<std::string> split_cmdline(std::string_view cmdline) {
  std::vector<std::string> args;
  if (!cmdline.empty() && cmdline.back() == '\0') cmdline.remove_suffix(1);
  if (cmdline.empty()) return args;
  size_t pos = 0;
  for (;;) {
    size_t end = cmdline.find('\0', pos);
    if (end == std::string_view::npos) {
      args.emplace_back(cmdline.substr(pos));
      return args;
    }
    args.emplace_back(cmdline.substr(pos, end - pos));
    pos = end + 1;
  }
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return {};  // unreadable or truncated
  return std::string(buf, static_cast<size_t>(n));
}

std::string cgroup_v2_path(std::string_view content) {
  size_t at = content.starts_with("0::") ? 0 : content.find("\n0::");
  if (at == std::string_view::npos) return {};
  if (content[at] == '\n') ++at;
  at += 3;
  size_t end = content.find('\n', at);
  return std::string(content.substr(at, end == std::string_view::npos ? end : end - at));
}

std::string pid_dir(const std::string& root, uint32_t tgid) {
  std::string dir = root;
  dir += '/';
  dir += std::to_string(tgid);
  return dir;
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

std::vector<ProcSnapshot> ProcReader::read_all() const {
  std::vector<ProcSnapshot> out;
  try {
    std::unique_ptr<DIR, DirCloser> dir(::opendir(root_.c_str()));
    if (!dir) return out;
    while (const dirent* entry = ::readdir(dir.get())) {
      uint32_t tgid = 0;
      std::string_view name(entry->d_name);
      if (name.find_first_not_of("0123456789") != std::string_view::npos) continue;
      if (!parse_uint(name, tgid)) continue;  // empty or out of range
      if (auto snap = read(tgid)) out.push_back(std::move(*snap));
    }
  } catch (...) {
    // Only allocation can throw here; what was read so far is still good.
  }
  return out;
}

std::optional<ProcSnapshot> ProcReader::stat(uint32_t tgid) const {
  std::string content;
  ProcSnapshot snap;
  snap.tgid = tgid;
  if (!read_file(pid_dir(root_, tgid) + "/stat", content) || !parse_stat(content, snap)) return std::nullopt;
  return snap;
}

std::optional<uint64_t> ProcReader::start_ns(uint32_t tgid) const {
  auto snap = stat(tgid);
  if (!snap) return std::nullopt;
  return snap->start_ns;
}

bool ProcReader::signal_if_same(uint32_t tgid, uint64_t start_ns, int sig) const {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(tgid), 0));
  if (fd < 0) return false;  // gone
  bool same = true;
  if (start_ns) {
    // /proc keeps the start in clock ticks: within one tick is the same process.
    static const uint64_t tick_ns = ticks_to_ns(1);
    auto seen = this->start_ns(tgid);
    same = seen && (*seen > start_ns ? *seen - start_ns : start_ns - *seen) < tick_ns;
  }
  const bool sent = same && ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
  ::close(fd);
  return sent;
}

std::optional<ProcSnapshot> ProcReader::read(uint32_t tgid) const {
  try {
    const std::string dir = pid_dir(root_, tgid);
    std::string content;
    ProcSnapshot snap;
    snap.tgid = tgid;

    if (!read_file(dir + "/stat", content) || !parse_stat(content, snap)) return std::nullopt;
    if (!read_file(dir + "/status", content) || !parse_status_uids(content, snap)) {
      return std::nullopt;
    }
    // comm holds the same name as stat, exactly and without parsing.
    if (read_file(dir + "/comm", content) && !content.empty()) {
      if (content.back() == '\n') content.pop_back();
      snap.comm = content;
    }
    snap.exe = read_link(dir + "/exe");
    if (read_file(dir + "/cmdline", content)) snap.args = split_cmdline(content);
    if (read_file(dir + "/cgroup", content)) snap.cgroup_path = cgroup_v2_path(content);

    // Gone while we read (ENOENT, ESRCH): the optional fields may be empty
    // for that reason rather than because the process has none. Gone and its
    // pid reused by another process: stat now shows another start time, and
    // the fields read so far may mix the two.
    ProcSnapshot again;
    if (!read_file(dir + "/stat", content) || !parse_stat(content, again) || again.start_ns != snap.start_ns)
      return std::nullopt;
    return snap;
  } catch (...) {
    return std::nullopt;  // allocation failure: skip the process
  }
}

std::string ProcReader::cgroup_path_by_id(const std::string& cgroup_root, uint64_t cgroup_id) {
  if (cgroup_root.empty()) return {};
  int mount_fd = ::open(cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0) return {};
  struct {
    file_handle fh;
    uint64_t id;
  } handle{};
  handle.fh.handle_bytes = sizeof(uint64_t);
  handle.fh.handle_type = 0xfe;  // FILEID_KERNFS: the cgroup id is the kernfs node id
  std::memcpy(handle.fh.f_handle, &cgroup_id, sizeof(cgroup_id));
  int fd = ::open_by_handle_at(mount_fd, &handle.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ::close(mount_fd);
  if (fd < 0) return {};
  char buf[4096];
  ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return {};
  std::string_view path(buf, static_cast<size_t>(n));
  if (!path.starts_with(cgroup_root)) return {};
  path.remove_prefix(cgroup_root.size());
  return path.empty() ? std::string("/") : std::string(path);
}

std::string ProcReader::cgroup_path(uint32_t tgid) const {
  try {
    std::string content;
    if (!read_file(pid_dir(root_, tgid) + "/cgroup", content)) return {};
    return cgroup_v2_path(content);
  } catch (...) {
    return {};
  }
}

}  // namespace rampart::pipeline
