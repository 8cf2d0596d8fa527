// The engine; see engine.h.
#include "engine/engine.h"

#include "ops/log.h"

namespace rampart::engine {

Engine::Engine(boost::asio::io_context& io, const config::Config& cfg, Kernel& kernel, std::unique_ptr<Output> out,
               api::EventHub& hub, std::string cgroup_root)
    : out_(std::move(out)),
      table_(pipeline::ProcessTable::Limits{cfg.process_table_max, 5'000'000'000}),
      policies_(kernel),
      learner_(cfg.learning),
      act_(io, kernel, policies_, table_, *out_, [this](const rp_enforce_event& e) { handle_synthesized(e); }),
      enrich_(table_, proc_, policies_, act_, std::move(cgroup_root)),
      evaluate_(policies_, table_, learner_, cfg.file_mounts),
      score_(score::TrustEngine::Limits{cfg.trust_max_processes, cfg.trust_max_evidence}, policies_, evaluate_),
      emit_(*out_, hub, table_, policies_, enrich_, score_, act_) {
  policies_.connect(act_, table_, learner_);
  emit_.exclude(cfg.excluded_events);
}

void Engine::on_record(const void* data, size_t len) {
  ++received_;
  auto ev = sources::decode(data, len);
  if (!ev) {
    auto idx = static_cast<size_t>(ev.error());
    // Log the first of each kind; the rest are counted in the stats line.
    if (decode_errors_[idx]++ == 0)
      ops::log_line("warning: rejected a kernel record (" + std::string(sources::decode_error_name(ev.error())) + ", " +
                    std::to_string(len) + " bytes); further ones are counted in stats");
    return;
  }
  handle(*ev);
}

void Engine::handle_synthesized(const rp_enforce_event& e) {
  ++synthesized_;
  handle(sources::EventView{&e.hdr});
  out_->sink().flush();
}

void Engine::handle(const sources::EventView& ev) {
  Work w(ev);
  enrich_.run(w);
  evaluate_.run(w);
  score_.run(w);
  act_.run(w);
  emit_.run(w);
  if (ev.type() == RP_EV_EXIT) {
    const uint32_t tgid = ev.proc().tgid;
    enrich_.forget(tgid, ev.as<rp_exit_event>().exit_code, ev.hdr->ts_ns);
    evaluate_.forget(tgid);
    score_.forget(tgid);
    learner_.forget(tgid);
    act_.forget(tgid, ev.hdr->ts_ns);
  }
  out_->sink().flush_if_large();
}

void Engine::tick(uint64_t now) {
  table_.sweep(now);
  for (const auto& v : score_.tick(now)) act_.apply_verdict(v);  // decay relaxes verdicts
}

}  // namespace rampart::engine
