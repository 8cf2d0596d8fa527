// The kubelet's PodList, read; see pods.h.
#include "k8s/pods.h"

#include <nlohmann/json.hpp>

#include "util/number.h"

namespace rampart::k8s {

Result<PodMap> parse_pod_list(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("kubelet /pods: the answer is not JSON");
  if (!doc.is_object()) return fail("kubelet /pods: the answer is not a JSON object");
  auto kind = doc.find("kind");
  if (kind != doc.end() && (!kind->is_string() || kind->get<std::string>() != "PodList"))
    return fail("kubelet /pods: 'kind' is not PodList");
  auto items = doc.find("items");
  if (items == doc.end() || items->is_null()) return PodMap{};  // no pods
  if (!items->is_array()) return fail("kubelet /pods: 'items' is not a list");
  PodMap pods;
  for (const auto& item : *items) {
    if (pods.size() >= kMaxPods) break;
    if (!item.is_object()) continue;
    auto md = item.find("metadata");
    if (md == item.end() || !md->is_object()) continue;
    auto str = [&](const char* key) -> std::string {
      auto v = md->find(key);
      return v != md->end() && v->is_string() ? v->get<std::string>() : std::string();
    };
    std::string uid = str("uid"), name = str("name");
    if (uid.empty() || name.empty()) continue;
    PodMeta meta{name, str("namespace"), {}};
    if (auto labels = md->find("labels"); labels != md->end() && labels->is_object())
      for (const auto& [k, v] : labels->items()) {
        if (meta.labels.size() >= kMaxLabels) break;
        if (v.is_string()) meta.labels.emplace(k, v.get<std::string>());
      }
    pods.insert_or_assign(std::move(uid), std::move(meta));
  }
  return pods;
}

Result<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return fail("'" + url + "' must start with http:// or https://");
  }
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/pods" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  if (!hostport.empty() && hostport.front() == '[') {  // [v6]:port
    auto close = hostport.find(']');
    if (close == std::string::npos) return fail("'" + url + "': unclosed '[' in the host");
    u.host = hostport.substr(1, close - 1);
    u.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "";
  } else {
    u.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
    u.port = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "10250" : "10255";
  if (u.host.empty()) return fail("'" + url + "' has no host");
  if (auto port = parse_number<uint16_t>(u.port, 1, 65535); !port)
    return fail("'" + url + "': the port " + port.error().message);
  return u;
}

}  // namespace rampart::k8s
