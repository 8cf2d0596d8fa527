// Ring buffer → RecordSink on the Asio loop; see ringbuf_source.h.
#include "sources/ringbuf_source.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

namespace rampart::sources {

RingbufSource::RingbufSource(boost::asio::io_context& io, std::chrono::milliseconds poll, RecordSink& sink)
    : epoll_(io), timer_(io), poll_(poll), sink_(sink) {}

RingbufSource::~RingbufSource() {
  stop();
  // The descriptor is a dup of the map fd: closing it leaves the map open.
  boost::system::error_code ec;
  epoll_.close(ec);
  if (rb_) ring_buffer__free(rb_);
}

Result<std::unique_ptr<RingbufSource>> RingbufSource::create(boost::asio::io_context& io, int map_fd,
                                                             std::chrono::milliseconds poll, RecordSink& sink) {
  std::unique_ptr<RingbufSource> s(new RingbufSource(io, poll, sink));
  s->rb_ = ring_buffer__new(map_fd, &RingbufSource::on_sample, s.get(), nullptr);
  if (!s->rb_) return fail_errno("creating the ring buffer consumer for events_map");
  // Asio watches the map fd itself (edge-triggered): every kernel wake-up of
  // the ring buffer's wait queue is one readiness event. libbpf's own epoll fd
  // is not nested in Asio's, whose readiness would stick after a consume.
  int fd = dup(map_fd);
  if (fd < 0) return fail_errno("dup of the events_map fd");
  s->epoll_.assign(fd);
  return s;
}

int RingbufSource::on_sample(void* ctx, void* data, size_t len) {
  auto* self = static_cast<RingbufSource*>(ctx);
  ++self->records_;
  self->sink_.on_record(data, len);
  // A negative return stops libbpf after this record (which it has consumed).
  return ++self->batch_ >= self->budget_ ? -EAGAIN : 0;
}

size_t RingbufSource::drain(size_t budget) {
  batch_ = 0;
  budget_ = budget;
  const int n = ring_buffer__consume(rb_);
  sink_.on_batch_end();
  if (n == -EAGAIN && running_ && !continuation_posted_) {
    continuation_posted_ = true;
    boost::asio::post(timer_.get_executor(), [this] {
      continuation_posted_ = false;
      if (running_) drain(kBatchBudget);
    });
  }
  return batch_;
}

void RingbufSource::start() {
  running_ = true;
  arm_wait();
  arm_timer();
}

void RingbufSource::stop() {
  running_ = false;
  boost::system::error_code ec;
  epoll_.cancel(ec);
  timer_.cancel();
}

void RingbufSource::arm_wait() {
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    drain(kBatchBudget);
    arm_wait();
  });
}

void RingbufSource::arm_timer() {
  timer_.expires_after(poll_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    drain(kBatchBudget);
    arm_timer();
  });
}

}  // namespace rampart::sources
