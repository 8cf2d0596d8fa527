// fanotify exec and file guard; see perm_guard.h.
#include "enforce/perm_guard.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "util/clock.h"
#include "util/number.h"

namespace rampart::enforce {
namespace {

constexpr uint64_t kCacheTtlNs = 2'000'000'000;  // a renamed file is re-resolved within this
constexpr size_t kCacheMax = 8192;

// Reads a small /proc file in one go.
std::string read_small(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

Result<std::unique_ptr<PermGuard>> PermGuard::start(Setup setup, Report report) {
  std::unique_ptr<PermGuard> g(new PermGuard());
  g->fan_fd_ = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (g->fan_fd_ < 0) return fail_errno("fanotify_init for exec and file enforcement");
  auto mark = [&](unsigned flags, uint64_t mask, const std::string& path, const char* what) -> Result<void> {
    if (fanotify_mark(g->fan_fd_, FAN_MARK_ADD | flags, mask, AT_FDCWD, path.c_str()) != 0)
      return fail_errno(std::string("fanotify_mark of ") + what + " " + path);
    return {};
  };
  for (const auto& m : setup.exec_mounts)
    if (auto r = mark(FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, m, "the filesystem at"); !r)
      return tl::unexpected(r.error());
  for (const auto& m : setup.file_mounts)
    if (auto r = mark(FAN_MARK_FILESYSTEM, FAN_OPEN_PERM, m, "the filesystem at"); !r) return tl::unexpected(r.error());
  for (const auto& f : setup.files)
    if (auto r = mark(0, FAN_OPEN_PERM, f, "protected file"); !r) return tl::unexpected(r.error());
  for (const auto& d : setup.dirs)
    if (auto r = mark(0, FAN_OPEN_PERM | FAN_EVENT_ON_CHILD, d, "protected directory"); !r)
      return tl::unexpected(r.error());
  g->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (g->stop_fd_ < 0) return fail_errno("eventfd");
  g->setup_ = std::move(setup);
  g->report_ = std::move(report);
  g->thread_ = std::thread([p = g.get()] { p->run(); });
  g->watchdog_ = std::thread([p = g.get()] { p->watchdog(); });
  return g;
}

PermGuard::~PermGuard() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) == sizeof(one))
      thread_.join();
    else
      thread_.detach();
  }
  // Closing the fanotify fd lets any operation still waiting through.
  if (fan_fd_ >= 0) close(fan_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

void PermGuard::watchdog() {
  const auto period = std::chrono::milliseconds(std::max<uint32_t>(setup_.deadline_ms / 4, 10));
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stopping_; })) {
    int fd = current_fd_.load();
    if (fd < 0 || boot_now_ns() - current_since_ns_.load() < uint64_t{setup_.deadline_ms} * 1'000'000) continue;
    // Take the event from the guard thread; if it answered in between, the swap fails.
    if (!current_fd_.compare_exchange_strong(fd, -1)) continue;
    fanotify_response r{fd, FAN_ALLOW};
    if (write(fan_fd_, &r, sizeof(r)) == sizeof(r)) ++deadline_expired_;
  }
}

std::optional<Access> PermGuard::pending_access(uint32_t pid) const {
  // openat2's struct open_how starts with the u64 flags, in the caller's memory.
  auto reader = [](pid_t tid) {
    return [tid](uint64_t addr) -> std::optional<uint64_t> {
      uint64_t flags = 0;
      iovec local{&flags, sizeof(flags)}, remote{reinterpret_cast<void*>(addr), sizeof(flags)};
      if (process_vm_readv(tid, &local, 1, &remote, 1, 0) != sizeof(flags)) return std::nullopt;
      return flags;
    };
  };
  const std::string base = "/proc/" + std::to_string(pid);
  // The caller queues the event before it goes to sleep on it: until it
  // sleeps, the kernel says "running" instead of its syscall. Wait it out.
  std::string line = read_small(base + "/syscall");
  for (int i = 0; i < 200 && line.starts_with("running"); ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    line = read_small(base + "/syscall");
  }
  if (auto a = access_from_syscall(line, reader(static_cast<pid_t>(pid)))) return a;
  // Another thread of the process made the call: find the one blocked in an open.
  std::error_code ec;
  for (std::filesystem::directory_iterator it(base + "/task", ec), end; !ec && it != end; it.increment(ec)) {
    auto tid = parse_number<pid_t>(it->path().filename().native(), 1, std::numeric_limits<pid_t>::max());
    if (!tid) continue;
    if (auto a = access_from_syscall(read_small(it->path().string() + "/syscall"), reader(*tid))) return a;
  }
  return std::nullopt;
}

void PermGuard::report(uint32_t pid, uint32_t policy_id, bool exec, uint8_t action, uint8_t reason,
                       std::string_view path) {
  rp_enforce_event ev{};
  ev.hdr.type = RP_EV_ENFORCE;
  ev.hdr.size = sizeof(ev);
  ev.hdr.ts_ns = boot_now_ns();
  ev.proc.pid = ev.proc.tgid = pid;
  ev.op = exec ? RP_EV_EXEC : RP_EV_OPEN;
  ev.policy_id = policy_id;
  ev.mechanism = RP_MECH_FANOTIFY;
  ev.action = action;
  ev.reason = reason;
  std::memcpy(ev.path, path.data(), std::min(path.size(), sizeof(ev.path) - 1));
  report_(ev);
}

