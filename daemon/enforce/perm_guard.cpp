// fanotify exec and file guard; see perm_guard.h.
#include "enforce/perm_guard.h"

#include <bpf/bpf.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "bpf/mounts.h"
#include "util/clock.h"
#include "util/number.h"

namespace rampart::enforce {
namespace {

constexpr uint64_t kCacheTtlNs = 2'000'000'000;
constexpr size_t kCacheMax = 8192;
// Events read but not yet decided. Past this the reader answers "allow" at
// once rather than hold more of the host's operations (and event fds).
constexpr size_t kQueueMax = 4096;

// The process of a thread that has no open in flight on record (an io_uring
// worker, an exec by a thread other than the leader): its Tgid line.
uint32_t tgid_of(uint32_t tid) {
  const std::string path = "/proc/" + std::to_string(tid) + "/status";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  std::string_view s(buf, static_cast<size_t>(n));
  size_t at = s.find("\nTgid:");
  if (at == std::string_view::npos) return 0;
  s.remove_prefix(at + 6);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  auto v = parse_number<uint32_t>(s.substr(0, s.find('\n')), 1, std::numeric_limits<uint32_t>::max());
  return v ? *v : 0;
}

// True if the process runs without an ELF interpreter: the dynamic loader
// run as a program (ld.so FILE), or a static binary. Read from its auxv
// (AT_BASE, where the interpreter was loaded, is 0), a procfs read that
// opens no file rampartd might have marked.
bool runs_without_interpreter(uint32_t tgid) {
  const std::string path = "/proc/" + std::to_string(tgid) + "/auxv";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint64_t aux[2 * 64];
  ssize_t n = read(fd, aux, sizeof(aux));
  close(fd);
  for (ssize_t i = 0; n > 0 && (i + 1) * 2 * static_cast<ssize_t>(sizeof(uint64_t)) <= n; ++i) {
    if (aux[2 * i] == AT_NULL) break;
    if (aux[2 * i] == AT_BASE) return aux[2 * i + 1] == 0;
  }
  return false;
}

// What rampartd shares with its watchdog process: a page of its own
// (MAP_SHARED), lock-free, so that a stopped rampartd holds nothing the
// watchdog waits for.
struct WatchPage {
  std::atomic<uint64_t> beat_ns{0};   // the reader's last turn (boot clock)
  std::atomic<uint64_t> answered{0};  // events the watchdog let through
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

uint64_t boot_ns_raw() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

// The state letter of /proc/PID/stat ('T': stopped, 't': stopped by a
// tracer), 0 if it cannot be read. Raw system calls only.
char state_of(const char* stat_path) {
  int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  for (ssize_t i = n - 1; i > 0; --i)  // after the last ')' of the comm: " S ..."
    if (buf[i] == ')') return i + 2 < n ? buf[i + 2] : 0;
  return 0;
}

// Appends src to dst (of size n), NUL-terminated; false if it did not fit.
bool append(char* dst, size_t n, const char* src, size_t len) {
  const size_t at = std::strlen(dst);
  if (at + len + 1 > n) return false;
  std::memcpy(dst + at, src, len);
  dst[at + len] = 0;
  return true;
}

// True if the cgroup (v2) of the process whose /proc/PID/cgroup is given is
// frozen: its cgroup.events says "frozen 1". Raw system calls, fixed buffers.
bool frozen(const char* proc_cgroup, const char* cgroup_root) {
  char buf[1024];
  int fd = open(proc_cgroup, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n < 4) return false;
  buf[n] = 0;
  // The v2 line, "0::/path", last on a hybrid hierarchy.
  char* line = std::memcmp(buf, "0::", 3) == 0 ? buf : std::strstr(buf, "\n0::");
  if (!line) return false;
  line += line == buf ? 3 : 4;
  char* end = std::strchr(line, '\n');
  if (end) *end = 0;
  char path[1400] = "";
  if (!append(path, sizeof(path), cgroup_root, std::strlen(cgroup_root)) ||
      !append(path, sizeof(path), line, std::strlen(line)) || !append(path, sizeof(path), "/cgroup.events", 14))
    return false;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return std::strstr(buf, "frozen 1") != nullptr;
}

// What the watchdog is told at fork: strings made before, since it may not allocate.
struct WatchdogArgs {
  int fan_fd;
  WatchPage* page;
  uint64_t deadline_ns;
  pid_t parent;
  const char* parent_stat;    // /proc/PID/stat of rampartd
  const char* parent_cgroup;  // /proc/PID/cgroup of rampartd
  const char* cgroup_root;    // the cgroup2 mount, "" if none
  const char* own_cgroup;     // a cgroup of its own, outside rampartd's, "" if none
};

// The watchdog: a process of its own, in a session and a cgroup of its own,
// so that a SIGSTOP of rampartd (or of its process group) or a freeze of its
// cgroup does not stop it. While the reader has not turned for twice the
// deadline and rampartd is stopped or frozen, or for ten times the deadline
// whatever the cause, it reads the events rampartd has not read and lets
// each through; what rampartd read before it stalled waits for it (its own
// deadline answers them once it runs). It holds nothing but the fanotify
// fd, and dies with rampartd (PDEATHSIG). Forked from a process with
// threads: raw system calls only, no allocation.
[[noreturn]] void watchdog(const WatchdogArgs& a) {
  const int fan_fd = a.fan_fd;
  WatchPage* w = a.page;
  const uint64_t deadline_ns = a.deadline_ns;
  const pid_t parent = a.parent;
  const char* parent_stat = a.parent_stat;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  setsid();
  // Only the fanotify fd: a copy of any other (a client's socket) would keep it open.
  if (fan_fd > 0) syscall(SYS_close_range, 0u, static_cast<unsigned>(fan_fd - 1), 0u);
  syscall(SYS_close_range, static_cast<unsigned>(fan_fd + 1), ~0u, 0u);
  prctl(PR_SET_NAME, "rampartd-watch");
  // Out of rampartd's cgroup, so that freezing that one does not freeze it.
  if (a.own_cgroup[0]) {
    char procs[1200] = "";
    mkdir(a.own_cgroup, 0755);
    if (append(procs, sizeof(procs), a.own_cgroup, std::strlen(a.own_cgroup)) &&
        append(procs, sizeof(procs), "/cgroup.procs", 13)) {
      int fd = open(procs, O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        [[maybe_unused]] ssize_t moved = write(fd, "0", 1);  // "0": the writer itself
        close(fd);
      }
    }
  }
  const int turn_ms = static_cast<int>(deadline_ns / 2'000'000) + 1;
  for (;;) {
    // A reader merely slowed by load is left its events.
    const uint64_t idle = boot_ns_raw() - w->beat_ns.load();
    bool stalled = idle > 10 * deadline_ns;
    if (!stalled && idle > 2 * deadline_ns) {
      const char st = state_of(parent_stat);
      stalled = st == 'T' || st == 't' || (a.cgroup_root[0] && frozen(a.parent_cgroup, a.cgroup_root));
    }
    if (!stalled) {
      poll(nullptr, 0, turn_ms);
      continue;
    }
    pollfd p{fan_fd, POLLIN, 0};
    if (poll(&p, 1, turn_ms) != 1 || !(p.revents & POLLIN)) continue;
    alignas(fanotify_event_metadata) char buf[4096];
    ssize_t len = read(fan_fd, buf, sizeof(buf));
    if (len <= 0) continue;
    auto* md = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->fd < 0) continue;
      if (md->mask & (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM)) {
        fanotify_response r{md->fd, FAN_ALLOW};
        if (write(fan_fd, &r, sizeof(r)) == sizeof(r)) w->answered.fetch_add(1);
      }
      close(md->fd);
    }
  }
}

}  // namespace

