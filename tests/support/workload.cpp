// Child-process and event-collection helpers for the kernel tiers.
#include "support/workload.h"

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

KernelSession::KernelSession() {
  bpf::ensure_mounts();
  auto caps = bpf::probe_kernel();
  bpf::LoadOptions opts;  // self_tgid 0: the test process's own events are kept
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
