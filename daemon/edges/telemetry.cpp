// The daemon's counters and their renderings; see telemetry.h.
#include "edges/telemetry.h"

#include <map>

#include "ops/metrics.h"
#include "outputs/event_json.h"
#include "util/clock.h"

namespace rampart::edges {
namespace {

double boot_seconds() { return static_cast<double>(boot_now_ns()) / 1e9; }

const char* action_label(size_t a) {
  switch (a) {
    case RP_ACT_DENIED:
      return "denied";
    case RP_ACT_WOULD_DENY:
      return "would_deny";
    case RP_ACT_KILLED:
      return "killed";
    default:
      return "unknown";
  }
}

}  // namespace

Telemetry::Telemetry(TelemetrySources sources) : s_(std::move(sources)) { define(); }

void Telemetry::define() {
  using ops::Counters;
  using K = Counters::Kind;
  auto& c = counters_;
  // One read of the kernel's per-CPU stats map and of the state sizes per
  // rendering, shared by the counters below.
  c.on_read([this] {
    kernel_stats_ = s_.programs.read_stats();
    state_now_ = s_.overload.state_use();
  });
  auto one = [](auto v) { return Counters::one(Counters::Value(v)); };
  // Samples of one value per event type, labelled with the type's name.
  auto per_type = [](auto&& value) {
    std::vector<Counters::Sample> out;
    for (uint32_t t = 1; t < RP_EV_MAX; ++t) out.push_back({{sources::event_type_name(t)}, uint64_t{value(t)}});
    return out;
  };
  // A field of the kernel's per-type stats; no samples when they could not be read.
  auto kernel = [this, per_type](__u64 rp_stats::*member) {
    return [this, per_type, member]() -> std::vector<Counters::Sample> {
      if (!kernel_stats_) return {};
      return per_type([&](uint32_t t) { return (*kernel_stats_)[t].total.*member; });
    };
  };
  auto state = [this](uint64_t StateUse::*member) {
    return [this, member] {
      std::vector<Counters::Sample> out;
      for (const auto& u : state_now_) out.push_back({{u.name}, u.*member});
      return out;
    };
  };

  c.define({"build_info", "Version of rampartd and of its kernel event ABI.", K::kGauge, {"version", "abi"}}, [] {
    return std::vector<Counters::Sample>{{{RAMPART_VERSION, std::to_string(RP_ABI_VERSION)}, uint64_t{1}}};
  });
  c.define({"uptime_seconds", "Seconds since rampartd started its pipeline.", K::kGauge},
           [this, one] { return one(boot_seconds() - static_cast<double>(s_.started_ns) / 1e9); });

  // Events: what the kernel emitted, filtered out and dropped (ring buffer
  // full), per type, and what rampartd delivered to its output.
  c.define(
      {"events_total", "Events delivered to the output, by type.", K::kCounter, {"type"}, "events.<type>.delivered"},
      [this, per_type] { return per_type([this](uint32_t t) { return s_.engine.emit().delivered()[t]; }); });
  c.define({"events_excluded_total",
            "Events evaluated but not written out (events.exclude; one that cost trust is written), by type.",
            K::kCounter,
            {"type"},
            "events.<type>.excluded"},
           [this, per_type] { return per_type([this](uint32_t t) { return s_.engine.emit().excluded()[t]; }); });
  c.define({"kernel_events_emitted_total",
            "Events the BPF programs submitted, by type.",
            K::kCounter,
            {"type"},
            "events.<type>.emitted"},
           kernel(&rp_stats::emitted));
  c.define({"kernel_events_filtered_total",
            "Events the BPF programs skipped in the kernel, by type.",
            K::kCounter,
            {"type"},
            "events.<type>.filtered"},
           kernel(&rp_stats::filtered));
  c.define({"kernel_events_dropped_total",
            "Events lost because the ring buffer was full, by type.",
            K::kCounter,
            {"type"},
            "events.<type>.dropped"},
           kernel(&rp_stats::dropped));
  c.define({"kernel_errors_total",
            "BPF helper or map failures while building events, by type.",
            K::kCounter,
            {"type"},
            "events.<type>.errors"},
           kernel(&rp_stats::errors));
  c.define({"kernel_events_rate_limited_total",
            "Events not emitted because their process or cgroup was over its rate limit, by type.",
            K::kCounter,
            {"type"},
            "events.<type>.rate_limited"},
           kernel(&rp_stats::rate_limited));
  c.define({"kernel_events_dropped_per_cpu",
            "Events lost because the ring buffer was full, by type and CPU.",
            K::kCounter,
            {"type", "cpu"},
            "events.<type>.dropped_per_cpu[]",
            false},
           [this] {
             std::vector<Counters::Sample> out;
             if (!kernel_stats_) return out;
             for (uint32_t t = 1; t < RP_EV_MAX; ++t) {
               const auto& d = (*kernel_stats_)[t].dropped_per_cpu;
               for (size_t cpu = 0; cpu < d.size(); ++cpu)
                 out.push_back({{sources::event_type_name(t), std::to_string(cpu)}, d[cpu]});
             }
             return out;
           });
  c.define({"kubelet_fetches_total", "Pod lists fetched from the kubelet, by result.", K::kCounter, {"result"}},
           [this]() -> std::vector<Counters::Sample> {
             if (!s_.kubelet) return {};
             return {{{"ok"}, s_.kubelet->fetches_ok()}, {{"error"}, s_.kubelet->fetches_failed()}};
           });
  c.define({"kubelet_pods", "Pods in the kubelet's last list.", K::kGauge},
           [this, one]() -> std::vector<Counters::Sample> {
             if (!s_.kubelet) return {};
             return one(uint64_t{s_.engine.enrich().pods()->size()});
           });
  c.define({"kernel_events_dropped_by_cpu_total",
            "Events lost because the ring buffer was full, by CPU.",
            K::kCounter,
            {"cpu"}},
           [this] {
             std::vector<Counters::Sample> out;
             if (!kernel_stats_) return out;
             std::vector<uint64_t> per_cpu;
             for (uint32_t t = 1; t < RP_EV_MAX; ++t) {
               const auto& d = (*kernel_stats_)[t].dropped_per_cpu;
               if (per_cpu.size() < d.size()) per_cpu.resize(d.size());
               for (size_t cpu = 0; cpu < d.size(); ++cpu) per_cpu[cpu] += d[cpu];
             }
             for (size_t cpu = 0; cpu < per_cpu.size(); ++cpu) out.push_back({{std::to_string(cpu)}, per_cpu[cpu]});
             return out;
           });
  c.define({"events_received_total", "Records read from the ring buffer.", K::kCounter, {}, "received"},
           [this, one] { return one(s_.engine.received()); });
  c.define({"events_synthesized_total",
            "Enforce events rampartd made itself (fanotify answers, after-the-fact kills), not from the ring buffer.",
            K::kCounter,
            {},
            "synthesized"},
           [this, one] { return one(s_.engine.synthesized()); });
  c.define({"overload_alerts_total",
            "Overload records: a process lost events (ring buffer full or rate-limited).",
            K::kCounter,
            {},
            "overload.alerts"},
           [this, one] { return one(s_.overload.alerts()); });
  c.define({"overload_quarantines_total",
            "Processes quarantined by a fail-closed policy after losing events.",
            K::kCounter,
            {},
            "overload.quarantined"},
           [this, one] { return one(s_.overload.quarantines()); });
  c.define({"overload_quarantined_now",
            "Processes held in fail-closed quarantine now.",
            K::kGauge,
            {},
            "overload.quarantined_now",
            false},
           [this, one] { return one(uint64_t{s_.engine.act().overload_quarantine().size()}); });
  c.define({"decode_errors_total",
            "Kernel records rejected by the decoder, by reason.",
            K::kCounter,
            {"reason"},
            "decode_errors.<reason>"},
           [this] {
             std::vector<Counters::Sample> out;
             const auto& errors = s_.engine.decode_errors();
             for (size_t i = 0; i < errors.size(); ++i)
               out.push_back({{sources::decode_error_name(static_cast<sources::DecodeError>(i))}, errors[i]});
             return out;
           });

  // Verdicts and enforcement.
  c.define({"verdicts_total",
            "Trust verdicts (after rule hits), by the level they put the process at.",
            K::kCounter,
            {"level"}},
           [this] {
             std::vector<Counters::Sample> out;
             const auto& by_level = s_.engine.emit().verdicts_by_level();
             for (size_t l = 0; l < by_level.size(); ++l)
               out.push_back({{score::level_name(static_cast<score::Level>(l))}, by_level[l]});
             return out;
           });
  c.define({"verdicts_applied_total",
            "Verdicts written into the kernel's verdict map (enforce mode).",
            K::kCounter,
            {},
            "trust.verdicts_applied"},
           [this, one] { return one(s_.engine.act().verdicts_applied()); });
  c.define({"rule_hits_total", "Built-in rule and policy-violation hits.", K::kCounter, {}, "trust.rule_hits"},
           [this, one] { return one(s_.engine.score().rule_hits()); });
  c.define({"kills_total", "Processes rampartd sent SIGKILL.", K::kCounter, {}, "trust.kills"},
           [this, one] { return one(s_.engine.act().kills()); });
  c.define(
      {"enforcement_total",
       "Enforce events by mechanism and action (denied: refused; would_deny: audit mode; killed).",
       K::kCounter,
       {"mechanism", "action"}},
      [this] {
        std::vector<Counters::Sample> out;
        const auto& by_mech = s_.engine.emit().enforcement_by_mechanism();
        for (size_t mech = 1; mech < by_mech.size(); ++mech)
          for (size_t a = 1; a < by_mech[mech].size(); ++a)
            out.push_back({{outputs::mechanism_name(static_cast<uint8_t>(mech)), action_label(a)}, by_mech[mech][a]});
        return out;
      });
  c.define({"quarantine_packets_dropped_total",
            "Packets of existing sockets dropped because their owner is quarantined (cgroup skb hooks).",
            K::kCounter,
            {"direction"}},
           [this] {
             const auto d = s_.programs.quarantine_drops();
             return std::vector<Counters::Sample>{{{"send"}, d[0]}, {{"receive"}, d[1]}};
           });
  c.define(
      {"quarantine_sockets_taken_total",
       "Sockets a quarantined process held but did not make (inherited, passed, taken), made its own so "
       "that they are cut (taken), and those that could not be (failed).",
       K::kCounter,
       {"result"}},
      [this] {
        const auto& act = s_.engine.act();
        return std::vector<Counters::Sample>{{{"taken"}, act.sockets_taken()}, {{"failed"}, act.sockets_take_failed()}};
      });
  auto guard = [this](uint64_t (enforce::PermGuard::*read)() const) {
    return [this, read]() -> std::vector<Counters::Sample> {
      const auto* g = s_.guard ? s_.guard->current() : nullptr;
      if (!g) return {};
      return Counters::one((g->*read)());
    };
  };
  c.define(
      {"perm_guard_decisions_total", "fanotify permission events answered.", K::kCounter, {}, "perm_guard.decisions"},
      guard(&enforce::PermGuard::decisions));
  c.define({"perm_guard_denials_total",
            "fanotify permission events answered with EPERM.",
            K::kCounter,
            {},
            "perm_guard.denials"},
           guard(&enforce::PermGuard::denials));
  c.define({"perm_guard_deadline_expired_total",
            "fanotify permission events allowed because the decision deadline passed.",
            K::kCounter,
            {},
            "perm_guard.deadline_expired"},
           guard(&enforce::PermGuard::deadline_expired));
  c.define({"perm_guard_overflows_total", "fanotify queue overflows.", K::kCounter, {}, "perm_guard.overflows"},
           guard(&enforce::PermGuard::overflows));
  c.define({"perm_guard_cache_hits_total",
            "fanotify permission events answered from the decision cache.",
            K::kCounter,
            {},
            "perm_guard.cache_hits",
            false},
           guard(&enforce::PermGuard::cache_hits));
  c.define({"perm_guard_access_checks_total",
            "Access checks made for fanotify permission events.",
            K::kCounter,
            {},
            "perm_guard.access_checks",
            false},
           guard(&enforce::PermGuard::access_checks));
  c.define({"perm_guard_access_unknown_total",
            "Access checks that could not tell the access asked for.",
            K::kCounter,
            {},
            "perm_guard.access_unknown",
            false},
           guard(&enforce::PermGuard::access_unknown));
  c.define({"perm_guard_identity_denials_total",
            "Opens and execs refused by the file's identity or contents, not by the name they used.",
            K::kCounter,
            {},
            "perm_guard.identity_denials",
            false},
           guard(&enforce::PermGuard::identity_denials));
  c.define({"perm_guard_remarked_total",
            "Files renamed over, or created under the name of, a marked file, and marked in their turn.",
            K::kCounter,
            {},
            "perm_guard.remarked",
            false},
           guard(&enforce::PermGuard::remarked));
  c.define({"perm_guard_watch_failures_total",
            "Marked files whose directory could not be watched for a replacement, and watch queue overflows: a file "
            "renamed over one of them is not marked until a reload.",
            K::kCounter,
            {},
            "perm_guard.watch_failures",
            false},
           guard(&enforce::PermGuard::watch_failures));

  // Policies.
  c.define({"policies", "Policies loaded (the built-in default not counted).", K::kGauge},
           [this, one] { return one(uint64_t{s_.engine.policies().set().policies().size()}); });
  c.define(
      {"policy_generation", "Generation of the policy set in force: 1 at start, +1 per applied reload.", K::kGauge},
      [this, one] { return one(s_.engine.policies().generation()); });
  c.define({"policy_reloads_total", "Policy reloads (API, SIGHUP, inotify), by result.", K::kCounter, {"result"}},
           [this] {
             return std::vector<Counters::Sample>{{{"ok"}, s_.reloads.ok()}, {{"failed"}, s_.reloads.failed()}};
           });
  c.define({"profiles", "Learned profiles, by stage.", K::kGauge, {"stage"}}, [this] {
    std::map<std::string, uint64_t> by_stage{{"learning", 0}, {"shadow", 0}, {"enforce", 0}, {"audit", 0}};
    for (const auto& [_, st] : s_.engine.learner().profiles()) ++by_stage[learn::stage_name(st.profile.stage)];
    std::vector<Counters::Sample> out;
    for (const auto& [stage, n] : by_stage) out.push_back({{stage}, n});
    return out;
  });
  c.define({"profiles_rejected_total", "Profile files rejected as corrupt and set aside.", K::kCounter},
           [this, one] { return one(uint64_t{s_.engine.learner().rejected().size()}); });
  c.define({"profile_save_errors_total",
            "Failed profile writes (full disk, unwritable state_dir); the profile is kept and saved again later.",
            K::kCounter},
           [this, one] { return one(uint64_t{s_.engine.learner().save_errors()}); });
  c.define({"policy_assign_errors_total",
            "Failed writes of a process's policy into the kernel.",
            K::kCounter,
            {},
            "policy_assign_errors"},
           [this, one] { return one(s_.engine.act().policy_assign_errors()); });
  auto writes = [this](uint64_t enforce::PendingCounters::*member) {
    return [this, member] { return Counters::one(s_.engine.act().pending().counters().*member); };
  };
  c.define({"kernel_writes_failed_total",
            "Verdict and policy-assignment writes the kernel refused (a full map, no memory); each is retried.",
            K::kCounter},
           writes(&enforce::PendingCounters::failed));
  c.define({"kernel_writes_recovered_total", "Refused kernel writes that landed on a retry.", K::kCounter},
           writes(&enforce::PendingCounters::recovered));
  c.define({"kernel_writes_abandoned_total", "Refused kernel writes dropped because the process exited.", K::kCounter},
           writes(&enforce::PendingCounters::abandoned));
  c.define(
      {"kernel_writes_not_kept_total", "Refused kernel writes not retried: the pending set was full.", K::kCounter},
      writes(&enforce::PendingCounters::overflow));
  c.define({"kernel_writes_pending", "Kernel writes waiting for a retry now.", K::kGauge},
           [this, one] { return one(uint64_t{s_.engine.act().pending().size()}); });
  c.define({"policy_reload_retries_total", "Directory reloads retried after the kernel refused a write.", K::kCounter},
           [this, one] { return one(s_.reloads.retries()); });

  // State sizes.
  c.define({"process_table_size", "Processes in rampartd's process table.", K::kGauge, {}, "process_table.size"},
           [this, one] { return one(uint64_t{s_.engine.table().size()}); });
  c.define({"process_table_evictions_total",
            "Processes evicted from a full process table.",
            K::kCounter,
            {},
            "process_table.evictions"},
           [this, one] { return one(s_.engine.table().evictions()); });
  c.define({"trust_tracked_processes", "Processes with a trust score of their own.", K::kGauge, {}, "trust.tracked"},
           [this, one] { return one(uint64_t{s_.engine.score().trust().size()}); });
  c.define({"state_entries",
            "Entries in each bounded in-memory structure of rampartd.",
            K::kGauge,
            {"structure"},
            "state.<structure>.entries"},
           state(&StateUse::entries));
  c.define({"state_limit",
            "The configured limit of each structure (0: bounded by another).",
            K::kGauge,
            {"structure"},
            "state.<structure>.limit"},
           state(&StateUse::limit));
  c.define({"state_bytes",
            "Approximate heap bytes held by each structure.",
            K::kGauge,
            {"structure"},
            "state.<structure>.approx_bytes"},
           state(&StateUse::bytes));
  c.define({"state_evictions_total",
            "Entries evicted from each structure to keep it within its limit.",
            K::kCounter,
            {"structure"},
            "state.<structure>.evictions"},
           state(&StateUse::evictions));
  c.define({"ringbuf_used_bytes", "Bytes in the ring buffer not yet consumed by rampartd.", K::kGauge},
           [this, one]() -> std::vector<Counters::Sample> {
             if (!s_.ringbuf_fill) return {};
             return one(s_.ringbuf_fill->used());
           });
  c.define({"ringbuf_size_bytes", "Size of the kernel-to-rampartd ring buffer.", K::kGauge},
           [this, one]() -> std::vector<Counters::Sample> {
             if (!s_.ringbuf_fill) return {};
             return one(uint64_t{s_.ringbuf_fill->size()});
           });
  c.define({"output_bytes_written_total", "Bytes of JSON lines written.", K::kCounter, {}, "output.bytes_written"},
           [this, one] { return one(s_.engine.output().sink().bytes_written()); });
  c.define({"output_write_errors_total", "Failed writes of JSON lines.", K::kCounter, {}, "output.write_errors"},
           [this, one] { return one(s_.engine.output().sink().write_errors()); });
  c.define({"output_bytes_lost_total",
            "Bytes of JSON lines lost to failed writes.",
            K::kCounter,
            {},
            "output.bytes_lost",
            false},
           [this, one] { return one(s_.engine.output().sink().bytes_lost()); });
  c.define({"watchdog_pings_total", "systemd watchdog pings sent from the pipeline loop.", K::kCounter},
           [this, one]() -> std::vector<Counters::Sample> {
             if (!s_.watchdog) return {};
             return one(s_.watchdog->pings());
           });
}

std::string Telemetry::render_metrics() const {
  ops::MetricsText m;
  counters_.read().write_metrics(m);
  // Beside the registry: the latency histogram (buckets, not one value per
  // label set) and the daemon's own resources under the standard process_*
  // names (no "rampart_" prefix).
  m.family("verdict_latency_seconds", "histogram",
           "From the event's kernel timestamp to its verdict (to the kernel map write when there was one).");
  s_.engine.emit().verdict_latency().write(m);
  auto ps = ops::read_process_stats();
  m.standard_family("process_cpu_seconds_total", "counter", "User and system CPU time of rampartd, in seconds.");
  m.sample(ps.cpu_seconds);
  m.standard_family("process_resident_memory_bytes", "gauge", "Resident memory of rampartd.");
  m.sample(ps.resident_bytes);
  m.standard_family("process_virtual_memory_bytes", "gauge", "Virtual memory of rampartd.");
  m.sample(ps.virtual_bytes);
  m.standard_family("process_open_fds", "gauge", "Open file descriptors of rampartd.");
  m.sample(ps.open_fds);
  m.standard_family("process_start_time_seconds", "gauge", "Start time of rampartd since the Unix epoch.");
  m.sample(ps.start_time_seconds);
  return m.text();
}

void Telemetry::write_stats(engine::Output& o, const char* reason) const {
  outputs::JsonWriter w(o.buffer());
  uint64_t now = boot_now_ns();
  char time_buf[40];
  w.begin_object();
  w.field("v", outputs::kSchemaVersion);
  w.field("time", outputs::format_rfc3339(time_buf, static_cast<int64_t>(now) + o.boot_to_realtime_ns()));
  w.field("type", "stats").field("reason", reason);
  w.field("uptime_ns", now - s_.started_ns);
  counters_.read().write_json(w);
  if (!kernel_stats_) w.field("kernel_stats_error", kernel_stats_.error().what());
  w.end_object();
  o.buffer().push_back('\n');
}

}  // namespace rampart::edges
