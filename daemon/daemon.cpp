// rampartd, wired; see daemon.h. start() is the ordered start-up: probe,
// validate the policies, open the output, load and attach the programs,
// build the engine and its edges, install the policies into every kernel
// mechanism, seed the process table, then open the ring buffer and the
// API; start_ops() adds metrics, the kubelet client and systemd.
#include "daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <iostream>

#include "bpf/mounts.h"
#include "bpf/probe.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "pipeline/process_table.h"
#include "policy/patterns.h"
#include "util/clock.h"

namespace rampart {

namespace {

// The supervisor, taken before anything else runs: read at load time, a
// supervisor that had already exited would be replaced by whoever adopted us.
const pid_t g_parent_at_start = getppid();

}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)), signals_(io_, SIGINT, SIGTERM), housekeeping_(io_) {}

Daemon::~Daemon() = default;

void Daemon::log(const std::string& msg) const { ops::log_line(msg); }

Result<void> Daemon::start() {
  const auto& cfg = opts_.config;
  if (geteuid() != 0)
    return fail("rampartd must run as root: it loads BPF programs and mounts bpffs (euid is " +
                std::to_string(geteuid()) + "; try: sudo rampartd)");
  // A reader of our stdout going away must not kill the daemon: writes fail and are counted.
  signal(SIGPIPE, SIG_IGN);

  for (const auto& m : bpf::ensure_mounts()) {
    if (m.state == bpf::MountResult::State::kMounted) log("mounted " + m.fstype + " on " + m.target);
    if (m.state == bpf::MountResult::State::kFailed)
      log("warning: cannot mount " + m.fstype + " on " + m.target + ": " + m.error);
  }
  auto caps = bpf::probe_kernel();
  matrix_ = caps.matrix();
  if (!opts_.quiet) std::cerr << "rampartd: capability matrix\n" << bpf::format_matrix(caps) << std::flush;

  // Policies are validated before anything is loaded: an invalid one stops us here.
  policy::PolicySet set;
  std::map<std::string, std::string> files;
  struct stat st {};
  if (!cfg.policy_dir_explicit && stat(cfg.policy_dir.c_str(), &st) != 0 && errno == ENOENT) {
    log("no policy directory " + cfg.policy_dir + ": every process gets the built-in default policy (audit)");
  } else {
    auto loaded = policy::PolicySet::load_dir(cfg.policy_dir, &files);
    if (!loaded) return fail("invalid policy, refusing to start:\n" + loaded.error().what());
    set = std::move(*loaded);
  }
  auto sink = outputs::JsonlSink::open(cfg.output_path);
  if (!sink) return tl::unexpected(sink.error());

  if (auto r = load_programs(caps); !r) return r;
  if (auto r = start_engine(std::move(set), std::move(files), std::move(*sink)); !r) return r;

  auto source = sources::RingbufSource::create(io_, programs_->ringbuf_fd(),
                                               std::chrono::milliseconds(cfg.poll_interval_ms), *engine_);
  if (!source) return tl::unexpected(source.error());
  source_ = std::move(*source);
  overload_ = std::make_unique<edges::OverloadWatch>(io_, cfg, *programs_, *source_, *engine_, hub_);
  telemetry_ = std::make_unique<edges::Telemetry>(edges::TelemetrySources{
      *programs_, *engine_, *reloads_, *overload_, guard_, kubelet_, ringbuf_fill_, watchdog_, started_ns_});
  if (auto r = start_api(); !r) return r;

  if (!opts_.quiet) {
    const auto& out = engine_->output().sink();
    log(std::to_string(policies().set().policies().size()) + " policies from " + cfg.policy_dir +
        "; network enforcement " +
        (programs_->network_enforcement() ? "in the kernel (cgroup hooks at " + enforce_cgroup_ + ")" : "off"));
    log("attached " + std::to_string(programs_->attached().size()) + " programs, tracing " +
        std::to_string(programs_->traced_syscall_count()) + " syscalls; " + std::to_string(engine_->table().size()) +
        " processes from /proc; output to " + (out.path() == "-" ? "stdout" : out.path()));
  }
  return {};
}

