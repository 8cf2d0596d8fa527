// Kubernetes pod metadata for the pods on this node, keyed by pod UID (the
// UID the cgroup path carries). The kubelet's /pods endpoint is the source:
// parse_pod_list() reads its PodList JSON (pure, fuzzed), and KubeletPods
// (kubelet.h) fetches it. The pipeline only ever reads a map it owns.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/result.h"

namespace rampart::k8s {

struct PodMeta {
  std::string name;
  std::string ns;  // namespace
  std::map<std::string, std::string> labels;
};

using PodMap = std::unordered_map<std::string, PodMeta>;  // by metadata.uid

// A PodList ({"kind":"PodList","items":[{"metadata":{...}}, ...]}). Items
// without a uid or name are skipped; a document that is not a PodList is an
// error naming what was wrong. Bounded: at most kMaxPods pods and kMaxLabels
// labels per pod are kept.
inline constexpr size_t kMaxPods = 4096;
inline constexpr size_t kMaxLabels = 64;
Result<PodMap> parse_pod_list(std::string_view json);

// A kubelet URL, "https://10.0.0.1:10250/pods" → parts (no path: /pods;
// no port: 10250 for https, 10255 for http); an error names what is wrong.
struct Url {
  bool tls = false;
  std::string host, port, target;
};
Result<Url> parse_url(const std::string& url);

}  // namespace rampart::k8s
