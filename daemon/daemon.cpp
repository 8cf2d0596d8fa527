// The rampartd pipeline; see daemon.h.
#include "daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <chrono>
#include <iostream>

#include "bpf/mounts.h"
#include "ops/log.h"
#include "bpf/probe.h"
#include "policy/patterns.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart {

Daemon::Daemon(DaemonOptions opts)
    : opts_(std::move(opts)),
      signals_(io_, SIGINT, SIGTERM),
      housekeeping_(io_),
      table_(pipeline::ProcessTable::Limits{opts_.config.process_table_max, 5'000'000'000}),
      trust_(score::TrustEngine::Limits{opts_.config.trust_max_processes, opts_.config.trust_max_evidence}) {}

Daemon::~Daemon() = default;

void Daemon::log(const std::string& msg) const { ops::log_line(msg); }

void Daemon::update_clock_offset() { boot_to_realtime_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME); }

Result<void> Daemon::start() {
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
  load_profiles();  // learned profiles first: their stages decide what a learn policy installs
  if (auto r = load_policies(); !r) return r;

  auto sink = outputs::JsonlSink::open(opts_.config.output_path);
  if (!sink) return tl::unexpected(sink.error());
  sink_ = std::move(*sink);

  bpf::LoadOptions lo;
  lo.self_tgid = static_cast<uint32_t>(getpid());
  lo.ringbuf_bytes = static_cast<uint32_t>(opts_.config.ringbuf_bytes());
  lo.process_rate = opts_.config.rate_process_per_s;
  lo.process_burst = opts_.config.rate_process_burst;
  lo.cgroup_rate = opts_.config.rate_cgroup_per_s;
  lo.cgroup_burst = opts_.config.rate_cgroup_burst;
  lo.wakeup_bytes = static_cast<uint64_t>(opts_.config.wakeup_kb) << 10;
  lo.excluded_events = opts_.config.excluded_events;
  lo.pin_dir = opts_.config.pin_dir;
  if (opts_.config.enforce_network) {
    lo.enforce_cgroup = caps.cgroup2_mount;
    if (lo.enforce_cgroup.empty()) log("warning: cgroup v2 is not mounted: no in-kernel network enforcement");
  }
  auto programs = bpf::Programs::load(lo, caps);
  if (!programs) return tl::unexpected(programs.error());
  programs_ = std::move(*programs);
  if (!opts_.config.pin_dir.empty() && !programs_->pins().enabled())
    log("warning: enforcement is not pinned (" + programs_->pins().error() + "): it ends with this rampartd");
  adopt_pinned_state();  // daemon_reload.cpp: after a crash, the previous state is taken over

  if (opts_.config.bpf_lsm && caps.lsm_active()) {
    auto lsm = bpf::LsmPrograms::load(*programs_, lo.self_tgid);
    if (lsm) {
      lsm_ = std::move(*lsm);
      programs_->set_lsm_privileges(bpf::LsmPrograms::kPrivileges);
      if (auto r = lsm_->protect(*programs_, static_cast<uint32_t>(getppid())); !r)
        log("warning: self-protection: " + r.error().what());
      lsm_status_ = "BPF LSM (self-test passed): exec, files, ptrace, module loading, mount, bpf() and "
                    "self-protection refused with EPERM in LSM hooks";
    } else {
      lsm_status_ = "BPF LSM not used (" + lsm.error().what() + "): fanotify for exec and files, kill for privilege";
    }
  } else {
    lsm_status_ = std::string("BPF LSM not used (") +
                  (opts_.config.bpf_lsm ? "not active on this kernel" : "enforcement.bpf_lsm is false") +
                  "): fanotify for exec and files, kill for privilege; rampartd is not protected from root";
  }
  auto compiled = install_bank(policies_, policy_base_);  // daemon_reload.cpp (LSM path rules included)
  if (!compiled) return fail("installing policies: " + compiled.error().what());
  compiled_ = std::move(*compiled);
  drop_stale_assignments();
  if (lsm_) {
    std::vector<enforce::PathRuleInput> sensitive;
    for (const auto& text : opts_.config.sensitive_paths)
      if (auto pat = policy::parse_path_pattern(text)) sensitive.push_back({*pat, RP_PR_SENSITIVE});
    if (auto r = lsm_->add_path_rules(0, enforce::compile_path_rules(sensitive, compiled_.notes)); !r)
      return fail("installing sensitive paths: " + r.error().what());
  }
  if (!opts_.quiet) log(lsm_status_);
  for (const auto& note : compiled_.notes) log("note: " + note);
  if (auto r = start_perm_guard(); !r) return r;

  // Attached first, seeded second: a process that starts in between is seen
  // by both, and the table takes the later word.
  auto snapshots = proc_reader_.read_all();
  table_.seed(snapshots);
  for (const auto& snap : snapshots) apply_policy(snap.tgid);

  auto source = sources::RingbufSource::create(io_, programs_->ringbuf_fd(),
                                               std::chrono::milliseconds(opts_.config.poll_interval_ms), *this);
  if (!source) return tl::unexpected(source.error());
  source_ = std::move(*source);
  if (auto r = start_api(); !r) return r;  // gRPC API (daemon_api.cpp)

  if (!opts_.quiet) {
    log(std::to_string(policies_.policies().size()) + " policies from " + opts_.config.policy_dir +
        "; network enforcement " +
        (programs_->network_enforcement() ? "in the kernel (cgroup hooks at " + lo.enforce_cgroup + ")" : "off"));
    log("attached " + std::to_string(programs_->attached().size()) + " programs, tracing " +
        std::to_string(programs_->traced_syscall_count()) + " syscalls; " + std::to_string(table_.size()) +
        " processes from /proc; output to " + (sink_->path() == "-" ? "stdout" : sink_->path()));
  }
  return {};
}

int Daemon::run() {
  update_clock_offset();
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
  start_ops();  // metrics, READY=1, watchdog (daemon_ops.cpp)
  io_.run();
  if (api_) api_->stop();  // in-flight calls get UNAVAILABLE; streams end
  stop_ops();
  save_profiles(false);  // daemon_learn.cpp

  // Whatever the kernel submitted before we stopped is still delivered, and
  // the losses since the last check are still named.
  source_->drain();
  check_overload();
  write_stats("exit");
  sink_->flush();
  perm_guard_.reset();  // closing its fd lets any exec still waiting through
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
    table_.sweep(now);
    for (const auto& v : trust_.tick(now)) apply_verdict(v);  // decay relaxes verdicts
    tick_profiles();  // daemon_learn.cpp: promotion, end of shadow, flushes
    update_clock_offset();  // follows settimeofday and NTP steps
    // A full disk (or a closed pipe) under the event output: said once a
    // second at most, counted always; the pipeline goes on.
    if (sink_->write_errors() != output_errors_logged_) {
      log("warning: event output: " + std::to_string(sink_->write_errors() - output_errors_logged_) +
          " writes failed (" + std::strerror(sink_->last_errno()) + "); " + std::to_string(sink_->bytes_lost()) +
          " bytes of events lost so far (rampart_output_write_errors_total)");
      output_errors_logged_ = sink_->write_errors();
    }
    uint32_t interval = opts_.config.stats_interval_s;
    if (interval && now - last_stats_ns_ >= uint64_t{interval} * 1'000'000'000) {
      last_stats_ns_ = now;
      write_stats("interval");
      sink_->flush();
    }
    arm_housekeeping();
  });
}

