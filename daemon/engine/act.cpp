// The Act stage; see act.h.
#include "engine/act.h"

#include <boost/asio/post.hpp>
#include <chrono>

#include "ops/log.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart::engine {
namespace {

std::string describe_want(const enforce::PendingWrite& w) {
  if (w.kind == enforce::WriteKind::kAssignment) return w.policy.empty() ? "no policy" : "policy '" + w.policy + "'";
  if (w.verdict.flags == 0) return "no verdict";
  return std::string("verdict ") + score::level_name(static_cast<score::Level>(w.verdict.level));
}

}  // namespace

Act::Act(boost::asio::io_context& io, Kernel& kernel, const PolicyRuntime& policies,
         const pipeline::ProcessTable& table, Output& out, Synthesize synthesize)
    : io_(io), kernel_(kernel), policies_(policies), table_(table), out_(out), synthesize_(std::move(synthesize)) {}

void Act::run(Work& w) {
  for (const auto& v : w.changed)
    if (uint64_t at = apply_verdict(v)) w.verdict_applied_ns = at;
  // A cgroup hook or fanotify refused it; a kill rule also ends the process.
  if (w.kill_for_rule && kill(w.ev.proc().tgid, w.ev.proc().start_ns)) w.killed_by_rule = true;
  if (w.after_the_fact) after_the_fact(*w.after_the_fact);
  // The kill of a forbidden ptrace is reported just before its syscall record.
  if (w.ev.type() == RP_EV_ENFORCE) {
    const auto& e = w.ev.as<rp_enforce_event>();
    if (e.op == RP_EV_PTRACE && e.action == RP_ACT_KILLED && e.mechanism == RP_MECH_SIGKILL) {
      if (ptrace_killed_.size() >= 1024) ptrace_killed_.clear();
      ptrace_killed_.insert(e.proc.pid);
    }
  }
  if (w.ev.type() == RP_EV_PTRACE) continue_ptrace_target(w.ev.as<rp_syscall_event>());
}

void Act::continue_ptrace_target(const rp_syscall_event& e) {
  constexpr uint64_t kAttach = 16;                // PTRACE_ATTACH; PTRACE_SEIZE stops nothing
  if (!ptrace_killed_.erase(e.proc.pid)) return;  // not killed for it (allowed, audit, or refused by a hook)
  if (e.args[0] != kAttach || e.result != 0 || e.args[1] == 0 || e.args[1] > UINT32_MAX) return;
  // The tracer dies on its way back to user space; its exit detaches the
  // target, which stays stopped. Looked at until then, for up to 2 s.
  continue_when_stopped(static_cast<uint32_t>(e.args[1]), 40);
}

void Act::continue_when_stopped(uint32_t target, int tries_left) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(50));
  timer->async_wait([this, timer, target, tries_left](const boost::system::error_code& ec) {
    if (ec) return;
    if (kernel_.continue_stopped(target)) {
      ++ptrace_targets_continued_;
      ops::log_line("continued pid " + std::to_string(target) +
                    ", stopped by a forbidden ptrace attach whose tracer was killed");
    } else if (tries_left > 1) {
      continue_when_stopped(target, tries_left - 1);
    }
  });
}

uint64_t Act::apply_verdict(const score::Verdict& v) {
  // A manual (API) or fail-closed quarantine holds until Release, whatever the score says.
  if (v.level < score::Level::kQuarantine && quarantine_held(v.tgid)) return 0;
  const policy::Policy& p = policies_.governing(v.tgid);
  if (p.mode != policy::Mode::kEnforce) return 0;  // audit and learn report, never act
  // A refused write is reported and retried; a kill does not need the map,
  // so it happens either way.
  uint64_t at = 0;
  if (write_verdict(v.tgid, kernel_verdict(v.level), "score")) {
    ++verdicts_applied_;
    at = boot_now_ns();
  }
  if (v.level == score::Level::kKill) kill(v.tgid);
  return at;
}

bool Act::kill(uint32_t tgid, uint64_t start_ns) {
  if (!start_ns)
    if (const auto* info = table_.find(tgid)) start_ns = info->start_ns;
  if (!kernel_.kill(tgid, start_ns)) return false;
  ++kills_;
  return true;
}

void Act::after_the_fact(const rp_enforce_event& e) {
  rp_enforce_event ev = e;
  if (ev.action == RP_ACT_KILLED) kill(ev.proc.tgid, ev.proc.start_ns);
  // Posted, not handled here: it goes down the stages after this event.
  boost::asio::post(io_, [this, ev] { synthesize_(ev); });
}

