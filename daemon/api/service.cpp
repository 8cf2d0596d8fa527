// The gRPC API's answers; see service.h.
#include "api/service.h"

#include <time.h>

#include <algorithm>
#include <unordered_set>

#include "api/server.h"
#include "sources/decoder.h"
#include "util/clock.h"

namespace rampart::api {
namespace {

grpc::Status not_found(uint32_t pid) { return grpc::Status(grpc::StatusCode::NOT_FOUND, no_process_message(pid)); }

void fill_verdict(const score::Verdict& v, v1::Verdict* out) {
  out->set_tracked(true);
  out->set_score(v.score);
  out->set_level(static_cast<v1::Level>(v.level));
  for (const auto& e : v.evidence) {
    auto* ev = out->add_evidence();
    ev->set_ts_ns(e.ts_ns);
    ev->set_rule_id(e.rule_id);
    ev->set_weight(e.weight);
    ev->set_event_type(e.event_type);
    ev->set_detail(e.detail);
  }
  out->set_evidence_dropped(v.evidence_dropped);
}

grpc::Status no_profile(const std::string& name) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND, no_profile_message(name));
}

grpc::Status status_of(const Outcome& o) {
  switch (o.code) {
    case Outcome::Code::kOk:
      return grpc::Status::OK;
    case Outcome::Code::kNotFound:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, o.message);
    case Outcome::Code::kRefused:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, o.message);
    case Outcome::Code::kFailed:
      break;
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, o.message);
}

}  // namespace

grpc::Status Service::get_status(v1::GetStatusResponse* out) {
  const edges::StatusReport s = control_.status();
  const auto& c = s.counters;
  out->set_version(RAMPART_VERSION);
  out->set_abi_version(RP_ABI_VERSION);
  out->set_pid(s.pid);
  out->set_uptime_ns(s.uptime_ns);
  for (const auto& cap : s.capabilities) {
    auto* m = out->add_capabilities();
    m->set_name(cap.name);
    m->set_available(cap.available);
    m->set_detail(cap.detail);
  }
  for (const auto& u : s.mechanisms) {
    auto* m = out->add_mechanisms();
    m->set_operation(u.operation);
    m->set_mechanism(u.mechanism);
    m->set_detail(u.detail);
  }
  for (const auto& a : s.attached_programs) out->add_attached_programs(a);
  out->set_traced_syscalls(s.traced_syscalls);
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
    for (const auto& smp : c.samples("kernel_events_dropped_per_cpu"))
      if (smp.labels[0] == type) e->add_dropped_per_cpu(std::get<uint64_t>(smp.value));
    e->set_delivered(c.value("events_total", of_type));
  }
  out->set_received(c.value("events_received_total"));
  out->set_decode_errors(c.value("decode_errors_total"));
  for (const auto& [level, n] : s.verdicts_by_level) (*out->mutable_verdicts_by_level())[level] = n;
  out->set_rule_hits(c.value("rule_hits_total"));
  out->set_verdicts_applied(c.value("verdicts_applied_total"));
  out->set_kills(c.value("kills_total"));
  out->set_denies(s.denies);
  out->set_would_deny(s.would_deny);
  out->set_policy_generation(c.value("policy_generation"));
  out->set_policy_count(static_cast<uint32_t>(c.value("policies")));
  out->set_policy_dir(s.policy_dir);
  out->set_api_listeners(s.api_listeners);
  out->mutable_streams()->set_subscribers(s.stream_subscribers);
  out->mutable_streams()->set_sent(s.stream_sent);
  out->mutable_streams()->set_missed(s.stream_missed);
  out->set_quarantined_manually(s.quarantined_manually);
  out->set_synthesized(c.value("events_synthesized_total"));
  auto* o = out->mutable_overload();
  o->set_dropped(c.value("kernel_events_dropped_total"));
  o->set_rate_limited(c.value("kernel_events_rate_limited_total"));
  for (const auto& smp : c.samples("kernel_events_dropped_by_cpu_total"))
    o->add_dropped_per_cpu(std::get<uint64_t>(smp.value));
  o->set_alerts(c.value("overload_alerts_total"));
  o->set_quarantined(c.value("overload_quarantines_total"));
  o->set_quarantined_now(c.value("overload_quarantined_now"));
  o->set_process_rate(s.process_rate);
  o->set_cgroup_rate(s.cgroup_rate);
  o->set_ringbuf_bytes(s.ringbuf_bytes);
  for (const auto& u : s.state) {
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
  kw->set_failed(c.value("kernel_writes_failed_total"));
  kw->set_recovered(c.value("kernel_writes_recovered_total"));
  kw->set_superseded(s.writes_superseded);
  kw->set_abandoned(c.value("kernel_writes_abandoned_total"));
  kw->set_not_kept(c.value("kernel_writes_not_kept_total"));
  kw->set_pending(c.value("kernel_writes_pending"));
  if (s.oldest_pending_write_ms) kw->set_oldest_pending_ms(*s.oldest_pending_write_ms);
  kw->set_last_error(s.last_write_error);
  kw->set_reload_retries(c.value("policy_reload_retries_total"));
  out->set_resident_bytes(s.resident_bytes);
  out->set_open_fds(s.open_fds);
  return grpc::Status::OK;
}