void Daemon::on_record(const void* data, size_t len) {
  ++received_;
  auto ev = sources::decode(data, len);
  if (!ev) {
    auto idx = static_cast<size_t>(ev.error());
    // Log the first of each kind; the rest are counted in the stats line.
    if (decode_errors_[idx]++ == 0)
      log("warning: rejected a kernel record (" + std::string(sources::decode_error_name(ev.error())) + ", " +
          std::to_string(len) + " bytes); further ones are counted in stats");
    return;
  }
  handle(*ev);
}

void Daemon::on_batch_end() { sink_->flush(); }

void Daemon::ensure_known(const rp_proc& p) {
  if (table_.find(p.tgid)) return;
  // Started before we attached and missed by the /proc seed, or raced it.
  if (auto snap = proc_reader_.read(p.tgid)) {
    table_.seed({*snap});
    return;
  }
  pipeline::ProcSnapshot s;
  s.tgid = p.tgid;
  s.ppid = p.ppid;
  s.start_ns = p.start_ns;
  s.uid = p.uid;
  s.euid = p.euid;
  s.comm = std::string(sources::fixed_str(p.comm));
  table_.seed({s});
}

void Daemon::resolve_cgroup(uint32_t tgid, uint64_t cgroup_id) {
  // The id → path cache is the authority: an entry copied at fork from a
  // parent seeded out of /proc has a path, but not necessarily this id's.
  auto it = cgroup_paths_.find(cgroup_id);
  if (it == cgroup_paths_.end()) {
    auto path = proc_reader_.cgroup_path(tgid);
    // Gone before /proc could be read: ask the cgroup filesystem by id.
    if (path.empty()) path = pipeline::ProcReader::cgroup_path_by_id(cgroup_root_, cgroup_id);
    if (path.empty()) return;
    if (cgroup_paths_.size() > 65536) {  // bound; refilled on demand
      cgroup_paths_.clear();
      ++cgroup_path_resets_;
    }
    it = cgroup_paths_.emplace(cgroup_id, std::move(path)).first;
  }
  const auto* info = table_.find(tgid);
  if (info && info->cgroup_id == cgroup_id && info->cgroup_path == it->second) return;
  table_.set_cgroup(tgid, cgroup_id, it->second);
  // A pod the kubelet's last list did not have: ask again (at most every 5 s).
  if (kubelet_ && (info = table_.find(tgid)) && !info->container.pod_uid.empty() &&
      !pods_.count(info->container.pod_uid))
    kubelet_->refresh_soon();
}

