// rampart_stream_bench: what StreamEvents subscribers cost the pipeline. A
// child pinned to CPU 0 runs an openat+close loop (one file_open event per
// op) against rampartd under three conditions, interleaved over several
// repetitions:
//   none      no stream subscriber (the baseline);
//   slow+7    eight subscribers: one that follows every event and sleeps
//             20 ms after each message, and seven that follow the
//             security-relevant types (exec, connect, enforce, setuid, ptrace,
//             module_load), like a
//             SIEM forwarder; the case the API must survive;
//   8 all     eight subscribers that all follow every event (seven read as
//             fast as they can, one is the slow one): the cost of serialising
//             every event eight times on this machine's two CPUs.
// It prints the median ops/s of the loop and events delivered per second by
// rampartd, their ratios to the baseline, what the fast clients received
// and the missed count the slow client
// was told (Gap messages) against the server's count. It never fails on a
// ratio; it fails when those two counts differ.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/api_client.h"
#include "support/rampartd.h"

namespace {

using namespace std::chrono_literals;
using rampart::testing::api_stub;
using rampart::testing::Daemon;
namespace v1 = rampart::v1;

constexpr int kClients = 8;
constexpr auto kSlowPause = 5ms;

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

// openat+close of `path` for `seconds` on CPU 0, in a child; ops per second.
double open_loop(const std::string& path, double seconds) {
  int fds[2];
  if (pipe(fds) != 0) fail("pipe");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
    const int64_t start = mono_ns(), end = start + static_cast<int64_t>(seconds * 1e9);
    uint64_t ops = 0;
    int64_t now = start;
    while (now < end) {
      for (int i = 0; i < 16; ++i, ++ops) {
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) _exit(2);
        close(fd);
      }
      now = mono_ns();
    }
    double rate = static_cast<double>(ops) * 1e9 / static_cast<double>(now - start);
    _exit(write(fds[1], &rate, sizeof(rate)) == sizeof(rate) ? 0 : 3);
  }
  close(fds[1]);
  double rate = 0;
  ssize_t n = read(fds[0], &rate, sizeof(rate));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (n != sizeof(rate)) fail("the open loop child failed (wait status " + std::to_string(st) + ")");
  return rate;
}

struct Counters {
  uint64_t delivered = 0, dropped = 0, sent = 0, missed = 0;
  uint32_t subscribers = 0;
};

Counters counters(v1::Rampart::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::GetStatusResponse s;
  auto st = stub.GetStatus(&ctx, {}, &s);
  if (!st.ok()) fail("GetStatus: " + st.error_message());
  Counters c;
  for (const auto& e : s.events()) {
    c.delivered += e.delivered();
    c.dropped += e.dropped();
  }
  c.sent = s.streams().sent();
  c.missed = s.streams().missed();
  c.subscribers = s.streams().subscribers();
  return c;
}

// One StreamEvents client on its own thread, counting what it reads.
class Client {
 public:
  Client(const Daemon& d, bool slow, std::vector<std::string> types) : stub_(api_stub(d)), slow_(slow) {
    for (auto& t : types) req_.add_types(t);
    thread_ = std::thread([this] {
      auto reader = stub_->StreamEvents(&ctx_, req_);
      v1::StreamEventsResponse msg;
      while (reader->Read(&msg)) {
        if (msg.has_gap())
          missed_total_ = msg.gap().missed_total();
        else
          ++events_;
        if (slow_.load()) std::this_thread::sleep_for(kSlowPause);
      }
      reader->Finish();
    });
  }
  ~Client() {
    ctx_.TryCancel();
    thread_.join();
  }
  uint64_t events() const { return events_; }
  void hurry() { slow_ = false; }
  uint64_t missed_total() const { return missed_total_; }

