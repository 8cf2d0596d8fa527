// The daemon's answers to operators (Control): manual quarantine and
// release, the audit trail, and the status it reports (capabilities,
// mechanisms, counters). api/service.cpp translates them for gRPC. Everything
// here runs on the pipeline's loop thread: the API server posts each call
// there, so it reads and changes the daemon's state with no lock. Policy
// reload triggers are in daemon_reload.cpp.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <iostream>

#include "daemon.h"
#include "ops/metrics.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart {
Result<void> Daemon::start_api() {
  start_reload_triggers();  // SIGHUP, inotify (daemon_reload.cpp)
  const auto& cfg = opts_.config.api;
  if (cfg.socket.empty() && cfg.tcp_address.empty()) return {};
  service_ = std::make_unique<api::Service>(*this, [this](v1::GetStatusResponse* out) { return get_status(out); });
  auto server = api::ApiServer::start(cfg, io_, *service_, hub_, [this](const std::string& m) { log(m); });
  if (!server) return fail("gRPC API: " + server.error().what());
  api_ = std::move(*server);
  if (!opts_.quiet) log("API on " + api_->describe());
  return {};
}

void Daemon::audit(const std::string& action, uint32_t pid, const api::Peer& peer, const std::string& result,
                   const std::string& detail) {
  auto& o = engine_->output();
  outputs::JsonWriter w(o.buffer());
  uint64_t now = boot_now_ns();
  o.begin_record(w, now, "audit");
  w.field("action", action);
  if (pid) w.field("pid", pid);
  w.field("result", result);
  if (!detail.empty()) w.field("detail", detail);
  w.key("peer").begin_object();
  w.field("transport", peer.transport);
  if (peer.has_creds) w.field("uid", peer.uid).field("gid", peer.gid).field("pid", peer.pid);
  if (!peer.address.empty()) w.field("address", peer.address);
  if (!peer.identity.empty()) w.field("identity", peer.identity);
  w.end_object();
  o.end_record(w);
  log("audit: " + action + (pid ? " pid " + std::to_string(pid) : std::string()) + " by " + peer.describe() + ": " +
      result + (detail.empty() ? "" : " (" + detail + ")"));
}

void Daemon::peer_refused(const api::Peer& peer, const std::string& why) {
  audit("api_refused", 0, peer, "refused", why);
}