Result<void> Daemon::load_policies() {
  const auto& dir = opts_.config.policy_dir;
  struct stat st {};
  if (!opts_.config.policy_dir_explicit && stat(dir.c_str(), &st) != 0 && errno == ENOENT) {
    log("no policy directory " + dir + ": every process gets the built-in default policy (audit)");
    return {};
  }
  auto set = policy::PolicySet::load_dir(dir, &policy_files_);
  if (!set) return fail("invalid policy, refusing to start:\n" + set.error().what());
  policies_ = std::move(*set);
  learn_sources_ = overlay_profiles(policies_);  // daemon_learn.cpp
  violations_ = score::Violations(policies_);
  return {};
}

Result<void> Daemon::start_perm_guard() {
  if (lsm_) return {};  // the LSM hooks decide exec and file opens in the kernel
  enforce::PermGuard::Setup setup;
  setup.rules.resize(policy_base_);  // indexed by kernel id - 1: this bank's ids start past the base
  bool any_exec = false, any_enforce = false, any_file_allow = false;
  std::vector<policy::PathPattern> protected_paths;  // named by deny rules
  for (const auto& p : policies_.policies()) {
    auto rule = enforce::guard_rule(p);
    any_exec = any_exec || rule.has_exec_rules();
    any_enforce = any_enforce || rule.enforce;
    any_file_allow = any_file_allow || rule.restrict_read || rule.restrict_write;
    for (const auto* list : {&rule.read_deny, &rule.write_deny})
      protected_paths.insert(protected_paths.end(), list->begin(), list->end());
    any_file_rules_ = any_file_rules_ || rule.has_file_rules();
    setup.rules.push_back(std::move(rule));
  }
  guard_rules_ = setup.rules;
  // Exec is checked on whole filesystems when a policy restricts it, or when
  // an enforce-mode verdict (deny, quarantine) may have to refuse it.
  if (any_exec || any_enforce) setup.exec_mounts = opts_.config.exec_mounts;
  if (any_file_allow) setup.file_mounts = opts_.config.file_mounts;
  auto add_plan = [&](const enforce::MarkPlan& plan) {
    setup.files.insert(setup.files.end(), plan.files.begin(), plan.files.end());
    setup.dirs.insert(setup.dirs.end(), plan.dirs.begin(), plan.dirs.end());
    for (const auto& n : plan.notes) log("note: " + n);
  };
  add_plan(enforce::plan_marks(protected_paths, true));
  if (any_enforce) {
    for (const auto& text : opts_.config.sensitive_paths)
      if (auto pat = policy::parse_path_pattern(text)) setup.sensitive.push_back(*pat);  // checked with the config
    add_plan(enforce::plan_marks(setup.sensitive, false));
  }
  if (any_file_allow && setup.file_mounts.empty())
    log("note: a policy restricts files (allow.files) but enforcement.file_mounts is empty: its allow-list holds "
        "in the kernel on the marked paths only; elsewhere a violating open is reported and, in enforce mode, its "
        "process is killed after the fact");
  if (setup.exec_mounts.empty() && setup.file_mounts.empty() && setup.files.empty() && setup.dirs.empty()) return {};

  setup.proc_policy_map_fd = programs_->proc_policy_map_fd();
  setup.verdict_map_fd = programs_->verdict_map_fd();
  setup.deadline_ms = opts_.config.decision_deadline_ms;
  if (const char* delay = getenv("RAMPART_FAULT_GUARD_DELAY_MS")) {
    setup.fault_delay_ms = static_cast<uint32_t>(std::strtoul(delay, nullptr, 10));
    log("warning: fault injection: every exec/file decision is delayed by " + std::to_string(setup.fault_delay_ms) +
        " ms (RAMPART_FAULT_GUARD_DELAY_MS)");
  }
  const size_t n_exec = setup.exec_mounts.size(), n_fs = setup.file_mounts.size();
  const size_t n_paths = setup.files.size() + setup.dirs.size();
  std::string mounts;
  for (const auto& m : setup.exec_mounts) mounts += (mounts.empty() ? "" : ", ") + m;
  // Runs on the guard's thread: hand the record to the pipeline loop, nothing more.
  auto report = [this](const rp_enforce_event& ev) {
    boost::asio::post(io_, [this, ev] {
      ++synthesized_;
      handle(sources::EventView{&ev.hdr});
      sink_->flush();
    });
  };
  auto guard = enforce::PermGuard::start(std::move(setup), std::move(report));
  if (!guard) return fail("exec/file enforcement: " + guard.error().what());
  perm_guard_ = std::move(*guard);
  if (n_exec) log("exec enforcement through fanotify permission events on the filesystems of " + mounts);
  if (n_paths || n_fs)
    log("file protection through fanotify permission events on " + std::to_string(n_paths) + " files and directories" +
        (n_fs ? " and " + std::to_string(n_fs) + " whole filesystems" : ""));
  return {};
}