// The BPF programs, and the LSM programs where the kernel runs them.
Result<void> Daemon::load_programs(const bpf::Capabilities& caps) {
  const auto& cfg = opts_.config;
  bpf::LoadOptions lo;
  lo.self_tgid = static_cast<uint32_t>(getpid());
  lo.ringbuf_bytes = static_cast<uint32_t>(cfg.ringbuf_bytes());
  lo.process_rate = cfg.rate_process_per_s;
  lo.process_burst = cfg.rate_process_burst;
  lo.cgroup_rate = cfg.rate_cgroup_per_s;
  lo.cgroup_burst = cfg.rate_cgroup_burst;
  lo.wakeup_bytes = static_cast<uint64_t>(cfg.wakeup_kb) << 10;
  lo.excluded_events = cfg.excluded_events;
  lo.pin_dir = cfg.pin_dir;
  if (cfg.enforce_network) {
    lo.enforce_cgroup = caps.cgroup2_mount;
    if (lo.enforce_cgroup.empty()) log("warning: cgroup v2 is not mounted: no in-kernel network enforcement");
  }
  auto programs = bpf::Programs::load(lo, caps);
  if (!programs) return tl::unexpected(programs.error());
  programs_ = std::move(*programs);
  if (!cfg.pin_dir.empty() && !programs_->pins().enabled())
    log("warning: enforcement is not pinned (" + programs_->pins().error() + "): it ends with this rampartd");

  // BPF LSM where it is active; else the same programs as fmod_ret programs
  // on the security_*() functions, where trampolines work; else fanotify.
  const bool use_lsm = caps.lsm_active(), use_fmod = !use_lsm && caps.fmod_ret;
  if (cfg.bpf_lsm && (use_lsm || use_fmod)) {
    const auto hooks = use_lsm ? bpf::LsmPrograms::Hooks::kLsm : bpf::LsmPrograms::Hooks::kFmodRet;
    const std::string how = use_lsm ? "BPF LSM" : "fmod_ret on security_*() (BPF LSM not active)";
    auto lsm = bpf::LsmPrograms::load(*programs_, lo.self_tgid, hooks);
    if (lsm) {
      lsm_ = std::move(*lsm);
      programs_->set_lsm_privileges(bpf::LsmPrograms::kPrivileges);
      const std::string cgroup = pipeline::ProcReader().cgroup_path(static_cast<uint32_t>(getpid()));
      if (auto r = lsm_->protect(*programs_, static_cast<uint32_t>(g_parent_at_start), caps.cgroup2_mount, cgroup); !r)
        log("warning: self-protection: " + r.error().what());
      lsm_status_ = how +
                    " (self-test passed): exec, files, ptrace, module loading, mount, bpf() and "
                    "self-protection refused with EPERM in the kernel's security hooks";
    } else {
      lsm_status_ = how + " not used (" + lsm.error().what() + "): fanotify for exec and files, kill for privilege";
    }
  } else {
    lsm_status_ = std::string("BPF LSM not used (") +
                  (!cfg.bpf_lsm ? "enforcement.bpf_lsm is false"
                                : "not active on this kernel, and no BPF trampolines for fmod_ret") +
                  "): fanotify for exec and files, kill for privilege; rampartd is not protected from root";
  }
  enforce_cgroup_ = lo.enforce_cgroup;
  return {};
}

