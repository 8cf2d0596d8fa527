// Event fan-out to stream subscribers; see event_hub.h.
#include "api/event_hub.h"

#include <algorithm>

namespace rampart::api {

Subscriber::Subscriber(EventFilter filter, size_t capacity) : filter_(std::move(filter)) {
  size_t n = 16;
  while (n < capacity) n <<= 1;
  ring_.resize(n);
  mask_ = n - 1;
}

bool Subscriber::push(const EventFacts& e) {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail - head_.load(std::memory_order_acquire) > mask_) {
    ++pending_missed_;
    missed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  QueuedEvent& q = ring_[tail & mask_];
  q.type = e.type;
  q.boot_ns = e.boot_ns;
  q.pid = e.pid;
  q.tgid = e.tgid;
  q.ppid = e.ppid;
  q.uid = e.uid;
  q.comm.assign(e.comm);
  q.exe.assign(e.exe);
  q.container_id.assign(e.container_id);
  q.json.assign(e.json);
  q.missed_before = pending_missed_;
  queued_bytes_.fetch_add(e.comm.size() + e.exe.size() + e.container_id.size() + e.json.size(),
                          std::memory_order_relaxed);
  pending_missed_ = 0;
  tail_.store(tail + 1, std::memory_order_release);
  sent_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t Subscriber::pop(std::vector<QueuedEvent>& out, size_t max) {
  uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  size_t n = 0;
  uint64_t bytes = 0;
  for (; head < tail && n < max; ++head, ++n) {
    QueuedEvent& q = ring_[head & mask_];
    bytes += q.comm.size() + q.exe.size() + q.container_id.size() + q.json.size();
    out.push_back(std::move(q));
  }
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  head_.store(head, std::memory_order_release);
  return n;
}

size_t Subscriber::queued() const {
  return static_cast<size_t>(tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire));
}

size_t Subscriber::approx_bytes() const {
  return ring_.size() * sizeof(QueuedEvent) + queued_bytes_.load(std::memory_order_relaxed);
}

void EventHub::subscribe(std::shared_ptr<Subscriber> s) { subs_.push_back(std::move(s)); }

void EventHub::unsubscribe(const Subscriber* s) {
  auto it = std::find_if(subs_.begin(), subs_.end(), [s](const auto& p) { return p.get() == s; });
  if (it == subs_.end()) return;
  sent_gone_ += (*it)->sent();
  missed_gone_ += (*it)->missed();
  subs_.erase(it);
}

uint64_t EventHub::sent() const {
  uint64_t n = sent_gone_;
  for (const auto& s : subs_) n += s->sent();
  return n;
}

uint64_t EventHub::missed() const {
  uint64_t n = missed_gone_;
  for (const auto& s : subs_) n += s->missed();
  return n;
}

size_t EventHub::queued() const {
  size_t n = 0;
  for (const auto& s : subs_) n += s->queued();
  return n;
}

size_t EventHub::capacity() const {
  size_t n = 0;
  for (const auto& s : subs_) n += s->capacity();
  return n;
}

size_t EventHub::approx_bytes() const {
  size_t n = subs_.capacity() * sizeof(subs_[0]);
  for (const auto& s : subs_) n += sizeof(Subscriber) + s->approx_bytes();
  return n;
}

bool EventHub::basic_match(const EventFilter& f, const EventFacts& e) {
  if (f.types.any() && (e.type >= f.types.size() || !f.types.test(e.type))) return false;
  if (f.pid && f.pid != e.pid) return false;
  if (f.tgid && f.tgid != e.tgid) return false;
  if (!f.container_prefix.empty() && !e.container_id.starts_with(f.container_prefix)) return false;
  return true;
}

}  // namespace rampart::api
