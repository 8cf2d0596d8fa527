// rampartd's pipeline, wired: kernel programs → ring buffer → checked decoder
// → process table → JSON lines. One Asio io_context thread owns all of it;
// signals, timers and the ring buffer all arrive on that loop, so nothing on
// the event path takes a lock.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "api/backend.h"
#include "api/event_hub.h"
#include "api/server.h"
#include "bpf/loader.h"
#include "bpf/lsm_loader.h"
#include "bpf/mounts.h"
#include "config/config.h"
#include "learn/profile.h"
#include "learn/store.h"
#include "enforce/compiler.h"
#include "enforce/pending_writes.h"
#include "enforce/perm_guard.h"
#include "k8s/kubelet.h"
#include "ops/http_server.h"
#include "ops/metrics.h"
#include "ops/ringbuf_fill.h"
#include "ops/systemd.h"
#include "outputs/event_json.h"
#include "outputs/json_writer.h"
#include "outputs/sink.h"
#include "pipeline/process_table.h"
#include "policy/policy.h"
#include "score/rules.h"
#include "score/trust.h"
#include "score/violations.h"
#include "sources/decoder.h"
#include "sources/ringbuf_source.h"

namespace rampart {

// What the kernel maps hold for a trust level: the level and what it refuses.
rp_verdict kernel_verdict(score::Level level);

struct DaemonOptions {
  config::Config config;
  bool quiet = false;  // no start-up banner on stderr
};

class Daemon : public sources::RecordSink, public api::Backend {
 public:
  explicit Daemon(DaemonOptions opts);
  ~Daemon() override;
  // Runs until SIGINT/SIGTERM. Returns the process exit code.
  int run();

  void on_record(const void* data, size_t len) override;
  void on_batch_end() override;

  // --- gRPC API backend (daemon_api.cpp); run on the loop thread ---
  grpc::Status get_status(v1::GetStatusResponse* out) override;
  grpc::Status get_verdict(uint32_t pid, v1::Verdict* out) override;
  grpc::Status list_verdicts(v1::Level min_level, v1::ListVerdictsResponse* out) override;
  grpc::Status quarantine(const v1::ProcessRequest& req, const api::Peer& peer,
                          v1::ProcessActionResponse* out) override;
  grpc::Status release(const v1::ProcessRequest& req, const api::Peer& peer,
                       v1::ProcessActionResponse* out) override;
  grpc::Status list_policies(v1::ListPoliciesResponse* out) override;
  grpc::Status reload_policies(const v1::ReloadPoliciesRequest& req, const api::Peer& peer,
                               v1::ReloadPoliciesResponse* out) override;
  void peer_refused(const api::Peer& peer, const std::string& why) override;
  grpc::Status list_profiles(const std::string& name, v1::ListProfilesResponse* out) override;
  grpc::Status get_profile(const std::string& name, v1::GetProfileResponse* out) override;
  grpc::Status export_profile(const std::string& name, v1::ExportProfileResponse* out) override;
  grpc::Status promote_profile(const v1::ProfileActionRequest& req, const api::Peer& peer,
                               v1::ProfileActionResponse* out) override;
  grpc::Status rollback_profile(const v1::ProfileActionRequest& req, const api::Peer& peer,
                                v1::ProfileActionResponse* out) override;

