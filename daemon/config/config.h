// rampartd's configuration: the YAML schema, its defaults (config/rampart.yaml,
// embedded at build time) and its validation. Every error names the place:
// file:line:column and the key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace rampart::config {

extern const std::string_view kDefaultConfigYaml;

// api: the gRPC control API (daemon/api/, proto/rampart/v1/).
struct ApiConfig {
  // Unix socket; "" turns it off. Mode 0600, or 0660 owned by allowed_group.
  std::string socket = "/run/rampart/rampart.sock";
  // Besides root, members of this group may use the API ("" = root only).
  std::string allowed_group;
  uint32_t allowed_gid = 0;  // resolved from allowed_group at parse time
  // Optional TCP listener, "host:port". Needs tls_cert + tls_key + tls_ca
  // (mTLS: clients must present a certificate the CA signed), unless
  // insecure is true (plain TCP: anyone who can connect is trusted).
  std::string tcp_address;
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  uint32_t stream_queue = 4096;    // events queued per StreamEvents subscriber
  uint32_t max_message_kb = 4096;  // largest request accepted
};

// learning: profiles learned by policies in mode learn (daemon/learn/).
struct LearningConfig {
  std::string state_dir = "/var/lib/rampart";  // profiles go to STATE_DIR/profiles/NAME.json
  uint32_t collapse_threshold = 8;             // more distinct names in one directory: one "dir/*" item
  uint32_t max_items = 4096;                   // per profile; past it new items are dropped and counted
  uint32_t stability_window_s = 86400;         // no new behaviour for this long: the profile may be promoted
  bool auto_promote = false;                   // promote (to shadow) as soon as the window has passed
  uint32_t shadow_period_s = 86400;            // shadow (would-deny counted) before enforcement
  uint32_t flush_interval_s = 10;              // changed profiles are written at most this often (and at exit)
};

struct Config {
  std::string output_path = "-";
  uint32_t ringbuf_size_mb = 16;
  uint32_t ringbuf_size_kb = 0;  // when set (tests, tiny hosts), it replaces size_mb
  uint64_t ringbuf_bytes() const {
    return ringbuf_size_kb ? uint64_t{ringbuf_size_kb} << 10 : uint64_t{ringbuf_size_mb} << 20;
  }
  uint32_t wakeup_kb = 256;
  uint32_t poll_interval_ms = 5;
  std::vector<uint32_t> excluded_events;  // RP_EV_* values
  uint32_t process_table_max = 65536;
  // Trust scores: processes with a score of their own, and evidence kept per process.
  uint32_t trust_max_processes = 65536;
  uint32_t trust_max_evidence = 32;

  // --- overload ---
  // Kernel rate limits for the high-volume event types (RP_RATE_LIMITED_TYPES):
  // events per second and burst, per process and per cgroup; a rate of 0 is off.
  uint32_t rate_process_per_s = 500000, rate_process_burst = 1000000;
  uint32_t rate_cgroup_per_s = 1000000, rate_cgroup_burst = 2000000;
  // How often rampartd reads the kernel's per-process loss records (overload alerts).
  uint32_t overload_check_ms = 250;
  uint32_t stats_interval_s = 0;
  std::string policy_dir = "/etc/rampart/policies";
  bool policy_dir_explicit = false;  // set by --policy-dir: then a missing dir is an error
  bool enforce_network = true;
  // Filesystems (by a path on each) marked for fanotify exec checks when a
  // policy restricts exec.
  std::vector<std::string> exec_mounts{"/"};
  // Filesystems whose every open is checked through fanotify when a policy
  // restricts files (allow.files); off by default: each open costs a round trip.
  std::vector<std::string> file_mounts;
  // Path patterns a deny or quarantine verdict refuses to open.
  std::vector<std::string> sensitive_paths;
  // An exec or open the guard has not answered by then is allowed, and counted.
  uint32_t decision_deadline_ms = 1000;
  // Use BPF LSM for exec, files, privilege and self-protection where the
  // kernel has it and the self-test passes.
  bool bpf_lsm = true;
  // bpffs directory where enforcement is pinned, to outlive a crashed rampartd; "" for none.
  std::string pin_dir = "/sys/fs/bpf/rampart";
  ApiConfig api;
  LearningConfig learning;

  // --- operations: metrics endpoint and logs ---
  // Prometheus /metrics and /healthz over HTTP, "host:port"; "" turns it off.
  std::string metrics_address = "127.0.0.1:9464";
  // A non-loopback metrics address is refused unless this is true.
  bool metrics_allow_remote = false;
  std::string log_level = "info";   // debug, info, warning, error
  std::string log_format = "text";  // text or json (stderr; the journal has its own fields)
  // Kubernetes pod name, namespace and labels from the kubelet's /pods, by
  // the pod UID in the cgroup path; off while kubelet_url is "".
  std::string kubelet_url;
  std::string kubelet_token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string kubelet_ca_file;  // "" = the system's CAs
  bool kubelet_insecure_skip_tls_verify = false;
  uint32_t kubelet_refresh_s = 30;
};

// Parses and validates `text`; `source` names it in errors (a path, or
// "<embedded>"). Keys absent from the text keep their defaults.
Result<Config> parse(std::string_view text, std::string_view source);
// Reads and parses a file.
Result<Config> load_file(const std::string& path);
// The embedded defaults.
Config defaults();

}  // namespace rampart::config
