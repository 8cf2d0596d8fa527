// Container and Kubernetes pod identity parsed from a cgroup v2 path, for
// the layouts of Docker, containerd (cri-containerd), CRI-O, Podman and the
// kubelet (cgroupfs and systemd drivers).
#pragma once

#include <string>
#include <string_view>

namespace rampart::pipeline {

struct ContainerIdentity {
  std::string runtime;  // "docker", "containerd", "crio", "podman", or "" for none
  std::string id;       // 64 hex characters, or "" when not in a container
  std::string pod_uid;  // Kubernetes pod UID with dashes, or ""
};

// Pure function of the path. Examples it must understand:
//  /system.slice/docker-<64hex>.scope                       docker
//  /docker/<64hex>                                          docker
//  /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_with_underscores>.slice/cri-containerd-<64hex>.scope
//  /kubepods/burstable/pod<uid-with-dashes>/<64hex>
//  /machine.slice/libpod-<64hex>.scope                      podman
//  /kubepods.slice/.../crio-<64hex>.scope                   crio
ContainerIdentity parse_container(std::string_view cgroup_path);

}  // namespace rampart::pipeline
