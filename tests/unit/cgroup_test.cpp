// Unit tests for parse_container(): every cgroup v2 layout of the supported
// runtimes and kubelet drivers, paths outside containers, and inputs that
// must be rejected without crashing.
#include "pipeline/cgroup.h"

#include <catch2/catch.hpp>
#include <string>

using rampart::pipeline::ContainerIdentity;
using rampart::pipeline::parse_container;

namespace {

const std::string kId = "3f1c9a7e2b8d4c6f0a5e1d9b7c3a2f8e6d4b0c9a1e7f5d3b2a8c6e4f0d1b9a7c";
const std::string kInnerId = "a94f2e1b7c3d5e8f0b6a4c2d9e1f3a5b7c8d0e2f4a6b8c1d3e5f7a9b0c2d4e6f";
const std::string kPodUid = "8d2b6f4e-1a3c-4e5f-9b7d-0c2e4a6f8b1d";
const std::string kPodUidSystemd = "8d2b6f4e_1a3c_4e5f_9b7d_0c2e4a6f8b1d";

void check_none(const std::string& path) {
  INFO("path: " << path);
  ContainerIdentity c = parse_container(path);
  CHECK(c.runtime.empty());
  CHECK(c.id.empty());
  CHECK(c.pod_uid.empty());
}

}  // namespace

TEST_CASE("docker systemd scope gives the docker runtime and id", "[unit]") {
  ContainerIdentity c = parse_container("/system.slice/docker-" + kId + ".scope");
  CHECK(c.runtime == "docker");
  CHECK(c.id == kId);
  CHECK(c.pod_uid.empty());
}

TEST_CASE("docker cgroupfs directory gives the docker runtime and id", "[unit]") {
  ContainerIdentity c = parse_container("/docker/" + kId);
  CHECK(c.runtime == "docker");
  CHECK(c.id == kId);
  CHECK(c.pod_uid.empty());
}

TEST_CASE("kubelet systemd layout with containerd gives pod uid with dashes", "[unit]") {
  ContainerIdentity c = parse_container("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                        kPodUidSystemd + ".slice/cri-containerd-" + kId + ".scope");
  CHECK(c.runtime == "containerd");
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPodUid);
}

TEST_CASE("kubelet systemd layout of a guaranteed pod has no qos slice", "[unit]") {
  ContainerIdentity c =
      parse_container("/kubepods.slice/kubepods-pod" + kPodUidSystemd + ".slice/cri-containerd-" + kId + ".scope");
  CHECK(c.runtime == "containerd");
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPodUid);
}

TEST_CASE("kubelet cgroupfs layout gives id and pod uid but no runtime", "[unit]") {
  ContainerIdentity c = parse_container("/kubepods/burstable/pod" + kPodUid + "/" + kId);
  CHECK(c.runtime.empty());
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPodUid);
}

TEST_CASE("cri-o scope under a kubelet pod slice gives the crio runtime", "[unit]") {
  ContainerIdentity c = parse_container("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                        kPodUidSystemd + ".slice/crio-" + kId + ".scope");
  CHECK(c.runtime == "crio");
  CHECK(c.id == kId);
  CHECK(c.pod_uid == kPodUid);
}

TEST_CASE("cri-o conmon scope is the pod's but not a container", "[unit]") {
  ContainerIdentity c = parse_container("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                        kPodUidSystemd + ".slice/crio-conmon-" + kId + ".scope");
  CHECK(c.runtime.empty());
  CHECK(c.id.empty());
  CHECK(c.pod_uid == kPodUid);
}

TEST_CASE("podman libpod scope gives the podman runtime, rootful and rootless", "[unit]") {
  ContainerIdentity rootful = parse_container("/machine.slice/libpod-" + kId + ".scope");
  CHECK(rootful.runtime == "podman");
  CHECK(rootful.id == kId);

  ContainerIdentity rootless =
      parse_container("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope");
  CHECK(rootless.runtime == "podman");
  CHECK(rootless.id == kId);
  CHECK(rootless.pod_uid.empty());
}

TEST_CASE("the innermost container of nested layouts wins", "[unit]") {
  SECTION("docker in docker") {
    ContainerIdentity c = parse_container("/docker/" + kId + "/docker/" + kInnerId);
    CHECK(c.runtime == "docker");
    CHECK(c.id == kInnerId);
  }
  SECTION("kind node: containerd pod inside a docker container") {
    ContainerIdentity c =
        parse_container("/system.slice/docker-" + kId +
                        ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                        "kubelet-kubepods-besteffort-pod" +
                        kPodUidSystemd + ".slice/cri-containerd-" + kInnerId + ".scope");
    CHECK(c.runtime == "containerd");
    CHECK(c.id == kInnerId);
    CHECK(c.pod_uid == kPodUid);
  }
}

TEST_CASE("host paths give no container identity", "[unit]") {
  check_none("/");
  check_none("");
  check_none("/init.scope");
  check_none("/user.slice/user-0.slice/session-1.scope");
  check_none("/system.slice/ssh.service");
  check_none("/system.slice/docker.service");
  check_none("/kubepods.slice/kubepods-besteffort.slice");
  check_none("/machine.slice/libpod-conmon-" + kId + ".scope");
}

TEST_CASE("almost-ids are not container ids", "[unit]") {
  std::string non_hex = kId;
  non_hex[40] = 'g';
  check_none("/docker/" + non_hex);
  check_none("/system.slice/docker-" + non_hex + ".scope");
  check_none("/docker/" + kId.substr(1));  // 63 characters
  check_none("/docker/" + kId + "0");      // 65 characters
  check_none("/system.slice/docker-" + kId + "x.scope");
}

TEST_CASE("garbage input is survived and yields nothing", "[unit]") {
  check_none("////");
  check_none("docker-");
  check_none("/docker/");
  check_none("/docker-.scope");
  check_none(".scope");
  check_none("/pod/");
  check_none("/kubepods/pod-/");
  check_none(std::string("/dock\0er/\xff\xfe", 11));
  check_none(std::string(1 << 20, '/'));
  check_none(std::string(1 << 20, 'a'));
  check_none("/" + std::string(1 << 20, '9') + ".scope");

  // A very long path still finds an id at its end.
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "/x";
  ContainerIdentity c = parse_container(deep + "/docker/" + kId);
  CHECK(c.id == kId);
}
