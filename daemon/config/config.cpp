// Config parsing and validation; see config.h.
#include "config/config.h"

#include <grp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "k8s/pods.h"
#include "ops/address.h"
#include "policy/patterns.h"
#include "sources/decoder.h"
#include "util/file.h"
#include "util/number.h"

namespace rampart::config {
namespace {

std::string where(std::string_view source, const YAML::Mark& m) {
  // yaml-cpp marks are 0-based.
  return std::string(source) + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

using Handler = std::function<Result<void>(const YAML::Node&, const std::string& at)>;

// Walks a mapping, rejecting unknown keys and anything that is not a mapping.
Result<void> walk(const YAML::Node& node, std::string_view source, const std::string& path,
                  const std::map<std::string, Handler>& handlers) {
  if (!node.IsMap())
    return fail(where(source, node.Mark()) + ": " + (path.empty() ? "the top level" : "'" + path + "'") +
                " must be a mapping");
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    std::string full = path.empty() ? key : path + "." + key;
    auto it = handlers.find(key);
    if (it == handlers.end()) {
      std::string known;
      for (const auto& [k, _] : handlers) known += (known.empty() ? "" : ", ") + k;
      return fail(where(source, kv.first.Mark()) + ": unknown key '" + full + "' (expected one of: " + known + ")");
    }
    auto r = it->second(kv.second, where(source, kv.second.Mark()) + ": '" + full + "'");
    if (!r) return r;
  }
  return {};
}

Handler uint_in(uint32_t& out, uint32_t lo, uint32_t hi) {
  return [&out, lo, hi](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsScalar()) return fail(at + " must be an integer");
    auto v = parse_number<uint32_t>(n.Scalar(), lo, hi);
    if (!v) return fail(at + " " + v.error().message);
    out = *v;
    return {};
  };
}

// uint_in, and a power of two: checked here, where the value's position is known.
Handler pow2_in(uint32_t& out, uint32_t lo, uint32_t hi) {
  return [&out, in = uint_in(out, lo, hi)](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (auto r = in(n, at); !r) return r;
    if ((out & (out - 1)) != 0) return fail(at + " must be a power of two, got " + n.Scalar());
    return {};
  };
}

// Remembers where a value was set, for checks that involve more than one key.
Handler located(std::string& at_out, Handler inner) {
  return [&at_out, inner](const YAML::Node& n, const std::string& at) -> Result<void> {
    at_out = at;
    return inner(n, at);
  };
}

Handler bool_of(bool& out) {
  return [&out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
      out = n.Scalar() == "true";
      return {};
    }
    return fail(at + " must be true or false");
  };
}

// A list of absolute paths.
Handler path_list(std::vector<std::string>& out) {
  return [&out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsSequence()) return fail(at + " must be a list of absolute paths");
    out.clear();
    for (const auto& item : n) {
      if (!item.IsScalar() || item.Scalar().empty() || item.Scalar()[0] != '/')
        return fail(at + " must hold absolute paths, got '" + (item.IsScalar() ? item.Scalar() : "?") + "'");
      out.push_back(item.Scalar());
    }
    return {};
  };
}

// An absolute directory (`what` says which kind), or "" for none.
Handler dir_or_none(std::string& out, const char* what) {
  return [&out, what](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsScalar() || (!n.Scalar().empty() && n.Scalar()[0] != '/'))
      return fail(at + " must be an absolute directory" + what + ", or \"\" for none");
    out = n.Scalar();
    return {};
  };
}

// A list of policy path patterns: exact, "dir/" prefixes, globs.
Handler pattern_list(std::vector<std::string>& out) {
  return [&out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsSequence()) return fail(at + " must be a list of path patterns");
    out.clear();
    for (const auto& item : n) {
      std::string text = item.IsScalar() ? item.Scalar() : std::string();
      if (auto p = policy::parse_path_pattern(text); !p) return fail(at + ": '" + text + "': " + p.error().what());
      out.push_back(text);
    }
    return {};
  };
}