 private:
  // --- API and reload (daemon_api.cpp, daemon_reload.cpp) ---
  Result<void> start_api();
  // After an event's JSON (from json_begin in the sink buffer) is written:
  // counters, manual-quarantine bookkeeping, stream subscribers.
  void after_event(const sources::EventView& ev, size_t json_begin);
  // Opens a record rampartd writes itself (audit, overload, kernel_write,
  // policy_alert): the object with v, time, boot_ns and type.
  void begin_record(outputs::JsonWriter& w, uint64_t now, const char* type) const;
  // An "audit" record in the event output and a log line.
  void audit(const std::string& action, uint32_t pid, const api::Peer& peer, const std::string& result,
             const std::string& detail);
  bool known_process(uint32_t pid);
  // The id the kernel maps use for a policy now, 0 if none.
  uint32_t policy_kernel_id(const std::string& name) const;
  // Policy ids come in two banks; a reload compiles the new set into the
  // bank not in use, then flips every assignment to it (daemon_reload.cpp).
  Result<enforce::Compiled> install_bank(const policy::PolicySet& set, uint32_t base);
  // After a crash: the pinned maps hold the previous rampartd's policies. The
  // new set goes into the bank they do not use, so that processes still
  // under the old rules keep them until they are reassigned (no gap); then
  // the old bank's executable assignments are dropped.
  void adopt_pinned_state();
  void drop_stale_assignments();
  // An enforce event with its kernel policy id made relative to the current bank.
  rp_enforce_event rebased(const rp_enforce_event& e) const;
  void start_reload_triggers();  // SIGHUP and inotify on the policy directory
  void reload_from_trigger(const std::string& why);
  // After a reload of the policy directory the kernel refused: tries it
  // again in 1 s, doubling to 60 s, until one applies. Returns the delay.
  uint32_t schedule_reload_retry();
  std::unique_ptr<boost::asio::steady_timer> reload_retry_;
  uint32_t reload_backoff_ms_ = 0;
  struct ReloadOutcome;
  // Parses, compiles into the other bank, flips, and swaps (or changes nothing).
  // keep_deleted: the policies of files deleted from the directory stay in
  // force (with an alert) instead of going; false for explicit reloads.
  v1::ReloadPoliciesResponse reload(const std::string& dir, const std::string& text, const std::string& source,
                                    bool keep_deleted = true);
  grpc::Status reload_and_audit(const v1::ReloadPoliciesRequest& req, const api::Peer& peer,
                                v1::ReloadPoliciesResponse* out, bool keep_deleted);
  // A {"type":"policy_alert"} record and a log line: a deleted file's policies stay.
  void alert_kept(const std::string& path);
  std::map<std::string, std::string> policy_files_;  // path → text of the directory set in force
  std::set<std::string> kept_files_;                  // of those, deleted files whose policies stay

  Result<void> start();
  void handle(const sources::EventView& ev);
  void ensure_known(const rp_proc& p);
  void resolve_cgroup(uint32_t tgid, uint64_t cgroup_id);
  Result<void> load_policies();
  Result<void> start_perm_guard();
  // allow.files on paths fanotify does not see: a violating open, already
  // done, is reported and (enforce mode) its process killed.
  void check_open_after(const rp_file_event& e);
  // Puts a process under the most specific policy that selects it, if any.
  void apply_policy(uint32_t tgid);
  // The policy that governs a process: the kernel's assignment, else the default.
  const policy::Policy& governing(uint32_t tgid) const;
  // The policy an event happened under: as the open recorded it, or for an
  // exec whose process is already gone, as it would have been.
  const policy::Policy& governing(const sources::EventView& ev) const;
  const policy::Policy& policy_by_id(uint32_t id) const;
  // Mirrors a verdict whose level changed into the kernel (enforce mode only).
  void apply_verdict(const score::Verdict& v);
  void write_stats(const char* reason);
  void arm_housekeeping();
  void update_clock_offset();
  void log(const std::string& msg) const;

  DaemonOptions opts_;
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer housekeeping_;
  std::unique_ptr<bpf::Programs> programs_;
  std::unique_ptr<bpf::LsmPrograms> lsm_;  // null: the fallbacks enforce exec, files and privilege
  std::string lsm_status_;                  // why, for the log and status
  std::unique_ptr<enforce::PermGuard> perm_guard_;
  std::vector<enforce::GuardRule> guard_rules_;  // index = policy id - 1
  bool any_file_rules_ = false;
  std::unique_ptr<sources::RingbufSource> source_;
  std::unique_ptr<outputs::JsonlSink> sink_;
  pipeline::ProcessTable table_;
  pipeline::ProcReader proc_reader_;
  std::string cgroup_root_ = bpf::find_mount("cgroup2");  // for cgroup paths by id
  std::unordered_map<uint64_t, std::string> cgroup_paths_;  // cgroup id → path
  policy::PolicySet policies_;
  enforce::Compiled compiled_;
  uint64_t policy_errors_ = 0;  // map writes that failed while assigning policies
  score::TrustEngine trust_;
  score::ConnectHistory connects_;  // executables seen connecting out
  score::Violations violations_;    // enforce events → hits; built from policies_
  // When a process last paid for each violation rule: a refused operation
  // retried in a loop costs once a minute, not once per try.
  std::unordered_map<uint32_t, std::vector<std::pair<const score::Rule*, uint64_t>>> violation_seen_;
  std::vector<score::RuleHit> hits_;  // reused per event
  // Adds the hit an enforce event stands for; returns the deny rule that matched, if any.
  const policy::DenyRule* on_violation(const rp_enforce_event& e);
  uint64_t rule_hits_ = 0, verdicts_applied_ = 0, kills_ = 0;
  uint64_t last_applied_ns_ = 0;  // boot clock of the last verdict map write
  int64_t boot_to_realtime_ns_ = 0;
  uint64_t started_ns_ = 0;
  uint64_t last_stats_ns_ = 0;

