// Verdict and policy-assignment writes into the kernel maps, and what
// happens when the kernel refuses one (issue 8). Every per-process write
// goes through write_verdict or write_assignment. A refused write (a full
// map, no memory) is reported at once (a {"type":"kernel_write"} record with
// action "retrying", a log line at most once a second, counters in status
// and /metrics) and kept in PendingWrites, which retries it with backoff
// (100 ms doubling to 2 s) until it lands ("applied"), a newer write for the
// same process lands first, or the process exits ("abandoned"). A write is
// one whole map value: the kernel holds the process's old verdict or its
// new one, never a part, and the process is never left with none it had.
#include <signal.h>

#include <cerrno>

#include "daemon.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart {
namespace {

std::string describe_want(const enforce::PendingWrite& w) {
  if (w.kind == enforce::WriteKind::kAssignment) return w.policy.empty() ? "no policy" : "policy '" + w.policy + "'";
  if (w.verdict.flags == 0) return "no verdict";
  return std::string("verdict ") + score::level_name(static_cast<score::Level>(w.verdict.level));
}

}  // namespace

// The success path (every exec, every verdict) builds nothing: the record
// of what was wanted is made only when the kernel refuses it.
Result<void> Daemon::write_verdict(uint32_t tgid, const rp_verdict& kv, std::string_view why) {
  auto r = programs_->set_verdict(tgid, kv);
  if (r) return written(enforce::WriteKind::kVerdict, tgid);
  return refused({enforce::WriteKind::kVerdict, tgid, kv, {}, std::string(why)}, r);
}

Result<void> Daemon::write_assignment(uint32_t tgid, const std::string& policy, std::string_view why) {
  auto r = programs_->assign_process(tgid, policy.empty() ? 0 : policy_kernel_id(policy));
  if (r) return written(enforce::WriteKind::kAssignment, tgid);
  return refused({enforce::WriteKind::kAssignment, tgid, {}, policy, std::string(why)}, r);
}

Result<void> Daemon::written(enforce::WriteKind kind, uint32_t tgid) {
  if (pending_writes_.size()) pending_writes_.landed(kind, tgid);
  return {};
}

Result<void> Daemon::refused(enforce::PendingWrite w, const Result<void>& r) {
  w.error = r.error().what();
  write_failed(std::move(w));
  return r;
}

Result<void> Daemon::kernel_write(const enforce::PendingWrite& w) {
  if (w.kind == enforce::WriteKind::kVerdict) return programs_->set_verdict(w.tgid, w.verdict);
  return programs_->assign_process(w.tgid, w.policy.empty() ? 0 : policy_kernel_id(w.policy));
}

void Daemon::write_failed(enforce::PendingWrite w) {
  const uint64_t now = boot_now_ns();
  const bool first = pending_writes_.find(w.kind, w.tgid) == nullptr;
  last_write_error_ = w.error;
  const bool kept = pending_writes_.failed(w, now);
  if (first) write_record(w, kept ? "retrying" : "not_kept", now);
  log_write("kernel write failed: " + describe_want(w) + " for pid " + std::to_string(w.tgid) + " (" + w.why +
                "): " + w.error + "; " +
                (kept ? "retrying" : "NOT retried, " + std::to_string(pending_writes_.size()) + " writes already pending"),
            now);
  arm_write_retry();
}

void Daemon::log_write(const std::string& line, uint64_t now) {
  // A full map fails every write: one line a second, and how many were not logged.
  if (now - last_write_log_ns_ < 1'000'000'000) {
    ++write_log_suppressed_;
    return;
  }
  log(line + (write_log_suppressed_ ? " (" + std::to_string(write_log_suppressed_) + " similar lines not logged)" : ""));
  last_write_log_ns_ = now;
  write_log_suppressed_ = 0;
}

void Daemon::write_record(const enforce::PendingWrite& w, const char* action, uint64_t now) {
  std::string& out = sink_->buffer();
  outputs::JsonWriter j(out);
  begin_record(j, now, "kernel_write");
  j.field("map", enforce::write_kind_map(w.kind));
  j.key("proc").begin_object();
  j.field("pid", w.tgid);
  if (const auto* info = table_.find(w.tgid)) j.field("comm", info->comm).field("exe", info->exe);
  j.end_object();
  j.field("want", describe_want(w)).field("why", w.why).field("error", w.error);
  j.field("action", action).field("attempts", w.attempts);
  if (w.first_ns) j.field("pending_ms", (now - w.first_ns) / 1'000'000);
  j.end_object();
  out.push_back('\n');
  sink_->flush();
}

void Daemon::arm_write_retry() {
  auto next = pending_writes_.next_due_ns();
  if (!next) return;
  if (!write_retry_timer_) write_retry_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  if (write_retry_armed_ns_ && write_retry_armed_ns_ <= *next) return;  // an earlier wake-up is already set
  const uint64_t now = boot_now_ns();
  write_retry_armed_ns_ = *next;
  write_retry_timer_->expires_after(std::chrono::nanoseconds(*next > now ? *next - now : 0));
  write_retry_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    write_retry_armed_ns_ = 0;
    retry_writes();
  });
}

void Daemon::retry_writes() {
  const uint64_t now = boot_now_ns();
  for (const auto& w : pending_writes_.due(now)) {
    if (::kill(static_cast<pid_t>(w.tgid), 0) != 0 && errno == ESRCH) {
      for (const auto& gone : pending_writes_.exited(w.tgid)) write_record(gone, "abandoned", now);
      continue;
    }
    auto r = kernel_write(w);
    pending_writes_.retried(w, r.has_value(), r ? std::string() : r.error().what(), now);
    if (!r) {
      last_write_error_ = r.error().what();
      continue;
    }
    if (w.kind == enforce::WriteKind::kVerdict && w.verdict.flags) {
      ++verdicts_applied_;
      last_applied_ns_ = now;
    }
    auto landed = w;
    ++landed.attempts;
    write_record(landed, "applied", now);
    log("kernel write landed: " + describe_want(w) + " for pid " + std::to_string(w.tgid) + " (" + w.why +
        ") after " + std::to_string(landed.attempts) + " tries, " + std::to_string((now - w.first_ns) / 1'000'000) +
        " ms");
  }
  // Processes a reload could not move off the old bank keep its fanotify
  // guard until the last of them has moved (daemon_reload.cpp).
  if (straggler_guard_ && !pending_writes_.any_for("reload")) straggler_guard_.reset();
  arm_write_retry();
}

void Daemon::inherit_in_userspace(uint32_t parent, uint32_t child) {
  // The kernel could not copy the parent's entries to the child at fork (a
  // full map): rampartd writes them, and retries until they land.
  if (uint32_t id = programs_->policy_of(parent); id && programs_->policy_of(child) == 0) {
    const std::string name = id <= kernel_names_.size() ? kernel_names_[id - 1] : std::string();
    if (!name.empty()) (void)write_assignment(child, name, "fork inheritance");
  }
  if (auto v = programs_->verdict_of(parent); v && v->flags && !programs_->verdict_of(child))
    (void)write_verdict(child, *v, "fork inheritance");
}

}  // namespace rampart
