// rampartd, wired: the kernel programs, the engine (daemon/engine/) that
// every record goes down, and the edges around it: the gRPC API, policy
// reload triggers, metrics, systemd, overload checks. One Asio io_context
// thread owns all of it; signals, timers and the ring buffer all arrive on
// that loop, so nothing on the event path takes a lock.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
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
#include "engine/bpf_kernel.h"
#include "engine/engine.h"
#include "engine/kernel_mechanisms.h"
#include "k8s/kubelet.h"
#include "ops/counters.h"
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

  // --- Control, for the API (daemon_api.cpp, daemon_learn.cpp, daemon_reload.cpp); on the loop thread ---
  engine::Engine& engine() override { return *engine_; }
  const engine::Engine& engine() const override { return *engine_; }
  Outcome quarantine(uint32_t pid, const std::string& reason, const api::Peer& peer) override;
  Outcome release(uint32_t pid, const std::string& reason, const api::Peer& peer) override;
  ReloadAnswer reload(const ReloadAsk& ask, const api::Peer& peer) override;
  Outcome promote(const std::string& name, bool force, const std::string& reason, const api::Peer& peer) override;
  Outcome rollback(const std::string& name, const std::string& reason, const api::Peer& peer) override;
  void peer_refused(const api::Peer& peer, const std::string& why) override;
  std::string profile_dir() const override { return engine_->learner().dir(); }

 private:
  // First, so that it outlives every timer, signal set and descriptor below
  // (members are destroyed in reverse order).
  DaemonOptions opts_;
  boost::asio::io_context io_;

  Result<void> start();
  Result<void> start_engine(policy::PolicySet set, std::map<std::string, std::string> files,
                            std::unique_ptr<outputs::JsonlSink> sink);
  void arm_housekeeping();
  void write_stats(const char* reason);
  void log(const std::string& msg) const;
  engine::PolicyRuntime& policies() { return engine_->policies(); }
  const engine::PolicyRuntime& policies() const { return engine_->policies(); }

  // --- API and audit (daemon_api.cpp) ---
  Result<void> start_api();
  // GetStatus: the capability matrix, mechanisms and counters.
  grpc::Status get_status(v1::GetStatusResponse* out);
  // An "audit" record in the event output and a log line.
  void audit(const std::string& action, uint32_t pid, const api::Peer& peer, const std::string& result,
             const std::string& detail);

  // --- reload triggers (daemon_reload.cpp): the API, SIGHUP, inotify, retries ---
  void start_reload_triggers();
  void arm_inotify();
  void reload_from_trigger(const std::string& why);
  ReloadAnswer reload_and_audit(const ReloadAsk& ask, const api::Peer& peer, bool keep_deleted);
  // A reload through the runtime, counted; a refused kernel write of the
  // policy directory is retried (1 s, doubling to 60 s).
  engine::ReloadResult reload_policies(const std::string& dir, const std::string& text, const std::string& source,
                                       bool keep_deleted, uint32_t* retry_in_ms = nullptr);
  uint32_t schedule_reload_retry();
  // A {"type":"policy_alert"} record and a log line: a deleted file's policies stay.
  void alert_kept(const std::string& path, const std::vector<std::string>& names);
  std::unique_ptr<boost::asio::signal_set> hup_;
  int inotify_fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
  std::unique_ptr<boost::asio::steady_timer> debounce_, reload_retry_;
  std::array<char, 4096> inotify_buf_{};
  uint32_t reload_backoff_ms_ = 0;
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0, reload_retries_ = 0;

  // --- learned profiles (daemon_learn.cpp) ---
  Result<void> set_stage(const std::string& name, learn::Stage stage);  // installs through reload()
  void tick_profiles();  // housekeeping: auto-promotion, end of shadow, flushes

  // --- operations (daemon_ops.cpp): metrics endpoint, systemd ---
  void start_ops();  // once started: /metrics and /healthz, READY=1, watchdog pings
  void stop_ops();   // at shutdown: STOPPING=1, the endpoint closed
  ops::HttpResponse serve_http(const std::string& path);
  std::string render_metrics();
  // The counters the stats line, /metrics and GetStatus render from, each
  // defined once (at start, once the engine exists).
  void define_counters();
  ops::Counters counters_;
  // Read once per counters_.read(), shared by the counters that need them.
  Result<std::array<bpf::TypeStats, RP_EV_MAX>> kernel_stats_;

  // --- overload and bounded state (daemon_overload.cpp) ---
  void arm_overload_check();
  void check_overload();
  struct StateUse {
    const char* name;
    uint64_t entries, limit, bytes, evictions;
    const char* eviction;
  };
  std::vector<StateUse> state_use() const;
  std::vector<StateUse> state_now_;  // as of the last counters_.read()

  boost::asio::signal_set signals_;
  boost::asio::steady_timer housekeeping_;
  std::unique_ptr<bpf::Programs> programs_;
  std::unique_ptr<bpf::LsmPrograms> lsm_;  // null: the fallbacks enforce exec, files and privilege
  std::string lsm_status_;                 // why, for the log and status
  std::unique_ptr<engine::BpfKernel> kernel_;
  api::EventHub hub_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::LsmPathRules> lsm_rules_;
  std::unique_ptr<engine::FanotifyGuard> guard_;
  std::unique_ptr<sources::RingbufSource> source_;
  std::vector<bpf::Capability> matrix_;  // probed once at start
  std::unique_ptr<api::Service> service_;
  std::unique_ptr<api::ApiServer> api_;
  uint64_t started_ns_ = 0, last_stats_ns_ = 0;
  uint64_t output_errors_logged_ = 0;  // sink write errors already reported in the log

  std::unique_ptr<ops::HttpServer> http_;
  std::unique_ptr<k8s::KubeletPods> kubelet_;  // kubernetes.kubelet_url; hands lists to the loop
  std::unique_ptr<ops::Watchdog> watchdog_;
  std::unique_ptr<ops::RingbufFill> ringbuf_fill_;

  std::unique_ptr<boost::asio::steady_timer> overload_timer_;
  uint64_t overload_alerts_ = 0, overload_quarantines_ = 0;
  uint64_t last_overload_log_ns_ = 0, overload_log_suppressed_ = 0;
};

}  // namespace rampart