  // Userspace counters (the kernel's are in stats_map).
  uint64_t received_ = 0;
  std::array<uint64_t, sources::kDecodeErrorCount> decode_errors_{};
  std::array<uint64_t, RP_EV_MAX> delivered_{};

  // --- API and reload state ---
  std::vector<bpf::Capability> matrix_;  // probed once at start
  api::EventHub hub_;
  std::unique_ptr<api::ApiServer> api_;
  std::unordered_set<uint32_t> manual_quarantine_;  // tgids put there by the API
  uint64_t denies_ = 0, would_deny_ = 0;             // enforce events
  uint64_t policy_generation_ = 1;
  uint32_t policy_base_ = 0;               // kernel id = base + index + 1
  std::vector<std::string> kernel_names_;  // policy names by kernel id - 1, both banks
  std::string policy_source_;              // where the set in force came from
  std::map<std::string, std::string> fingerprints_;  // name → its YAML, to tell what a reload changed
  std::unique_ptr<boost::asio::signal_set> hup_;
  int inotify_fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
  std::unique_ptr<boost::asio::steady_timer> debounce_;
  std::array<char, 4096> inotify_buf_{};
  void arm_inotify();
  // --- learned profiles (issue 6; daemon_learn.cpp) ---
  struct LearnState {
    learn::Profile profile;
    bool dirty = false;                             // changed since last written
    std::map<std::string, uint64_t> anomalies;      // behaviour outside the profile, per rule id
  };
  std::string profile_dir() const;  // "" when learning.state_dir is ""
  void load_profiles();             // at start, before the policies
  // Puts in each learn policy's place what its profile's stage calls for;
  // returns the learn policies as written (for export).
  std::map<std::string, policy::Policy> overlay_profiles(policy::PolicySet& set);
  // Records (learning) or scores (anomalies into hits_) the event's behaviour.
  // `governed`: the event's policy if already looked up, else null (then
  // looked up here, only if a profile could want the event, and kept).
  void learn_from(const sources::EventView& ev, const policy::Policy*& governed);
  void count_shadow(const rp_enforce_event& e, const policy::DenyRule* deny);
  learn::Limits learn_limits() const;
  void save_profiles(bool all);
  Result<void> set_stage(const std::string& name, learn::Stage stage);  // installs through reload()
  void tick_profiles();  // housekeeping: auto-promotion, end of shadow, flushes
  void fill_profile_summary(const LearnState& st, v1::ProfileSummary* out) const;
  std::map<std::string, LearnState> profiles_;
  std::map<std::string, policy::Policy> learn_sources_;  // loaded learn policies, as written
  std::vector<learn::Rejected> rejected_profiles_;
  std::unordered_map<uint32_t, std::unordered_set<std::string>> anomaly_seen_;  // tgid → anomalies it paid for
  uint64_t profile_save_errors_ = 0;
  int64_t last_profile_flush_ = 0;
  // --- operations (issue 7; daemon_ops.cpp): metrics endpoint, systemd ---
  void start_ops();  // once started: /metrics and /healthz, READY=1, watchdog pings
  void stop_ops();   // at shutdown: STOPPING=1, the endpoint closed
  // Per event, after its JSON: verdict and enforcement counters (array bumps).
  void count_for_metrics(const sources::EventView& ev, const outputs::EventContext& ctx);
  ops::HttpResponse serve_http(const std::string& path);
  std::string render_metrics();
  uint64_t output_errors_logged_ = 0;  // sink write errors already reported in the log
  std::unique_ptr<ops::HttpServer> http_;
  std::unique_ptr<k8s::KubeletPods> kubelet_;  // kubernetes.kubelet_url; hands lists to the loop
  k8s::PodMap pods_;                            // the kubelet's last list, owned by the loop
  std::unique_ptr<ops::Watchdog> watchdog_;
  std::unique_ptr<ops::RingbufFill> ringbuf_fill_;
  std::array<uint64_t, 5> verdicts_by_level_{};                 // by score::Level
  std::array<std::array<uint64_t, 4>, 6> enforcement_by_mech_{};  // [RP_MECH_*][RP_ACT_*]
  ops::Histogram verdict_latency_;                              // event ts → verdict (applied) time
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0;               // policy reloads (API, SIGHUP, inotify)

