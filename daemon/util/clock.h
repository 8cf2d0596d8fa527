// The boot clock (CLOCK_BOOTTIME) in nanoseconds: the clock of every kernel
// record's ts_ns, so daemon-side times compare with event times directly.
#pragma once

#include <time.h>

#include <cstdint>

namespace rampart::util {

inline uint64_t boot_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace rampart::util
