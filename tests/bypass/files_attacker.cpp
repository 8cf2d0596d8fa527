// The attacker of the file bypass tests: a small program the tests copy into
// their scratch directory, where a policy selects the copy by its path. Each
// mode is one attempt, printed as "key=value" lines the tests read.
//   open-write FILE        open(FILE, O_WRONLY|O_TRUNC) from the one thread
//   race FIFO FILE N       N times: the main thread sits in open() of FIFO
//                          while a second thread opens FILE O_WRONLY|O_TRUNC
//   read FILE              open(FILE, O_RDONLY) and read it
//   opath FILE             open(FILE, O_PATH), then lives on for a while
//   reopen FILE            open(FILE, O_PATH), then open /proc/self/fd/N for
//                          reading and read it
//   openat2 DIR NAME       openat2(DIR, NAME, O_RDONLY) with RESOLVE_BENEATH,
//                          NO_SYMLINKS, NO_MAGICLINKS and NO_XDEV; then again
//                          with RESOLVE_CACHED (dcache only) after a stat
//   truncate FILE          truncate(FILE, 0), which opens nothing; then lives
//                          on for a while
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

// "rc=0" or "rc=-1 errno=EPERM".
void print_open(const char* what, int fd) {
  if (fd >= 0)
    std::printf("%s=ok\n", what);
  else
    std::printf("%s=%s\n", what, errno == EPERM ? "EPERM" : std::strerror(errno));
}

int race(const char* fifo, const char* file, int rounds) {
  int refused = 0, opened = 0, other = 0;
  for (int i = 0; i < rounds; ++i) {
    int wfd = -1, werr = 0;
    std::thread second([&] {
      // Let the main thread block in the FIFO's open first.
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      wfd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
      werr = errno;
      // A writer releases the main thread's open.
      int release = open(fifo, O_WRONLY | O_CLOEXEC);
      if (release >= 0) close(release);
    });
    int rfd = open(fifo, O_RDONLY | O_CLOEXEC);  // blocks until the second thread opens the write end
    second.join();
    if (rfd >= 0) close(rfd);
    if (wfd >= 0) {
      ++opened;
      close(wfd);
    } else if (werr == EPERM) {
      ++refused;
    } else {
      ++other;
    }
  }
  std::printf("refused=%d\nopened=%d\nother=%d\n", refused, opened, other);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ptrace-attach" && argc == 3) {  // PTRACE_ATTACH to a pid, then a moment to use it
    long r = ptrace(PTRACE_ATTACH, std::atoi(argv[2]), nullptr, nullptr);
    std::printf("ptrace_attach=%s\n", r == 0 ? "ok" : std::strerror(errno));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return 0;
  }
  if (mode == "open-write" && argc == 3) {
    print_open("open_write", open(argv[2], O_WRONLY | O_TRUNC | O_CLOEXEC));
    return 0;
  }
  if (mode == "race" && argc == 5) return race(argv[2], argv[3], std::atoi(argv[4]));
  if (mode == "read" && argc == 3) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    print_open("open_read", fd);
    if (fd >= 0) {
      char buf[64];
      std::printf("read_bytes=%zd\n", read(fd, buf, sizeof(buf)));
    }
    return 0;
  }
  if (mode == "opath" && argc == 3) {
    int fd = open(argv[2], O_PATH | O_CLOEXEC);
    print_open("open_path", fd);
    struct stat st {};
    if (fd >= 0) std::printf("fstat=%s\n", fstat(fd, &st) == 0 ? "ok" : std::strerror(errno));
    // An after-the-fact kill would land well within this.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::printf("alive=yes\n");
    return 0;
  }
  if (mode == "reopen" && argc == 3) {
    int pfd = open(argv[2], O_PATH | O_CLOEXEC);
    print_open("open_path", pfd);
    if (pfd < 0) return 0;
    const std::string magic = "/proc/self/fd/" + std::to_string(pfd);
    int fd = open(magic.c_str(), O_RDONLY | O_CLOEXEC);
    print_open("reopen", fd);
    char buf[64];
    if (fd >= 0) std::printf("read_bytes=%zd\n", read(fd, buf, sizeof(buf)));
    return 0;
  }
  if (mode == "openat2" && argc == 4) {
    int dir = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    print_open("openat2", static_cast<int>(syscall(SYS_openat2, dir, argv[3], &how, sizeof(how))));
    struct stat st {};
    fstatat(dir, argv[3], &st, 0);  // into the dcache
    how.resolve = RESOLVE_CACHED;
    print_open("openat2_cached", static_cast<int>(syscall(SYS_openat2, dir, argv[3], &how, sizeof(how))));
    return 0;
  }
  if (mode == "truncate" && argc == 3) {
    int rc = truncate(argv[2], 0);
    print_open("truncate", rc == 0 ? 0 : -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // an after-the-fact kill lands here
    std::printf("alive=yes\n");
    return 0;
  }
  std::fprintf(stderr,
               "usage: %s open-write FILE | race FIFO FILE N | read FILE | opath FILE | reopen FILE | openat2 DIR "
               "NAME | truncate FILE\n",
               argv[0]);
  return 2;
}
