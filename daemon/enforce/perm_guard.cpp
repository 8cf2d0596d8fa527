// fanotify exec and file guard; see perm_guard.h.
#include "enforce/perm_guard.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace rampart::enforce {

Result<std::unique_ptr<PermGuard>> PermGuard::start(const std::vector<std::string>& exec_mounts,
                                                   const std::vector<std::string>& files, int proc_policy_map_fd,
                                                   Rules rules, Report report) {
  std::unique_ptr<PermGuard> g(new PermGuard());
  g->fan_fd_ = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (g->fan_fd_ < 0) return fail_errno("fanotify_init for exec enforcement");
  for (const auto& m : exec_mounts) {
    if (fanotify_mark(g->fan_fd_, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, AT_FDCWD, m.c_str()) != 0)
      return fail_errno("fanotify_mark of the filesystem at " + m + " for FAN_OPEN_EXEC_PERM");
  }
  for (const auto& f : files) {
    if (fanotify_mark(g->fan_fd_, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, f.c_str()) != 0)
      return fail_errno("fanotify_mark of protected file " + f + " for FAN_OPEN_PERM");
  }
  g->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (g->stop_fd_ < 0) return fail_errno("eventfd");
  g->map_fd_ = proc_policy_map_fd;
  g->rules_ = std::move(rules);
  g->report_ = std::move(report);
  g->thread_ = std::thread([p = g.get()] { p->run(); });
  return g;
}

PermGuard::~PermGuard() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) == sizeof(one)) thread_.join();
    else thread_.detach();
  }
  // Closing the fanotify fd lets any exec still waiting through.
  if (fan_fd_ >= 0) close(fan_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

bool PermGuard::allow(uint32_t tgid, int fd, bool exec) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(map_fd_, &tgid, &id) != 0 || id == 0 || id > rules_.size()) return true;
  const Rule& rule = rules_[id - 1];
  if (exec ? !rule.restrict_exec : rule.protected_files.empty()) return true;

  char link[64], path[RP_PATH_MAX] = {};
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  std::string_view p(path, n > 0 ? static_cast<size_t>(n) : 0);
  if (exec) {
    for (const auto& pattern : rule.allow)
      if (pattern.matches(p)) return true;
  } else {
    bool hit = false;
    for (const auto& pattern : rule.protected_files) hit = hit || pattern.matches(p);
    if (!hit) return true;
  }

  rp_enforce_event ev{};
  ev.hdr.type = RP_EV_ENFORCE;
  ev.hdr.size = sizeof(ev);
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  ev.hdr.ts_ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
  ev.proc.pid = ev.proc.tgid = tgid;
  ev.op = exec ? RP_EV_EXEC : RP_EV_OPEN;
  ev.policy_id = id;
  ev.mechanism = RP_MECH_FANOTIFY;
  ev.action = rule.enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY;
  ev.reason = exec ? RP_REASON_NOT_ALLOWED : RP_REASON_DENY_RULE;
  std::memcpy(ev.path, path, sizeof(ev.path) - 1);
  report_(ev);
  return !rule.enforce;
}

void PermGuard::run() {
  alignas(fanotify_event_metadata) char buf[16384];
  pollfd fds[2] = {{fan_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
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
        const bool ok = allow(static_cast<uint32_t>(md->pid), md->fd, (md->mask & FAN_OPEN_EXEC_PERM) != 0);
        fanotify_response r{md->fd, static_cast<__u32>(ok ? FAN_ALLOW : FAN_DENY)};
        if (r.response == FAN_DENY) ++denials_;
        ++decisions_;
        if (write(fan_fd_, &r, sizeof(r)) != sizeof(r)) {
          // Nothing better to do: the kernel keeps waiting until the fd closes.
        }
      }
      close(md->fd);
    }
  }
}

}  // namespace rampart::enforce
