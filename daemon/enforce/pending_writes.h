// Kernel map writes that failed, kept until they land. When the
// kernel refuses a verdict or a policy assignment (the map is full: E2BIG or
// ENOSPC; no memory: ENOMEM), rampartd does not forget what it wanted: the
// latest wanted value per (kind, process) waits here and is retried with
// backoff until it lands, the process exits, or a newer write for the same
// process lands first. A write is one whole map value, so the kernel holds
// the old value or the new one, never part of one; what is pending is
// reported (status, metrics, a "kernel_write" record) until it lands.
// Pure bookkeeping: the engine's Act stage does the writes (engine/act.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/rp_abi.h"

namespace rampart::enforce {

enum class WriteKind : uint8_t {
  kVerdict,     // verdict_map: the process's trust verdict (flags 0 clears)
  kAssignment,  // proc_policy_map: the policy that governs the process
};
const char* write_kind_map(WriteKind k);  // the map it goes to

struct PendingWrite {
  WriteKind kind = WriteKind::kVerdict;
  uint32_t tgid = 0;
  rp_verdict verdict{};   // kVerdict
  std::string policy;     // kAssignment: the policy's name, "" for none
  std::string why;        // who wanted it: "api quarantine", "score", "fork inheritance", "reload", ...
  std::string error;      // the last failure
  uint32_t attempts = 0;  // failed tries so far
  uint64_t first_ns = 0, next_ns = 0;
};

struct PendingCounters {
  uint64_t failed = 0;      // writes the kernel refused (first tries and retries)
  uint64_t recovered = 0;   // pending writes that landed on a retry
  uint64_t superseded = 0;  // pending writes made moot by a newer write that landed
  uint64_t abandoned = 0;   // the process exited before its write landed
  uint64_t overflow = 0;    // not kept: the pending set was full
};

class PendingWrites {
 public:
  static constexpr uint64_t kFirstRetryNs = 100'000'000;  // 100 ms, doubling
  static constexpr uint64_t kMaxRetryNs = 2'000'000'000;  // up to 2 s
  explicit PendingWrites(size_t limit = 65536) : limit_(limit) {}

  // A first try failed: keep `w` (replacing what was pending for its kind
  // and process, whose attempts it continues). False when the set is full
  // and `w` is new (counted as overflow).
  bool failed(PendingWrite w, uint64_t now_ns);
  // A write for (kind, tgid) landed outside the retries: nothing pending.
  void landed(WriteKind kind, uint32_t tgid);
  // What is due at now_ns, in retry order.
  std::vector<PendingWrite> due(uint64_t now_ns) const;
  // The outcome of retrying a due write: landed (erased, counted as
  // recovered), or failed again (backoff doubles).
  void retried(const PendingWrite& w, bool ok, const std::string& error, uint64_t now_ns);
  // The process is gone: whatever it was waiting for no longer matters.
  // Returns the writes abandoned.
  std::vector<PendingWrite> exited(uint32_t tgid);

  std::optional<uint64_t> next_due_ns() const;
  // When the oldest pending write first failed.
  std::optional<uint64_t> oldest_ns() const;
  // Whether anything is pending that `why` wanted.
  bool any_for(const std::string& why) const;
  const PendingWrite* find(WriteKind kind, uint32_t tgid) const;
  size_t size() const { return pending_.size(); }
  size_t limit() const { return limit_; }
  const PendingCounters& counters() const { return counters_; }

 private:
  using Key = std::pair<WriteKind, uint32_t>;
  static uint64_t backoff_ns(uint32_t attempts);
  std::map<Key, PendingWrite> pending_;
  size_t limit_;
  PendingCounters counters_;
};

}  // namespace rampart::enforce