void Act::assign_selected(uint32_t tgid, const PolicyRuntime& policies) {
  const auto* info = table_.find(tgid);
  if (!info || policies.set().policies().empty()) return;
  const policy::Policy& p = policies.select(*info);
  // The default governs nothing explicitly: a process keeps what it inherited.
  if (p.builtin) return;
  if (auto r = write_assignment(tgid, p.name, "selector"); !r) ++policy_errors_;  // reported and retried
}

// The success path (every exec, every verdict) builds nothing: the record
// of what was wanted is made only when the kernel refuses it.
Result<void> Act::write_verdict(uint32_t tgid, const rp_verdict& kv, std::string_view why) {
  auto r = kernel_.set_verdict(tgid, kv);
  if (r) {
    if (kv.flags & RP_V_DENY_NET)
      quarantine_landed(tgid, boot_now_ns());
    else
      net_denied_.erase(tgid);
    return written(enforce::WriteKind::kVerdict, tgid);
  }
  return refused({enforce::WriteKind::kVerdict, tgid, kv, {}, std::string(why)}, r);
}

Result<void> Act::write_assignment(uint32_t tgid, const std::string& policy, std::string_view why) {
  auto r = kernel_.assign_process(tgid, policy.empty() ? 0 : policies_.kernel_id(policy));
  if (r) return written(enforce::WriteKind::kAssignment, tgid);
  return refused({enforce::WriteKind::kAssignment, tgid, {}, policy, std::string(why)}, r);
}

Result<void> Act::written(enforce::WriteKind kind, uint32_t tgid) {
  if (pending_.size()) pending_.landed(kind, tgid);
  return {};
}

Result<void> Act::refused(enforce::PendingWrite w, const Result<void>& r) {
  w.error = r.error().what();
  write_failed(std::move(w));
  return r;
}

Result<void> Act::kernel_write(const enforce::PendingWrite& w) {
  if (w.kind == enforce::WriteKind::kVerdict) return kernel_.set_verdict(w.tgid, w.verdict);
  return kernel_.assign_process(w.tgid, w.policy.empty() ? 0 : policies_.kernel_id(w.policy));
}

void Act::write_failed(enforce::PendingWrite w) {
  const uint64_t now = boot_now_ns();
  const bool first = pending_.find(w.kind, w.tgid) == nullptr;
  last_write_error_ = w.error;
  const bool kept = pending_.failed(w, now);
  if (first) write_record(w, kept ? "retrying" : "not_kept", now);
  log_write("kernel write failed: " + describe_want(w) + " for pid " + std::to_string(w.tgid) + " (" + w.why +
                "): " + w.error + "; " +
                (kept ? "retrying" : "NOT retried, " + std::to_string(pending_.size()) + " writes already pending"),
            now);
  arm_retry();
}

void Act::log_write(const std::string& line, uint64_t now) {
  // A full map fails every write: one line a second, and how many were not logged.
  if (now - last_write_log_ns_ < 1'000'000'000) {
    ++write_log_suppressed_;
    return;
  }
  ops::log_line(line + (write_log_suppressed_
                            ? " (" + std::to_string(write_log_suppressed_) + " similar lines not logged)"
                            : ""));
  last_write_log_ns_ = now;
  write_log_suppressed_ = 0;
}

void Act::write_record(const enforce::PendingWrite& w, const char* action, uint64_t now) {
  outputs::JsonWriter j(out_.buffer());
  out_.begin_record(j, now, "kernel_write");
  j.field("map", enforce::write_kind_map(w.kind));
  j.key("proc").begin_object();
  j.field("pid", w.tgid);
  if (const auto* info = table_.find(w.tgid)) j.field("comm", info->comm).field("exe", info->exe);
  j.end_object();
  j.field("want", describe_want(w)).field("why", w.why).field("error", w.error);
  j.field("action", action).field("attempts", w.attempts);
  if (w.first_ns) j.field("pending_ms", (now - w.first_ns) / 1'000'000);
  out_.end_record(j);
}

void Act::arm_retry() {
  auto next = pending_.next_due_ns();
  if (!next) return;
  if (!retry_timer_) retry_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  if (retry_armed_ns_ && retry_armed_ns_ <= *next) return;  // an earlier wake-up is already set
  const uint64_t now = boot_now_ns();
  retry_armed_ns_ = *next;
  retry_timer_->expires_after(std::chrono::nanoseconds(*next > now ? *next - now : 0));
  retry_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    retry_armed_ns_ = 0;
    retry_writes();
  });
}