grpc::Status Daemon::get_status(v1::GetStatusResponse* out) {
  const uint64_t now = boot_now_ns();
  out->set_version(RAMPART_VERSION);
  out->set_abi_version(RP_ABI_VERSION);
  out->set_pid(static_cast<uint32_t>(getpid()));
  out->set_uptime_ns(now - started_ns_);
  for (const auto& c : matrix_) {
    auto* m = out->add_capabilities();
    m->set_name(c.name);
    m->set_available(c.available);
    m->set_detail(c.detail);
  }
  auto mech = [out](const char* op, const std::string& how, const std::string& detail) {
    auto* m = out->add_mechanisms();
    m->set_operation(op);
    m->set_mechanism(how);
    m->set_detail(detail);
  };
  bool any_exec = false, any_files = false, any_priv = false, any_enforce = false;
  for (const auto& p : policies().set().policies()) {
    const auto g = enforce::guard_rule(p);
    any_exec = any_exec || g.has_exec_rules();
    any_files = any_files || g.has_file_rules();
    any_enforce = any_enforce || g.enforce;
    any_priv = any_priv || !p.allow.setuid || !p.allow.capset || !p.allow.ptrace || !p.allow.module_load ||
               !p.allow.bpf || !p.allow.mount || !p.allow.namespaces;
  }
  const bool net = programs_->network_enforcement();
  mech("network", net ? "cgroup_sock_addr" : "none",
       net ? "connect, sendmsg and bind refused with EPERM by cgroup hooks"
           : "enforcement.network is off or cgroup v2 is missing");
  if (lsm_) {
    mech("exec", "bpf_lsm", "bprm_check_security: a denied exec fails with EPERM");
    mech("files", "bpf_lsm", "file_open: a denied open fails with EPERM, read and write told apart");
    mech("privilege", "bpf_lsm",
         "ptrace, module loading, mount and bpf() refused with EPERM in LSM hooks; setuid, capset, unshare, setns "
         "and umount: bpf_send_signal(SIGKILL) at the syscall");
    mech("self_protection", "bpf_lsm",
         "no other process may signal or ptrace rampartd or open its maps and programs (its supervisor and pid 1 "
         "may stop it)");
  } else {
    const bool guard = guard_ && guard_->current() != nullptr;
    mech("exec", guard && (any_exec || any_enforce) ? "fanotify" : "none",
         guard && (any_exec || any_enforce) ? "FAN_OPEN_EXEC_PERM: a denied exec fails with EPERM"
                                            : "no policy restricts exec and none is in enforce mode");
    mech("files", guard && any_files ? "fanotify" : "none",
         guard && any_files ? "FAN_OPEN_PERM on marked paths (EPERM); elsewhere a violating open is killed after "
                              "the fact"
                            : "no policy restricts files");
    mech("privilege", "sigkill",
         any_priv ? "bpf_send_signal(SIGKILL) at the syscall: the syscall itself may complete"
                  : "no policy forbids a privilege operation");
    mech("self_protection", "none", "no BPF LSM: rampartd, its maps and programs are not protected from root");
  }
  const bool cut = programs_->socket_cut();
  mech("quarantine",
       !net  ? "none"
       : cut ? "cgroup_sock_addr+cgroup_skb"
             : "cgroup_sock_addr",
       !net  ? "needs the cgroup hooks"
       : cut ? "a quarantined process's connect, sendmsg and bind fail with EPERM, and every packet of the sockets "
               "it already has is dropped, both ways; its execs and sensitive opens too where exec and files are "
               "enforced"
             : "a quarantined process's connect, sendmsg and bind fail with EPERM (its existing sockets keep "
               "working: no cgroup skb hooks); its execs and sensitive opens too where exec and files are enforced");
  for (const auto& a : programs_->attached()) out->add_attached_programs(a);
  out->set_traced_syscalls(static_cast<uint32_t>(programs_->traced_syscall_count()));
  // The numbers below come from the one registry the stats line and
  // /metrics render from (daemon_ops.cpp), read once.
  const auto c = counters_.read();
  for (uint32_t t = 1; t < RP_EV_MAX; ++t) {
    auto* e = out->add_events();
    const std::string type = sources::event_type_name(t);
    const std::vector<std::pair<std::string, std::string>> of_type{{"type", type}};
    e->set_type(type);
    e->set_emitted(c.value("kernel_events_emitted_total", of_type));
    e->set_filtered(c.value("kernel_events_filtered_total", of_type));
    e->set_dropped(c.value("kernel_events_dropped_total", of_type));
    e->set_errors(c.value("kernel_errors_total", of_type));
    e->set_rate_limited(c.value("kernel_events_rate_limited_total", of_type));
    for (const auto& s : c.samples("kernel_events_dropped_per_cpu"))
      if (s.labels[0] == type) e->add_dropped_per_cpu(std::get<uint64_t>(s.value));
    e->set_delivered(c.value("events_total", of_type));
  }
  out->set_received(c.value("events_received_total"));
  out->set_decode_errors(c.value("decode_errors_total"));
  auto& levels = *out->mutable_verdicts_by_level();
  for (int l = 0; l <= static_cast<int>(score::Level::kKill); ++l) levels[score::level_name(score::Level(l))] = 0;
  for (const auto& v : engine_->score().trust().list(score::Level::kObserve, now)) ++levels[score::level_name(v.level)];
  out->set_rule_hits(c.value("rule_hits_total"));
  out->set_verdicts_applied(c.value("verdicts_applied_total"));
  out->set_kills(c.value("kills_total"));
  out->set_denies(engine_->emit().denies());
  out->set_would_deny(engine_->emit().would_deny());
  out->set_policy_generation(c.value("policy_generation"));
  out->set_policy_count(static_cast<uint32_t>(c.value("policies")));
  out->set_policy_dir(policies().source());
  if (api_) out->set_api_listeners(api_->describe());
  out->mutable_streams()->set_subscribers(static_cast<uint32_t>(hub_.subscribers()));
  out->mutable_streams()->set_sent(hub_.sent());
  out->mutable_streams()->set_missed(hub_.missed());
  out->set_quarantined_manually(engine_->act().manual_quarantine().size());
  out->set_synthesized(c.value("events_synthesized_total"));
  auto* o = out->mutable_overload();
  o->set_dropped(c.value("kernel_events_dropped_total"));
  o->set_rate_limited(c.value("kernel_events_rate_limited_total"));
  for (const auto& s : c.samples("kernel_events_dropped_by_cpu_total"))
    o->add_dropped_per_cpu(std::get<uint64_t>(s.value));
  o->set_alerts(c.value("overload_alerts_total"));
  o->set_quarantined(c.value("overload_quarantines_total"));
  o->set_quarantined_now(c.value("overload_quarantined_now"));
  o->set_process_rate(opts_.config.rate_process_per_s);
  o->set_cgroup_rate(opts_.config.rate_cgroup_per_s);
  o->set_ringbuf_bytes(opts_.config.ringbuf_bytes());
  for (const auto& u : state_now_) {
    const std::vector<std::pair<std::string, std::string>> of{{"structure", u.name}};
    auto* st = out->add_state();
    st->set_name(u.name);
    st->set_entries(c.value("state_entries", of));
    st->set_limit(c.value("state_limit", of));
    st->set_approx_bytes(c.value("state_bytes", of));
    st->set_evictions(c.value("state_evictions_total", of));
    st->set_eviction(u.eviction);
  }
  auto* kw = out->mutable_kernel_writes();
  const auto& pc = engine_->act().pending().counters();
  kw->set_failed(c.value("kernel_writes_failed_total"));
  kw->set_recovered(c.value("kernel_writes_recovered_total"));
  kw->set_superseded(pc.superseded);
  kw->set_abandoned(c.value("kernel_writes_abandoned_total"));
  kw->set_not_kept(c.value("kernel_writes_not_kept_total"));
  kw->set_pending(c.value("kernel_writes_pending"));
  if (auto oldest = engine_->act().pending().oldest_ns())
    kw->set_oldest_pending_ms((now - std::min(now, *oldest)) / 1'000'000);
  kw->set_last_error(engine_->act().last_write_error());
  kw->set_reload_retries(c.value("policy_reload_retries_total"));
  auto ps = ops::read_process_stats();
  out->set_resident_bytes(ps.resident_bytes);
  out->set_open_fds(ps.open_fds);
  return grpc::Status::OK;
}