 private:
  std::unique_ptr<v1::Rampart::Stub> stub_;
  std::atomic<bool> slow_;
  v1::StreamEventsRequest req_;
  grpc::ClientContext ctx_;
  std::atomic<uint64_t> events_{0}, missed_total_{0};
  std::thread thread_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Sample {
  double ops = 0, delivered_per_s = 0;
  uint64_t dropped = 0;
};

enum Condition { kNone, kSlowPlusFiltered, kAllFollowAll, kConditions };
constexpr const char* kNames[kConditions] = {"none", "slow+7", "8 all"};

struct Tally {
  std::vector<Sample> samples;
  uint64_t fast_received = 0, slow_told = 0, slow_server = 0, server_missed = 0;
};

int run(int argc, char** argv) {
  double seconds = 3;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      seconds = 2;
      reps = 2;
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: rampart_stream_bench [--seconds S] [--reps N] [--quick]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "rampart_stream_bench: needs root (rampartd loads BPF programs)\n");
    return 77;
  }
  // A short per-subscriber queue, so the slow client's gap reaches it
  // within the run.
  Daemon d({.api = true, .api_config = "  stream_queue: 64\n", .dir_template = "/tmp/rampart-api-XXXXXX"});
  if (!d.ready()) fail("rampartd did not start:\n" + d.stderr_text());
  auto stub = api_stub(d);
  const std::string file = d.dir() + "/opened";
  if (FILE* f = std::fopen(file.c_str(), "w")) std::fclose(f);

  Tally tally[kConditions];
  for (int rep = 0; rep < reps; ++rep) {
    for (int c = kNone; c < kConditions; ++c) {
      std::vector<std::unique_ptr<Client>> fast;
      std::unique_ptr<Client> slow;
      // The previous condition's clients are gone once the server has seen
      // their cancellation.
      for (int i = 0; i < 500 && counters(*stub).subscribers != 0; ++i) std::this_thread::sleep_for(10ms);
      const Counters subscribed = counters(*stub);
      if (c != kNone) {
        const std::vector<std::string> types =
            c == kSlowPlusFiltered
                ? std::vector<std::string>{"exec", "connect", "enforce", "setuid", "ptrace", "module_load"}
                : std::vector<std::string>{};
        for (int i = 0; i < kClients - 1; ++i) fast.push_back(std::make_unique<Client>(d, false, types));
        slow = std::make_unique<Client>(d, true, std::vector<std::string>{});
        for (int i = 0; i < 200 && counters(*stub).subscribers < kClients; ++i) std::this_thread::sleep_for(10ms);
        if (counters(*stub).subscribers < kClients) fail("the stream clients did not all subscribe");
      }
      std::this_thread::sleep_for(200ms);
      auto fast_count = [&] {
        uint64_t n = 0;
        for (auto& f : fast) n += f->events();
        return n;
      };
      const Counters before = counters(*stub);
      const uint64_t fast_before = fast_count();
      const int64_t t0 = mono_ns();
      Sample s;
      s.ops = open_loop(file, seconds);
      std::this_thread::sleep_for(300ms);  // the pipeline drains what the loop left in the ring
      const Counters after = counters(*stub);
      const double elapsed = static_cast<double>(mono_ns() - t0) / 1e9;
      s.delivered_per_s = static_cast<double>(after.delivered - before.delivered) / elapsed;
      s.dropped = after.dropped - before.dropped;
      Tally& t = tally[c];
      t.samples.push_back(s);
      if (c != kNone) {
        std::this_thread::sleep_for(500ms);  // the fast clients read what is queued
        t.fast_received += fast_count() - fast_before;
        const uint64_t missed = after.missed - before.missed;
        t.server_missed += missed;
        // With the seven following only rarer types, every miss is the slow
        // client's. It learns of a gap with the next event it reads, after
        // it has worked through its queue; opens here make such events,
        // until it has been told all of it (or 30 s pass).
        if (c == kSlowPlusFiltered) {
          slow->hurry();  // slow during the load; now it reads on to the end of its queue
          for (int i = 0; i < 300 && slow->missed_total() != counters(*stub).missed - subscribed.missed; ++i) {
            if (int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) close(fd);
            std::this_thread::sleep_for(100ms);
          }
          t.slow_told += slow->missed_total();
          t.slow_server += counters(*stub).missed - subscribed.missed;
        }
      }
      std::printf("rep %d %-7s open loop %9.0f ops/s, rampartd delivered %9.0f events/s, kernel drops %lu\n", rep + 1,
                  kNames[c], s.ops, s.delivered_per_s, static_cast<unsigned long>(s.dropped));
      std::fflush(stdout);
    }
  }
  auto med = [](const std::vector<Sample>& v, double Sample::*f) {
    std::vector<double> x;
    for (const auto& s : v) x.push_back(s.*f);
    return median(x);
  };
  const double ops0 = med(tally[kNone].samples, &Sample::ops);
  const double del0 = med(tally[kNone].samples, &Sample::delivered_per_s);
  std::printf("\n%-8s %14s %8s %18s %8s\n", "median", "open loop/s", "ratio", "delivered events/s", "ratio");
  for (int c = kNone; c < kConditions; ++c) {
    const double ops = med(tally[c].samples, &Sample::ops), del = med(tally[c].samples, &Sample::delivered_per_s);
    std::printf("%-8s %14.0f %8.3f %18.0f %8.3f\n", kNames[c], ops, ops0 > 0 ? ops / ops0 : 0, del,
                del0 > 0 ? del / del0 : 0);
  }
  const Tally& sf = tally[kSlowPlusFiltered];
  std::printf(
      "\nslow+7: the 7 filtered clients received %lu events; the slow client (sleeps %lld ms per message) "
      "was told it missed %lu, the server counted %lu for it: %s\n",
      static_cast<unsigned long>(sf.fast_received), static_cast<long long>(kSlowPause.count()),
      static_cast<unsigned long>(sf.slow_told), static_cast<unsigned long>(sf.slow_server),
      sf.slow_told == sf.slow_server ? "consistent" : "INCONSISTENT");
  const Tally& all = tally[kAllFollowAll];
  std::printf(
      "8 all: the 7 fast clients received %lu events; the server counted %lu missed by all eight "
      "subscribers (the fast ones cannot keep up either)\n",
      static_cast<unsigned long>(all.fast_received), static_cast<unsigned long>(all.server_missed));
  return sf.slow_told == sf.slow_server ? 0 : 1;  // accounting is checked; ratios are not
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rampart_stream_bench: %s\n", e.what());
    return 1;
  }
}
