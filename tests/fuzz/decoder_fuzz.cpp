// libFuzzer target: the checked decoder and the JSON writer, fed raw
// ring-buffer bytes. Whatever the kernel (or a corrupted buffer) hands over,
// decode() must reject it or return a view that every consumer can read
// without going out of bounds.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "outputs/event_json.h"
#include "pipeline/process_table.h"
#include "sources/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The ring buffer hands out 8-byte aligned records.
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size) std::memcpy(aligned.data(), data, size);
  auto ev = rampart::sources::decode(aligned.data(), size);
  if (!ev) return 0;
  static rampart::pipeline::ProcessTable table;
  rampart::outputs::EventContext ctx{&table, 0, {}, nullptr};
  std::string out;
  rampart::outputs::append_event_json(out, *ev, ctx);
  if (ev->type() == RP_EV_EXEC) {
    size_t n = 0;
    rampart::sources::for_each_arg(ev->as<rp_exec_event>(), [&n](std::string_view a) { n += a.size(); });
  }
  return 0;
}