Result<void> Daemon::start_engine(policy::PolicySet set, std::map<std::string, std::string> files,
                                  std::unique_ptr<outputs::JsonlSink> sink) {
  const auto& cfg = opts_.config;
  kernel_ = std::make_unique<engine::BpfKernel>(*programs_);
  auto out = std::make_unique<engine::Output>(std::move(sink));
  out->update_clock_offset();
  engine_ = std::make_unique<engine::Engine>(io_, cfg, *kernel_, std::move(out), hub_, bpf::find_mount("cgroup2"));
  auto& rt = policies();
  audit_ = std::make_unique<edges::Audit>(engine_->output());
  reloads_ = std::make_unique<edges::Reloads>(io_, cfg.policy_dir, rt, engine_->output(), *audit_);
  actions_ = std::make_unique<edges::ProcessActions>(*engine_, *audit_, programs_->network_enforcement(),
                                                     programs_->socket_cut());
  stages_ = std::make_unique<edges::ProfileStages>(*engine_, *reloads_, *audit_, cfg);
  engine_->learner().load();  // learned profiles first: their stages decide what a learn policy installs
  if (programs_->reused_maps()) {
    rt.adopt_pinned_state();
    log("took over the enforcement state a previous rampartd pinned in " + cfg.pin_dir + " (" +
        std::to_string(programs_->reused_maps()) + " maps, " + std::to_string(programs_->process_policies().size()) +
        " policed processes); its programs stayed attached until ours were");
  }
  if (lsm_) {
    rt.use_path_rules(true);
    lsm_rules_ = std::make_unique<engine::LsmPathRules>(*lsm_);
    rt.add_mechanism(*lsm_rules_);
  } else {
    // Runs on the guard's thread: hand the record to the loop, nothing more.
    guard_ = std::make_unique<engine::FanotifyGuard>(cfg, *programs_, [this](const rp_enforce_event& ev) {
      boost::asio::post(io_, [this, ev] { engine_->handle_synthesized(ev); });
    });
    rt.add_mechanism(*guard_);
  }
  rt.set_initial(std::move(set), std::move(files), cfg.policy_dir);
  if (auto r = rt.install_initial(); !r) return fail("installing policies: " + r.error().what());
  if (programs_->reused_maps()) rt.drop_stale_assignments();
  if (lsm_) {
    std::vector<enforce::PathRuleInput> sensitive;
    std::vector<std::string> notes;
    for (const auto& text : cfg.sensitive_paths)
      if (auto pat = policy::parse_path_pattern(text)) sensitive.push_back({*pat, RP_PR_SENSITIVE});
    if (auto r = lsm_->add_path_rules(0, enforce::compile_path_rules(sensitive, notes)); !r)
      return fail("installing sensitive paths: " + r.error().what());
    std::vector<policy::PathPattern> patterns;
    for (const auto& in : sensitive) patterns.push_back(in.pattern);
    if (auto r = engine::install_sensitive_inodes(*lsm_, patterns); !r)
      return fail("installing sensitive files: " + r.error().what());
    for (const auto& note : notes) log("note: " + note);
  }
  if (!opts_.quiet) log(lsm_status_);

  // Attached first, seeded second: a process that starts in between is seen
  // by both, and the table takes the later word.
  auto snapshots = engine_->proc_reader().read_all();
  engine_->table().seed(snapshots);
  for (const auto& snap : snapshots) engine_->act().assign_selected(snap.tgid, rt);
  engine_->act().on_retry_round([this] { policies().after_write_retries(); });
  engine_->act().adopt_quarantines();  // pinned by a previous rampartd
  return {};
}

int Daemon::run() {
  started_ns_ = boot_now_ns();
  last_stats_ns_ = started_ns_;
  if (auto r = start(); !r) {
    log("error: " + r.error().what());
    return 1;
  }
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log(std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
    source_->stop();
    housekeeping_.cancel();
    overload_->stop();
    io_.stop();
  });
  source_->start();
  arm_housekeeping();
  overload_->start();
  start_ops();
  io_.run();
  if (api_) api_->stop();  // in-flight calls get UNAVAILABLE; streams end
  stop_ops();
  engine_->learner().save(false);

  // The losses since the last check are still named, and whatever the
  // kernel submitted before we stopped is still delivered, right before the
  // exit stats read its counters (the host goes on making events).
  overload_->check();
  source_->drain();
  write_stats("exit");
  engine_->output().sink().flush();
  if (guard_) guard_->stop();  // closing its fd lets any exec still waiting through
  source_.reset();
  lsm_.reset();
  programs_.reset();  // detaches every program
  log("detached; exiting");
  return 0;
}

void Daemon::arm_housekeeping() {
  housekeeping_.expires_after(std::chrono::seconds(1));
  housekeeping_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    uint64_t now = boot_now_ns();
    engine_->tick(now);  // table sweep, score decay
    stages_->tick();     // profiles: promotion, end of shadow, flushes
    auto& out = engine_->output();
    out.update_clock_offset();  // follows settimeofday and NTP steps
    // A full disk (or a closed pipe) under the event output: said once a
    // second at most, counted always; the pipeline goes on.
    auto& sink = out.sink();
    if (sink.write_errors() != output_errors_logged_) {
      log("warning: event output: " + std::to_string(sink.write_errors() - output_errors_logged_) + " writes failed (" +
          std::strerror(sink.last_errno()) + "); " + std::to_string(sink.bytes_lost()) +
          " bytes of events lost so far (rampart_output_write_errors_total)");
      output_errors_logged_ = sink.write_errors();
    }
    uint32_t interval = opts_.config.stats_interval_s;
    if (interval && now - last_stats_ns_ >= uint64_t{interval} * 1'000'000'000) {
      last_stats_ns_ = now;
      write_stats("interval");
      sink.flush();
    }
    arm_housekeeping();
  });
}

