// The engine: every kernel record goes down the same stages, once, in
// order:
//   decode    checked against the shared ABI (bad records are counted)
//   enrich    process table, cgroup, container, pod; policy selection
//   evaluate  the governing policy, built-in rules, violations, profiles
//   score     trust score and level
//   act       verdict and assignment writes (retried), kills
//   emit      the JSON line, stream subscribers, per-event metrics
// and at exit each stage forgets the process. The engine owns the stages
// and the state they share (process table, policy runtime); what it needs
// from the kernel comes through engine::Kernel, so the whole pipeline runs
// in tests with a fake kernel and recorded records.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>

#include "api/event_hub.h"
#include "config/config.h"
#include "engine/act.h"
#include "engine/emit.h"
#include "engine/enrich.h"
#include "engine/evaluate.h"
#include "engine/kernel.h"
#include "engine/learner.h"
#include "engine/output.h"
#include "engine/policy_runtime.h"
#include "engine/score.h"
#include "pipeline/process_table.h"
#include "sources/decoder.h"
#include "sources/ringbuf_source.h"

namespace rampart::engine {

class Engine : public sources::RecordSink {
 public:
  Engine(boost::asio::io_context& io, const config::Config& cfg, Kernel& kernel, std::unique_ptr<Output> out,
         api::EventHub& hub, std::string cgroup_root);

  // sources::RecordSink: a raw record from the ring buffer.
  void on_record(const void* data, size_t len) override;
  void on_batch_end() override { out_->sink().flush(); }
  // One decoded event down every stage.
  void handle(const sources::EventView& ev);
  // An enforce event rampartd made itself (fanotify answers, kills after the fact).
  void handle_synthesized(const rp_enforce_event& e);

  // Every second: table sweep, score decay into the kernel.
  void tick(uint64_t now);

  Output& output() { return *out_; }
  const Output& output() const { return *out_; }
  pipeline::ProcessTable& table() { return table_; }
  const pipeline::ProcessTable& table() const { return table_; }
  pipeline::ProcReader& proc_reader() { return proc_; }
  PolicyRuntime& policies() { return policies_; }
  const PolicyRuntime& policies() const { return policies_; }
  Learner& learner() { return learner_; }
  const Learner& learner() const { return learner_; }
  Enrich& enrich() { return enrich_; }
  const Enrich& enrich() const { return enrich_; }
  const Evaluate& evaluate() const { return evaluate_; }
  Score& score() { return score_; }
  const Score& score() const { return score_; }
  Act& act() { return act_; }
  const Act& act() const { return act_; }
  const Emit& emit() const { return emit_; }

  uint64_t received() const { return received_; }
  uint64_t synthesized() const { return synthesized_; }
  const std::array<uint64_t, sources::kDecodeErrorCount>& decode_errors() const { return decode_errors_; }

 private:
  std::unique_ptr<Output> out_;
  pipeline::ProcessTable table_;
  pipeline::ProcReader proc_;
  PolicyRuntime policies_;
  Learner learner_;
  Act act_;
  Enrich enrich_;
  Evaluate evaluate_;
  Score score_;
  Emit emit_;
  uint64_t received_ = 0, synthesized_ = 0;
  std::array<uint64_t, sources::kDecodeErrorCount> decode_errors_{};
};

}  // namespace rampart::engine
