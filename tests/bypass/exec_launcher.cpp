// The bypass tier's exec launcher: runs a program without a name fanotify
// would be asked about.
//   launcher memfd PROGRAM ARGS...       copies PROGRAM into a memfd and runs it
//   launcher deleted PROGRAM COPY ARGS... copies PROGRAM to COPY, unlinks COPY, runs it
// Both through execveat(fd, "", AT_EMPTY_PATH). A refused exec prints
// "execveat: <error>" and exits 126, like a shell.
//   launcher e2big ALLOWED LOADER PROGRAM ARGS...
//                                        execs ALLOWED with an argument list too long
//                                        (E2BIG, after the kernel opened it), then
//                                        LOADER PROGRAM ARGS... from the same thread
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

bool copy_into(int to, const char* from) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (in < 0 || fstat(in, &st) != 0) return false;
  off_t off = 0;
  while (off < st.st_size)
    if (sendfile(to, in, &off, static_cast<size_t>(st.st_size - off)) <= 0) return false;
  close(in);
  return true;
}

int run(int fd, char** argv) {
  syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
  std::fprintf(stderr, "execveat: %s\n", std::strerror(errno));
  return 126;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "memfd") == 0) {
    int fd = memfd_create("payload", MFD_CLOEXEC);
    if (fd < 0 || !copy_into(fd, argv[2])) return std::perror("memfd"), 1;
    return run(fd, argv + 2);
  }
  if (argc >= 4 && std::strcmp(argv[1], "deleted") == 0) {
    int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (out < 0 || !copy_into(out, argv[2])) return std::perror("copy"), 1;
    close(out);  // a file open for writing cannot be executed (ETXTBSY)
    int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || unlink(argv[3]) != 0) return std::perror("unlink"), 1;
    argv[3] = argv[2];
    return run(fd, argv + 3);
  }
  if (argc >= 5 && std::strcmp(argv[1], "e2big") == 0) {
    // 64 MiB of arguments: past any stack limit the kernel allows.
    static std::string arg(255, 'x');
    std::vector<char*> big(262144, arg.data());
    big[0] = argv[2];
    big.push_back(nullptr);
    execve(argv[2], big.data(), environ);
    std::fprintf(stderr, "first execve: %s\n", std::strerror(errno));
    execve(argv[3], argv + 3, environ);
    std::fprintf(stderr, "loader execve: %s\n", std::strerror(errno));
    return 126;
  }
  std::fprintf(stderr,
               "usage: %s memfd PROGRAM ARGS... | deleted PROGRAM COPY ARGS... | e2big ALLOWED LOADER ARGS...\n",
               argv[0]);
  return 2;
}