struct PermGuard::State {
  Setup setup;
  Report report_fn;
  const uint32_t self = static_cast<uint32_t>(getpid());

  // Guarded by mu: the fd (-1 once closed), the queue, the event in hand.
  struct Event {
    int fd;
    uint32_t tid;
    bool exec;
    uint64_t since_ns;
  };
  std::mutex mu;
  std::condition_variable cv;  // the decider waits for events or the stop
  int fan_fd = -1;
  int stop_fd = -1;  // eventfd that wakes the reader to stop
  // inotify on the directories of the marked files: a file renamed over a
  // marked one, or created under its name, is a new inode with no mark.
  int dir_fd = -1;
  struct WatchedDir {
    std::string dir;
    std::unordered_set<std::string> names;
  };
  std::unordered_map<int, WatchedDir> watched;  // by watch descriptor; the reader's
  WatchPage* watch = nullptr;                   // shared with the watchdog process
  pid_t watchdog_pid = -1;
  std::string watchdog_cgroup;  // where it moves itself, out of rampartd's cgroup
  std::deque<Event> queue;
  std::optional<Event> in_hand;  // being decided
  bool in_hand_answered = false;
  bool stopping = false;
  bool decider_done = false;

  std::atomic<uint64_t> decisions{0}, denials{0}, overflows{0}, cache_hits{0}, deadline_expired{0}, access_unknown{0},
      access_checks{0}, identity_denials{0}, remarked{0}, watch_failures{0};

