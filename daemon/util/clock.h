// Clock readings in nanoseconds. The pipeline runs on the boot clock, the
// one the kernel stamps events with (bpf_ktime_get_boot_ns).
#pragma once

#include <time.h>

#include <cstdint>

namespace rampart {

inline int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline uint64_t boot_now_ns() { return static_cast<uint64_t>(clock_ns(CLOCK_BOOTTIME)); }

// Seconds since the Unix epoch: what learned profiles record and compare.
inline int64_t unix_now_s() { return static_cast<int64_t>(::time(nullptr)); }

}  // namespace rampart
