// The process table: one entry per live process (tgid), seeded from /proc at
// start and kept current by exec, fork and exit events. It answers "who is
// this pid": executable, command line, parent chain, start time, cgroup and
// container identity. Bounded: exited processes are kept for a short grace
// period (late events still find them), then evicted first; past
// max_entries the least recently seen entries go.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pipeline/cgroup.h"

namespace rampart::pipeline {

struct ProcessInfo {
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  uint64_t start_ns = 0;  // boot clock; (tgid, start_ns) identifies a process
  uint32_t uid = 0;
  uint32_t euid = 0;
  std::string comm;
  std::string exe;                // absolute path of the executable, "" if unknown
  std::vector<std::string> args;  // argv
  uint64_t cgroup_id = 0;
  std::string cgroup_path;  // cgroup v2 path, e.g. "/system.slice/ssh.service"
  ContainerIdentity container;
  bool exited = false;
  uint64_t exit_ns = 0;
  uint32_t exit_code = 0;
};

// What the table learns from /proc: one snapshot of one process. Kept apart
// from the reader so the table is tested with synthetic snapshots.
struct ProcSnapshot {
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  uint64_t start_ns = 0;
  char state = 0;  // /proc/PID/stat's state letter: 'R', 'S', 'T' (stopped), ...
  uint32_t uid = 0;
  uint32_t euid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> args;
  std::string cgroup_path;
};

// Reads /proc (or a directory laid out like it, for tests).
class ProcReader {
 public:
  explicit ProcReader(std::string root = "/proc") : root_(std::move(root)) {}
  // Every numeric entry that could be read; processes that exit while being
  // read are skipped, not errors.
  std::vector<ProcSnapshot> read_all() const;
  std::optional<ProcSnapshot> read(uint32_t tgid) const;
  // When the process started (boot clock, to the clock tick /proc keeps).
  std::optional<uint64_t> start_ns(uint32_t tgid) const;
  // /proc/PID/stat alone: comm, state, ppid, start_ns.
  std::optional<ProcSnapshot> stat(uint32_t tgid) const;
  // Sends sig through a pidfd to the process tgid if it is the one that
  // started at start_ns (0: whoever has the pid). The pidfd names one
  // process for good: once it is open and the process behind the pid is
  // shown to be that one, a newcomer that takes the pid cannot get the
  // signal. True when it was sent.
  bool signal_if_same(uint32_t tgid, uint64_t start_ns, int sig) const;
  // The cgroup v2 path ("0::" line of /proc/PID/cgroup), "" if unreadable.
  std::string cgroup_path(uint32_t tgid) const;
  // The cgroup v2 path of a cgroup id (the kernel's, as events carry it),
  // through open_by_handle_at on the cgroup2 mount at `cgroup_root`: for a
  // process that exited before /proc could be read. Needs
  // CAP_DAC_READ_SEARCH; "" if the cgroup is gone or cannot be opened.
  static std::string cgroup_path_by_id(const std::string& cgroup_root, uint64_t cgroup_id);

 private:
  std::string root_;
};

class ProcessTable {
 public:
  struct Limits {
    size_t max_entries = 65536;
    uint64_t exited_grace_ns = 5'000'000'000;  // keep exited entries this long
  };

  ProcessTable() : ProcessTable(Limits{}) {}
  explicit ProcessTable(Limits limits) : limits_(limits) {}

  void seed(const std::vector<ProcSnapshot>& snapshots);

  // Event hooks. `now_ns` is the event's boot-clock timestamp.
  // exec: the process keeps its tgid and parent and gets a new image.
  // Returns the executable it had before, if known (for "replaced_exe").
  std::optional<std::string> on_exec(uint32_t tgid, uint32_t ppid, uint64_t start_ns, uint32_t uid, uint32_t euid,
                                     std::string_view comm, std::string_view exe, std::vector<std::string> args,
                                     uint64_t cgroup_id, uint64_t now_ns);
  // fork: the child starts as a copy of the parent's entry.
  void on_fork(uint32_t parent_tgid, uint32_t child_tgid, uint64_t child_start_ns, uint64_t now_ns);
  void on_exit(uint32_t tgid, uint32_t exit_code, uint64_t now_ns);

  // Sets the cgroup path (and so the container identity) of a process.
  void set_cgroup(uint32_t tgid, uint64_t cgroup_id, std::string_view path);

  const ProcessInfo* find(uint32_t tgid) const;
  // Lineage, nearest first: parent, grandparent, ... up to max_depth or pid 1
  // or the first unknown pid.
  std::vector<const ProcessInfo*> ancestors(uint32_t tgid, size_t max_depth = 16) const;
  // Live descendants of tgid (children, grandchildren, ...), breadth first;
  // tgid itself is not included. A loop of stale pids ends at the first repeat.
  std::vector<uint32_t> descendants(uint32_t tgid) const;

  // Drops exited entries older than the grace period. Called periodically.
  void sweep(uint64_t now_ns);

  size_t size() const { return entries_.size(); }
  size_t limit() const { return limits_.max_entries; }
  uint64_t evictions() const { return evictions_; }
  // Approximate heap bytes held by the table (entries, strings, LRU lists).
  size_t approx_bytes() const;

 private:
  ProcessInfo& upsert(uint32_t tgid);
  void touch(uint32_t tgid);
  void evict_if_full();

  Limits limits_;
  std::unordered_map<uint32_t, ProcessInfo> entries_;
  // LRU order of live tgids, most recent at the front. Exited tgids move to
  // exited_ in exit order, oldest at the front, so eviction and sweep find
  // them without scanning. lru_pos_ indexes both lists.
  std::list<uint32_t> lru_;
  std::list<uint32_t> exited_;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> lru_pos_;
  uint64_t evictions_ = 0;
};

}  // namespace rampart::pipeline
