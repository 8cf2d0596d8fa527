// Catch2 main for the kernel tiers (bpf, e2e). Before any test runs it checks
// the prerequisites: root, kernel BTF, and that a BPF program loads. Without
// them it prints why and exits 77, which ctest reports as skipped; with
// RAMPART_REQUIRE_KERNEL=1 (as .ci/run sets) it fails instead. A tier built
// with RAMPART_NEEDS_LSM (tests/lsm) also needs the kernel's security hooks:
// BPF LSM active, or fmod_ret programs on security_*(). It skips on kernels
// with neither, and fails without them inside the VM tier (RAMPART_VM_KERNEL
// set), where the kernel is chosen to have them. (Catch2's implementation is
// support/catch_impl.cpp.)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "bpf/probe.h"
#include "support/catch_impl.h"

namespace {

std::string missing_prerequisite() {
  if (geteuid() != 0) return "not root (euid " + std::to_string(geteuid()) + "): BPF programs need root";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "no kernel BTF at /sys/kernel/btf/vmlinux";
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr) != 1)
    return "the kernel refuses to load a BPF program (raw tracepoint probe failed)";
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) != 1) return "no BPF ring buffer in this kernel";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  // Listing tests (ctest discovery at build time) needs no kernel.
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--list", 6) == 0) return rampart::testing::run_catch(argc, argv);

  std::string why = missing_prerequisite();
#ifdef RAMPART_NEEDS_LSM
  const auto caps = why.empty() ? rampart::bpf::probe_kernel() : rampart::bpf::Capabilities{};
  if (why.empty() && !caps.lsm_active() && !caps.fmod_ret) {
    why =
        "the kernel's security hooks are out of reach: BPF LSM is not active ('bpf' in /sys/kernel/security/lsm "
        "and an lsm program that loads) and no fmod_ret program loads on security_file_open";
    if (!std::getenv("RAMPART_VM_KERNEL")) {
      std::cerr << "SKIPPED: " << why << "; the VM tier (tests/vm) runs this tier on kernels that have it\n";
      return 77;
    }
  }
#endif
  if (!why.empty()) {
    const char* req = std::getenv("RAMPART_REQUIRE_KERNEL");
    bool required = req && std::string(req) == "1";
    std::cerr << (required ? "FAILED (RAMPART_REQUIRE_KERNEL=1): " : "SKIPPED: ") << why << "\n";
    return required ? 1 : 77;
  }
  return rampart::testing::run_catch(argc, argv);
}