Result<void> Daemon::start_api() {
  reloads_->start_triggers();  // SIGHUP, inotify
  const auto& cfg = opts_.config.api;
  if (cfg.socket.empty() && cfg.tcp_address.empty()) return {};
  service_ = std::make_unique<api::Service>(*this);
  auto server = api::ApiServer::start(cfg, io_, *service_, hub_, [this](const std::string& m) { log(m); });
  if (!server) return fail("gRPC API: " + server.error().what());
  api_ = std::move(*server);
  if (!opts_.quiet) log("API on " + api_->describe());
  return {};
}

void Daemon::start_ops() {
  const auto& c = opts_.config;
  ringbuf_fill_ = ops::RingbufFill::open(programs_->ringbuf_fd(), static_cast<size_t>(c.ringbuf_bytes()));
  if (!c.metrics_address.empty()) {
    auto server =
        ops::HttpServer::start(io_, c.metrics_address, [this](const std::string& path) { return serve_http(path); });
    if (server) {
      http_ = std::move(*server);
      log("metrics on http://" + http_->local_address() + "/metrics (health: /healthz)");
    } else {
      // Protection goes on without its metrics: a taken port must not stop it.
      log("warning: metrics endpoint off: " + server.error().what());
    }
  }
  if (!c.kubelet_url.empty()) {
    k8s::KubeletConfig kc{c.kubelet_url, c.kubelet_token_file, c.kubelet_ca_file, c.kubelet_insecure_skip_tls_verify,
                          c.kubelet_refresh_s};
    kubelet_ = std::make_unique<k8s::KubeletPods>(
        kc,
        [this](k8s::PodMap pods) {
          boost::asio::post(io_,
                            [this, pods = std::move(pods)]() mutable { engine_->enrich().set_pods(std::move(pods)); });
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
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", telemetry_->render_metrics()};
  // Served from the pipeline loop: an answer means the loop turns and the
  // programs are attached; a stuck loop times the probe out.
  if (path == "/healthz" || path == "/readyz") {
    if (programs_ && source_) return {200, "text/plain; charset=utf-8", "ok\n"};
    return {503, "text/plain; charset=utf-8", "not ready\n"};
  }
  if (path == "/") return {200, "text/plain; charset=utf-8", "rampartd: /metrics /healthz\n"};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

void Daemon::write_stats(const char* reason) { telemetry_->write_stats(engine_->output(), reason); }

edges::StatusReport Daemon::status() {
  const uint64_t now = boot_now_ns();
  edges::StatusReport s;
  s.pid = static_cast<uint32_t>(getpid());
  s.uptime_ns = now - started_ns_;
  s.capabilities = matrix_;
  s.mechanisms =
      edges::describe_mechanisms(policies().set(), {lsm_ ? lsm_->mechanism() : "", guard_ && guard_->current(),
                                                    programs_->network_enforcement(), programs_->socket_cut()});
  s.attached_programs = programs_->attached();
  s.traced_syscalls = static_cast<uint32_t>(programs_->traced_syscall_count());
  s.counters = telemetry_->read();
  s.state = telemetry_->state_now();
  for (int l = 0; l <= static_cast<int>(score::Level::kKill); ++l)
    s.verdicts_by_level[score::level_name(score::Level(l))] = 0;
  for (const auto& v : engine_->score().trust().list(score::Level::kObserve, now))
    ++s.verdicts_by_level[score::level_name(v.level)];
  s.denies = engine_->emit().denies();
  s.would_deny = engine_->emit().would_deny();
  s.quarantined_manually = engine_->act().manual_quarantine().size();
  s.policy_dir = policies().source();
  if (api_) s.api_listeners = api_->describe();
  s.stream_subscribers = static_cast<uint32_t>(hub_.subscribers());
  s.stream_sent = hub_.sent();
  s.stream_missed = hub_.missed();
  s.process_rate = opts_.config.rate_process_per_s;
  s.cgroup_rate = opts_.config.rate_cgroup_per_s;
  s.ringbuf_bytes = opts_.config.ringbuf_bytes();
  const auto& pending = engine_->act().pending();
  s.writes_superseded = pending.counters().superseded;
  if (auto oldest = pending.oldest_ns()) s.oldest_pending_write_ms = (now - std::min(now, *oldest)) / 1'000'000;
  s.last_write_error = engine_->act().last_write_error();
  auto ps = ops::read_process_stats();
  s.resident_bytes = ps.resident_bytes;
  s.open_fds = ps.open_fds;
  return s;
}

}  // namespace rampart
