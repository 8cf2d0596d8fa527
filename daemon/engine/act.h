// The Act stage: everything that changes the kernel for one process. A
// verdict or a policy assignment is one map value (the kernel holds the old
// one or the new one, never a part); a write the kernel refuses (a full
// map, no memory) is reported at once (a {"type":"kernel_write"} record with
// action "retrying", a log line at most once a second, counters) and kept
// pending, retried with backoff until it lands ("applied"), a newer write
// for the same process lands first, or the process exits ("abandoned").
// Act also sends the kills, and holds the quarantines that a score cannot
// lift (put there by an operator or by a fail-closed policy). While a
// quarantine holds, Act makes the sockets the process holds but did not make
// (inherited, passed over SCM_RIGHTS, taken with pidfd_getfd) its own in the
// kernel, so that they are cut with its own: at once when the verdict lands,
// then every kSocketScanMs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "enforce/pending_writes.h"
#include "engine/kernel.h"
#include "engine/output.h"
#include "engine/policy_runtime.h"
#include "engine/work.h"
#include "pipeline/process_table.h"
#include "score/trust.h"

namespace rampart::engine {

// What the kernel maps hold for a trust level: the level and what it refuses
// (observe and alert: nothing, flags 0 clears).
constexpr rp_verdict kernel_verdict(score::Level level) {
  uint32_t flags = 0;
  if (level >= score::Level::kDeny) flags |= RP_V_DENY_EXEC | RP_V_DENY_FILES;
  if (level >= score::Level::kQuarantine) flags |= RP_V_DENY_NET;
  if (level >= score::Level::kKill) flags |= RP_V_KILL;
  return rp_verdict{static_cast<uint32_t>(level), flags};
}
// A quarantine held by an operator or a fail-closed policy.
inline constexpr rp_verdict kQuarantineVerdict = kernel_verdict(score::Level::kQuarantine);

// How often the sockets of quarantined processes are looked at again: the
// most a socket passed to one after its verdict goes uncut.
inline constexpr uint32_t kSocketScanMs = 500;

class Act {
 public:
  // synthesize: hands an enforce event rampartd made itself (an open killed
  // after the fact) back to the loop, to go down the stages like any event.
  using Synthesize = std::function<void(const rp_enforce_event&)>;
  Act(boost::asio::io_context& io, Kernel& kernel, const PolicyRuntime& policies, const pipeline::ProcessTable& table,
      Output& out, Synthesize synthesize);

  // The stage: the verdicts Score changed, kill rules, opens killed after the fact.
  void run(Work& w);
  // Mirrors a verdict whose level changed into the kernel (enforce mode only);
  // a kill verdict also kills. Returns the boot time it reached the map, 0 if not.
  uint64_t apply_verdict(const score::Verdict& v);

  // A process's verdict / policy assignment ("" for none) into the kernel.
  // `why` names who wanted it, in the record and the log.
  Result<void> write_verdict(uint32_t tgid, const rp_verdict& kv, std::string_view why);
  Result<void> write_assignment(uint32_t tgid, const std::string& policy, std::string_view why);
  // Puts an exec'd process under the policy that selects it, if any.
  void assign_selected(uint32_t tgid, const PolicyRuntime& policies);
  // A fork the kernel flagged RP_F_INHERIT_FAILED: the parent's entries, written from here.
  void inherit_in_userspace(uint32_t parent, uint32_t child);
  // Every fork: a child of a quarantined process has its sockets looked at too.
  void on_fork(uint32_t parent, uint32_t child);
  // start_ns: when the process started (0: as the process table has it), so
  // that a pid taken by another process since is not killed.
  bool kill(uint32_t tgid, uint64_t start_ns = 0);

