// How full the kernel-to-rampartd ring buffer is: the producer and consumer
// positions, read from the ring's own mmap'ed control pages (libbpf 1.1 has
// no accessor for them). Read at scrape time only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rampart::ops {

class RingbufFill {
 public:
  // fd: the BPF_MAP_TYPE_RINGBUF map; size: its data size in bytes. Null if
  // the pages cannot be mapped.
  static std::unique_ptr<RingbufFill> open(int fd, size_t size);
  ~RingbufFill();
  // Bytes the kernel has submitted (or reserved) that rampartd has not consumed yet.
  uint64_t used() const;
  size_t size() const { return size_; }

 private:
  RingbufFill(void* cons, void* prod, size_t page, size_t size) : cons_(cons), prod_(prod), page_(page), size_(size) {}
  void* cons_;
  void* prod_;
  size_t page_;
  size_t size_;
};

}  // namespace rampart::ops