void Daemon::check_open_after(const rp_file_event& e) {
  const uint32_t id = e.policy_id;  // as of the open, not as of now
  if (id == 0 || id > guard_rules_.size() || !guard_rules_[id - 1].has_file_rules()) return;
  const auto& rule = guard_rules_[id - 1];
  const std::string_view path = sources::fixed_str(e.path);
  auto reasons = enforce::open_reasons(rule, path);
  auto access = enforce::access_from_flags(e.flags);
  uint8_t why = access.write && reasons.write ? reasons.write : access.read ? reasons.read : 0;
  if (!why) return;
  // An open that fanotify saw was decided there: in enforce mode it failed,
  // so a successful one was not marked; in audit mode it was reported.
  if (!rule.enforce) {
    for (const auto& list : {&rule.read_deny, &rule.write_deny})
      for (const auto& p : *list)
        if (p.matches(path)) return;
    for (const auto& m : opts_.config.file_mounts)
      if (path.starts_with(m)) return;
  }
  rp_enforce_event ev{};
  ev.hdr.type = RP_EV_ENFORCE;
  ev.hdr.size = sizeof(ev);
  ev.hdr.ts_ns = e.hdr.ts_ns;
  ev.proc = e.proc;
  ev.op = RP_EV_OPEN;
  ev.policy_id = id;
  ev.mechanism = RP_MECH_AFTER;
  ev.reason = why;
  ev.action = rule.enforce ? RP_ACT_KILLED : RP_ACT_WOULD_DENY;
  std::memcpy(ev.path, e.path, sizeof(ev.path));
  if (rule.enforce && ::kill(static_cast<pid_t>(e.proc.tgid), SIGKILL) == 0) ++kills_;
  boost::asio::post(io_, [this, ev] {
    ++synthesized_;
    handle(sources::EventView{&ev.hdr});
  });
}