  // Quarantines a score cannot lift: by an operator (API) or a fail-closed policy.
  std::unordered_set<uint32_t>& manual_quarantine() { return manual_; }
  std::unordered_set<uint32_t>& overload_quarantine() { return overload_; }
  const std::unordered_set<uint32_t>& manual_quarantine() const { return manual_; }
  const std::unordered_set<uint32_t>& overload_quarantine() const { return overload_; }
  bool quarantine_held(uint32_t tgid) const { return manual_.count(tgid) || overload_.count(tgid); }

  // At exit: the process's pending writes go ("abandoned"), its holds too.
  void forget(uint32_t tgid, uint64_t now);

  // At start: the quarantines the kernel already holds (pinned by a
  // previous rampartd) get their sockets looked at like new ones.
  void adopt_quarantines();
  // Sockets made a quarantined process's own, and those that could not be.
  uint64_t sockets_taken() const { return sockets_taken_; }
  uint64_t sockets_take_failed() const { return sockets_take_failed_; }

  const enforce::PendingWrites& pending() const { return pending_; }
  const std::string& last_write_error() const { return last_write_error_; }
  uint64_t verdicts_applied() const { return verdicts_applied_; }
  uint64_t kills() const { return kills_; }
  uint64_t policy_assign_errors() const { return policy_errors_; }
  void count_applied() { ++verdicts_applied_; }
  // Called after each retry round (the reload keeps its old fanotify guard
  // while processes it could not move are pending).
  void on_retry_round(std::function<void()> f) { after_retries_ = std::move(f); }

 private:
  Result<void> written(enforce::WriteKind kind, uint32_t tgid);
  Result<void> refused(enforce::PendingWrite w, const Result<void>& r);
  Result<void> kernel_write(const enforce::PendingWrite& w);
  void write_failed(enforce::PendingWrite w);
  void write_record(const enforce::PendingWrite& w, const char* action, uint64_t now);
  void log_write(const std::string& line, uint64_t now);
  void arm_retry();
  void retry_writes();
  void after_the_fact(const rp_enforce_event& e);
  // A forbidden PTRACE_ATTACH that succeeded (no hooks): its tracer is killed
  // at the syscall's exit, and its target, stopped by the attach, is
  // continued once the tracer is gone.
  void continue_ptrace_target(const rp_syscall_event& e);
  void continue_when_stopped(uint32_t target, int tries_left);
  void take_sockets(uint32_t tgid, uint64_t now);
  // A verdict denying the network landed: its sockets now, and the scan set going.
  void quarantine_landed(uint32_t tgid, uint64_t now);
  // One pass over the sockets of every quarantined process; it comes round
  // again every kSocketScanMs while one is.
  void scan_sockets();
  void arm_socket_scan();

  boost::asio::io_context& io_;
  Kernel& kernel_;
  const PolicyRuntime& policies_;
  const pipeline::ProcessTable& table_;
  Output& out_;
  Synthesize synthesize_;
  std::unordered_set<uint32_t> manual_, overload_;
  enforce::PendingWrites pending_;
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;
  uint64_t retry_armed_ns_ = 0;  // when the timer fires, 0 if not armed
  uint64_t last_write_log_ns_ = 0, write_log_suppressed_ = 0;
  std::string last_write_error_;
  uint64_t verdicts_applied_ = 0, kills_ = 0, policy_errors_ = 0, ptrace_targets_continued_ = 0;
  std::unordered_set<uint32_t> ptrace_killed_;  // threads killed for a ptrace whose record is yet to come
  std::function<void()> after_retries_;
  // Quarantined processes (by rampartd's writes, and children forked under one).
  std::unordered_set<uint32_t> net_denied_;
  // Per quarantined process, the socket inodes already settled.
  std::unordered_map<uint32_t, std::unordered_set<uint64_t>> sockets_seen_;
  std::unique_ptr<boost::asio::steady_timer> scan_timer_;
  bool scan_armed_ = false;
  uint64_t sockets_taken_ = 0, sockets_take_failed_ = 0;
};

}  // namespace rampart::engine