grpc::Status Service::get_verdict(uint32_t pid, v1::Verdict* out) {
  auto& e = control_.engine();
  if (!e.enrich().known_process(pid)) return not_found(pid);
  out->set_pid(pid);
  out->set_score(100);
  if (auto v = e.score().trust().verdict(pid, boot_now_ns())) fill_verdict(*v, out);
  if (e.act().quarantine_held(pid)) {
    out->set_manual_quarantine(e.act().manual_quarantine().count(pid) != 0);
    if (out->level() < v1::LEVEL_QUARANTINE) out->set_level(v1::LEVEL_QUARANTINE);
  }
  const policy::Policy& pol = e.policies().governing(pid);
  out->set_policy(pol.name);
  out->set_policy_mode(policy::mode_name(pol.mode));
  out->set_enforced(pol.mode == policy::Mode::kEnforce || out->manual_quarantine());
  if (const auto* info = e.table().find(pid)) {
    out->set_exe(info->exe);
    out->set_comm(info->comm);
    out->set_uid(info->uid);
    out->set_container_id(info->container.id);
  }
  for (const auto* a : e.table().ancestors(pid)) {
    auto* anc = out->add_ancestry();
    anc->set_pid(a->tgid);
    anc->set_exe(a->exe);
    anc->set_comm(a->comm);
  }
  return grpc::Status::OK;
}

grpc::Status Service::list_verdicts(v1::Level min_level, v1::ListVerdictsResponse* out) {
  auto& e = control_.engine();
  if (min_level < v1::LEVEL_OBSERVE || min_level > v1::LEVEL_KILL)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "min_level out of range");
  const uint64_t now = boot_now_ns();
  std::unordered_set<uint32_t> listed;
  for (const auto& v : e.score().trust().list(static_cast<score::Level>(min_level), now)) {
    auto* o = out->add_verdicts();
    o->set_pid(v.tgid);
    fill_verdict(v, o);
    o->set_policy(v.policy.empty() ? e.policies().governing(v.tgid).name : v.policy);
    if (e.act().manual_quarantine().count(v.tgid)) {
      o->set_manual_quarantine(true);
      if (o->level() < v1::LEVEL_QUARANTINE) o->set_level(v1::LEVEL_QUARANTINE);
    }
    if (const auto* info = e.table().find(v.tgid)) {
      o->set_exe(info->exe);
      o->set_comm(info->comm);
    }
    listed.insert(v.tgid);
  }
  // Manual quarantines without a score of their own.
  if (min_level <= v1::LEVEL_QUARANTINE)
    for (uint32_t pid : e.act().manual_quarantine()) {
      if (listed.count(pid)) continue;
      auto* o = out->add_verdicts();
      o->set_pid(pid);
      o->set_score(100);
      o->set_level(v1::LEVEL_QUARANTINE);
      o->set_manual_quarantine(true);
      o->set_policy(e.policies().governing(pid).name);
      if (const auto* info = e.table().find(pid)) {
        o->set_exe(info->exe);
        o->set_comm(info->comm);
      }
    }
  return grpc::Status::OK;
}

