// The Evaluate stage; see evaluate.h.
#include "engine/evaluate.h"

#include <algorithm>
#include <cstring>

namespace rampart::engine {

Evaluate::Evaluate(const PolicyRuntime& policies, const pipeline::ProcessTable& table, Learner& learner,
                   std::vector<std::string> file_mounts)
    : policies_(policies), table_(table), learner_(learner), file_mounts_(std::move(file_mounts)) {}

const policy::Policy& Evaluate::governing(Work& w) const {
  if (!w.governed) w.governed = &policies_.governing(w.ev, table_);
  return *w.governed;
}

void Evaluate::run(Work& w) {
  const auto& ev = w.ev;
  if (ev.type() == RP_EV_ENFORCE) {
    const auto& e = ev.as<rp_enforce_event>();
    w.deny = on_violation(e, w.hits);
    if (!learner_.profiles().empty())
      learner_.count_shadow(e, policies_.by_id(e.policy_id), w.deny ? std::string_view(w.deny->id) : "");
    // A kill rule ends the process too, once the kernel or fanotify refused
    // the operation (a SIGKILL mechanism already ended it).
    w.kill_for_rule = w.deny && w.deny->action == policy::Action::kKill && e.action == RP_ACT_DENIED &&
                      e.mechanism != RP_MECH_SIGKILL;
    return;
  }
  if (ev.type() == RP_EV_OPEN && policies_.any_file_rules()) {
    const auto& e = ev.as<rp_file_event>();
    if (e.result >= 0) check_open_after(w, e);
  }
  score::RuleContext rc{table_, false, &connects_};
  if (ev.type() == RP_EV_BPF) rc.bpf_expected = governing(w).allow.bpf_expected;
  score::evaluate(ev, rc, w.hits);
  if (learner_.wants(ev)) learner_.observe(ev, governing(w), table_, w.hits);
}

const policy::DenyRule* Evaluate::on_violation(const rp_enforce_event& e, std::vector<score::RuleHit>& hits) {
  auto m = policies_.violations().match(policies_.rebased(e));
  if (!m) return nullptr;
  constexpr uint64_t kRepeatNs = 60'000'000'000;
  auto& seen = seen_[e.proc.tgid];
  auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == m->rule; });
  if (it == seen.end()) {
    if (seen.size() >= 64) seen.erase(seen.begin());  // bound per process
    seen.emplace_back(m->rule, e.hdr.ts_ns);
    hits.push_back({m->rule, std::move(m->detail)});
  } else if (e.hdr.ts_ns - it->second >= kRepeatNs) {
    it->second = e.hdr.ts_ns;
    hits.push_back({m->rule, std::move(m->detail)});
  }
  return m->deny;
}

void Evaluate::check_open_after(Work& w, const rp_file_event& e) const {
  const uint32_t id = e.policy_id;  // as of the open, not as of now
  const enforce::GuardRule* rule = policies_.guard_rule(id);
  if (!rule || !rule->has_file_rules()) return;
  const std::string_view path = sources::fixed_str(e.path);
  auto reasons = enforce::open_reasons(*rule, path);
  auto access = enforce::access_from_flags(e.flags);
  uint8_t why = access.write && reasons.write ? reasons.write : access.read ? reasons.read : 0;
  if (!why) return;
  // An open that fanotify saw was decided there: in enforce mode it failed,
  // so a successful one was not marked; in audit mode it was reported.
  if (!rule->enforce) {
    for (const auto& list : {&rule->read_deny, &rule->write_deny})
      for (const auto& p : *list)
        if (p.matches(path)) return;
    for (const auto& m : file_mounts_)
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
  ev.action = rule->enforce ? RP_ACT_KILLED : RP_ACT_WOULD_DENY;
  std::memcpy(ev.path, e.path, sizeof(ev.path));
  w.after_the_fact = ev;
}

size_t Evaluate::history_entries() const {
  size_t n = 0;
  for (const auto& [tgid, v] : seen_) n += v.size();
  return n;
}

}  // namespace rampart::engine
