// libFuzzer target: rampartd's config parser, fed YAML text.
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = rampart::config::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  (void)c;
  return 0;
}
