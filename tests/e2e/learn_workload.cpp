// The workload the learning e2e test teaches rampartd: a small loopback
// server. Usage: rampart_learn_workload BASE PORT BACKEND_PORT. It reads
// BASE/conf/app.conf, listens on 127.0.0.1:PORT and answers one line per
// connection:
//   GET          reads its config, connects to the backend, appends to
//                BASE/log/app.log; answers "ok"
//   SHELL        runs /bin/sh -c 'exit 7'; answers "shell STATUS" (the exit
//                code, or 100+errno when the exec failed)
//   PEER P       connects to 127.0.0.1:P; answers "peer ERRNO" (0: connected)
//   WRITE PATH   opens PATH for writing; answers "write ERRNO"
//   QUIT         answers "bye" and exits
// Deviations (SHELL, PEER, WRITE) are what the test makes it do once it has
// been learned and enforced.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

std::string base;
uint16_t backend_port = 0;

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int err = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0 : errno;
  close(fd);
  return err;
}

std::string read_config() {
  int fd = open((base + "/conf/app.conf").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[256] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string handle(const std::string& line) {
  if (line == "GET") {
    read_config();
    int err = connect_to(backend_port);
    int log = open((base + "/log/app.log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log >= 0) {
      std::string entry = "GET backend=" + std::to_string(err) + "\n";
      (void)!write(log, entry.data(), entry.size());
      close(log);
    }
    return err == 0 && log >= 0 ? "ok" : "error backend=" + std::to_string(err) + " log=" + std::to_string(log);
  }
  if (line == "SHELL") {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", "exit 7", nullptr);
      _exit(100 + errno);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return "shell " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  if (line.rfind("PEER ", 0) == 0) return "peer " + std::to_string(connect_to(std::atoi(line.c_str() + 5)));
  if (line.rfind("WRITE ", 0) == 0) {
    int fd = open(line.c_str() + 6, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    return "write " + std::to_string(err);
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  signal(SIGPIPE, SIG_IGN);
  base = argv[1];
  backend_port = static_cast<uint16_t>(std::atoi(argv[3]));
  if (read_config().empty()) return 3;
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(srv, 64) != 0) return 4;
  for (;;) {
    int c = accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    char buf[512] = {};
    ssize_t n = read(c, buf, sizeof(buf) - 1);
    std::string line = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::string reply = line == "QUIT" ? "bye" : handle(line);
    reply += "\n";
    (void)!write(c, reply.data(), reply.size());
    close(c);
    if (line == "QUIT") return 0;
  }
}