  // --- kernel map writes that fail, and their retries (issue 8; daemon_kernel_writes.cpp) ---
  // A process's verdict / policy assignment ("" for none) into the kernel.
  // A refused write is reported and kept pending, retried until it lands.
  // `why` names who wanted it, in the record and the log.
  Result<void> write_verdict(uint32_t tgid, const rp_verdict& kv, std::string_view why);
  Result<void> write_assignment(uint32_t tgid, const std::string& policy, std::string_view why);
  Result<void> written(enforce::WriteKind kind, uint32_t tgid);               // landed: nothing pending
  Result<void> refused(enforce::PendingWrite w, const Result<void>& r);       // reported, kept pending
  Result<void> kernel_write(const enforce::PendingWrite& w);  // a pending write's map update, on retry
  void write_failed(enforce::PendingWrite w);
  void write_record(const enforce::PendingWrite& w, const char* action, uint64_t now);
  void log_write(const std::string& line, uint64_t now);
  void arm_write_retry();
  void retry_writes();
  // A fork the kernel flagged RP_F_INHERIT_FAILED: the parent's entries, written from here.
  void inherit_in_userspace(uint32_t parent, uint32_t child);
  enforce::PendingWrites pending_writes_;
  std::unique_ptr<boost::asio::steady_timer> write_retry_timer_;
  uint64_t write_retry_armed_ns_ = 0;  // when the timer fires, 0 if not armed
  uint64_t last_write_log_ns_ = 0, write_log_suppressed_ = 0;
  std::string last_write_error_;
  uint64_t reload_retries_ = 0;  // directory reloads retried after a kernel write failed
  // The fanotify guard of the bank a reload left, kept while processes it
  // could not move are still on that bank's ids.
  std::unique_ptr<enforce::PermGuard> straggler_guard_;

  // --- overload and bounded state (issue 8; daemon_overload.cpp) ---
  // Every overload.check_interval_ms: drains the kernel's loss_map, writes an
  // "overload" record (and a log line) naming each process that lost events,
  // and quarantines those an enforce-mode, fail-closed policy governs.
  void arm_overload_check();
  void check_overload();
  // Whether a verdict below quarantine must leave the kernel's verdict alone
  // (manual or fail-closed quarantine holds until Release or exit).
  bool quarantine_held(uint32_t tgid) const;
  struct StateUse {
    const char* name;
    uint64_t entries, limit, bytes, evictions;
    const char* eviction;
  };
  std::vector<StateUse> state_use() const;
  std::unique_ptr<boost::asio::steady_timer> overload_timer_;
  std::unordered_set<uint32_t> overload_quarantine_;  // tgids a fail-closed policy quarantined
  uint64_t overload_alerts_ = 0, overload_quarantines_ = 0;
  uint64_t last_overload_log_ns_ = 0, overload_log_suppressed_ = 0;
  uint64_t synthesized_ = 0;  // enforce events made in userspace (not from the ring buffer)
  uint64_t cgroup_path_resets_ = 0;
};

}  // namespace rampart
