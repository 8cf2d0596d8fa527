// The process table behind "who is this pid": entries keyed by tgid, kept
// current by exec, fork and exit events and bounded by an LRU. Live entries
// sit in lru_ (most recent first); an exit moves the entry to exited_, in exit
// order, where sweep() and eviction take the oldest first without scanning the
// live ones. Runs on the pipeline thread only, so it takes no locks.
#include "pipeline/process_table.h"

#include <algorithm>
#include <unordered_set>

#include "util/memory.h"

namespace rampart::pipeline {

void ProcessTable::seed(const std::vector<ProcSnapshot>& snapshots) {
  for (const ProcSnapshot& s : snapshots) {
    ProcessInfo& p = upsert(s.tgid);
    p.ppid = s.ppid;
    p.start_ns = s.start_ns;
    p.uid = s.uid;
    p.euid = s.euid;
    p.comm = s.comm;
    p.exe = s.exe;
    p.args = s.args;
    // /proc gives no cgroup id; one learnt earlier is only kept if it still
    // belongs to the same path.
    if (p.cgroup_path != s.cgroup_path) {
      p.cgroup_id = 0;
      p.cgroup_path = s.cgroup_path;
      p.container = parse_container(s.cgroup_path);
    }
  }
}

std::optional<std::string> ProcessTable::on_exec(uint32_t tgid, uint32_t ppid, uint64_t start_ns, uint32_t uid,
                                                 uint32_t euid, std::string_view comm, std::string_view exe,
                                                 std::vector<std::string> args, uint64_t cgroup_id,
                                                 uint64_t /*now_ns*/) {
  ProcessInfo& p = upsert(tgid);
  // A new entry has no exe, so a non-empty one is what the process ran before.
  std::optional<std::string> previous;
  if (!p.exe.empty()) previous = std::move(p.exe);

  p.ppid = ppid;
  p.start_ns = start_ns;
  p.uid = uid;
  p.euid = euid;
  p.comm.assign(comm);
  p.exe.assign(exe);
  p.args = std::move(args);
  // A path learnt for another cgroup no longer applies; seeded entries have
  // id 0 and keep the path they were seeded with.
  if (p.cgroup_id != 0 && p.cgroup_id != cgroup_id) {
    p.cgroup_path.clear();
    p.container = ContainerIdentity{};
  }
  p.cgroup_id = cgroup_id;
  return previous;
}

void ProcessTable::on_fork(uint32_t parent_tgid, uint32_t child_tgid, uint64_t child_start_ns, uint64_t /*now_ns*/) {
  const ProcessInfo* parent = find(parent_tgid);
  if (parent != nullptr && !parent->exited) touch(parent_tgid);
  // Copied before upsert(), which may evict the parent to make room.
  ProcessInfo info = parent != nullptr ? *parent : ProcessInfo{};

  ProcessInfo& child = upsert(child_tgid);
  child = std::move(info);
  child.tgid = child_tgid;
  child.ppid = parent_tgid;
  child.start_ns = child_start_ns;
  child.exited = false;
  child.exit_ns = 0;
  child.exit_code = 0;
}

void ProcessTable::on_exit(uint32_t tgid, uint32_t exit_code, uint64_t now_ns) {
  auto it = entries_.find(tgid);
  if (it == entries_.end() || it->second.exited) return;  // unknown, or a repeated exit
  ProcessInfo& p = it->second;
  p.exited = true;
  p.exit_ns = now_ns;
  p.exit_code = exit_code;
  exited_.splice(exited_.end(), lru_, lru_pos_.find(tgid)->second);
}

void ProcessTable::set_cgroup(uint32_t tgid, uint64_t cgroup_id, std::string_view path) {
  auto it = entries_.find(tgid);
  if (it == entries_.end()) return;
  ProcessInfo& p = it->second;
  p.cgroup_id = cgroup_id;
  p.cgroup_path.assign(path);
  p.container = parse_container(path);
  if (!p.exited) touch(tgid);
}

const ProcessInfo* ProcessTable::find(uint32_t tgid) const {
  auto it = entries_.find(tgid);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const ProcessInfo*> ProcessTable::ancestors(uint32_t tgid, size_t max_depth) const {
  std::vector<const ProcessInfo*> chain;
  const ProcessInfo* current = find(tgid);
  if (current == nullptr || max_depth == 0) return chain;
  chain.reserve(std::min<size_t>(max_depth, 16));
  while (chain.size() < max_depth && current->ppid != 0) {
    const uint32_t ppid = current->ppid;
    const ProcessInfo* parent = find(ppid);
    if (parent == nullptr) break;
    // Stale or reused pids can link into a loop; stop at the first repeat.
    if (ppid == tgid || std::find(chain.begin(), chain.end(), parent) != chain.end()) break;
    chain.push_back(parent);
    if (ppid == 1) break;
    current = parent;
  }
  return chain;
}

std::vector<uint32_t> ProcessTable::descendants(uint32_t tgid) const {
  std::unordered_multimap<uint32_t, uint32_t> children;  // ppid -> tgid
  for (const auto& [pid, info] : entries_)
    if (!info.exited && pid != info.ppid) children.emplace(info.ppid, pid);
  std::vector<uint32_t> out;
  std::unordered_set<uint32_t> seen{tgid};
  for (size_t next = 0, parent = tgid;; parent = out[next++]) {
    auto [begin, end] = children.equal_range(static_cast<uint32_t>(parent));
    for (auto it = begin; it != end; ++it)
      if (seen.insert(it->second).second) out.push_back(it->second);
    if (next == out.size()) break;
  }
  return out;
}

void ProcessTable::sweep(uint64_t now_ns) {
  const uint64_t grace = limits_.exited_grace_ns;
  // Whole list, not just a prefix: exits may arrive slightly out of time order.
  for (auto it = exited_.begin(); it != exited_.end();) {
    auto entry = entries_.find(*it);
    const uint64_t exit_ns = entry->second.exit_ns;
    if (now_ns >= exit_ns && now_ns - exit_ns >= grace) {  // no overflow near 2^64
      lru_pos_.erase(*it);
      entries_.erase(entry);
      it = exited_.erase(it);
    } else {
      ++it;
    }
  }
}

ProcessInfo& ProcessTable::upsert(uint32_t tgid) {
  auto it = entries_.find(tgid);
  if (it != entries_.end()) {
    ProcessInfo& p = it->second;
    if (p.exited) {
      // The tgid is live again (pid reuse, or an exec that raced its exit).
      lru_.splice(lru_.begin(), exited_, lru_pos_.find(tgid)->second);
      p.exited = false;
      p.exit_ns = 0;
      p.exit_code = 0;
    } else {
      touch(tgid);
    }
    return p;
  }

  evict_if_full();
  ProcessInfo& p = entries_.try_emplace(tgid).first->second;
  p.tgid = tgid;
  lru_.push_front(tgid);
  lru_pos_.emplace(tgid, lru_.begin());
  return p;
}

// Live entries only: exited ones stay in exit order.
void ProcessTable::touch(uint32_t tgid) {
  auto pos = lru_pos_.find(tgid);
  if (pos != lru_pos_.end()) lru_.splice(lru_.begin(), lru_, pos->second);
}

void ProcessTable::evict_if_full() {
  while (!entries_.empty() && entries_.size() >= limits_.max_entries) {
    // The oldest exited entry first: it is only kept for late events.
    std::list<uint32_t>& from = exited_.empty() ? lru_ : exited_;
    auto victim = exited_.empty() ? std::prev(lru_.end()) : exited_.begin();
    const uint32_t tgid = *victim;
    lru_pos_.erase(tgid);
    entries_.erase(tgid);
    from.erase(victim);
    ++evictions_;
  }
}

size_t ProcessTable::approx_bytes() const {
  // Per entry: the map node, its LRU list node and its lru_pos_ node.
  constexpr size_t kPerEntry = sizeof(ProcessInfo) + sizeof(uint32_t) + 3 * util::kNodeOverhead +
                               sizeof(std::list<uint32_t>::iterator) + 2 * sizeof(uint32_t);
  size_t n = entries_.bucket_count() * sizeof(void*) + lru_pos_.bucket_count() * sizeof(void*);
  for (const auto& [tgid, p] : entries_) {
    n += kPerEntry + util::heap_bytes(p.comm) + util::heap_bytes(p.exe) + util::heap_bytes(p.args) +
         util::heap_bytes(p.cgroup_path) + util::heap_bytes(p.container.id) + util::heap_bytes(p.container.pod_uid) +
         util::heap_bytes(p.container.runtime);
  }
  return n;
}

}  // namespace rampart::pipeline
