// libFuzzer target: the policy loader and compiler, fed YAML text. Any text
// must either load (and then compile into kernel map entries without
// tripping a sanitizer) or be rejected with errors.
#include <cstdint>
#include <string_view>

#include "enforce/compiler.h"
#include "enforce/file_rules.h"
#include "policy/policy.h"

namespace {

struct NullMaps : rampart::enforce::MapWriter {
  rampart::Result<void> set_policy_rule(uint32_t, const rp_policy_rule&) override { return {}; }
  rampart::Result<void> add_net4(rampart::enforce::NetList, uint32_t, const uint8_t (&)[4], uint8_t,
                                 const rp_port_set&) override {
    return {};
  }
  rampart::Result<void> add_net6(rampart::enforce::NetList, uint32_t, const uint8_t (&)[16], uint8_t,
                                 const rp_port_set&) override {
    return {};
  }
  rampart::Result<void> assign_exe(const rp_exe_key&, uint32_t) override { return {}; }
  rampart::Result<void> assign_process(uint32_t, uint32_t) override { return {}; }
  rampart::Result<void> assign_cgroup(uint64_t, uint32_t) override { return {}; }
  rampart::Result<void> set_verdict(uint32_t, const rp_verdict&) override { return {}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = rampart::policy::PolicySet::load_text(text, "fuzz.yaml");
  if (!set) return 0;
  NullMaps maps;
  auto compiled = rampart::enforce::install(*set, maps, [](const std::string&) { return std::nullopt; });
  for (const auto& p : set->policies()) {
    auto rule = rampart::enforce::guard_rule(p);
    rampart::enforce::exec_reason(rule, "/usr/bin/true");
    rampart::enforce::open_reasons(rule, "/etc/shadow");
    rampart::policy::Subject s{"/usr/bin/true", "/system.slice/x.service", "", "", 0};
    set->select(s);
  }
  return 0;
}
