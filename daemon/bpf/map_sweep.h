// Deleting the entries of a BPF map that belong to a range of policy ids:
// the sweep a reload runs over every map keyed or valued by policy id.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace rampart::bpf {

// Deletes every entry of `map` for which id_of(fd, key) is in [lo, hi].
// Keys are collected first, then deleted, so the walk never skips one.
template <typename Key, typename IdOf>
Result<void> delete_where(struct bpf_map* map, uint32_t lo, uint32_t hi, IdOf id_of) {
  int fd = bpf_map__fd(map);
  std::vector<Key> doomed;
  Key key{}, next{};
  const void* prev = nullptr;  // NULL: the first key
  for (int guard = 0; guard < (1 << 18) && bpf_map_get_next_key(fd, prev, &next) == 0; ++guard) {
    uint32_t id = id_of(fd, next);
    if (id >= lo && id <= hi) doomed.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : doomed)
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return fail_errno(std::string("deleting from ") + bpf_map__name(map));
  return {};
}

}  // namespace rampart::bpf