grpc::Status Service::quarantine(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) {
  Outcome o = control_.quarantine(req.pid(), req.reason(), peer);
  if (o.code != Outcome::Code::kOk) return status_of(o);
  out->set_pid(req.pid());
  out->set_level(v1::LEVEL_QUARANTINE);
  out->set_pending(o.pending);
  out->set_message(o.message);
  return grpc::Status::OK;
}

grpc::Status Service::release(const v1::ProcessRequest& req, const Peer& peer, v1::ProcessActionResponse* out) {
  Outcome o = control_.release(req.pid(), req.reason(), peer);
  if (o.code != Outcome::Code::kOk) return status_of(o);
  out->set_pid(req.pid());
  out->set_level(v1::LEVEL_OBSERVE);
  out->set_message(o.message);
  return grpc::Status::OK;
}

grpc::Status Service::list_policies(v1::ListPoliciesResponse* out) {
  auto& e = control_.engine();
  out->set_generation(e.policies().generation());
  out->set_dir(e.policies().source());
  for (const auto& p : e.policies().set().policies()) {
    auto* o = out->add_policies();
    o->set_name(p.name);
    o->set_mode(policy::mode_name(p.mode));
    o->set_description(p.description);
    o->set_source(p.pos.str());
    o->set_kernel_id(e.policies().kernel_id(p.name));
    if (p.allow.has_exec) o->add_restricts("exec");
    if (p.allow.has_file_read) o->add_restricts("files.read");
    if (p.allow.has_file_write) o->add_restricts("files.write");
    if (p.allow.has_connect) o->add_restricts("connect");
    if (p.allow.has_listen) o->add_restricts("listen");
    if (!p.allow.setuid) o->add_restricts("setuid");
    if (!p.allow.capset) o->add_restricts("capset");
    if (!p.allow.ptrace) o->add_restricts("ptrace");
    o->set_deny_rules(static_cast<uint32_t>(p.deny.size()));
    if (e.policies().kept_files().count(p.pos.file))
      o->set_kept("its file was deleted; in force until `rampartctl policy reload` or SIGHUP");
    const auto& s = p.selector;
    for (const auto& x : s.executables) o->add_selector("executable " + x.text);
    for (const auto& c : s.cgroup_prefixes) o->add_selector("cgroup " + c);
    for (const auto& c : s.container_ids) o->add_selector("container " + c.substr(0, 12));
    for (const auto& c : s.pod_uids) o->add_selector("pod " + c);
    for (auto u : s.uids) o->add_selector("uid " + std::to_string(u));
  }
  return grpc::Status::OK;
}

void to_proto(const ReloadAnswer& a, v1::ReloadPoliciesResponse* out) {
  const auto& r = a.result;
  out->set_applied(r.applied);
  out->set_generation(r.generation);
  for (const auto& n : r.added) out->add_added(n);
  for (const auto& n : r.removed) out->add_removed(n);
  for (const auto& n : r.changed) out->add_changed(n);
  for (const auto& n : r.notes) out->add_notes(n);
  out->set_unchanged(r.unchanged);
  to_proto(r.errors, out->mutable_errors());
  out->set_kernel_refused(r.kernel_refused);
  out->set_retry_in_ms(a.retry_in_ms);
  out->set_duration_ns(r.duration_ns);
}

