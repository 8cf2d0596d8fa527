// Operations for the daemon (issue 7): the Prometheus /metrics and /healthz
// endpoint on the pipeline's loop, systemd readiness and watchdog pings,
// and the counters the pipeline bumps for them. Everything here runs on the
// loop thread, so it reads the daemon's state without locks; a scrape reads
// the kernel's per-CPU stats map, the events path only bumps array slots.
#include <time.h>

#include <boost/asio/post.hpp>

#include "daemon.h"
#include "ops/log.h"
#include "outputs/event_json.h"
#include "util/clock.h"

namespace rampart {
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

void Daemon::start_ops() {
  ringbuf_fill_ = ops::RingbufFill::open(programs_->ringbuf_fd(), static_cast<size_t>(opts_.config.ringbuf_bytes()));
  if (!opts_.config.metrics_address.empty()) {
    auto server = ops::HttpServer::start(io_, opts_.config.metrics_address,
                                         [this](const std::string& path) { return serve_http(path); });
    if (server) {
      http_ = std::move(*server);
      log("metrics on http://" + http_->local_address() + "/metrics (health: /healthz)");
    } else {
      // Protection goes on without its metrics: a taken port must not stop it.
      log("warning: metrics endpoint off: " + server.error().what());
    }
  }
  if (const auto& c = opts_.config; !c.kubelet_url.empty()) {
    k8s::KubeletConfig kc{c.kubelet_url, c.kubelet_token_file, c.kubelet_ca_file, c.kubelet_insecure_skip_tls_verify,
                          c.kubelet_refresh_s};
    kubelet_ = std::make_unique<k8s::KubeletPods>(
        kc,
        [this](k8s::PodMap pods) {
          boost::asio::post(io_, [this, pods = std::move(pods)]() mutable { engine_->enrich().set_pods(std::move(pods)); });
        },
        [this](const std::string& m) { boost::asio::post(io_, [this, m] { log(m); }); });
    engine_->enrich().on_unknown_pod([this] {
      if (kubelet_) kubelet_->refresh_soon();
    });
  }
  watchdog_ = std::make_unique<ops::Watchdog>(io_);
  auto interval = watchdog_->start();
  if (interval.count())
    log("systemd watchdog: pinging every " + std::to_string(interval.count() / 1000) + " ms from the pipeline loop");
  if (ops::under_notify_socket())
    ops::notify_ready("attached " + std::to_string(programs_->attached().size()) + " programs; " +
                      std::to_string(policies().set().policies().size()) + " policies");
}

void Daemon::stop_ops() {
  ops::notify_stopping();
  if (watchdog_) watchdog_->stop();
  if (http_) http_->stop();
  kubelet_.reset();  // joins its thread
}

ops::HttpResponse Daemon::serve_http(const std::string& path) {
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics()};
  // Served from the pipeline loop: an answer means the loop turns and the
  // programs are attached; a stuck loop times the probe out.
  if (path == "/healthz" || path == "/readyz") {
    if (programs_ && source_) return {200, "text/plain; charset=utf-8", "ok\n"};
    return {503, "text/plain; charset=utf-8", "not ready\n"};
  }
  if (path == "/") return {200, "text/plain; charset=utf-8", "rampartd: /metrics /healthz\n"};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

std::string Daemon::render_metrics() {
  ops::MetricsText m;
  m.family("build_info", "gauge", "Version of rampartd and of its kernel event ABI.");
  m.sample(uint64_t{1}, {{"version", RAMPART_VERSION}, {"abi", std::to_string(RP_ABI_VERSION)}});
  m.family("uptime_seconds", "gauge", "Seconds since rampartd started its pipeline.");
  m.sample(boot_seconds() - static_cast<double>(started_ns_) / 1e9);

  // Events: what the kernel emitted, filtered out and dropped (ring buffer
  // full), per type, and what rampartd delivered to its output.
  auto stats = programs_->read_stats();
  m.family("events_total", "counter", "Events delivered to the output, by type.");
  for (uint32_t t = 1; t < RP_EV_MAX; ++t) m.sample(engine_->emit().delivered()[t], {{"type", sources::event_type_name(t)}});
  if (stats) {
    struct Field {
      const char* name;
      const char* help;
      __u64 rp_stats::*member;
    };
    for (auto f : {Field{"kernel_events_emitted_total", "Events the BPF programs submitted, by type.",
                         &rp_stats::emitted},
                   Field{"kernel_events_filtered_total", "Events the BPF programs skipped in the kernel, by type.",
                         &rp_stats::filtered},
                   Field{"kernel_events_dropped_total", "Events lost because the ring buffer was full, by type.",
                         &rp_stats::dropped},
                   Field{"kernel_errors_total", "BPF helper or map failures while building events, by type.",
                         &rp_stats::errors},
                   Field{"kernel_events_rate_limited_total",
                         "Events not emitted because their process or cgroup was over its rate limit, by type.",
                         &rp_stats::rate_limited}}) {
      m.family(f.name, "counter", f.help);
      for (uint32_t t = 1; t < RP_EV_MAX; ++t)
        m.sample(uint64_t{(*stats)[t].total.*f.member}, {{"type", sources::event_type_name(t)}});
    }
  }
  if (kubelet_) {
    m.family("kubelet_fetches_total", "counter", "Pod lists fetched from the kubelet, by result.");
    m.sample(kubelet_->fetches_ok(), {{"result", "ok"}});
    m.sample(kubelet_->fetches_failed(), {{"result", "error"}});
    m.family("kubelet_pods", "gauge", "Pods in the kubelet's last list.");
    m.sample(uint64_t{engine_->enrich().pods()->size()});
  }
  if (stats) {
    std::vector<uint64_t> per_cpu;
    for (uint32_t t = 1; t < RP_EV_MAX; ++t) {
      const auto& d = (*stats)[t].dropped_per_cpu;
      if (per_cpu.size() < d.size()) per_cpu.resize(d.size());
      for (size_t c = 0; c < d.size(); ++c) per_cpu[c] += d[c];
    }
    m.family("kernel_events_dropped_by_cpu_total", "counter", "Events lost because the ring buffer was full, by CPU.");
    for (size_t c = 0; c < per_cpu.size(); ++c) m.sample(per_cpu[c], {{"cpu", std::to_string(c)}});
  }
  m.family("events_received_total", "counter", "Records read from the ring buffer.");
  m.sample(engine_->received());
  m.family("events_synthesized_total", "counter",
           "Enforce events rampartd made itself (fanotify answers, after-the-fact kills), not from the ring buffer.");
  m.sample(engine_->synthesized());
  m.family("overload_alerts_total", "counter", "Overload records: a process lost events (ring buffer full or rate-limited).");
  m.sample(overload_alerts_);
  m.family("overload_quarantines_total", "counter", "Processes quarantined by a fail-closed policy after losing events.");
  m.sample(overload_quarantines_);
  m.family("decode_errors_total", "counter", "Kernel records rejected by the decoder, by reason.");
  for (size_t i = 0; i < engine_->decode_errors().size(); ++i)
    m.sample(engine_->decode_errors()[i], {{"reason", sources::decode_error_name(static_cast<sources::DecodeError>(i))}});

  // Verdicts and enforcement.
  m.family("verdicts_total", "counter", "Trust verdicts (after rule hits), by the level they put the process at.");
  for (size_t l = 0; l < engine_->emit().verdicts_by_level().size(); ++l)
    m.sample(engine_->emit().verdicts_by_level()[l], {{"level", score::level_name(static_cast<score::Level>(l))}});
  m.family("verdicts_applied_total", "counter", "Verdicts written into the kernel's verdict map (enforce mode).");
  m.sample(engine_->act().verdicts_applied());
  m.family("rule_hits_total", "counter", "Built-in rule and policy-violation hits.");
  m.sample(engine_->score().rule_hits());
  m.family("kills_total", "counter", "Processes rampartd sent SIGKILL.");
  m.sample(engine_->act().kills());
  m.family("enforcement_total", "counter",
           "Enforce events by mechanism and action (denied: refused; would_deny: audit mode; killed).");
  for (size_t mech = 1; mech < engine_->emit().enforcement_by_mechanism().size(); ++mech)
    for (size_t a = 1; a < engine_->emit().enforcement_by_mechanism()[mech].size(); ++a)
      m.sample(engine_->emit().enforcement_by_mechanism()[mech][a],
               {{"mechanism", outputs::mechanism_name(static_cast<uint8_t>(mech))}, {"action", action_label(a)}});
  m.family("verdict_latency_seconds", "histogram",
           "From the event's kernel timestamp to its verdict (to the kernel map write when there was one).");
  engine_->emit().verdict_latency().write(m);
  if (const auto* perm_guard_ = guard_ ? guard_->current() : nullptr) {
    m.family("perm_guard_decisions_total", "counter", "fanotify permission events answered.");
    m.sample(perm_guard_->decisions());
    m.family("perm_guard_denials_total", "counter", "fanotify permission events answered with EPERM.");
    m.sample(perm_guard_->denials());
    m.family("perm_guard_deadline_expired_total", "counter",
             "fanotify permission events allowed because the decision deadline passed.");
    m.sample(perm_guard_->deadline_expired());
    m.family("perm_guard_overflows_total", "counter", "fanotify queue overflows.");
    m.sample(perm_guard_->overflows());
  }

  // Policies.
  m.family("policies", "gauge", "Policies loaded (the built-in default not counted).");
  m.sample(uint64_t{policies().set().policies().size()});
  m.family("policy_generation", "gauge", "Generation of the policy set in force: 1 at start, +1 per applied reload.");
  m.sample(policies().generation());
  m.family("policy_reloads_total", "counter", "Policy reloads (API, SIGHUP, inotify), by result.");
  m.sample(reloads_ok_, {{"result", "ok"}});
  m.sample(reloads_failed_, {{"result", "failed"}});
  m.family("profiles", "gauge", "Learned profiles, by stage.");
  std::map<std::string, uint64_t> by_stage{{"learning", 0}, {"shadow", 0}, {"enforce", 0}, {"audit", 0}};
  for (const auto& [_, st] : engine_->learner().profiles()) ++by_stage[learn::stage_name(st.profile.stage)];
  for (const auto& [stage, n] : by_stage) m.sample(n, {{"stage", stage}});
  m.family("profiles_rejected_total", "counter", "Profile files rejected as corrupt and set aside.");
  m.sample(static_cast<uint64_t>(engine_->learner().rejected().size()));
  m.family("profile_save_errors_total", "counter",
           "Failed profile writes (full disk, unwritable state_dir); the profile is kept and saved again later.");
  m.sample(static_cast<uint64_t>(engine_->learner().save_errors()));
  m.family("policy_assign_errors_total", "counter", "Failed writes of a process's policy into the kernel.");
  m.sample(engine_->act().policy_assign_errors());
  const auto& kw = engine_->act().pending().counters();
  m.family("kernel_writes_failed_total", "counter",
           "Verdict and policy-assignment writes the kernel refused (a full map, no memory); each is retried.");
  m.sample(kw.failed);
  m.family("kernel_writes_recovered_total", "counter", "Refused kernel writes that landed on a retry.");
  m.sample(kw.recovered);
  m.family("kernel_writes_abandoned_total", "counter", "Refused kernel writes dropped because the process exited.");
  m.sample(kw.abandoned);
  m.family("kernel_writes_not_kept_total", "counter", "Refused kernel writes not retried: the pending set was full.");
  m.sample(kw.overflow);
  m.family("kernel_writes_pending", "gauge", "Kernel writes waiting for a retry now.");
  m.sample(uint64_t{engine_->act().pending().size()});
  m.family("policy_reload_retries_total", "counter", "Directory reloads retried after the kernel refused a write.");
  m.sample(reload_retries_);

  // State sizes.
  m.family("process_table_size", "gauge", "Processes in rampartd's process table.");
  m.sample(uint64_t{engine_->table().size()});
  m.family("process_table_evictions_total", "counter", "Processes evicted from a full process table.");
  m.sample(engine_->table().evictions());
  m.family("trust_tracked_processes", "gauge", "Processes with a trust score of their own.");
  m.sample(uint64_t{engine_->score().trust().size()});
  const auto use = state_use();
  m.family("state_entries", "gauge", "Entries in each bounded in-memory structure of rampartd.");
  for (const auto& u : use) m.sample(u.entries, {{"structure", u.name}});
  m.family("state_limit", "gauge", "The configured limit of each structure (0: bounded by another).");
  for (const auto& u : use) m.sample(u.limit, {{"structure", u.name}});
  m.family("state_bytes", "gauge", "Approximate heap bytes held by each structure.");
  for (const auto& u : use) m.sample(u.bytes, {{"structure", u.name}});
  m.family("state_evictions_total", "counter", "Entries evicted from each structure to keep it within its limit.");
  for (const auto& u : use) m.sample(u.evictions, {{"structure", u.name}});
  if (ringbuf_fill_) {
    m.family("ringbuf_used_bytes", "gauge", "Bytes in the ring buffer not yet consumed by rampartd.");
    m.sample(ringbuf_fill_->used());
    m.family("ringbuf_size_bytes", "gauge", "Size of the kernel-to-rampartd ring buffer.");
    m.sample(uint64_t{ringbuf_fill_->size()});
  }
  m.family("output_bytes_written_total", "counter", "Bytes of JSON lines written.");
  m.sample(engine_->output().sink().bytes_written());
  m.family("output_write_errors_total", "counter", "Failed writes of JSON lines.");
  m.sample(engine_->output().sink().write_errors());
  if (watchdog_) {
    m.family("watchdog_pings_total", "counter", "systemd watchdog pings sent from the pipeline loop.");
    m.sample(watchdog_->pings());
  }

  // The daemon's own resources (the standard process_* names).
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

void Daemon::write_stats(const char* reason) {
  auto& o = engine_->output();
  outputs::JsonWriter w(o.buffer());
  uint64_t now = boot_now_ns();
  char time_buf[40];
  w.begin_object();
  w.field("v", outputs::kSchemaVersion);
  w.field("time", outputs::format_rfc3339(time_buf, static_cast<int64_t>(now) + o.boot_to_realtime_ns()));
  w.field("type", "stats").field("reason", reason);
  w.field("uptime_ns", now - started_ns_);
  auto stats = programs_->read_stats();
  const auto& delivered = engine_->emit().delivered();
  w.key("events").begin_object();
  for (uint32_t t = 1; t < RP_EV_MAX; ++t) {
    w.key(sources::event_type_name(t)).begin_object();
    if (stats) {
      const auto& s = (*stats)[t];
      w.field("emitted", s.total.emitted).field("filtered", s.total.filtered);
      w.field("dropped", s.total.dropped).field("errors", s.total.errors);
      w.field("rate_limited", s.total.rate_limited);
      w.key("dropped_per_cpu").begin_array();
      for (auto d : s.dropped_per_cpu) w.value(d);
      w.end_array();
    }
    w.field("delivered", delivered[t]);
    w.end_object();
  }
  w.end_object();
  if (!stats) w.field("kernel_stats_error", stats.error().what());
  w.field("received", engine_->received()).field("synthesized", engine_->synthesized());
  const auto& act = engine_->act();
  w.key("overload").begin_object();
  w.field("alerts", overload_alerts_).field("quarantined", overload_quarantines_);
  w.field("quarantined_now", static_cast<uint64_t>(act.overload_quarantine().size())).end_object();
  w.key("state").begin_object();
  for (const auto& u : state_use()) {
    w.key(u.name).begin_object();
    w.field("entries", u.entries).field("limit", u.limit).field("approx_bytes", u.bytes);
    w.field("evictions", u.evictions).end_object();
  }
  w.end_object();
  w.key("decode_errors").begin_object();
  const auto& decode_errors = engine_->decode_errors();
  for (size_t i = 0; i < decode_errors.size(); ++i)
    w.field(sources::decode_error_name(static_cast<sources::DecodeError>(i)), decode_errors[i]);
  w.end_object();
  const auto& sink = o.sink();
  w.key("output").begin_object();
  w.field("bytes_written", sink.bytes_written()).field("write_errors", sink.write_errors());
  w.field("bytes_lost", sink.bytes_lost()).end_object();
  w.field("policy_assign_errors", act.policy_assign_errors());
  w.key("trust").begin_object();
  w.field("rule_hits", engine_->score().rule_hits()).field("verdicts_applied", act.verdicts_applied());
  w.field("kills", act.kills());
  w.field("tracked", static_cast<uint64_t>(engine_->score().trust().size())).end_object();
  if (const auto* g = guard_ ? guard_->current() : nullptr) {
    w.key("perm_guard").begin_object();
    w.field("decisions", g->decisions()).field("denials", g->denials());
    w.field("overflows", g->overflows()).field("cache_hits", g->cache_hits());
    w.field("deadline_expired", g->deadline_expired());
    w.field("access_checks", g->access_checks()).field("access_unknown", g->access_unknown());
    w.end_object();
  }
  const auto& table = engine_->table();
  w.key("process_table").begin_object();
  w.field("size", static_cast<uint64_t>(table.size())).field("evictions", table.evictions()).end_object();
  w.end_object();
  o.buffer().push_back('\n');
}

}  // namespace rampart