void Daemon::apply_policy(uint32_t tgid) {
  const auto* info = table_.find(tgid);
  if (!info || policies_.policies().empty()) return;
  policy::Subject subject{info->exe, info->cgroup_path, info->container.id, info->container.pod_uid, info->uid};
  const policy::Policy& p = policies_.select(subject);
  // The default governs nothing explicitly: a process keeps what it inherited.
  if (p.builtin) return;
  if (auto r = write_assignment(tgid, p.name, "selector"); !r) ++policy_errors_;  // reported and retried
}

const policy::Policy& Daemon::policy_by_id(uint32_t id) const {
  const auto& all = policies_.policies();
  id -= std::min(id, policy_base_);  // kernel ids are offset by the bank in use (daemon_reload.cpp)
  return id >= 1 && id <= all.size() ? all[id - 1] : policies_.fallback();
}

const policy::DenyRule* Daemon::on_violation(const rp_enforce_event& e) {
  auto m = violations_.match(rebased(e));
  if (!m) return nullptr;
  constexpr uint64_t kRepeatNs = 60'000'000'000;
  auto& seen = violation_seen_[e.proc.tgid];
  auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == m->rule; });
  if (it == seen.end()) {
    if (seen.size() >= 64) seen.erase(seen.begin());  // bound per process
    seen.emplace_back(m->rule, e.hdr.ts_ns);
    hits_.push_back({m->rule, std::move(m->detail)});
  } else if (e.hdr.ts_ns - it->second >= kRepeatNs) {
    it->second = e.hdr.ts_ns;
    hits_.push_back({m->rule, std::move(m->detail)});
  }
  return m->deny;
}

const policy::Policy& Daemon::governing(uint32_t tgid) const { return policy_by_id(programs_->policy_of(tgid)); }

const policy::Policy& Daemon::governing(const sources::EventView& ev) const {
  const rp_proc& p = ev.proc();
  // An open says which policy its opener had.
  if (ev.type() == RP_EV_OPEN && ev.as<rp_file_event>().policy_id)
    return policy_by_id(ev.as<rp_file_event>().policy_id);
  const policy::Policy& pol = governing(p.tgid);
  if (!pol.builtin || ev.type() != RP_EV_EXEC) return pol;
  // A process that exited before its exec was read has left the kernel's
  // map: it was under its own policy if one selects it, else its parent's.
  const auto* info = table_.find(p.tgid);
  if (!info) return pol;
  const policy::Policy& own =
      policies_.select({info->exe, info->cgroup_path, info->container.id, info->container.pod_uid, info->uid});
  return own.builtin ? governing(p.ppid) : own;
}

rp_verdict kernel_verdict(score::Level level) {
  rp_verdict kv{static_cast<uint32_t>(level), 0};
  switch (level) {
    case score::Level::kKill:
      kv.flags = RP_V_KILL | RP_V_DENY_NET | RP_V_DENY_EXEC | RP_V_DENY_FILES;
      break;
    case score::Level::kQuarantine:
      kv.flags = RP_V_DENY_NET | RP_V_DENY_EXEC | RP_V_DENY_FILES;
      break;
    case score::Level::kDeny:
      kv.flags = RP_V_DENY_EXEC | RP_V_DENY_FILES;
      break;
    default:
      break;  // observe, alert: nothing in the kernel (flags 0 clears)
  }
  return kv;
}

void Daemon::apply_verdict(const score::Verdict& v) {
  // A manual (API) or fail-closed quarantine holds until Release, whatever the score says.
  if (v.level < score::Level::kQuarantine && quarantine_held(v.tgid)) return;
  const policy::Policy& p = governing(v.tgid);
  if (p.mode != policy::Mode::kEnforce) return;  // audit and learn report, never act
  // A refused write is reported and retried (daemon_kernel_writes.cpp); a
  // kill does not need the map, so it happens either way.
  if (write_verdict(v.tgid, kernel_verdict(v.level), "score")) {
    ++verdicts_applied_;
    last_applied_ns_ = boot_now_ns();
  }
  if (v.level == score::Level::kKill && ::kill(static_cast<pid_t>(v.tgid), SIGKILL) == 0) ++kills_;
}