  // The decider's own state.
  struct CacheKey {
    uint32_t policy_id, verdict_flags;
    uint64_t dev, ino, mnt_id;
    bool exec;
    bool operator==(const CacheKey&) const = default;
  };
  struct CacheHash {
    size_t operator()(const CacheKey& k) const {
      return std::hash<uint64_t>()(k.ino * 0x9e3779b97f4a7c15ull ^ k.dev ^ (uint64_t{k.policy_id} << 40) ^
                                   (uint64_t{k.verdict_flags} << 56) ^ k.exec ^ (k.mnt_id << 20));
    }
  };
  struct CacheEntry {
    OpenReasons reasons;  // exec: read and write both hold the exec reason
    uint64_t expires_ns = 0;
    uint64_t ctime_ns = 0;  // the inode's ctime when decided
    std::string path;
  };
  std::unordered_map<CacheKey, CacheEntry, CacheHash> cache;
  // After an allowed exec, the kernel opens its ELF loader (ld.so) as an
  // exec too: that one open, in that same execve call (exec_id, recorded in
  // BPF at the call's entry), of that file, is part of the allowed exec.
  // Keyed by thread. A direct execve of ld.so, even right after an allowed
  // exec that failed (E2BIG), is another call and judged like any binary.
  struct FollowUp {
    uint64_t dev, ino, exec_id, expires_ns;
  };
  std::unordered_map<uint32_t, FollowUp> follow;

  ~State() {
    if (fan_fd >= 0) close(fan_fd);
    if (stop_fd >= 0) close(stop_fd);
    if (dir_fd >= 0) close(dir_fd);
    stop_watchdog();
    if (watchdog_pid > 0) waitpid(watchdog_pid, nullptr, 0);
    if (!watchdog_cgroup.empty()) rmdir(watchdog_cgroup.c_str());  // EBUSY while another rampartd's is there
    if (watch) munmap(watch, sizeof(WatchPage));
  }

  uint64_t deadline_ns() const { return uint64_t{setup.deadline_ms} * 1'000'000; }

  // The watchdog's copy of the fd keeps the group alive: it goes with ours.
  // Reaped by the destructor (until then its pid cannot be reused).
  void stop_watchdog() {
    if (watchdog_pid > 0) kill(watchdog_pid, SIGKILL);
  }

  // Answers one event; false once the fd is closed (closing answered it). Holds mu.
  bool respond(int fd, bool allow) {
    if (fan_fd < 0) return false;
    fanotify_response r{fd, static_cast<__u32>(allow ? FAN_ALLOW : FAN_DENY)};
    // A failed write leaves the operation waiting until the fd closes.
    return write(fan_fd, &r, sizeof(r)) == sizeof(r);
  }

