// Container and pod identity from a cgroup v2 path. The path is walked one
// component at a time without allocating; a component names a container when
// it is a 64-hex id, bare or behind a runtime prefix ("docker-", "crio-", ...),
// and names a pod when it is a kubelet pod cgroup ("pod<uid>" or
// "kubepods-<qos>-pod<uid>.slice"). The last container component wins, so a
// container nested in another (kind, docker-in-docker) reports the inner one.
#include "pipeline/cgroup.h"

#include <array>

namespace rampart::pipeline {
namespace {

constexpr size_t kContainerIdLen = 64;
// Pod UIDs are UUIDs (36 chars); static pods use a 32-hex hash instead.
constexpr size_t kPodUidMinLen = 32;
constexpr size_t kPodUidMaxLen = 36;

struct RuntimePrefix {
  std::string_view prefix;
  std::string_view runtime;
};

// "crio-conmon-<id>" and "libpod-conmon-<id>" hold the runtime's monitor, which
// runs outside the container; they do not match because "conmon-<id>" is not hex.
constexpr std::array<RuntimePrefix, 5> kPrefixes{{
    {"docker-", "docker"},
    {"cri-containerd-", "containerd"},
    {"crio-", "crio"},
    {"libpod-", "podman"},
    {"nerdctl-", "containerd"},
}};

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool is_container_id(std::string_view s) {
  if (s.size() != kContainerIdLen) return false;
  for (char c : s) {
    if (!is_lower_hex(c)) return false;
  }
  return true;
}

bool is_pod_uid(std::string_view s) {
  if (s.size() < kPodUidMinLen || s.size() > kPodUidMaxLen) return false;
  for (char c : s) {
    if (!is_lower_hex(c) && c != '-' && c != '_') return false;
  }
  return true;
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix) {
  if (s.ends_with(suffix)) s.remove_suffix(suffix.size());
  return s;
}

// The pod UID a component names, or "" if it names none.
std::string_view pod_uid_of(std::string_view component) {
  std::string_view uid;
  if (component.starts_with("pod")) {
    uid = component.substr(3);  // cgroupfs driver: pod<uid-with-dashes>
  } else if (component.ends_with(".slice")) {
    // systemd driver: [kubelet-]kubepods[-<qos>]-pod<uid_with_underscores>.slice
    std::string_view stem = strip_suffix(component, ".slice");
    size_t at = stem.rfind("-pod");
    if (at == std::string_view::npos || stem.find("kubepods") == std::string_view::npos) return {};
    uid = stem.substr(at + 4);
  } else {
    return {};
  }
  return is_pod_uid(uid) ? uid : std::string_view{};
}

}  // namespace

ContainerIdentity parse_container(std::string_view cgroup_path) {
  std::string_view runtime;
  std::string_view id;
  std::string_view pod_uid;
  std::string_view previous;  // the component before this one

  size_t pos = 0;
  while (pos <= cgroup_path.size()) {
    size_t end = cgroup_path.find('/', pos);
    if (end == std::string_view::npos) end = cgroup_path.size();
    std::string_view component = cgroup_path.substr(pos, end - pos);
    pos = end + 1;
    if (component.empty()) continue;

    std::string_view name = strip_suffix(component, ".scope");
    if (is_container_id(name)) {
      // Bare ids: "/docker/<id>" is Docker's cgroupfs layout; under a kubelet
      // pod directory any CRI runtime may have made it, so say nothing.
      id = name;
      runtime = previous == "docker" ? std::string_view{"docker"} : std::string_view{};
    } else {
      for (const RuntimePrefix& p : kPrefixes) {
        if (name.starts_with(p.prefix) && is_container_id(name.substr(p.prefix.size()))) {
          id = name.substr(p.prefix.size());
          runtime = p.runtime;
          break;
        }
      }
      if (std::string_view uid = pod_uid_of(component); !uid.empty()) pod_uid = uid;
    }
    previous = component;
  }

  ContainerIdentity out;
  out.runtime = runtime;
  out.id = id;
  out.pod_uid = pod_uid;
  // The systemd driver escapes the UID's dashes as underscores.
  for (char& c : out.pod_uid) {
    if (c == '_') c = '-';
  }
  return out;
}

}  // namespace rampart::pipeline
