// Output: see output.h.
#include "engine/output.h"

#include <time.h>

#include "outputs/event_json.h"
#include "util/clock.h"

namespace rampart::engine {

void Output::update_clock_offset() { boot_to_realtime_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME); }

void Output::begin_record(outputs::JsonWriter& w, uint64_t now, const char* type) const {
  char time_buf[40];
  w.begin_object();
  w.field("v", outputs::kSchemaVersion);
  w.field("time", outputs::format_rfc3339(time_buf, static_cast<int64_t>(now) + boot_to_realtime_ns_));
  w.field("boot_ns", now);
  w.field("type", type);
}

void Output::end_record(outputs::JsonWriter& w) {
  w.end_object();
  sink_->buffer().push_back('\n');
  sink_->flush();
}

}  // namespace rampart::engine