Outcome Daemon::quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer) {
  if (!engine_->enrich().known_process(pid)) {
    audit("quarantine", pid, peer, "not_found", reason);
    return Outcome::error(Outcome::Code::kNotFound, no_process_message(pid));
  }
  auto& act = engine_->act();
  act.manual_quarantine().insert(pid);  // the operator's word holds, in force or pending
  Outcome o;
  if (auto r = act.write_verdict(pid, engine::kQuarantineVerdict, "api quarantine"); !r) {
    // Not in force yet: said so, and retried until it lands (or Release).
    audit("quarantine", pid, peer, "pending", r.error().what());
    o.pending = true;
    o.message = "NOT yet in force: the kernel refused the verdict (" + r.error().what() +
                "); rampartd retries until it lands (rampartctl status: kernel writes)";
    return o;
  }
  act.count_applied();
  audit("quarantine", pid, peer, "ok", reason);
  o.message = !programs_->network_enforcement()
                  ? "quarantine recorded, but network enforcement is off (enforcement.network): nothing is refused"
              : programs_->socket_cut()
                  ? "quarantined: its connect, sendmsg and bind (and its children's) now fail with EPERM, and its "
                    "existing sockets pass no more packets"
                  : "quarantined: its connect, sendmsg and bind (and its children's) now fail with EPERM";
  return o;
}

Outcome Daemon::release(uint32_t pid, const std::string& reason, const api::Peer& peer) {
  if (!engine_->enrich().known_process(pid)) {
    audit("release", pid, peer, "not_found", reason);
    return Outcome::error(Outcome::Code::kNotFound, no_process_message(pid));
  }
  const bool was_manual =
      (engine_->act().manual_quarantine().erase(pid) + engine_->act().overload_quarantine().erase(pid)) > 0;
  const bool was_tracked = engine_->score().trust().tracked(pid);
  if (auto r = engine_->act().write_verdict(pid, rp_verdict{0, 0}, "api release"); !r) {
    audit("release", pid, peer, "failed", r.error().what());
    return Outcome::error(Outcome::Code::kFailed,
                          "clearing the verdict for pid " + std::to_string(pid) + ": " + r.error().what());
  }
  engine_->score().trust().on_exit(pid);  // a release pardons: the score starts again at 100
  // Children forked while the verdict stood inherited it in the kernel. Each
  // goes back to what its own score says; distrust that was only inherited
  // is pardoned with the parent. A child quarantined by hand stays.
  const uint64_t now = boot_now_ns();
  uint32_t children = 0;
  for (uint32_t child : engine_->table().descendants(pid)) {
    if (engine_->act().quarantine_held(child)) continue;  // held on its own account (API or fail-closed)
    auto own = engine_->score().trust().verdict(child, now);
    if (own && std::all_of(own->evidence.begin(), own->evidence.end(),
                           [](const score::Evidence& e) { return e.rule_id == "rampart.inherited"; })) {
      engine_->score().trust().on_exit(child);
      own.reset();
    }
    const bool enforce = policies().governing(child).mode == policy::Mode::kEnforce;
    rp_verdict kv = own && enforce ? engine::kernel_verdict(own->level) : rp_verdict{0, 0};
    if (!engine_->act().write_verdict(child, kv, "api release of parent " + std::to_string(pid)))
      continue;  // reported, retried
    ++children;
  }
  audit("release", pid, peer, "ok",
        reason + (children ? (reason.empty() ? "" : "; ") + std::to_string(children) + " descendant(s) released" : ""));
  std::string msg = was_manual || was_tracked ? "released: verdict cleared and score reset to 100"
                                              : "nothing to release: the process had no verdict";
  if (children) msg += "; " + std::to_string(children) + " descendant(s) set back to their own verdicts";
  return Outcome{Outcome::Code::kOk, msg, false, {}};
}

}  // namespace rampart