  // Closes the fd, which lets every operation still waiting on it through,
  // and drops the queue. The decider closes the event in hand itself.
  void shut() {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& e : queue) close(e.fd);
    queue.clear();
    if (fan_fd >= 0) close(fan_fd);
    fan_fd = -1;
    stop_watchdog();
    stopping = true;
    cv.notify_all();
  }

  // Answers "allow" for every event past the deadline; returns how long
  // until the next one expires (ms, -1: none waiting).
  int expire() {
    std::lock_guard<std::mutex> lock(mu);
    const uint64_t now = boot_now_ns(), dl = deadline_ns();
    while (!queue.empty() && queue.front().since_ns + dl <= now) {
      if (respond(queue.front().fd, true)) ++deadline_expired;
      close(queue.front().fd);
      queue.pop_front();
    }
    if (in_hand && !in_hand_answered && in_hand->since_ns + dl <= now) {
      in_hand_answered = true;
      if (respond(in_hand->fd, true)) ++deadline_expired;
    }
    uint64_t next = std::numeric_limits<uint64_t>::max();
    if (!queue.empty()) next = queue.front().since_ns + dl;
    if (in_hand && !in_hand_answered) next = std::min(next, in_hand->since_ns + dl);
    if (next == std::numeric_limits<uint64_t>::max()) return -1;
    return static_cast<int>((next - std::min(next, now)) / 1'000'000 + 1);
  }

  // Reads what is there; false when the fd cannot be read or parsed any more.
  bool read_events() {
    alignas(fanotify_event_metadata) char buf[16384];
    ssize_t len = read(fan_fd, buf, sizeof(buf));
    if (len < 0)
      // EAGAIN: nothing left. EMFILE and the like: the kernel denied the
      // event it could not give us an fd for, and the rest still wait.
      return errno == EAGAIN || errno == EINTR || errno == EMFILE || errno == ENFILE || errno == ENOMEM;
    if (len == 0) return false;
    const uint64_t now = boot_now_ns();
    auto* md = reinterpret_cast<fanotify_event_metadata*>(buf);
    for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
      if (md->vers != FANOTIFY_METADATA_VERSION) return false;  // cannot parse: closing the fd fails open
      if (md->mask & FAN_Q_OVERFLOW) {
        ++overflows;
        continue;
      }
      if (md->fd < 0) continue;
      if (!(md->mask & (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM))) {
        close(md->fd);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (queue.size() >= kQueueMax) {
        if (respond(md->fd, true)) ++deadline_expired;
        close(md->fd);
        continue;
      }
      queue.push_back({md->fd, static_cast<uint32_t>(md->pid), (md->mask & FAN_OPEN_EXEC_PERM) != 0, now});
      cv.notify_one();
    }
    return true;
  }

  // Watches the directory of each marked file for a new file under its name.
  void watch_dirs(const std::vector<std::string>& files) {
    dir_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    for (const auto& f : files) {
      const size_t slash = f.rfind('/');
      if (dir_fd < 0 || slash == std::string::npos || slash + 1 == f.size()) {
        ++watch_failures;
        continue;
      }
      const std::string dir = slash == 0 ? "/" : f.substr(0, slash);
      const int wd = inotify_add_watch(dir_fd, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
      if (wd < 0) {
        ++watch_failures;
        continue;
      }
      auto& w = watched[wd];
      w.dir = dir;
      w.names.insert(f.substr(slash + 1));
    }
  }

  // A file renamed over a marked one, or created under its name: marked at
  // once, by its path (no open, so no permission event of our own). An open
  // that comes before this mark is not seen: the window is the reader's
  // next turn.
  void remark_new_files() {
    alignas(inotify_event) char buf[8192];
    for (;;) {
      ssize_t len = read(dir_fd, buf, sizeof(buf));
      if (len <= 0) return;
      for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        if (ev->mask & IN_Q_OVERFLOW) ++watch_failures;
        auto w = watched.find(ev->wd);
        if (w == watched.end() || ev->len == 0 || !w->second.names.count(ev->name)) continue;
        const std::string path = (w->second.dir == "/" ? "" : w->second.dir) + "/" + ev->name;
        struct stat st {};
        if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        std::lock_guard<std::mutex> lock(mu);
        if (fan_fd >= 0 &&
            fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_DONT_FOLLOW, FAN_OPEN_PERM, AT_FDCWD, path.c_str()) == 0)
          ++remarked;
      }
    }
  }

  void reader() {
    pollfd fds[3] = {{fan_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}, {dir_fd, POLLIN, 0}};
    const int idle_ms = static_cast<int>(setup.deadline_ms);  // checks `stopping` at least this often
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
      }
      if (watch) watch->beat_ns.store(boot_now_ns());
      int timeout = expire();
      int n = poll(fds, 3, timeout < 0 || timeout > idle_ms ? idle_ms : timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || fds[1].revents || (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))) break;
      if (fds[2].revents & POLLIN) remark_new_files();
      if ((fds[0].revents & POLLIN) && !read_events()) break;
    }
    shut();
  }

  void decider() {
    for (;;) {
      Event ev{};
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stopping || !queue.empty(); });
        if (stopping) break;
        ev = queue.front();
        queue.pop_front();
        in_hand = ev;
        in_hand_answered = false;
      }
      const bool ok = decide(ev);
      {
        std::lock_guard<std::mutex> lock(mu);
        ++decisions;
        if (!in_hand_answered && respond(ev.fd, ok) && !ok) ++denials;
        in_hand.reset();
      }
      close(ev.fd);
    }
    std::lock_guard<std::mutex> lock(mu);
    decider_done = true;
    cv.notify_all();
  }

  bool decide(const Event& ev) {
    if (setup.fault_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(setup.fault_delay_ms));
    rp_open_flags of{};
    const bool recorded = bpf_map_lookup_elem(setup.open_flags_map_fd, &ev.tid, &of) == 0;
    const uint32_t tgid = recorded ? of.tgid : tgid_of(ev.tid);
    if (tgid == 0 || tgid == self) return true;  // gone, or rampartd itself
    Asker who{tgid, ev.tid, recorded ? of.exec_id : 0, std::nullopt};
    if (recorded && of.known) who.access = access_from_flags(of.flags);
    return allow(who, ev.fd, ev.exec);
  }

  void report(uint32_t tgid, uint32_t policy_id, bool exec, uint8_t action, uint8_t reason, std::string_view path) {
    rp_enforce_event ev{};
    ev.hdr.type = RP_EV_ENFORCE;
    ev.hdr.size = sizeof(ev);
    ev.hdr.ts_ns = boot_now_ns();
    ev.proc.pid = ev.proc.tgid = tgid;
    ev.op = exec ? RP_EV_EXEC : RP_EV_OPEN;
    ev.policy_id = policy_id;
    ev.mechanism = RP_MECH_FANOTIFY;
    ev.action = action;
    ev.reason = reason;
    std::memcpy(ev.path, path.data(), std::min(path.size(), sizeof(ev.path) - 1));
    // Once stopping, whoever the callback reaches may be going away.
    std::lock_guard<std::mutex> lock(mu);
    if (!stopping) report_fn(ev);
  }

  // The process and thread behind a permission event, as BPF recorded them at the syscall's entry.
  struct Asker {
    uint32_t tgid, tid;
    uint64_t exec_id;  // 0: not in an execve on record
    std::optional<Access> access;
  };

  bool allow(const Asker& who, int fd, bool exec) {
    const uint32_t pid = who.tgid;
    uint32_t policy_id = 0;
    rp_verdict verdict{};
    if (bpf_map_lookup_elem(setup.proc_policy_map_fd, &pid, &policy_id) != 0 || policy_id > setup.rules.size())
      policy_id = 0;
    if (bpf_map_lookup_elem(setup.verdict_map_fd, &pid, &verdict) != 0) verdict = {};
    const uint32_t vflags = verdict.flags & (exec ? RP_V_DENY_EXEC : RP_V_DENY_FILES);
    const GuardRule* rule = policy_id ? &setup.rules[policy_id - 1] : nullptr;
    if (!exec && rule && rule->has_exec_deny() && !loader_may_open(who, fd, policy_id, *rule)) return false;
    if (!vflags && (!rule || (exec ? !rule->has_exec_rules() : !rule->has_file_rules()))) return true;

    // statx: fstat's answer plus the mount, which tells a bind mount's name from the original's.
    struct statx sx {};
    const bool cacheable =
        statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_MNT_ID, &sx) == 0;
    const uint64_t size = sx.stx_size;
    // An unlinked file has no name an allow-list could have meant.
    if (exec && !vflags && rule && rule->restrict_exec && cacheable && sx.stx_nlink == 0) {
      report(pid, policy_id, exec, rule->enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY, RP_REASON_NOT_ALLOWED,
             resolve(fd, exec, nullptr, false).path);
      return !rule->enforce;
    }
    CacheKey key{policy_id,
                 vflags,
                 makedev(sx.stx_dev_major, sx.stx_dev_minor),
                 sx.stx_ino,
                 (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0,
                 exec};
    // A rename or a new link changes the inode's ctime: the cached name is stale.
    const uint64_t ctime_ns = uint64_t(sx.stx_ctime.tv_sec) * 1'000'000'000 + sx.stx_ctime.tv_nsec;
    const uint64_t now = boot_now_ns();
    if (exec && cacheable) {
      auto f = follow.find(who.tid);
      if (f != follow.end()) {
        const bool expected = f->second.dev == key.dev && f->second.ino == key.ino && who.exec_id != 0 &&
                              f->second.exec_id == who.exec_id && f->second.expires_ns >= now;
        follow.erase(f);
        if (expected) return true;
      }
    }
    const CacheEntry* entry = nullptr;
    if (cacheable) {
      auto it = cache.find(key);
      if (it != cache.end() && it->second.expires_ns >= now && it->second.ctime_ns == ctime_ns) {
        ++cache_hits;
        entry = &it->second;
      }
    }
    CacheEntry fresh;
    if (!entry) {
      fresh = resolve(fd, exec, rule, vflags != 0);
      if (cacheable) by_identity(policy_id, rule, fd, {{key.dev, key.ino}, size, ctime_ns}, exec, vflags != 0, fresh);
      fresh.expires_ns = now + kCacheTtlNs;
      fresh.ctime_ns = ctime_ns;
      // Another name of the file may be judged otherwise: only a file with one name is cached.
      if (cacheable && sx.stx_nlink <= 1) {
        if (cache.size() >= kCacheMax) cache.clear();
        entry = &(cache[key] = std::move(fresh));
      } else {
        entry = &fresh;
      }
    }
    uint8_t why = entry->reasons.read;
    if (!exec && !entry->reasons.uniform()) {
      // The answer depends on read or write: the open's flags, as recorded at sys_enter.
      ++access_checks;
      if (!who.access) ++access_unknown;
      Access acc = who.access.value_or(Access{true, true});  // unknown: judged as both
      why = acc.write && entry->reasons.write ? entry->reasons.write : acc.read ? entry->reasons.read : 0;
    }
    if (!why) {
      if (exec) expect_interpreter(who, fd, now);
      return true;
    }
    // A verdict is only ever written for an enforce-mode policy.
    const bool enforce = why == RP_REASON_VERDICT || (rule && rule->enforce);
    report(pid, policy_id, exec, enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY, why, entry->path);
    return !enforce;
  }

  // The dynamic loader run as a program (ld.so FILE) opens FILE to read and
  // maps it: no exec permission event names it. So an open, by a process
  // running without an interpreter, of a binary an exec deny rule names (by
  // identity or name) is judged as its exec. Deny rules only: the libraries
  // such a loader opens are on no allow-list. The file is looked at first:
  // the opener's auxv is read only for a denied binary.
  bool loader_may_open(const Asker& who, int fd, uint32_t policy_id, const GuardRule& rule) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return true;
    Denial known;
    if (policy_id <= setup.denied.size())
      known = setup.denied[policy_id - 1].match(fd,
                                                {{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)},
                                                 static_cast<uint64_t>(st.st_size),
                                                 uint64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec},
                                                false);
    std::string name = (known.flags & RP_PR_EXEC_DENY) ? known.name : std::string();
    if (name.empty()) {
      std::string path = resolve(fd, false, nullptr, false).path;
      if (!exec_denied(rule, path)) return true;
      name = std::move(path);
    }
    if (!runs_without_interpreter(who.tgid)) return true;
    report(who.tgid, policy_id, true, rule.enforce ? RP_ACT_DENIED : RP_ACT_WOULD_DENY, RP_REASON_DENY_RULE, name);
    return !rule.enforce;
  }

  void expect_interpreter(const Asker& who, int fd, uint64_t now) {
    if (who.exec_id == 0) return;  // not tied to an execve call: the loader is judged on its own
    // A script's "#!" program is judged like any exec; only an ELF's loader belongs to its exec.
    char magic[2] = {};
    if (pread(fd, magic, sizeof(magic), 0) == sizeof(magic) && magic[0] == '#' && magic[1] == '!') return;
    auto interp = interpreter_of(fd);
    struct stat st {};
    if (!interp || stat(interp->c_str(), &st) != 0) return;
    if (follow.size() >= 4096) follow.clear();
    follow[who.tid] = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), who.exec_id,
                       now + 5'000'000'000};
  }

  CacheEntry resolve(int fd, bool exec, const GuardRule* rule, bool verdict) const {
    char link[64], buf[PATH_MAX] = {};
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
      for (const auto& s : setup.sensitive)
        if (s.matches(e.path)) e.reasons = {RP_REASON_VERDICT, RP_REASON_VERDICT};
    return e;
  }

  // The file's identity and, for an exec, its contents, judged after its
  // name: a denied file under any other name is refused as a deny rule
  // refuses it. A file refused by name that was not known by identity is
  // recorded, and its inode marked, so that its other names reach the guard.
  void by_identity(uint32_t policy_id, const GuardRule* rule, int fd, const FileVersion& v, bool exec, bool verdict,
                   CacheEntry& e) {
    uint8_t& read = e.reasons.read;
    uint8_t& write = e.reasons.write;
    // An allow-list names paths: a sensitive file (/etc/shadow) under another
    // name, a hard link into an allowed directory, is not what it allowed.
    if (!exec && rule && (rule->restrict_read || rule->restrict_write) && (!read || !write)) {
      Denial d = setup.sensitive_objects.match(fd, v, false);
      if ((d.flags & RP_PR_READ_DENY) && d.name != e.path) {
        if (rule->restrict_read && !read) read = RP_REASON_NOT_ALLOWED;
        if (rule->restrict_write && !write) write = RP_REASON_NOT_ALLOWED;
        ++identity_denials;
      }
    }
    if (verdict && !exec && read != RP_REASON_VERDICT) {
      Denial d = setup.sensitive_objects.match(fd, v, false);
      if (d.flags & RP_PR_READ_DENY) {
        read = write = RP_REASON_VERDICT;
        e.path = d.name;
        ++identity_denials;
      }
    }
    if (policy_id == 0 || policy_id > setup.denied.size()) return;
    DeniedObjects& denied = setup.denied[policy_id - 1];
    const Denial known = denied.match(fd, v, exec);
    bool hit = false;
    if (exec) {
      if ((known.flags & RP_PR_EXEC_DENY) && read != RP_REASON_VERDICT && read != RP_REASON_DENY_RULE) {
        read = write = RP_REASON_DENY_RULE;
        hit = true;
      } else if (read == RP_REASON_DENY_RULE && !(known.flags & RP_PR_EXEC_DENY)) {
        remember(denied, fd, RP_PR_EXEC_DENY, e.path);  // by name now: its contents too
      }
    } else {
      for (auto [reason, flag] : {std::pair<uint8_t*, uint32_t>{&read, RP_PR_READ_DENY}, {&write, RP_PR_WRITE_DENY}}) {
        if ((known.flags & flag) && *reason != RP_REASON_VERDICT && *reason != RP_REASON_DENY_RULE) {
          *reason = RP_REASON_DENY_RULE;
          hit = true;
        }
      }
      const uint32_t named =
          (read == RP_REASON_DENY_RULE ? RP_PR_READ_DENY : 0u) | (write == RP_REASON_DENY_RULE ? RP_PR_WRITE_DENY : 0u);
      if (!hit && (named & ~known.flags)) remember(denied, fd, named, e.path);
    }
    if (hit) {
      // Reported under the name the rule knows, which the operator wrote.
      e.path = known.name;
      ++identity_denials;
    }
  }

  void remember(DeniedObjects& denied, int fd, uint32_t flags, const std::string& name) {
    if (!denied.add(fd, flags, name) || (flags & RP_PR_EXEC_DENY)) return;  // exec: the whole filesystem is marked
    std::lock_guard<std::mutex> lock(mu);
    if (fan_fd >= 0) fanotify_mark(fan_fd, FAN_MARK_ADD, FAN_OPEN_PERM, fd, nullptr);
  }
};

