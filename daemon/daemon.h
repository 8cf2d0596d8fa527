// rampartd, wired: the kernel programs, the engine (daemon/engine/) that
// every record goes down, and the edges around it (daemon/edges/: audit,
// process actions, policy reload triggers, profile stages, overload checks,
// counters), the gRPC API, metrics and systemd. This object only builds the
// parts in order, hands the API's calls to them and runs the loop. One Asio
// io_context thread owns all of it; signals, timers and the ring buffer all
// arrive on that loop, so nothing on the event path takes a lock.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "api/event_hub.h"
#include "api/server.h"
#include "api/service.h"
#include "bpf/loader.h"
#include "bpf/lsm_loader.h"
#include "config/config.h"
#include "control.h"
#include "edges/audit.h"
#include "edges/overload_watch.h"
#include "edges/process_actions.h"
#include "edges/profile_stages.h"
#include "edges/reloads.h"
#include "edges/telemetry.h"
#include "engine/bpf_kernel.h"
#include "engine/engine.h"
#include "engine/kernel_mechanisms.h"
#include "k8s/kubelet.h"
#include "ops/http_server.h"
#include "ops/ringbuf_fill.h"
#include "ops/systemd.h"
#include "sources/ringbuf_source.h"

namespace rampart {

struct DaemonOptions {
  config::Config config;
  bool quiet = false;  // no start-up banner on stderr
};

class Daemon final : public Control {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon() override;
  // Runs until SIGINT/SIGTERM. Returns the process exit code.
  int run();

  // --- Control, for the API: each call is handed to the part that does it; on the loop thread ---
  engine::Engine& engine() override { return *engine_; }
  const engine::Engine& engine() const override { return *engine_; }
  Outcome quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer) override {
    return actions_->quarantine(pid, reason, peer);
  }
  Outcome release(uint32_t pid, const std::string& reason, const api::Peer& peer) override {
    return actions_->release(pid, reason, peer);
  }
  ReloadAnswer reload(const ReloadAsk& ask, const api::Peer& peer) override { return reloads_->reload(ask, peer); }
  Outcome promote(const std::string& name, bool force, const std::string& reason, const api::Peer& peer) override {
    return stages_->promote(name, force, reason, peer);
  }
  Outcome rollback(const std::string& name, const std::string& reason, const api::Peer& peer) override {
    return stages_->rollback(name, reason, peer);
  }
  void peer_refused(const api::Peer& peer, const std::string& why) override {
    audit_->record("api_refused", 0, peer, "refused", why);
  }
  edges::StatusReport status() override;
  std::string profile_dir() const override { return engine_->learner().dir(); }

 private:
  // First, so that it outlives every timer, signal set and descriptor below
  // (members are destroyed in reverse order).
  DaemonOptions opts_;
  boost::asio::io_context io_;

  Result<void> start();
  Result<void> load_programs(const bpf::Capabilities& caps);
  Result<void> start_engine(policy::PolicySet set, std::map<std::string, std::string> files,
                            std::unique_ptr<outputs::JsonlSink> sink);
  Result<void> start_api();
  void start_ops();  // once started: counters, /metrics and /healthz, kubelet, READY=1, watchdog pings
  void stop_ops();   // at shutdown: STOPPING=1, the endpoint closed, the kubelet client joined
  ops::HttpResponse serve_http(const std::string& path);
  void arm_housekeeping();
  void write_stats(const char* reason);
  void log(const std::string& msg) const;
  engine::PolicyRuntime& policies() { return engine_->policies(); }

  boost::asio::signal_set signals_;
  boost::asio::steady_timer housekeeping_;
  std::unique_ptr<bpf::Programs> programs_;
  std::unique_ptr<bpf::LsmPrograms> lsm_;  // null: the fallbacks enforce exec, files and privilege
  std::string lsm_status_;                 // why, for the log and status
  std::string enforce_cgroup_;             // where the cgroup socket hooks are attached ("" : none)
  std::unique_ptr<engine::BpfKernel> kernel_;
  api::EventHub hub_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::LsmPathRules> lsm_rules_;
  std::unique_ptr<engine::FanotifyGuard> guard_;
  std::unique_ptr<sources::RingbufSource> source_;
  std::vector<bpf::Capability> matrix_;  // probed once at start

  // The edges (daemon/edges/), built once the engine exists.
  std::unique_ptr<edges::Audit> audit_;
  std::unique_ptr<edges::ProcessActions> actions_;
  std::unique_ptr<edges::Reloads> reloads_;
  std::unique_ptr<edges::ProfileStages> stages_;
  std::unique_ptr<edges::OverloadWatch> overload_;
  std::unique_ptr<edges::Telemetry> telemetry_;

  std::unique_ptr<api::Service> service_;
  std::unique_ptr<api::ApiServer> api_;
  uint64_t started_ns_ = 0, last_stats_ns_ = 0;
  uint64_t output_errors_logged_ = 0;  // sink write errors already reported in the log

  std::unique_ptr<ops::HttpServer> http_;
  std::unique_ptr<k8s::KubeletPods> kubelet_;  // kubernetes.kubelet_url; hands lists to the loop
  std::unique_ptr<ops::Watchdog> watchdog_;
  std::unique_ptr<ops::RingbufFill> ringbuf_fill_;
};

}  // namespace rampart
