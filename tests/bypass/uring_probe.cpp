// What an attacker's io_uring code does, for the bypass tier: sets up a
// ring and, through it alone, opens a file, reads it, connects to a
// loopback port and sends on the connection. Prints one line per step
// ("ring", "openat=FD", "read=N", "connect=0", "send=N"), so a test sees how
// far it got. Usage: rampart_uring_probe FILE PORT
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

io_uring ring;

// Submits what is queued and returns the first completion's result.
int complete() {
  io_uring_submit(&ring);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe(&ring, &cqe) != 0) return -1;
  const int res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FILE PORT\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (int err = io_uring_queue_init(8, &ring, 0); err < 0) {
    std::printf("setup=%d\n", err);
    return 1;
  }
  std::printf("ring\n");
  io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, argv[1], O_RDONLY, 0);
  const int fd = complete();
  std::printf("openat=%d\n", fd);
  if (fd >= 0) {
    char buf[64];
    io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, sizeof(buf), 0);
    std::printf("read=%d\n", complete());
  }
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  io_uring_prep_connect(io_uring_get_sqe(&ring), s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  const int c = complete();
  std::printf("connect=%d\n", c);
  if (c == 0) {
    io_uring_prep_send(io_uring_get_sqe(&ring), s, "x", 1, 0);
    std::printf("send=%d\n", complete());
  }
  io_uring_queue_exit(&ring);
  return 0;
}
