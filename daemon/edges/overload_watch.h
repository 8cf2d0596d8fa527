// Overload and bounded state. When the kernel could not deliver a
// process's events (the ring buffer was full, or the process or its cgroup
// went over its rate limit), the BPF programs count the loss per type and
// per CPU in stats_map and record the process in loss_map. Every
// overload.check_interval_ms this drains loss_map on the pipeline's loop,
// writes one {"type":"overload"} record per process that lost events (its
// pid, comm, exe, counts and the types lost), logs a summary at most once a
// second, and applies the governing policy's `overload:` choice: fail-open
// alerts only; fail-closed, for an enforce-mode policy, quarantines the
// process in the kernel (no connect, bind, sendmsg; no exec, no sensitive
// files), because rampartd can no longer vouch for what it did. That
// quarantine holds like a manual one, until Release or exit.
// It also reports the size of every bounded structure of rampartd.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <vector>

#include "api/event_hub.h"
#include "bpf/loader.h"
#include "config/config.h"
#include "edges/status.h"
#include "engine/engine.h"
#include "sources/ringbuf_source.h"

namespace rampart::edges {

class OverloadWatch {
 public:
  OverloadWatch(boost::asio::io_context& io, const config::Config& cfg, bpf::Programs& programs,
                sources::RingbufSource& source, engine::Engine& engine, const api::EventHub& hub)
      : timer_(io), cfg_(cfg), programs_(programs), source_(source), engine_(engine), hub_(hub) {}
  void start() { arm(); }
  void stop() { timer_.cancel(); }
  // Drains loss_map now (also at exit, after the last ring buffer drain).
  void check();
  std::vector<StateUse> state_use() const;

  uint64_t alerts() const { return alerts_; }
  uint64_t quarantines() const { return quarantines_; }

 private:
  void arm();

  boost::asio::steady_timer timer_;
  const config::Config& cfg_;
  bpf::Programs& programs_;
  sources::RingbufSource& source_;
  engine::Engine& engine_;
  const api::EventHub& hub_;
  uint64_t alerts_ = 0, quarantines_ = 0;
  uint64_t last_log_ns_ = 0, log_suppressed_ = 0;
};

}  // namespace rampart::edges
