// Child-process and event-collection helpers for the kernel tiers.
#include "support/workload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

#include "bpf/mounts.h"
#include "bpf/probe.h"

namespace rampart::testing {

pid_t spawn_child(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int rc = 127;
    try {
      rc = fn();
    } catch (...) {
    }
    _exit(rc);
  }
  return pid;
}

ChildResult run_child(const std::function<int()>& fn) {
  ChildResult r;
  r.pid = spawn_child(fn);
  while (waitpid(r.pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

Record::Record(const void* data, size_t len) : storage_((len + 7) / 8), len_(len) {
  std::memcpy(storage_.data(), data, len);
}

sources::EventView Record::view() const {
  auto v = sources::decode(storage_.data(), len_);
  if (!v) throw std::runtime_error("a collected record does not decode");
  return *v;
}

ScratchCgroup::ScratchCgroup(const std::string& name) {
  std::string root = bpf::find_mount("cgroup2");
  if (root.empty()) throw std::runtime_error("cgroup v2 is not mounted");
  path_ = root + "/rampart-test-" + std::to_string(getpid()) + (name.empty() ? "" : "-" + name);
  if (mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error("mkdir " + path_ + ": " + std::strerror(errno));
}

ScratchCgroup::~ScratchCgroup() {
  // Its processes have exited by now; rmdir fails (harmlessly) if one lingers.
  for (int i = 0; i < 50 && rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
}

bool ScratchCgroup::enter() const { return add(0); }

bool ScratchCgroup::add(pid_t pid) const {
  int fd = open((path_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::string text = std::to_string(pid);  // 0: the writer itself
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

ChildResult run_policed_child(const ScratchCgroup& cgroup, const std::function<void(pid_t)>& setup,
                              const std::function<int()>& fn) {
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) throw std::runtime_error("pipe failed");
  ChildResult r;
  r.pid = spawn_child([&] {
    close(ready[0]);
    close(go[1]);
    char c = cgroup.enter() ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1 || c != 'y') return 120;
    if (read(go[0], &c, 1) != 1) return 121;
    return fn();
  });
  close(ready[1]);
  close(go[0]);
  char c = 0;
  bool entered = read(ready[0], &c, 1) == 1 && c == 'y';
  if (entered) setup(r.pid);
  if (write(go[1], "g", 1) != 1) entered = false;
  close(ready[0]);
  close(go[1]);
  while (waitpid(r.pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  if (!entered) throw std::runtime_error("the child could not enter cgroup " + cgroup.path());
  return r;
}

KernelSession::KernelSession(const std::string& enforce_cgroup) {
  bpf::ensure_mounts();
  auto caps = bpf::probe_kernel();
  bpf::LoadOptions opts;  // self_tgid 0: the test process's own events are kept
  opts.enforce_cgroup = enforce_cgroup;
  auto programs = bpf::Programs::load(opts, caps);
  if (!programs) throw std::runtime_error("loading programs: " + programs.error().what());
  programs_ = std::move(*programs);
  auto source = sources::RingbufSource::create(io_, programs_->ringbuf_fd(), std::chrono::milliseconds(5), *this);
  if (!source) throw std::runtime_error("ring buffer: " + source.error().what());
  source_ = std::move(*source);
}

KernelSession::~KernelSession() {
  source_.reset();
  programs_.reset();
}

const Record* KernelSession::wait_for(const std::function<bool(const Record&)>& pred,
                                      std::chrono::milliseconds timeout) {
  size_t checked = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    source_->drain();
    for (; checked < records_.size(); ++checked)
      if (pred(records_[checked])) return &records_[checked];
    if (std::chrono::steady_clock::now() > deadline) return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<const Record*> KernelSession::all(const std::function<bool(const Record&)>& pred) const {
  std::vector<const Record*> out;
  for (const auto& r : records_)
    if (pred(r)) out.push_back(&r);
  return out;
}

}  // namespace rampart::testing