// One of a fixed set of words.
Handler one_of(std::string& out, std::vector<std::string> words) {
  return [&out, words](const YAML::Node& n, const std::string& at) -> Result<void> {
    std::string list;
    for (const auto& w : words) {
      if (n.IsScalar() && n.Scalar() == w) {
        out = w;
        return {};
      }
      list += (list.empty() ? "" : ", ") + w;
    }
    return fail(at + " must be one of: " + list + (n.IsScalar() ? ", got '" + n.Scalar() + "'" : ""));
  };
}

// A listen address ("" = off), remembered with its place for the remote check.
Handler listen_address(std::string& out, std::string& at_out) {
  return [&out, &at_out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsScalar()) return fail(at + " must be \"host:port\" or \"\"");
    at_out = at;
    out = n.Scalar();
    if (out.empty()) return {};
    if (auto a = ops::parse_listen_address(out); !a) return fail(at + ": " + a.error().what());
    return {};
  };
}

Handler string_of(std::string& out) {
  return [&out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsScalar() || n.Scalar().empty()) return fail(at + " must be a non-empty string");
    out = n.Scalar();
    return {};
  };
}

// A string that may be empty (an empty value turns the feature off).
Handler string_or_empty(std::string& out) {
  return [&out](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsScalar()) return fail(at + " must be a string");
    out = n.Scalar();
    return {};
  };
}

// The api: section's checks that involve more than one key, or the system.
Result<void> check_api(ApiConfig& a, const std::string& socket_at, const std::string& group_at,
                       const std::string& tcp_at) {
  if (!a.socket.empty() && a.socket[0] != '/')
    return fail(socket_at + " must be an absolute path, or \"\" for no Unix socket");
  if (!a.allowed_group.empty()) {
    struct group* g = getgrnam(a.allowed_group.c_str());
    if (!g) return fail(group_at + ": no group named '" + a.allowed_group + "' on this host");
    a.allowed_gid = g->gr_gid;
  }
  if (a.tcp_address.empty()) return {};
  auto colon = a.tcp_address.rfind(':');
  auto port = colon == std::string::npos ? std::string() : a.tcp_address.substr(colon + 1);
  if (colon == 0 || !parse_number<uint16_t>(port, 0, 65535))
    return fail(tcp_at + " must be host:port (e.g. 127.0.0.1:50051 or [::1]:50051), got '" + a.tcp_address + "'");
  bool any_tls = !a.tls_cert.empty() || !a.tls_key.empty() || !a.tls_ca.empty();
  if (a.insecure && any_tls)
    return fail(tcp_at + ": insecure: true and tls_* files are both set; use one or the other");
  if (!a.insecure && (a.tls_cert.empty() || a.tls_key.empty() || a.tls_ca.empty()))
    return fail(tcp_at +
                ": a TCP listener needs mTLS (api.tcp.tls_cert, tls_key and tls_ca); plain TCP is refused "
                "unless api.tcp.insecure is true");
  return {};
}

}  // namespace

