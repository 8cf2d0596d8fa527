// ThreadSanitizer tier: the parts of rampartd where threads meet, built with
// -fsanitize=thread. The stream queues (the pipeline thread publishes, each
// gRPC thread pops and reads the counters), the daemon's post-and-wait hand-off
// from gRPC threads to the loop (as ApiServer::on_loop does it), and the
// kubelet fetcher (its own thread, asked for refreshes from the loop, handing
// results back). TSan fails the test on any data race it sees.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "api/event_hub.h"
#include "k8s/kubelet.h"

using namespace rampart;
using namespace std::chrono_literals;

TEST_CASE("stream queues: one publisher, three readers, every event sent or counted missed, in order", "[tsan]") {
  api::EventHub hub;
  std::vector<std::shared_ptr<api::Subscriber>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(std::make_shared<api::Subscriber>(api::EventFilter{}, 64));
    hub.subscribe(subs.back());
  }
  constexpr uint64_t kEvents = 200000;
  std::atomic<bool> done{false};
  std::vector<uint64_t> popped(subs.size());
  std::vector<bool> ordered(subs.size(), true);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < subs.size(); ++i)
    readers.emplace_back([&, i] {
      std::vector<api::QueuedEvent> batch;
      uint64_t last = 0;
      for (;;) {
        const bool finished = done.load();
        batch.clear();
        subs[i]->pop(batch, 32);
        for (const auto& e : batch) {
          if (e.boot_ns <= last || e.json != "{\"n\":" + std::to_string(e.boot_ns) + "}") ordered[i] = false;
          last = e.boot_ns;
        }
        popped[i] += batch.size();
        (void)subs[i]->missed();  // the status call reads these while the publisher runs
        if (batch.empty() && finished) return;
        if (i == 2) std::this_thread::sleep_for(10us);  // a slow one
      }
    });
  std::string json;
  for (uint64_t n = 1; n <= kEvents; ++n) {
    json = "{\"n\":" + std::to_string(n) + "}";
    api::EventFacts f;
    f.type = 1;
    f.boot_ns = n;
    f.json = json;
    hub.publish(
        f, [] { return std::string_view(); }, [] { return uint8_t{0}; });
  }
  done = true;
  for (auto& t : readers) t.join();
  for (size_t i = 0; i < subs.size(); ++i) {
    INFO("subscriber " << i);
    CHECK(subs[i]->sent() + subs[i]->missed() == kEvents);
    CHECK(popped[i] == subs[i]->sent());
    CHECK(ordered[i]);
  }
}

TEST_CASE("post-and-wait from many threads to one loop, as gRPC handlers do", "[tsan]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  uint64_t owned_by_loop = 0;  // touched only on the loop
  std::vector<std::thread> callers;
  std::atomic<uint64_t> answers{0};
  for (int t = 0; t < 8; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto done = std::make_shared<std::promise<uint64_t>>();
        auto fut = done->get_future();
        boost::asio::post(io, [&, done] { done->set_value(++owned_by_loop); });
        if (fut.get() > 0) answers.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  guard.reset();
  loop.join();
  CHECK(answers == 16000);
  CHECK(owned_by_loop == 16000);
}

TEST_CASE("kubelet fetcher: refreshes asked from other threads, results posted back, clean stop", "[tsan]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  std::atomic<int> logs{0};
  {
    // Nothing listens on port 9 of loopback: every fetch fails fast.
    k8s::KubeletPods pods(
        {"http://127.0.0.1:9/pods", "", "", false, 5}, [&](k8s::PodMap) {},
        [&](const std::string&) { boost::asio::post(io, [&] { ++logs; }); });
    std::vector<std::thread> askers;
    for (int t = 0; t < 4; ++t)
      askers.emplace_back([&] {
        for (int i = 0; i < 200; ++i) {
          pods.refresh_soon();
          (void)pods.fetches_failed();
          std::this_thread::sleep_for(1ms);
        }
      });
    for (auto& t : askers) t.join();
    for (int i = 0; i < 100 && pods.fetches_failed() == 0; ++i) std::this_thread::sleep_for(20ms);
    CHECK(pods.fetches_failed() >= 1);
  }  // the destructor stops and joins the fetcher
  guard.reset();
  loop.join();
  CHECK(logs >= 1);
}