bool PermGuard::allow(uint32_t pid, int fd, bool exec) {
  if (setup_.fault_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(setup_.fault_delay_ms));
  uint32_t policy_id = 0;
  rp_verdict verdict{};
  if (bpf_map_lookup_elem(setup_.proc_policy_map_fd, &pid, &policy_id) != 0 || policy_id > setup_.rules.size())
    policy_id = 0;
  if (bpf_map_lookup_elem(setup_.verdict_map_fd, &pid, &verdict) != 0) verdict = {};
  const uint32_t vflags = verdict.flags & (exec ? RP_V_DENY_EXEC : RP_V_DENY_FILES);
  const GuardRule* rule = policy_id ? &setup_.rules[policy_id - 1] : nullptr;
  if (!vflags && (!rule || (exec ? !rule->has_exec_rules() : !rule->has_file_rules()))) return true;

  struct stat st {};
  const bool cacheable = fstat(fd, &st) == 0;
  // An unlinked file has no name an allow-list could have meant.
  if (exec && !vflags && rule->restrict_exec && cacheable && st.st_nlink == 0) {
    report(pid, policy_id, exec, rule->enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY, RP_REASON_NOT_ALLOWED,
           resolve(fd, exec, nullptr, false).path);
    return !rule->enforce;
  }
  CacheKey key{policy_id, vflags, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), exec};
  const uint64_t now = boot_now_ns();
  if (exec && cacheable) {
    auto f = follow_.find(pid);
    if (f != follow_.end()) {
      const bool expected = f->second.dev == key.dev && f->second.ino == key.ino && f->second.expires_ns >= now;
      follow_.erase(f);
      if (expected) {
        expect_interpreter(pid, fd, now);  // a script's interpreter has its own ld.so
        return true;
      }
    }
  }
  const CacheEntry* entry = nullptr;
  if (cacheable) {
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires_ns >= now) {
      ++cache_hits_;
      entry = &it->second;
    }
  }
  CacheEntry fresh;
  if (!entry) {
    fresh = resolve(fd, exec, rule, vflags != 0);
    fresh.expires_ns = now + kCacheTtlNs;
    if (cacheable) {
      if (cache_.size() >= kCacheMax) cache_.clear();
      entry = &(cache_[key] = std::move(fresh));
    } else {
      entry = &fresh;
    }
  }
  uint8_t why = entry->reasons.read;
  if (!exec && !entry->reasons.uniform()) {
    // The answer depends on read or write: ask the caller's pending syscall.
    ++access_checks_;
    auto a = pending_access(pid);
    if (!a) ++access_unknown_;
    Access acc = a.value_or(Access{true, true});  // unknown: judged as both
    why = acc.write && entry->reasons.write ? entry->reasons.write : acc.read ? entry->reasons.read : 0;
  }
  if (!why) {
    if (exec) expect_interpreter(pid, fd, now);
    return true;
  }
  // A verdict is only ever written for an enforce-mode policy.
  const bool enforce = why == RP_REASON_VERDICT || (rule && rule->enforce);
  report(pid, policy_id, exec, enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY, why, entry->path);
  return !enforce;
}

void PermGuard::expect_interpreter(uint32_t pid, int fd, uint64_t now) {
  // A script's "#!" program is judged like any exec; only an ELF's loader belongs to its exec.
  char magic[2] = {};
  if (pread(fd, magic, sizeof(magic), 0) == sizeof(magic) && magic[0] == '#' && magic[1] == '!') return;
  auto interp = interpreter_of(fd);
  struct stat st {};
  if (!interp || stat(interp->c_str(), &st) != 0) return;
  if (follow_.size() >= 4096) follow_.clear();
  follow_[pid] = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), now + 5'000'000'000};
}

PermGuard::CacheEntry PermGuard::resolve(int fd, bool exec, const GuardRule* rule, bool verdict) const {
  char link[64], buf[RP_PATH_MAX] = {};
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, sizeof(buf) - 1);
  CacheEntry e;
  e.path.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (exec) {
    e.reasons.read = e.reasons.write = verdict ? RP_REASON_VERDICT : rule ? exec_reason(*rule, e.path) : 0;
    return e;
  }
  if (rule) e.reasons = open_reasons(*rule, e.path);
  if (verdict)
    for (const auto& s : setup_.sensitive)
      if (s.matches(e.path)) e.reasons = {RP_REASON_VERDICT, RP_REASON_VERDICT};
  return e;
}

void PermGuard::run() {
  alignas(fanotify_event_metadata) char buf[16384];
  pollfd fds[2] = {{fan_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  const uint32_t self = static_cast<uint32_t>(getpid());
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    ssize_t len = read(fan_fd_, buf, sizeof(buf));
    if (len <= 0) continue;  // EAGAIN: another wake-up raced us
    auto* md = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->vers != FANOTIFY_METADATA_VERSION) return;  // cannot parse: closing the fd fails open
      if (md->mask & FAN_Q_OVERFLOW) {
        ++overflows_;
        continue;
      }
      if (md->fd < 0) continue;
      if (md->mask & (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM)) {
        current_since_ns_ = boot_now_ns();
        current_fd_ = md->fd;
        const uint32_t pid = static_cast<uint32_t>(md->pid);
        const bool ok = pid == self || allow(pid, md->fd, (md->mask & FAN_OPEN_EXEC_PERM) != 0);
        int fd = md->fd;
        ++decisions_;
        // The watchdog may have answered "allow" already: then it owns the answer.
        if (current_fd_.compare_exchange_strong(fd, -1)) {
          fanotify_response r{md->fd, static_cast<__u32>(ok ? FAN_ALLOW : FAN_DENY)};
          if (!ok) ++denials_;
          if (write(fan_fd_, &r, sizeof(r)) != sizeof(r)) {
            // Nothing better to do: the kernel keeps waiting until the fd closes.
          }
        }
      }
      close(md->fd);
    }
  }
}

}  // namespace rampart::enforce
