// libFuzzer target: the kubelet pod-list parser, fed the HTTP body.
#include <cstdint>
#include <string_view>

#include "k8s/pods.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto pods = rampart::k8s::parse_pod_list(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)pods;
  return 0;
}