void Act::retry_writes() {
  const uint64_t now = boot_now_ns();
  for (const auto& w : pending_.due(now)) {
    if (!kernel_.alive(w.tgid)) {
      for (const auto& gone : pending_.exited(w.tgid)) write_record(gone, "abandoned", now);
      continue;
    }
    auto r = kernel_write(w);
    pending_.retried(w, r.has_value(), r ? std::string() : r.error().what(), now);
    if (!r) {
      last_write_error_ = r.error().what();
      continue;
    }
    if (w.kind == enforce::WriteKind::kVerdict && w.verdict.flags) ++verdicts_applied_;
    if (w.kind == enforce::WriteKind::kVerdict && (w.verdict.flags & RP_V_DENY_NET)) quarantine_landed(w.tgid, now);
    auto landed = w;
    ++landed.attempts;
    write_record(landed, "applied", now);
    ops::log_line("kernel write landed: " + describe_want(w) + " for pid " + std::to_string(w.tgid) + " (" + w.why +
                  ") after " + std::to_string(landed.attempts) + " tries, " +
                  std::to_string((now - w.first_ns) / 1'000'000) + " ms");
  }
  if (after_retries_) after_retries_();
  arm_retry();
}

void Act::inherit_in_userspace(uint32_t parent, uint32_t child) {
  // The kernel could not copy the parent's entries to the child at fork (a
  // full map): rampartd writes them, and retries until they land.
  if (uint32_t id = kernel_.policy_of(parent); id && kernel_.policy_of(child) == 0) {
    const auto& names = policies_.kernel_names();
    const std::string name = id <= names.size() ? names[id - 1] : std::string();
    if (!name.empty()) (void)write_assignment(child, name, "fork inheritance");
  }
  if (auto v = kernel_.verdict_of(parent); v && v->flags && !kernel_.verdict_of(child))
    (void)write_verdict(child, *v, "fork inheritance");
}

void Act::forget(uint32_t tgid, uint64_t now) {
  manual_.erase(tgid);
  overload_.erase(tgid);
  sockets_seen_.erase(tgid);
  net_denied_.erase(tgid);
  if (pending_.size())
    for (const auto& w : pending_.exited(tgid)) write_record(w, "abandoned", now);
}

// The owner recorded for a socket names the quarantined process as events
// show a process: from the process table, or its pid alone.
void Act::take_sockets(uint32_t tgid, uint64_t now) {
  rp_proc owner{};
  owner.pid = owner.tgid = tgid;
  if (const auto* info = table_.find(tgid)) {
    owner.ppid = info->ppid;
    owner.uid = info->uid;
    owner.euid = info->euid;
    owner.cgroup_id = info->cgroup_id;
    owner.start_ns = info->start_ns;
    info->comm.copy(owner.comm, sizeof(owner.comm) - 1);
  }
  const SocketTake r = kernel_.take_sockets(tgid, owner, sockets_seen_[tgid]);
  sockets_taken_ += r.taken;
  sockets_take_failed_ += r.failed;
  if (r.failed)
    log_write("quarantine: " + std::to_string(r.failed) + " socket(s) of pid " + std::to_string(tgid) +
                  " that it did not make are NOT cut (" + r.error + "); tried again in " +
                  std::to_string(kSocketScanMs) + " ms",
              now);
}

void Act::quarantine_landed(uint32_t tgid, uint64_t now) {
  net_denied_.insert(tgid);
  take_sockets(tgid, now);
  arm_socket_scan();
}

void Act::adopt_quarantines() {
  for (uint32_t tgid : kernel_.net_denied()) net_denied_.insert(tgid);
  scan_sockets();
}

void Act::on_fork(uint32_t parent, uint32_t child) {
  if (net_denied_.count(parent)) net_denied_.insert(child);  // the kernel copied the verdict
}

// The processes looked at: those whose quarantine rampartd wrote, and the
// children forked under one. Each is checked against the verdict map: one
// lookup per process, however full the map is.
void Act::scan_sockets() {
  for (auto it = net_denied_.begin(); it != net_denied_.end();) {
    auto v = kernel_.verdict_of(*it);
    it = v && (v->flags & RP_V_DENY_NET) ? std::next(it) : net_denied_.erase(it);
  }
  for (auto it = sockets_seen_.begin(); it != sockets_seen_.end();)
    it = net_denied_.count(it->first) ? std::next(it) : sockets_seen_.erase(it);
  const uint64_t now = boot_now_ns();
  for (uint32_t tgid : net_denied_) take_sockets(tgid, now);
  if (!net_denied_.empty()) arm_socket_scan();
}

void Act::arm_socket_scan() {
  if (scan_armed_) return;
  if (!scan_timer_) scan_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  scan_armed_ = true;
  scan_timer_->expires_after(std::chrono::milliseconds(kSocketScanMs));
  scan_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    scan_armed_ = false;
    scan_sockets();
  });
}

}  // namespace rampart::engine
