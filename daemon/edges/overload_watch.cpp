// Overload and bounded state; see overload_watch.h.
#include "edges/overload_watch.h"

#include <signal.h>

#include "ops/log.h"
#include "outputs/json_writer.h"
#include "util/clock.h"
#include "util/memory.h"

namespace rampart::edges {
namespace {

const char* loss_reason(const rp_loss& l) {
  if (l.dropped && l.rate_limited) return "ring_buffer_full+rate_limited";
  return l.dropped ? "ring_buffer_full" : "rate_limited";
}

}  // namespace

void OverloadWatch::arm() {
  timer_.expires_after(std::chrono::milliseconds(cfg_.overload_check_ms));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    check();
    arm();
  });
}

void OverloadWatch::check() {
  auto losses = programs_.drain_losses();
  if (losses.empty()) return;
  // What was already in the ring buffer first: the process table then knows
  // the processes whose later events were lost.
  source_.drain();
  const uint64_t now = boot_now_ns();
  std::string summary;
  size_t listed = 0;
  for (const auto& l : losses) {
    if (l.tgid == 0) continue;
    // Gone by now: its policy assignment went with it, so no policy is named.
    const bool exited = ::kill(static_cast<pid_t>(l.tgid), 0) != 0 && errno == ESRCH;
    const policy::Policy& pol = engine_.policies().governing(l.tgid);
    const bool fail_closed = pol.mode == policy::Mode::kEnforce && pol.overload == policy::Overload::kFailClosed;
    std::string action = exited ? "exited" : "alert";
    if (fail_closed && !exited) {
      if (engine_.act().quarantine_held(l.tgid)) {
        action = "already_quarantined";
      } else {
        const rp_verdict kv = engine::kQuarantineVerdict;
        // Held either way: a refused write is retried until it lands.
        engine_.act().overload_quarantine().insert(l.tgid);
        ++quarantines_;
        if (engine_.act().write_verdict(l.tgid, kv, "fail-closed overload")) {
          engine_.act().count_applied();
          action = "quarantined";
        } else {
          action = "quarantine_pending";
        }
      }
    }
    ++alerts_;

    const auto* info = engine_.table().find(l.tgid);
    const std::string_view comm = sources::fixed_str(l.comm);
    auto& o = engine_.output();
    outputs::JsonWriter w(o.buffer());
    o.begin_record(w, now, "overload");
    w.field("reason", loss_reason(l));
    w.key("proc").begin_object();
    w.field("pid", l.tgid).field("tgid", l.tgid).field("comm", comm);
    if (info && !info->exe.empty()) w.field("exe", info->exe);
    w.field("cgroup_id", l.cgroup_id);
    w.end_object();
    w.field("dropped", l.dropped).field("rate_limited", l.rate_limited);
    w.key("lost_types").begin_array();
    for (uint32_t t = 1; t < RP_EV_MAX; ++t)
      if (l.types & (1u << t)) w.value(sources::event_type_name(t));
    w.end_array();
    w.field("first_boot_ns", l.first_ns).field("last_boot_ns", l.last_ns);
    if (!exited) {
      w.field("policy", pol.name).field("mode", policy::mode_name(pol.mode));
      w.field("overload", policy::overload_name(pol.overload));
    }
    w.field("action", action);
    w.end_object();
    o.buffer().push_back('\n');

    if (listed < 8 || action == "quarantined") {
      summary += (summary.empty() ? "" : "; ") + std::string("pid ") + std::to_string(l.tgid) + " (" +
                 std::string(comm) + ") " + std::to_string(l.dropped) + " dropped, " + std::to_string(l.rate_limited) +
                 " rate-limited" + (action == "alert" ? "" : ", " + action);
      ++listed;
    }
  }
  engine_.output().sink().flush();
  if (listed < losses.size()) summary += "; and " + std::to_string(losses.size() - listed) + " more";
  // A host in sustained overload must not also flood the log: one line a second.
  if (now - last_log_ns_ >= 1'000'000'000 || summary.find("quarantined") != std::string::npos) {
    ops::log_line("overload: events lost by " + std::to_string(losses.size()) + " processes: " + summary +
                  (log_suppressed_ ? " (" + std::to_string(log_suppressed_) + " earlier reports not logged)" : ""));
    last_log_ns_ = now;
    log_suppressed_ = 0;
  } else {
    ++log_suppressed_;
  }
}

std::vector<StateUse> OverloadWatch::state_use() const {
  const auto& cgroup_paths = engine_.enrich().cgroup_paths();
  size_t cgroup_bytes = cgroup_paths.bucket_count() * sizeof(void*);
  for (const auto& [id, path] : cgroup_paths)
    cgroup_bytes += sizeof(id) + sizeof(path) + util::kNodeOverhead + util::heap_bytes(path);
  const size_t seen = engine_.evaluate().history_entries();
  const auto& table = engine_.table();
  const auto& trust = engine_.score().trust();
  const auto& held = engine_.act().overload_quarantine();
  return {
      {"process_table", table.size(), table.limit(), table.approx_bytes(), table.evictions(),
       "exited processes first (after a 5 s grace), then least recently seen"},
      {"trust_scores", trust.size(), trust.limit(), trust.approx_bytes(), trust.evictions(),
       "forgotten at exit; when full, a process at baseline score, least recently touched first"},
      {"evidence", trust.evidence_entries(), uint64_t{trust.limit()} * cfg_.trust_max_evidence, 0,
       trust.evidence_dropped(), "per process, the oldest first (bytes are counted in trust_scores)"},
      {"stream_queues", hub_.queued(), hub_.capacity(), hub_.approx_bytes(), hub_.missed(),
       "per subscriber: a new event finding the queue full is not queued, and the gap is told to the client"},
      {"cgroup_paths", cgroup_paths.size(), 65536, cgroup_bytes, engine_.enrich().cgroup_path_resets(),
       "cleared when full, refilled on demand"},
      {"violation_history", seen, 0, seen * (sizeof(void*) + sizeof(uint64_t)), 0,
       "64 per process, the oldest first; forgotten at exit"},
      {"fail_closed_quarantine", held.size(), 0, held.size() * (sizeof(uint32_t) + util::kNodeOverhead), 0,
       "forgotten at exit or Release"},
  };
}

}  // namespace rampart::edges