Result<Config> parse(std::string_view text, std::string_view source) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail(where(source, e.mark) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return c;  // an empty file: all defaults

  // A section: its keys are reported with the section name ("ringbuf.size_mb").
  auto nested = [source](std::string name, std::map<std::string, Handler> handlers) -> Handler {
    return [source, name, handlers](const YAML::Node& n, const std::string&) -> Result<void> {
      return walk(n, source, name, handlers);
    };
  };
  Handler excluded = [&c, source](const YAML::Node& n, const std::string& at) -> Result<void> {
    if (!n.IsSequence()) return fail(at + " must be a list of event types");
    for (const auto& item : n) {
      auto name = item.IsScalar() ? item.Scalar() : std::string();
      uint32_t type = sources::event_type_from_name(name);
      if (type == 0) return fail(where(source, item.Mark()) + ": 'events.exclude': unknown event type '" + name + "'");
      if (type == RP_EV_ENFORCE)
        return fail(where(source, item.Mark()) +
                    ": 'events.exclude': 'enforce' cannot be excluded: enforce events are the record of what was "
                    "refused");
      c.excluded_events.push_back(type);
    }
    return {};
  };

  // wakeup_kb is checked against size_mb after both are read; an error names
  // where wakeup_kb was set (it can only fail when it was).
  std::string wakeup_at = std::string(source) + ": 'ringbuf.wakeup_kb'";
  std::string size_mb_at, size_kb_at;  // set when the text sets them
  std::string metrics_at = std::string(source) + ": 'metrics.address'";

  std::string api_socket_at = std::string(source) + ": 'api.socket'";
  std::string api_group_at = std::string(source) + ": 'api.allowed_group'";
  std::string api_tcp_at = std::string(source) + ": 'api.tcp'";

  Result<void> r;
  try {
    r = walk(
        root, source, "",
        {
            {"output", nested("output", {{"path", string_of(c.output_path)}})},
            {"ringbuf", nested("ringbuf", {{"size_mb", located(size_mb_at, pow2_in(c.ringbuf_size_mb, 1, 1024))},
                                           {"size_kb", located(size_kb_at, pow2_in(c.ringbuf_size_kb, 4, 1024 * 1024))},
                                           {"wakeup_kb", located(wakeup_at, uint_in(c.wakeup_kb, 4, 1024 * 1024))},
                                           {"poll_interval_ms", uint_in(c.poll_interval_ms, 1, 1000)}})},
            {"events", nested("events", {{"exclude", excluded}})},
            {"process_table", nested("process_table", {{"max_entries", uint_in(c.process_table_max, 64, 4194304)}})},
            {"trust", nested("trust", {{"max_processes", uint_in(c.trust_max_processes, 64, 4194304)},
                                       {"max_evidence", uint_in(c.trust_max_evidence, 1, 1024)}})},
            {"ratelimit", nested("ratelimit", {{"process_per_s", uint_in(c.rate_process_per_s, 0, 100000000)},
                                               {"process_burst", uint_in(c.rate_process_burst, 1, 100000000)},
                                               {"cgroup_per_s", uint_in(c.rate_cgroup_per_s, 0, 100000000)},
                                               {"cgroup_burst", uint_in(c.rate_cgroup_burst, 1, 100000000)}})},
            {"overload", nested("overload", {{"check_interval_ms", uint_in(c.overload_check_ms, 10, 10000)}})},
            {"stats", nested("stats", {{"interval_s", uint_in(c.stats_interval_s, 0, 86400)}})},
            {"policy", nested("policy", {{"dir", string_of(c.policy_dir)}})},
            {"enforcement", nested("enforcement", {{"network", bool_of(c.enforce_network)},
                                                   {"exec_mounts", path_list(c.exec_mounts)},
                                                   {"file_mounts", path_list(c.file_mounts)},
                                                   {"sensitive_paths", pattern_list(c.sensitive_paths)},
                                                   {"decision_deadline_ms", uint_in(c.decision_deadline_ms, 10, 60000)},
                                                   {"bpf_lsm", bool_of(c.bpf_lsm)},
                                                   {"pin_dir", dir_or_none(c.pin_dir, " on bpffs")}})},
            {"api",
             nested("api", {{"socket", located(api_socket_at, string_or_empty(c.api.socket))},
                            {"allowed_group", located(api_group_at, string_or_empty(c.api.allowed_group))},
                            {"stream_queue", uint_in(c.api.stream_queue, 16, 1 << 20)},
                            {"max_message_kb", uint_in(c.api.max_message_kb, 64, 65536)},
                            {"tcp", located(api_tcp_at,
                                            nested("api.tcp", {{"address", located(api_tcp_at,
                                                                                   string_or_empty(c.api.tcp_address))},
                                                               {"tls_cert", string_or_empty(c.api.tls_cert)},
                                                               {"tls_key", string_or_empty(c.api.tls_key)},
                                                               {"tls_ca", string_or_empty(c.api.tls_ca)},
                                                               {"insecure", bool_of(c.api.insecure)}}))}})},
            {"learning",
             nested("learning", {{"state_dir", dir_or_none(c.learning.state_dir, "")},
                                 {"collapse_threshold", uint_in(c.learning.collapse_threshold, 1, 65536)},
                                 {"max_items", uint_in(c.learning.max_items, 16, 1 << 20)},
                                 {"stability_window_s", uint_in(c.learning.stability_window_s, 0, 365 * 86400)},
                                 {"auto_promote", bool_of(c.learning.auto_promote)},
                                 {"shadow_period_s", uint_in(c.learning.shadow_period_s, 0, 365 * 86400)},
                                 {"flush_interval_s", uint_in(c.learning.flush_interval_s, 1, 3600)}})},
            // --- operations ---
            {"metrics", nested("metrics", {{"address", listen_address(c.metrics_address, metrics_at)},
                                           {"allow_remote", bool_of(c.metrics_allow_remote)}})},
            {"log", nested("log", {{"level", one_of(c.log_level, {"debug", "info", "warning", "error"})},
                                   {"format", one_of(c.log_format, {"text", "json"})}})},
            {"kubernetes", nested(
                               "kubernetes", {{"kubelet_url",
                                               [&c](const YAML::Node& n, const std::string& at) -> Result<void> {
                                                 if (!n.IsScalar()) return fail(at + " must be a URL or \"\"");
                                                 c.kubelet_url = n.Scalar();
                                                 if (c.kubelet_url.empty()) return {};
                                                 // ${NAME} from the environment: the node's IP in a DaemonSet.
                                                 for (size_t at_var;
                                                      (at_var = c.kubelet_url.find("${")) != std::string::npos;) {
                                                   size_t end = c.kubelet_url.find('}', at_var);
                                                   if (end == std::string::npos)
                                                     return fail(at + ": unclosed '${' in '" + n.Scalar() + "'");
                                                   std::string name =
                                                       c.kubelet_url.substr(at_var + 2, end - at_var - 2);
                                                   const char* value =
                                                       name.empty() ? nullptr : std::getenv(name.c_str());
                                                   if (!value || !*value)
                                                     return fail(at + ": '" + n.Scalar() + "' names ${" + name +
                                                                 "}, which is not set in rampartd's environment");
                                                   c.kubelet_url.replace(at_var, end - at_var + 1, value);
                                                 }
                                                 if (auto u = k8s::parse_url(c.kubelet_url); !u)
                                                   return fail(at + ": " + u.error().what());
                                                 return {};
                                               }},
                                              {"token_file", string_or_empty(c.kubelet_token_file)},
                                              {"ca_file", string_or_empty(c.kubelet_ca_file)},
                                              {"insecure_skip_tls_verify", bool_of(c.kubelet_insecure_skip_tls_verify)},
                                              {"refresh_seconds", uint_in(c.kubelet_refresh_s, 5, 86400)}})},
        });
  } catch (const YAML::Exception& e) {
    return fail(where(source, e.mark) + ": " + e.msg);
  }
  if (!r) return tl::unexpected(r.error());
  if (auto a = check_api(c.api, api_socket_at, api_group_at, api_tcp_at); !a) return tl::unexpected(a.error());
  if (!size_mb_at.empty() && !size_kb_at.empty())
    return fail(size_kb_at + ": set either ringbuf.size_kb or ringbuf.size_mb, not both");
  if (static_cast<uint64_t>(c.wakeup_kb) * 1024 >= c.ringbuf_bytes())
    return fail(wakeup_at + " must be smaller than the ring buffer (" + std::to_string(c.ringbuf_bytes() >> 10) +
                " KiB)");
  if (!c.metrics_address.empty() && !c.metrics_allow_remote && !ops::parse_listen_address(c.metrics_address)->loopback)
    return fail(metrics_at + ": " + c.metrics_address +
                " is not a loopback address; metrics are served to remote hosts only with metrics.allow_remote: true");
  return c;
}

Result<Config> load_file(const std::string& path) {
  auto text = read_text_file(path, "config");
  if (!text) return tl::unexpected(text.error());
  return parse(*text, path);
}

Config defaults() {
  auto c = parse(kDefaultConfigYaml, "<embedded>");
  return c ? *c : Config{};
}

}  // namespace rampart::config
