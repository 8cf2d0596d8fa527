// Approximate heap accounting for the bounded structures that rampartd
// reports in status and metrics: what a string or a container node costs
// beyond its own sizeof. Estimates (libstdc++ layouts), not allocator truth:
// good enough to see a structure grow, and cheap to compute.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace rampart::util {

// A hash-map or list node's own overhead: next pointer(s) and cached hash.
inline constexpr size_t kNodeOverhead = 2 * sizeof(void*);

// Heap bytes behind a string (0 while it fits the small-string buffer).
inline size_t heap_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

inline size_t heap_bytes(const std::vector<std::string>& v) {
  size_t n = v.capacity() * sizeof(std::string);
  for (const auto& s : v) n += heap_bytes(s);
  return n;
}

}  // namespace rampart::util
