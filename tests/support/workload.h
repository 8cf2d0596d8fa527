// Helpers for kernel-tier tests: run real actions in child processes, and
// collect the real events the BPF programs emit for them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bpf/loader.h"
#include "sources/decoder.h"
#include "sources/ringbuf_source.h"

namespace rampart::testing {

// Waits in the daemon tiers scale with RAMPART_TEST_TIMEOUT_SCALE (default 1):
// the VM tier sets it, since rampartd starts several times slower under emulation.
inline int timeout_scale() {
  const char* s = std::getenv("RAMPART_TEST_TIMEOUT_SCALE");
  int v = s ? std::atoi(s) : 1;
  return v >= 1 ? v : 1;
}

// Forks; the child runs fn and _exits with its return value. The parent waits.
struct ChildResult {
  pid_t pid = -1;
  int status = 0;  // wait(2) status
};
ChildResult run_child(const std::function<int()>& fn);

// Starts a child that runs fn and does not wait for it.
pid_t spawn_child(const std::function<int()>& fn);

// One record, copied out of the ring buffer (8-byte aligned storage).
class Record {
 public:
  Record(const void* data, size_t len);
  sources::EventView view() const;
  uint32_t type() const { return view().type(); }
  const rp_proc& proc() const { return view().proc(); }
  template <typename T>
  const T& as() const {
    return view().as<T>();
  }

 private:
  std::vector<uint64_t> storage_;
  size_t len_;
};

// A scratch cgroup v2 directory for the test's own processes, removed at the
// end. Enforcement in tests attaches here, never to the machine's root cgroup.
class ScratchCgroup {
 public:
  // `name` tells apart several scratch cgroups of one test process.
  explicit ScratchCgroup(const std::string& name = "");
  ~ScratchCgroup();
  const std::string& path() const { return path_; }
  // Moves the calling process into it (for use in a child).
  bool enter() const;
  // Moves another process into it.
  bool add(pid_t pid) const;

 private:
  std::string path_;
};

// A child that enters `cgroup`, then waits until setup(pid) has run in the
// parent (assigning its policy, say) before it runs fn. Returns its wait status.
ChildResult run_policed_child(const ScratchCgroup& cgroup, const std::function<void(pid_t)>& setup,
                              const std::function<int()>& fn);

// Loads the real programs and collects every record they emit.
class KernelSession : public sources::RecordSink {
 public:
  // enforce_cgroup: where the network enforcement hooks attach ("" = none).
  explicit KernelSession(const std::string& enforce_cgroup = "");
  ~KernelSession() override;

  void on_record(const void* data, size_t len) override { records_.emplace_back(data, len); }

  // Drains until pred matches a collected record or timeout. Returns the match.
  const Record* wait_for(const std::function<bool(const Record&)>& pred,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  std::vector<const Record*> all(const std::function<bool(const Record&)>& pred) const;
  bpf::Programs& programs() { return *programs_; }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<bpf::Programs> programs_;
  std::unique_ptr<sources::RingbufSource> source_;
  std::deque<Record> records_;  // deque: pointers handed out stay valid
};

}  // namespace rampart::testing
