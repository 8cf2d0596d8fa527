// The daemon's counters, each defined once here (name, help, kind,
// labels, stats-JSON path, reader), and the three renderings made from one
// reading of them: the {"type":"stats"} line, the Prometheus /metrics text
// and GetStatus's numbers (through status()). Everything runs on the loop
// thread, so reading the parts' state needs no lock; a reading reads the
// kernel's per-CPU stats map once, the events path only bumps array slots.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpf/loader.h"
#include "edges/overload_watch.h"
#include "edges/reloads.h"
#include "engine/engine.h"
#include "engine/kernel_mechanisms.h"
#include "k8s/kubelet.h"
#include "ops/counters.h"
#include "ops/ringbuf_fill.h"
#include "ops/systemd.h"

namespace rampart::edges {

// What the counters read. The optional parts are referred to through the
// daemon's own pointers: they come and go (the kubelet client ends before
// the last stats line), and a counter without its part has no samples.
struct TelemetrySources {
  bpf::Programs& programs;
  const engine::Engine& engine;
  const Reloads& reloads;
  const OverloadWatch& overload;
  const std::unique_ptr<engine::FanotifyGuard>& guard;
  const std::unique_ptr<k8s::KubeletPods>& kubelet;
  const std::unique_ptr<ops::RingbufFill>& ringbuf_fill;
  const std::unique_ptr<ops::Watchdog>& watchdog;
  uint64_t started_ns;
};

class Telemetry {
 public:
  explicit Telemetry(TelemetrySources sources);  // defines every counter
  ops::Counters::Snapshot read() const { return counters_.read(); }
  // The bounded structures as of the last read().
  const std::vector<StateUse>& state_now() const { return state_now_; }
  // The Prometheus exposition: the registry, the verdict latency histogram
  // and the standard process_* families.
  std::string render_metrics() const;
  // A {"type":"stats"} line into the output's buffer.
  void write_stats(engine::Output& out, const char* reason) const;

 private:
  void define();

  TelemetrySources s_;
  ops::Counters counters_;
  // Read once per counters_.read(), shared by the counters that need them.
  Result<std::array<bpf::TypeStats, RP_EV_MAX>> kernel_stats_;
  std::vector<StateUse> state_now_;
};

}  // namespace rampart::edges