grpc::Status Service::reload_policies(const v1::ReloadPoliciesRequest& req, const Peer& peer,
                                      v1::ReloadPoliciesResponse* out) {
  ReloadAnswer a = control_.reload({req.dir(), req.text(), req.source()}, peer);
  if (!a.invalid.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, a.invalid);
  to_proto(a, out);
  return grpc::Status::OK;
}

void Service::fill_profile_summary(const engine::Learner::State& st, v1::ProfileSummary* out) const {
  const auto& p = st.profile;
  const int64_t window = control_.engine().learner().config().stability_window_s;
  out->set_name(p.name);
  out->set_stage(learn::stage_name(p.stage));
  out->set_items(p.size());
  out->set_dropped_items(p.dropped_items);
  for (size_t k = 0; k < learn::kKinds; ++k)
    (*out->mutable_items_by_kind())[learn::kind_name(static_cast<learn::Kind>(k))] = p.items[k].size();
  out->set_created(p.created);
  out->set_last_new(p.last_new);
  out->set_stage_since(p.stage_since);
  out->set_shadow_until(p.shadow_until);
  out->set_stable(p.stable(unix_now_s(), window));
  out->set_stable_at(p.last_new + window);
  out->set_policy_loaded(control_.engine().learner().sources().count(p.name) > 0);
  for (const auto& [rule, n] : p.would_deny) (*out->mutable_would_deny())[rule] = n;
  for (const auto& [rule, n] : st.anomalies) (*out->mutable_anomalies())[rule] = n;
  if (!control_.profile_dir().empty()) out->set_file(learn::profile_path(control_.profile_dir(), p.name));
}

grpc::Status Service::list_profiles(const std::string& name, v1::ListProfilesResponse* out) {
  auto& e = control_.engine();
  if (!name.empty() && !e.learner().profiles().count(name)) return no_profile(name);
  for (const auto& [n, st] : e.learner().profiles())
    if (name.empty() || n == name) fill_profile_summary(st, out->add_profiles());
  for (const auto& r : e.learner().rejected()) {
    auto* o = out->add_rejected();
    o->set_path(r.path);
    o->set_reason(r.reason);
    o->set_moved_to(r.moved_to);
  }
  out->set_state_dir(control_.profile_dir());
  return grpc::Status::OK;
}

grpc::Status Service::get_profile(const std::string& name, v1::GetProfileResponse* out) {
  auto& e = control_.engine();
  auto it = e.learner().profiles().find(name);
  if (it == e.learner().profiles().end()) return no_profile(name);
  fill_profile_summary(it->second, out->mutable_summary());
  out->set_json(learn::to_json(it->second.profile));
  return grpc::Status::OK;
}

grpc::Status Service::export_profile(const std::string& name, v1::ExportProfileResponse* out) {
  auto& e = control_.engine();
  auto it = e.learner().profiles().find(name);
  if (it == e.learner().profiles().end()) return no_profile(name);
  auto src = e.learner().sources().find(name);
  if (src == e.learner().sources().end())
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no policy '" + name + "' in mode learn is loaded: its selector is needed for the export");
  out->set_yaml(learn::export_policy(it->second.profile, src->second, policy::Mode::kEnforce));
  return grpc::Status::OK;
}

grpc::Status Service::promote_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                                      v1::ProfileActionResponse* out) {
  Outcome o = control_.promote(req.name(), req.force(), req.reason(), peer);
  if (o.code != Outcome::Code::kOk) return status_of(o);
  out->set_name(req.name());
  out->set_stage(o.stage);
  out->set_message(o.message);
  return grpc::Status::OK;
}

grpc::Status Service::rollback_profile(const v1::ProfileActionRequest& req, const Peer& peer,
                                       v1::ProfileActionResponse* out) {
  Outcome o = control_.rollback(req.name(), req.reason(), peer);
  if (o.code != Outcome::Code::kOk) return status_of(o);
  out->set_name(req.name());
  out->set_stage(o.stage);
  out->set_message(o.message);
  return grpc::Status::OK;
}

}  // namespace rampart::api
