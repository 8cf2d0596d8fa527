// The Emit stage; see emit.h.
#include "engine/emit.h"

#include <algorithm>

#include "util/clock.h"

namespace rampart::engine {

void Emit::exclude(const std::vector<uint32_t>& types) {
  for (uint32_t t : types)
    if (t < RP_EV_MAX) excluded_[t] = true;
}

void Emit::run(const Work& w) {
  const auto& ev = w.ev;
  if (excluded_[ev.type()] && w.hits.empty()) {
    ++excluded_count_[ev.type()];
    count(w);
    return;
  }
  outputs::EventContext ctx{&table_, out_.boot_to_realtime_ns(), {}, &policies_.kernel_names()};
  ctx.pods = enrich_.pods();
  if (w.replaced_exe) ctx.replaced_exe = *w.replaced_exe;
  if (w.deny) ctx.deny_rule = w.deny->id;
  ctx.killed_by_rule = w.killed_by_rule;
  if (w.verdict) {
    ctx.hits = &w.hits;
    ctx.verdict = &*w.verdict;
    ctx.verdict_enforced = w.verdict_enforced;
    ctx.verdict_applied_ns = w.verdict_applied_ns;
  }
  const size_t json_begin = out_.buffer().size();
  outputs::append_event_json(out_.buffer(), ev, ctx);
  ++delivered_[ev.type()];
  if (ev.type() == RP_EV_ENFORCE) ++(ev.as<rp_enforce_event>().action == RP_ACT_WOULD_DENY ? would_deny_ : denies_);
  if (hub_.active()) publish(w, json_begin);
  count(w);
}

void Emit::publish(const Work& w, size_t json_begin) {
  const auto& ev = w.ev;
  const rp_proc& p = ev.proc();
  const auto* info = table_.find(p.tgid);
  std::string_view json(out_.buffer());
  json = json.substr(json_begin);
  if (!json.empty() && json.back() == '\n') json.remove_suffix(1);
  api::EventFacts facts;
  facts.type = ev.type();
  facts.boot_ns = ev.hdr->ts_ns;
  facts.pid = p.pid;
  facts.tgid = p.tgid;
  facts.ppid = p.ppid;
  facts.uid = p.uid;
  facts.comm = sources::fixed_str(p.comm);
  if (info) {
    facts.exe = info->exe;
    facts.container_id = info->container.id;
  }
  facts.json = json;
  hub_.publish(
      facts, [&]() -> std::string_view { return policies_.governing(p.tgid).name; },
      [&]() -> uint8_t {
        uint8_t level = 0;
        const auto& trust = score_.trust();
        if (trust.tracked(p.tgid))
          if (auto v = trust.verdict(p.tgid, ev.hdr->ts_ns)) level = static_cast<uint8_t>(v->level);
        if (act_.quarantine_held(p.tgid)) level = std::max<uint8_t>(level, uint8_t(score::Level::kQuarantine));
        return level;
      });
}

void Emit::count(const Work& w) {
  const auto& ev = w.ev;
  if (w.verdict) {
    ++verdicts_by_level_[static_cast<size_t>(w.verdict->level) % verdicts_by_level_.size()];
    // The kernel's timestamp of the event to the verdict's map write, or to
    // now when it was not written (audit mode, or no level change).
    uint64_t end = w.verdict_applied_ns;
    if (!end) end = boot_now_ns();
    if (end > ev.hdr->ts_ns) verdict_latency_.observe(static_cast<double>(end - ev.hdr->ts_ns) / 1e9);
  }
  if (ev.type() == RP_EV_ENFORCE) {
    const auto& e = ev.as<rp_enforce_event>();
    if (e.mechanism < enforcement_by_mech_.size() && e.action < enforcement_by_mech_[0].size())
      ++enforcement_by_mech_[e.mechanism][e.action];
  }
}

}  // namespace rampart::engine