Result<std::unique_ptr<PermGuard>> PermGuard::start(Setup setup, Report report) {
  auto s = std::make_shared<State>();  // its destructor closes the fds on every failure below
  // FAN_REPORT_TID: the event names the thread, whose open's flags BPF recorded.
  s->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_TID,
                            O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (s->fan_fd < 0) return fail_errno("fanotify_init for exec and file enforcement");
  auto mark = [&](unsigned flags, uint64_t mask, const std::string& path, const char* what) -> Result<void> {
    if (fanotify_mark(s->fan_fd, FAN_MARK_ADD | flags, mask, AT_FDCWD, path.c_str()) != 0)
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
  s->watch_dirs(setup.files);
  s->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (s->stop_fd < 0) return fail_errno("eventfd");
  void* page = mmap(nullptr, sizeof(WatchPage), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return fail_errno("mmap of the watchdog's page");
  s->watch = new (page) WatchPage;
  s->watch->beat_ns.store(boot_now_ns());
  const pid_t parent = getpid();
  const std::string parent_stat = "/proc/" + std::to_string(parent) + "/stat";
  const std::string parent_cgroup = "/proc/" + std::to_string(parent) + "/cgroup";
  const std::string cgroup_root = bpf::find_mount("cgroup2");
  s->watchdog_cgroup = cgroup_root.empty() ? "" : cgroup_root + "/rampart-watch";
  const WatchdogArgs args{s->fan_fd,
                          s->watch,
                          uint64_t{setup.deadline_ms} * 1'000'000,
                          parent,
                          parent_stat.c_str(),
                          parent_cgroup.c_str(),
                          cgroup_root.c_str(),
                          s->watchdog_cgroup.c_str()};
  s->watchdog_pid = fork();
  if (s->watchdog_pid < 0) return fail_errno("fork of the fanotify watchdog");
  if (s->watchdog_pid == 0) watchdog(args);
  s->setup = std::move(setup);
  s->report_fn = std::move(report);
  std::unique_ptr<PermGuard> g(new PermGuard(s));
  g->reader_ = std::thread([s] { s->reader(); });
  g->decider_ = std::thread([s] { s->decider(); });
  return g;
}

PermGuard::~PermGuard() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->stopping = true;
    s_->cv.notify_all();
  }
  // The reader stops and closes the fd: everything waiting goes through.
  // The eventfd wakes it at once; without it, it sees `stopping` within a deadline.
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t woken = write(s_->stop_fd, &one, sizeof(one));
  if (reader_.joinable()) reader_.join();
  // The decider finishes the decision in hand, if it does so in time; a
  // stuck one is left behind with the state it shares (nothing waits on it).
  std::unique_lock<std::mutex> lock(s_->mu);
  const bool done =
      s_->cv.wait_for(lock, std::chrono::milliseconds(s_->setup.deadline_ms), [this] { return s_->decider_done; });
  lock.unlock();
  if (decider_.joinable()) {
    if (done)
      decider_.join();
    else
      decider_.detach();
  }
}

uint64_t PermGuard::decisions() const { return s_->decisions; }
uint64_t PermGuard::denials() const { return s_->denials; }
uint64_t PermGuard::overflows() const { return s_->overflows; }
uint64_t PermGuard::cache_hits() const { return s_->cache_hits; }
uint64_t PermGuard::deadline_expired() const { return s_->deadline_expired + s_->watch->answered.load(); }
uint64_t PermGuard::access_unknown() const { return s_->access_unknown; }
uint64_t PermGuard::access_checks() const { return s_->access_checks; }
uint64_t PermGuard::identity_denials() const { return s_->identity_denials; }
uint64_t PermGuard::remarked() const { return s_->remarked; }
uint64_t PermGuard::watch_failures() const { return s_->watch_failures; }

}  // namespace rampart::enforce
