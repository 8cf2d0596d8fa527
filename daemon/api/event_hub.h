// Live event fan-out for StreamEvents subscribers. The pipeline's loop thread
// is the only producer: after an event is written to the outputs, publish()
// offers it to every subscriber whose filter matches. Each subscriber has a
// bounded single-producer/single-consumer ring that its gRPC thread drains.
// When the ring is full the event is dropped for that subscriber alone and
// counted; the pipeline never waits and takes no lock. The count of events a
// subscriber missed travels with the next event it does get, so the client
// is told exactly where the gap is.
//
// Threads: subscribe/unsubscribe/publish run on the loop thread; a
// Subscriber's pop() runs on one gRPC thread; counters are atomics.
#pragma once

#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::api {

// What a subscriber asked for. Zero / empty fields match anything.
struct EventFilter {
  std::bitset<64> types;  // RP_EV_* bits; none set: every type
  uint32_t pid = 0, tgid = 0;
  std::string container_prefix;
  std::string policy;
  uint8_t min_level = 0;  // score::Level
  bool needs_policy() const { return !policy.empty(); }
  bool needs_level() const { return min_level != 0; }
};

// One event as queued for a subscriber.
struct QueuedEvent {
  uint32_t type = 0;
  uint64_t boot_ns = 0;
  uint32_t pid = 0, tgid = 0, ppid = 0, uid = 0;
  std::string comm, exe, container_id;
  std::string json;            // the JSON-lines object, without its newline
  uint64_t missed_before = 0;  // dropped for this subscriber just before this one
};

// The event's identity as publish() sees it; the strings are borrowed.
struct EventFacts {
  uint32_t type = 0;
  uint64_t boot_ns = 0;
  uint32_t pid = 0, tgid = 0, ppid = 0, uid = 0;
  std::string_view comm, exe, container_id, json;
};

class Subscriber {
 public:
  Subscriber(EventFilter filter, size_t capacity);

  const EventFilter& filter() const { return filter_; }
  // Producer side (loop thread). False when the ring was full (counted).
  bool push(const EventFacts& e);
  // Consumer side (one gRPC thread): moves up to max queued events into out.
  size_t pop(std::vector<QueuedEvent>& out, size_t max);
  uint64_t missed() const { return missed_.load(std::memory_order_relaxed); }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  size_t capacity() const { return ring_.size(); }
  size_t queued() const;
  // Approximate bytes: the ring's slots plus the strings of the events queued now.
  size_t approx_bytes() const;

 private:
  EventFilter filter_;
  std::vector<QueuedEvent> ring_;
  size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // next to pop (consumer)
  alignas(64) std::atomic<uint64_t> tail_{0};  // next to push (producer)
  uint64_t pending_missed_ = 0;                // producer only
  std::atomic<uint64_t> missed_{0}, sent_{0};
  std::atomic<uint64_t> queued_bytes_{0};  // string bytes of the events in the ring
};

class EventHub {
 public:
  // Loop thread only.
  void subscribe(std::shared_ptr<Subscriber> s);
  void unsubscribe(const Subscriber* s);
  bool active() const { return !subs_.empty(); }
  size_t subscribers() const { return subs_.size(); }

  // Offers one event to every matching subscriber. policy_of() and level_of()
  // are called at most once, and only if some subscriber filters on them.
  template <typename PolicyOf, typename LevelOf>
  void publish(const EventFacts& e, PolicyOf&& policy_of, LevelOf&& level_of) {
    bool have_policy = false, have_level = false;
    std::string_view policy;
    uint8_t level = 0;
    for (const auto& s : subs_) {
      const EventFilter& f = s->filter();
      if (!basic_match(f, e)) continue;
      if (f.needs_policy()) {
        if (!have_policy) policy = policy_of(), have_policy = true;
        if (policy != f.policy) continue;
      }
      if (f.needs_level()) {
        if (!have_level) level = level_of(), have_level = true;
        if (level < f.min_level) continue;
      }
      s->push(e);
    }
  }

  // Totals over subscribers, past and present.
  uint64_t sent() const;
  uint64_t missed() const;
  // Over current subscribers: queued events, their slots, approximate bytes.
  size_t queued() const;
  size_t capacity() const;
  size_t approx_bytes() const;

 private:
  static bool basic_match(const EventFilter& f, const EventFacts& e);

  std::vector<std::shared_ptr<Subscriber>> subs_;
  uint64_t sent_gone_ = 0, missed_gone_ = 0;  // from unsubscribed ones
};

}  // namespace rampart::api
