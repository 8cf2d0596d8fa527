// The event output the stages write to: the JSON-lines sink and the clock
// that stamps it. Records rampartd writes itself (audit, overload,
// kernel_write, policy_alert) open with the same fields through
// begin_record, so every producer writes one shape.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "outputs/json_writer.h"
#include "outputs/sink.h"

namespace rampart::engine {

class Output {
 public:
  explicit Output(std::unique_ptr<outputs::JsonlSink> sink) : sink_(std::move(sink)) {}
  outputs::JsonlSink& sink() { return *sink_; }
  const outputs::JsonlSink& sink() const { return *sink_; }
  std::string& buffer() { return sink_->buffer(); }
  // realtime = boot clock + this; follows settimeofday and NTP steps.
  int64_t boot_to_realtime_ns() const { return boot_to_realtime_ns_; }
  void update_clock_offset();
  // Opens a record rampartd writes itself: the object with v, time, boot_ns
  // and type. The caller adds its fields, ends the object, then end_record().
  void begin_record(outputs::JsonWriter& w, uint64_t now, const char* type) const;
  void end_record(outputs::JsonWriter& w);  // ends the object and the line, flushes

 private:
  std::unique_ptr<outputs::JsonlSink> sink_;
  int64_t boot_to_realtime_ns_ = 0;
};

}  // namespace rampart::engine