void Daemon::handle(const sources::EventView& ev) {
  const rp_proc& p = ev.proc();
  outputs::EventContext ctx{&table_, boot_to_realtime_ns_, {}, &kernel_names_};
  std::optional<std::string> replaced;
  if (kubelet_) ctx.pods = &pods_;

  switch (ev.type()) {
    case RP_EV_EXEC: {
      const auto& e = ev.as<rp_exec_event>();
      std::vector<std::string> args;
      sources::for_each_arg(e, [&args](std::string_view arg) { args.emplace_back(arg); });
      ensure_known(p);  // so the parent chain and the previous image are known
      replaced = table_.on_exec(p.tgid, p.ppid, p.start_ns, p.uid, p.euid, sources::fixed_str(p.comm),
                                sources::fixed_str(e.filename), std::move(args), p.cgroup_id, e.hdr.ts_ns);
      if (replaced) ctx.replaced_exe = *replaced;
      resolve_cgroup(p.tgid, p.cgroup_id);
      apply_policy(p.tgid);
      break;
    }
    case RP_EV_FORK: {
      const auto& e = ev.as<rp_fork_event>();
      ensure_known(p);
      table_.on_fork(p.tgid, e.child_tgid, e.child_start_ns, e.hdr.ts_ns);
      if (e.hdr.flags & RP_F_INHERIT_FAILED) inherit_in_userspace(p.tgid, e.child_tgid);
      break;
    }
    case RP_EV_OPEN: {
      ensure_known(p);
      const auto& e = ev.as<rp_file_event>();
      if (any_file_rules_ && e.result >= 0) check_open_after(e);
      break;
    }
    default:
      ensure_known(p);
      break;
  }

  // Rules, then the trust score of the process that caused the event.
  hits_.clear();
  std::optional<score::Verdict> verdict;
  const policy::Policy* governed = nullptr;  // looked up (a map syscall) only when needed
  auto pol_of = [&]() -> const policy::Policy& {
    if (!governed) governed = &governing(ev);
    return *governed;
  };
  if (ev.type() == RP_EV_ENFORCE) {
    const auto& e = ev.as<rp_enforce_event>();
    const policy::DenyRule* deny = on_violation(e);
    count_shadow(e, deny);  // daemon_learn.cpp
    if (deny) {
      ctx.deny_rule = deny->id;
      // A cgroup hook or fanotify refused it; a kill rule also ends the process.
      if (deny->action == policy::Action::kKill && e.action == RP_ACT_DENIED && e.mechanism != RP_MECH_SIGKILL &&
          ::kill(static_cast<pid_t>(p.tgid), SIGKILL) == 0) {
        ++kills_;
        ctx.killed_by_rule = true;
      }
    }
  } else {
    score::RuleContext rc{table_, false, &connects_};
    if (ev.type() == RP_EV_BPF) rc.bpf_expected = pol_of().allow.bpf_expected;
    score::evaluate(ev, rc, hits_);
    learn_from(ev, governed);  // daemon_learn.cpp: a profile learns, or scores what is new to it
  }
  if (!hits_.empty()) {
    last_applied_ns_ = 0;
    const policy::Policy& pol = pol_of();
    for (const auto& h : hits_) {
      score::Evidence e{ev.hdr->ts_ns, std::string(h.rule->id), h.rule->weight, sources::event_type_name(ev.type()),
                        h.detail};
      verdict = trust_.hit(p.tgid, ev.hdr->ts_ns, std::move(e), pol.scoring, pol.name);
      if (verdict->level_changed) apply_verdict(*verdict);
    }
    rule_hits_ += hits_.size();
    ctx.hits = &hits_;
    ctx.verdict = &*verdict;
    ctx.verdict_enforced = pol.mode == policy::Mode::kEnforce;
    ctx.verdict_applied_ns = last_applied_ns_;
  }
  // Only a parent with a score of its own passes distrust on; the policy
  // lookup (a map syscall) is not worth making for every fork on the host.
  if (ev.type() == RP_EV_FORK && trust_.tracked(p.tgid)) {
    auto v = trust_.on_fork(p.tgid, ev.as<rp_fork_event>().child_tgid, ev.hdr->ts_ns, governing(p.tgid).scoring);
    if (v.level_changed) apply_verdict(v);
  }

  const size_t json_begin = sink_->buffer().size();
  outputs::append_event_json(sink_->buffer(), ev, ctx);
  ++delivered_[ev.type()];
  after_event(ev, json_begin);  // API: counters, stream subscribers
  count_for_metrics(ev, ctx);  // daemon_ops.cpp
  if (ev.type() == RP_EV_EXIT) {
    table_.on_exit(p.tgid, ev.as<rp_exit_event>().exit_code, ev.hdr->ts_ns);
    trust_.on_exit(p.tgid);
    violation_seen_.erase(p.tgid);
    overload_quarantine_.erase(p.tgid);
    anomaly_seen_.erase(p.tgid);
    if (pending_writes_.size())
      for (const auto& w : pending_writes_.exited(p.tgid)) write_record(w, "abandoned", ev.hdr->ts_ns);
  }
  sink_->flush_if_large();
}

