// The Score stage; see score.h.
#include "engine/score.h"

namespace rampart::engine {

void Score::run(Work& w) {
  const auto& ev = w.ev;
  const rp_proc& p = ev.proc();
  if (!w.hits.empty()) {
    const policy::Policy& pol = evaluate_.governing(w);
    for (const auto& h : w.hits) {
      score::Evidence e{ev.hdr->ts_ns, std::string(h.rule->id), h.rule->weight, sources::event_type_name(ev.type()),
                        h.detail};
      w.verdict = trust_.hit(p.tgid, ev.hdr->ts_ns, std::move(e), pol.scoring, pol.name);
      if (w.verdict->level_changed) w.changed.push_back(*w.verdict);
    }
    rule_hits_ += w.hits.size();
    w.verdict_enforced = pol.mode == policy::Mode::kEnforce;
  }
  // Only a parent with a score of its own passes distrust on; the policy
  // lookup (a map syscall) is not worth making for every fork on the host.
  if (ev.type() == RP_EV_FORK && trust_.tracked(p.tgid)) {
    auto v =
        trust_.on_fork(p.tgid, ev.as<rp_fork_event>().child_tgid, ev.hdr->ts_ns, policies_.governing(p.tgid).scoring);
    if (v.level_changed) w.changed.push_back(std::move(v));
  }
}

}  // namespace rampart::engine
