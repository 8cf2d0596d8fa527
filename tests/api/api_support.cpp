// API-tier helpers; see api_support.h.
#include "api/api_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rampart::testing {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  { std::ofstream(tmp) << text; }
  std::filesystem::rename(tmp, path);
}

std::string policy_yaml(const std::string& name, const std::string& exe, const std::string& mode,
                        const std::string& allow_connect) {
  return "apiVersion: rampart.dev/v1\nkind: Policy\nmetadata:\n  name: " + name +
         "\nspec:\n  selector:\n    executables: [\"" + exe + "\"]\n  mode: " + mode +
         "\n  allow:\n    network:\n      connect: [" + allow_connect + "]\n";
}

uint16_t free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len);
  close(s);
  return ntohs(sa.sin_port);
}

uint64_t json_u64(const nlohmann::json& j) {
  if (j.is_string()) return std::stoull(j.get<std::string>());
  return j.is_number() ? j.get<uint64_t>() : 0;
}

int64_t realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiDaemon::ApiDaemon(const std::string& extra_api_config, const std::string& extra_config) {
  char tmpl[] = "/tmp/rampart-api-XXXXXX";
  dir_ = mkdtemp(tmpl);
  chmod(dir_.c_str(), 0755);
  std::filesystem::create_directory(dir_ + "/policies");
  std::ofstream(dir_ + "/rampart.yaml") << "api:\n  socket: " << socket() << "\n" << extra_api_config << extra_config;
  start();
}

bool ApiDaemon::start() {
  // Everything the child needs is built before fork: gRPC threads of earlier
  // tests may hold the allocator's lock at that moment.
  const std::string err = dir_ + "/stderr.txt", cfg = dir_ + "/rampart.yaml", pol = dir_ + "/policies",
                    events = dir_ + "/events.jsonl";
  std::filesystem::remove(err);  // ready must not read a previous run's
  pid_ = fork();
  if (pid_ == 0) {
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(e, 2);
    execl(RAMPARTD_PATH, RAMPARTD_PATH, "--config", cfg.c_str(), "--policy-dir", pol.c_str(), "--output",
          events.c_str(), nullptr);
    _exit(127);
  }
  ready_ = false;
  for (int i = 0; i < 1500; ++i) {
    if (stderr_text().find("attached ") != std::string::npos) {
      ready_ = true;
      break;
    }
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready_;
}

ApiDaemon::~ApiDaemon() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ApiDaemon::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::vector<nlohmann::json> ApiDaemon::events() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir_ + "/events.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

std::unique_ptr<v1::Rampart::Stub> ApiDaemon::stub() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::Rampart::NewStub(grpc::CreateCustomChannel("unix:" + socket(), grpc::InsecureChannelCredentials(), args));
}

CtlResult ctl(const std::string& socket, const std::vector<std::string>& args, int uid, int gid) {
  static int seq = 0;
  std::string base = "/tmp/rampart-ctl-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
  // No allocation after fork (see ApiDaemon): argv is built first.
  const std::string out = base + ".out", err = base + ".err";
  std::vector<std::string> all{RAMPARTCTL_PATH, "--socket", socket};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    if (gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(static_cast<gid_t>(gid)) != 0)) _exit(126);
    if (uid >= 0 && setuid(static_cast<uid_t>(uid)) != 0) _exit(126);
    execv(RAMPARTCTL_PATH, argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CtlResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  unlink((base + ".out").c_str());
  unlink((base + ".err").c_str());
  return r;
}

Listener::Listener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 512) != 0)
    throw std::runtime_error("listener on 127.0.0.1 failed");
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    pollfd p{fd_, POLLIN, 0};
    while (!stop_) {
      if (poll(&p, 1, 20) <= 0) continue;
      for (int c; (c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) close(c);
    }
  });
}

Listener::~Listener() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

}  // namespace rampart::testing
