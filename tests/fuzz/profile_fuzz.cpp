// libFuzzer target: the learned-profile loader, fed profile files. A profile
// the loader accepts must survive a write and a re-read unchanged, and its
// export must be a policy the policy loader accepts.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "learn/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = rampart::learn::parse_profile(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!p) return 0;
  const std::string text = rampart::learn::to_json(*p);
  auto again = rampart::learn::parse_profile(text);
  if (!again || rampart::learn::to_json(*again) != text) std::abort();
  rampart::policy::Policy from;
  from.selector.uids = {0};
  auto set = rampart::policy::PolicySet::load_text(
      rampart::learn::export_policy(*p, from, rampart::policy::Mode::kEnforce), "export");
  if (!set) std::abort();
  return 0;
}
