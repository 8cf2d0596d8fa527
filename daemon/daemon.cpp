// rampartd, wired; see daemon.h. start() is the ordered start-up: probe,
// validate the policies, open the output, load and attach the programs,
// build the engine, install the policies into every kernel mechanism, seed
// the process table, then open the ring buffer and the API.
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
#include "policy/patterns.h"
#include "util/clock.h"

namespace rampart {

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

  if (cfg.bpf_lsm && caps.lsm_active()) {
    auto lsm = bpf::LsmPrograms::load(*programs_, lo.self_tgid);
    if (lsm) {
      lsm_ = std::move(*lsm);
      programs_->set_lsm_privileges(bpf::LsmPrograms::kPrivileges);
      if (auto r = lsm_->protect(*programs_, static_cast<uint32_t>(getppid())); !r)
        log("warning: self-protection: " + r.error().what());
      lsm_status_ =
          "BPF LSM (self-test passed): exec, files, ptrace, module loading, mount, bpf() and "
          "self-protection refused with EPERM in LSM hooks";
    } else {
      lsm_status_ = "BPF LSM not used (" + lsm.error().what() + "): fanotify for exec and files, kill for privilege";
    }
  } else {
    lsm_status_ = std::string("BPF LSM not used (") +
                  (cfg.bpf_lsm ? "not active on this kernel" : "enforcement.bpf_lsm is false") +
                  "): fanotify for exec and files, kill for privilege; rampartd is not protected from root";
  }
  if (auto r = start_engine(std::move(set), std::move(files), std::move(*sink)); !r) return r;

  auto source = sources::RingbufSource::create(io_, programs_->ringbuf_fd(),
                                               std::chrono::milliseconds(cfg.poll_interval_ms), *engine_);
  if (!source) return tl::unexpected(source.error());
  source_ = std::move(*source);
  if (auto r = start_api(); !r) return r;  // gRPC API (daemon_api.cpp)

  if (!opts_.quiet) {
    const auto& out = engine_->output().sink();
    log(std::to_string(policies().set().policies().size()) + " policies from " + cfg.policy_dir +
        "; network enforcement " +
        (programs_->network_enforcement() ? "in the kernel (cgroup hooks at " + lo.enforce_cgroup + ")" : "off"));
    log("attached " + std::to_string(programs_->attached().size()) + " programs, tracing " +
        std::to_string(programs_->traced_syscall_count()) + " syscalls; " + std::to_string(engine_->table().size()) +
        " processes from /proc; output to " + (out.path() == "-" ? "stdout" : out.path()));
  }
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
  rt.on_kept([this](const std::string& path, const std::vector<std::string>& names) { alert_kept(path, names); });
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
    for (const auto& note : notes) log("note: " + note);
  }
  if (!opts_.quiet) log(lsm_status_);

  // Attached first, seeded second: a process that starts in between is seen
  // by both, and the table takes the later word.
  auto snapshots = engine_->proc_reader().read_all();
  engine_->table().seed(snapshots);
  for (const auto& snap : snapshots) engine_->act().assign_selected(snap.tgid, rt);
  engine_->act().on_retry_round([this] { policies().after_write_retries(); });
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
    if (overload_timer_) overload_timer_->cancel();
    io_.stop();
  });
  source_->start();
  arm_housekeeping();
  arm_overload_check();  // daemon_overload.cpp
  start_ops();           // metrics, READY=1, watchdog (daemon_ops.cpp)
  io_.run();
  if (api_) api_->stop();  // in-flight calls get UNAVAILABLE; streams end
  stop_ops();
  engine_->learner().save(false);

  // Whatever the kernel submitted before we stopped is still delivered, and
  // the losses since the last check are still named.
  source_->drain();
  check_overload();
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
    tick_profiles();     // daemon_learn.cpp: promotion, end of shadow, flushes
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

}  // namespace rampart
