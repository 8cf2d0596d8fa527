// rampartctl runs; see ctl.h.
#include "support/ctl.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "support/files.h"

namespace rampart::testing {

CtlResult ctl(const std::string& socket, const std::vector<std::string>& args, int uid, int gid) {
  static int seq = 0;
  const std::string base = "/tmp/rampart-ctl-" + std::to_string(getpid()) + "-" + std::to_string(seq++);
  // No allocation after fork (see Daemon::spawn): argv is built first.
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
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  CtlResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(out);
  r.err = slurp(err);
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

uint64_t json_u64(const nlohmann::json& j) {
  if (j.is_string()) return std::stoull(j.get<std::string>());
  return j.is_number() ? j.get<uint64_t>() : 0;
}

}  // namespace rampart::testing
