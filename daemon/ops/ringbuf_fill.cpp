// Ring-buffer fill; see ringbuf_fill.h.
#include "ops/ringbuf_fill.h"

#include <sys/mman.h>
#include <unistd.h>

namespace rampart::ops {

std::unique_ptr<RingbufFill> RingbufFill::open(int fd, size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // Page 0: the consumer position; page 1: the producer position. Read-only.
  void* cons = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
  if (cons == MAP_FAILED) return nullptr;
  void* prod = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
  if (prod == MAP_FAILED) {
    munmap(cons, page);
    return nullptr;
  }
  return std::unique_ptr<RingbufFill>(new RingbufFill(cons, prod, page, size));
}

RingbufFill::~RingbufFill() {
  munmap(cons_, page_);
  munmap(prod_, page_);
}

uint64_t RingbufFill::used() const {
  auto cons = __atomic_load_n(static_cast<const uint64_t*>(cons_), __ATOMIC_ACQUIRE);
  auto prod = __atomic_load_n(static_cast<const uint64_t*>(prod_), __ATOMIC_ACQUIRE);
  return prod > cons ? prod - cons : 0;
}

}  // namespace rampart::ops
