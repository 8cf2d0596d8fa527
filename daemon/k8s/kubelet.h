// Fetches the kubelet's pod list on a thread of its own and hands each new
// map to a callback (rampartd posts it to its loop, so the event path reads
// a map it owns, without a lock). Refreshes every refresh_seconds, and
// sooner when asked (an event named a pod UID not in the map), at most once
// every 5 s. Failures are logged once per distinct error and counted; the
// last good map stays in use.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "k8s/pods.h"

namespace rampart::k8s {

struct KubeletConfig {
  std::string url;         // http(s)://host:port/pods; "" = off
  std::string token_file;  // bearer token, read before each request; "" = none
  std::string ca_file;     // CA for the kubelet's serving certificate; "" = the system's
  bool insecure_skip_tls_verify = false;
  uint32_t refresh_seconds = 30;
};

class KubeletPods {
 public:
  using OnPods = std::function<void(PodMap)>;
  using Log = std::function<void(const std::string&)>;
  KubeletPods(KubeletConfig cfg, OnPods on_pods, Log log);
  ~KubeletPods();
  KubeletPods(const KubeletPods&) = delete;
  KubeletPods& operator=(const KubeletPods&) = delete;

  // Any thread; cheap. Asks for an early refresh.
  void refresh_soon() { wanted_.store(true, std::memory_order_relaxed); }
  uint64_t fetches_ok() const { return ok_.load(std::memory_order_relaxed); }
  uint64_t fetches_failed() const { return failed_.load(std::memory_order_relaxed); }

  // One GET, with a 5 s timeout; the body, or an error naming the step.
  static Result<std::string> fetch(const KubeletConfig& cfg);

 private:
  void run();

  KubeletConfig cfg_;
  OnPods on_pods_;
  Log log_;
  std::atomic<bool> wanted_{false};
  std::atomic<uint64_t> ok_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rampart::k8s
