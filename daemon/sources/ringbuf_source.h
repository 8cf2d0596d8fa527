// The ring-buffer event source. It joins the pipeline's Asio loop through the
// ring buffer map's fd (woken by the kernel when the backlog passes the
// wake-up threshold) and a short poll timer (for records submitted without a
// wake-up), and hands each record to a RecordSink on that loop's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "util/result.h"

struct ring_buffer;

namespace rampart::sources {

// Receives raw records. Called on the loop thread only.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void on_record(const void* data, size_t len) = 0;
  // After each drained batch: a good moment to flush output.
  virtual void on_batch_end() {}
};

class RingbufSource {
 public:
  static Result<std::unique_ptr<RingbufSource>> create(boost::asio::io_context& io, int map_fd,
                                                       std::chrono::milliseconds poll, RecordSink& sink);
  ~RingbufSource();

  void start();
  void stop();
  // Consumes what is available now, up to `budget` records; returns the
  // record count. The loop's own drains use kBatchBudget and come back for
  // the rest after the handlers already queued (API calls, timers) have
  // run, so a producer faster than the pipeline cannot starve them.
  static constexpr size_t kBatchBudget = 8192;
  size_t drain(size_t budget = SIZE_MAX);
  uint64_t records() const { return records_; }

 private:
  RingbufSource(boost::asio::io_context& io, std::chrono::milliseconds poll, RecordSink& sink);
  void arm_wait();
  void arm_timer();
  static int on_sample(void* ctx, void* data, size_t len);

  struct ring_buffer* rb_ = nullptr;
  boost::asio::posix::stream_descriptor epoll_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds poll_;
  RecordSink& sink_;
  uint64_t records_ = 0;
  size_t batch_ = 0, budget_ = SIZE_MAX;  // records in the current drain, and its limit
  bool running_ = false;
  bool continuation_posted_ = false;
};

}  // namespace rampart::sources
