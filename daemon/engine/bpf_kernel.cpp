// BpfKernel: see bpf_kernel.h.
#include "engine/bpf_kernel.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace rampart::engine {

bool BpfKernel::kill(uint32_t tgid, uint64_t start_ns) { return proc_.signal_if_same(tgid, start_ns, SIGKILL); }

bool BpfKernel::alive(uint32_t tgid) const { return !(::kill(static_cast<pid_t>(tgid), 0) != 0 && errno == ESRCH); }

namespace {

// The inode of "socket:[12345]", 0 for anything else.
uint64_t socket_inode(const char* link) {
  if (std::strncmp(link, "socket:[", 8) != 0) return 0;
  return std::strtoull(link + 8, nullptr, 10);
}

// One fd a process holds, duplicated into rampartd; closed with it.
class TakenFd {
 public:
  TakenFd(int pidfd, int fd) : fd_(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0))) {}
  ~TakenFd() {
    if (fd_ >= 0) close(fd_);
  }
  TakenFd(const TakenFd&) = delete;
  TakenFd& operator=(const TakenFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

SocketTake BpfKernel::take_sockets(uint32_t tgid, const rp_proc& owner, std::unordered_set<uint64_t>& seen) {
  SocketTake out;
  if (!programs_.socket_cut()) return out;
  const std::string dir = "/proc/" + std::to_string(tgid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;  // gone
  int pidfd = -1;
  auto fail = [&out](const std::string& what) {
    ++out.failed;
    out.error = what + ": " + std::strerror(errno);
  };
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char link[64] = {};
    const std::string path = dir + "/" + e->d_name;
    if (readlink(path.c_str(), link, sizeof(link) - 1) <= 0) continue;
    const uint64_t ino = socket_inode(link);
    if (!ino || seen.count(ino)) continue;
    // The fd names the socket only while the process keeps it: taking it
    // from the process through a pidfd holds the socket itself.
    if (pidfd < 0 && (pidfd = static_cast<int>(syscall(SYS_pidfd_open, tgid, 0))) < 0) {
      fail("pidfd_open of pid " + std::to_string(tgid));
      break;
    }
    TakenFd fd(pidfd, std::atoi(e->d_name));
    if (fd.get() < 0) {
      if (errno != EBADF) fail("pidfd_getfd of fd " + std::string(e->d_name) + " of pid " + std::to_string(tgid));
      continue;  // EBADF: closed meanwhile
    }
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || (domain != AF_INET && domain != AF_INET6)) {
      seen.insert(ino);  // unix and netlink sockets have no packets to cut
      continue;
    }
    // Written cut, so that it stays cut if the process exits before a
    // packet of it is dropped (the kernel sends what was queued after the
    // process is gone).
    rp_sock_owner mine{};
    mine.proc = owner;
    mine.taken = 1;
    mine.cut = 1;
    const auto cur = programs_.socket_owner(fd.get());
    const bool own = cur && cur->proc.tgid == tgid;
    if (cur && cur->proc.tgid && !own) {
      // Owned by another quarantined process: cut already, and left to it
      // (looked at again next time: that one may be released first).
      if (auto v = programs_.verdict_of(cur->proc.tgid); v && (v->flags & RP_V_DENY_NET)) continue;
    }
    if (own) {  // its own already: only marked cut
      mine = *cur;
      mine.cut = 1;
    }
    if (!own || !cur->cut) {
      if (auto r = programs_.set_socket_owner(fd.get(), mine); !r) {
        ++out.failed;
        out.error = "socket " + std::to_string(ino) + " of pid " + std::to_string(tgid) + ": " + r.error().what();
        continue;
      }
    }
    if (own) {
      seen.insert(ino);
      continue;
    }
    seen.insert(ino);
    ++out.taken;
  }
  closedir(d);
  if (pidfd >= 0) close(pidfd);
  return out;
}

bool BpfKernel::continue_stopped(uint32_t tgid) {
  // Through a pidfd, to the process whose state was read: not to one that took its pid since.
  auto st = proc_.stat(tgid);
  return st && st->state == 'T' && proc_.signal_if_same(tgid, st->start_ns, SIGCONT);
}

}  // namespace rampart::engine