void Daemon::write_stats(const char* reason) {
  std::string& out = sink_->buffer();
  outputs::JsonWriter w(out);
  uint64_t now = boot_now_ns();
  char time_buf[40];
  w.begin_object();
  w.field("v", outputs::kSchemaVersion);
  w.field("time", outputs::format_rfc3339(time_buf, static_cast<int64_t>(now) + boot_to_realtime_ns_));
  w.field("type", "stats").field("reason", reason);
  w.field("uptime_ns", now - started_ns_);
  auto stats = programs_->read_stats();
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
    w.field("delivered", delivered_[t]);
    w.end_object();
  }
  w.end_object();
  if (!stats) w.field("kernel_stats_error", stats.error().what());
  w.field("received", received_).field("synthesized", synthesized_);
  w.key("overload").begin_object();
  w.field("alerts", overload_alerts_).field("quarantined", overload_quarantines_);
  w.field("quarantined_now", static_cast<uint64_t>(overload_quarantine_.size())).end_object();
  w.key("state").begin_object();
  for (const auto& u : state_use()) {
    w.key(u.name).begin_object();
    w.field("entries", u.entries).field("limit", u.limit).field("approx_bytes", u.bytes);
    w.field("evictions", u.evictions).end_object();
  }
  w.end_object();
  w.key("decode_errors").begin_object();
  for (size_t i = 0; i < decode_errors_.size(); ++i)
    w.field(sources::decode_error_name(static_cast<sources::DecodeError>(i)), decode_errors_[i]);
  w.end_object();
  w.key("output").begin_object();
  w.field("bytes_written", sink_->bytes_written()).field("write_errors", sink_->write_errors());
  w.field("bytes_lost", sink_->bytes_lost()).end_object();
  w.field("policy_assign_errors", policy_errors_);
  w.key("trust").begin_object();
  w.field("rule_hits", rule_hits_).field("verdicts_applied", verdicts_applied_).field("kills", kills_);
  w.field("tracked", static_cast<uint64_t>(trust_.size())).end_object();
  if (perm_guard_) {
    w.key("perm_guard").begin_object();
    w.field("decisions", perm_guard_->decisions()).field("denials", perm_guard_->denials());
    w.field("overflows", perm_guard_->overflows()).field("cache_hits", perm_guard_->cache_hits());
    w.field("deadline_expired", perm_guard_->deadline_expired());
    w.field("access_checks", perm_guard_->access_checks()).field("access_unknown", perm_guard_->access_unknown());
    w.end_object();
  }
  w.key("process_table").begin_object();
  w.field("size", static_cast<uint64_t>(table_.size())).field("evictions", table_.evictions()).end_object();
  w.end_object();
  out.push_back('\n');
}

}  // namespace rampart
